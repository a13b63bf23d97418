"""The paper's electrode metrics in analysis: each on a constructed case with a known answer, the bad
inputs a user can pass, and the catalog accepting the results (kind="analysis")."""
import json

import numpy as np
import pytest
import xarray as xr

from electrode_design import analysis, store
from electrode_design.conventions import ParameterError, check_dataset
from electrode_design.params import parameter_set

PARAMS = parameter_set("chen2020_nmc811")
VOXEL = 1e-6


def make_sim(sol, *, particle=None, snapshot_dod=(0.2, 0.4, 0.6), particle_stats=None, c_rate=1.0,
             reaction_area_m2=1e-9, one_c_current_A=1e-9, capacity_Ah=(0.0, 1e-10), dod=(0.0, 0.5)):
    """A hand-made gpnp-like result: ``sol`` (snapshot, z, y, x) with NaN outside the active material,
    per-particle statistics computed from it (or ``particle_stats`` overrides)."""
    sol = np.asarray(sol, dtype=float)
    n_snap, Z, Y, X = sol.shape
    coords = {"z": ("z", (np.arange(Z) + 0.5) * VOXEL, {"units": "m", "long_name": "distance from the current collector"}),
              "y": ("y", (np.arange(Y) + 0.5) * VOXEL, {"units": "m", "long_name": "y"}),
              "x": ("x", (np.arange(X) + 0.5) * VOXEL, {"units": "m", "long_name": "x"}),
              "snapshot_dod": ("snapshot", np.asarray(snapshot_dod, float), {"units": "1", "long_name": "DoD"}),
              "time": ("time", np.arange(len(dod), dtype=float), {"units": "s", "long_name": "time"})}
    data = {"sol": (("snapshot", "z", "y", "x"), sol, {"units": "1", "long_name": "SoL"}),
            "voltage": ("time", np.full(len(dod), 3.8), {"units": "V", "long_name": "voltage"}),
            "capacity": ("time", np.asarray(capacity_Ah, float), {"units": "A h", "long_name": "capacity"}),
            "depth_of_discharge": ("time", np.asarray(dod, float), {"units": "1", "long_name": "DoD"}),
            "current": ("time", np.full(len(dod), c_rate * one_c_current_A), {"units": "A", "long_name": "current"})}
    if particle is not None:
        ids = np.unique(particle[particle > 0])
        coords["particle"] = ("particle", ids, {"units": "1", "long_name": "particle id"})
        stats = {name: np.zeros((n_snap, ids.size)) for name in ("mean", "std", "min", "max", "j")}
        for i, p in enumerate(ids):
            inside = particle == p
            for k in range(n_snap):
                v = sol[k][inside]
                stats["mean"][k, i], stats["std"][k, i] = v.mean(), v.std()
                stats["min"][k, i], stats["max"][k, i] = v.min(), v.max()
        stats.update(particle_stats or {})
        zc = np.array([np.mean(np.nonzero(particle == p)[0]) + 0.5 for p in ids]) * VOXEL
        for name, long in (("mean", "mean SoL"), ("std", "SoL std"), ("min", "min SoL"), ("max", "max SoL")):
            data[f"particle_sol_{name}"] = (("snapshot", "particle"), stats[name], {"units": "1", "long_name": long})
        data["particle_j_mean"] = (("snapshot", "particle"), stats["j"], {"units": "A m-2", "long_name": "j"})
        data["particle_depth"] = ("particle", Z * VOXEL - zc, {"units": "m", "long_name": "depth"})
        data["particle_volume"] = ("particle", np.array([(particle == p).sum() for p in ids]) * VOXEL ** 3,
                                   {"units": "m3", "long_name": "volume"})
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(kind="simulation", model="hand-made", parameters=PARAMS.to_json(), c_rate=c_rate, cutoff_V=2.8,
                    one_c_current_A=one_c_current_A, current_A=c_rate * one_c_current_A,
                    cell=json.dumps({"shape": [Z, Y, X], "voxel_size_m": VOXEL, "reaction_area_m2": reaction_area_m2}))
    return ds


def lattice(n_layers=5, size=4):
    """``n_layers`` cubic particles of ``size`` voxels stacked along z: labels 1..n_layers, layer 1 at the collector."""
    particle = np.zeros((n_layers * size, size, size), dtype=np.int32)
    for k in range(n_layers):
        particle[k * size:(k + 1) * size] = k + 1
    return particle


def test_ds_limiting_depth_identical_isolated_particles_is_full_depth():
    """Particles whose SoL spread equals an isolated particle's are SST-limited across the whole thickness;
    lowering the spread away from the separator moves the limiting depth to where it drops."""
    particle = lattice(5)
    sol = np.where(particle > 0, 0.6, np.nan)[None].repeat(3, axis=0)
    radius = np.cbrt(3 * 64 * VOXEL ** 3 / (4 * np.pi))
    ref = analysis.isolated_particle_sol_std(PARAMS, radius, c_rate=1.0, dod=0.6)
    assert 0.005 < ref < 0.2
    sim = make_sim(sol, particle=particle, particle_stats={"std": np.full((3, 5), ref)})
    result = analysis.ds_limiting_depth(sim, dod=0.6, bins=5)
    assert float(result["ds_limiting_depth"]) == 1.0
    np.testing.assert_allclose(result["reference_std"], ref, rtol=1e-12)
    # particles 5 and 4 (the two next to the separator) keep the spread, the rest have half of it
    sim = make_sim(sol, particle=particle, particle_stats={"std": np.tile([0.5 * ref] * 3 + [ref] * 2, (3, 1))})
    result = analysis.ds_limiting_depth(sim, dod=0.6, bins=5)
    assert float(result["ds_limiting_depth"]) == pytest.approx(0.4)
    assert list(result["ds_limited"].values) == [1, 1, 0, 0, 0]
    # a given reference replaces the isolated-particle runs
    assert float(analysis.ds_limiting_depth(sim, dod=0.6, bins=5, reference=0.4 * ref)["ds_limiting_depth"]) == 1.0


def test_isolated_particle_sol_std_grows_with_size_and_rate():
    small = analysis.isolated_particle_sol_std(PARAMS, 4e-6, c_rate=1.0, dod=0.5)
    large = analysis.isolated_particle_sol_std(PARAMS, 8e-6, c_rate=1.0, dod=0.5)
    fast = analysis.isolated_particle_sol_std(PARAMS, 4e-6, c_rate=3.0, dod=0.5)
    assert 0 < small < large and small < fast
    with pytest.raises(ParameterError, match="reaches its cut-off"):
        analysis.isolated_particle_sol_std(PARAMS, 8e-6, c_rate=5.0, dod=0.99)


def test_sol_histogram_finds_the_known_saturation_peak():
    """70 % of the voxels at SoL 0.61, 30 % (the top 6 layers, next to the separator) at 0.97."""
    Z = 20
    sol = np.full((1, Z, 4, 4), 0.61)
    sol[0, 14:] = 0.97
    sol[0, :, 0, 0] = np.nan  # a non-active column
    sim = make_sim(sol, snapshot_dod=(0.6,))
    h = analysis.sol_histogram(sim, dod=0.6, bins=50)
    assert float(h["p_ds_location"]) == pytest.approx(0.97)
    assert float(h["p_ds_height"]) == pytest.approx(0.3)
    assert float(h["p_ds_volume_fraction"]) == pytest.approx(0.3)
    assert int(h["p_ds_voxels"]) == 6 * 15
    assert float(h["p_ds_depth"]) == pytest.approx(6 / Z)
    assert int(h["p_ds_voxel"].sum()) == 90 and int(h["p_ds_voxel"][14:].sum()) == 90
    assert float(h["volume_fraction"].sum()) == pytest.approx(1.0)
    # one population only, below the saturation SoL: no P_Ds
    flat = analysis.sol_histogram(make_sim(np.full((1, Z, 4, 4), 0.61), snapshot_dod=(0.6,)), dod=0.6)
    assert np.isnan(float(flat["p_ds_location"])) and int(flat["p_ds_voxels"]) == 0


def test_sst_limiting_region_orders_runs_by_c_rate():
    particle = lattice(5)
    sol = np.where(particle > 0, 0.6, np.nan)[None].repeat(3, axis=0)
    runs = [make_sim(sol, particle=particle, c_rate=c, particle_stats={"std": np.full((3, 5), 0.05)}) for c in (3.0, 1.0)]
    region = analysis.sst_limiting_region(runs, dod=0.6, reference=0.04)
    assert list(region["c_rate"].values) == [1.0, 3.0]
    np.testing.assert_allclose(region["ds_limiting_depth"], [1.0, 1.0])
    check_dataset(region)


def test_delta_sol_uniform_lattice_has_zero_spread_and_converges_where_built():
    particle = lattice(5)
    steps = np.array([0.3, 0.4, 0.5, 0.6])
    sol = np.where(particle > 0, 1.0, np.nan)[None] * steps[:, None, None, None]
    result = analysis.delta_sol(make_sim(sol, particle=particle, snapshot_dod=(0.1, 0.2, 0.3, 0.4)), band=0.2)
    np.testing.assert_allclose(result["delta_spread"], 0.0, atol=1e-12)
    np.testing.assert_allclose(result["delta_sol"], 0.1, rtol=1e-9)
    assert float(result["convergence_sol"]) == pytest.approx(0.4)  # alike from the first interval
    # the separator-side particle (label 5) lithiates twice as fast until the last interval
    sol = sol.copy()
    top = particle == 5
    for k, value in enumerate([0.3, 0.5, 0.7, 0.8]):
        sol[k][top] = value
    result = analysis.delta_sol(make_sim(sol, particle=particle, snapshot_dod=(0.1, 0.2, 0.3, 0.4)), band=0.2)
    np.testing.assert_allclose(result["separator_delta"], [0.2, 0.2, 0.1])
    np.testing.assert_allclose(result["collector_delta"], [0.1, 0.1, 0.1])
    assert list(result["converged"].values) == [0, 0, 1]
    assert float(result["convergence_sol"]) == pytest.approx((4 * 0.6 + 0.8) / 5)
    assert result["sol_range"].shape == (4, 5)


def test_particle_c_rates_known_values():
    particle = lattice(2)
    sol = np.where(particle > 0, 0.5, np.nan)[None]
    area, i_1c = 2e-9, 4e-9  # J_1C = 2 A m-2
    sim = make_sim(sol, particle=particle, snapshot_dod=(0.65,), reaction_area_m2=area, one_c_current_A=i_1c,
                   particle_stats={"j": np.array([[2.0, 6.0]])})
    result = analysis.particle_c_rates(sim, dod=0.65, diffusivity=1e-15)
    np.testing.assert_allclose(result["c_p"], [1.0, 3.0])
    radius = np.cbrt(3 * 64 * VOXEL ** 3 / (4 * np.pi))
    np.testing.assert_allclose(result["c_t"], 3600 * 1e-15 / radius ** 2)
    np.testing.assert_allclose(result["c_diff"], result["c_p"] - result["c_t"])
    assert float(result["j_1c"]) == pytest.approx(2.0)
    # D_s(SoL) of the run's own parameter set by default
    default = analysis.particle_c_rates(sim, dod=0.65)
    d_s = float(PARAMS.positive.material.diffusivity(0.5))
    np.testing.assert_allclose(default["diffusion_time"], radius ** 2 / d_s)


def test_rated_capacity_units_and_loading():
    particle = lattice(2)
    sol = np.where(particle > 0, 0.5, np.nan)[None]
    q_th = 2e-10  # A h: DoD 0.5 at 1e-10 A h
    sims = [make_sim(sol, particle=particle, snapshot_dod=(0.5,), c_rate=c, capacity_Ah=(0.0, q_th * f),
                     dod=(0.0, f), one_c_current_A=q_th) for c, f in ((3.0, 0.5), (1.0, 0.8))]
    result = analysis.rated_capacity(sims)
    assert list(result["c_rate"].values) == [1.0, 3.0]
    np.testing.assert_allclose(result["capacity_fraction"], [0.8, 0.5])
    area_cm2 = 4 * 4 * VOXEL ** 2 * 1e4
    np.testing.assert_allclose(result["areal_capacity"], np.array([0.8, 0.5]) * q_th * 1e3 / area_cm2)
    np.testing.assert_allclose(result["current_density"], np.array([1.0, 3.0]) * q_th * 1e3 / area_cm2)
    m = PARAMS.positive.material
    mass_g = q_th * 3600 / (96485.33212 * m.c_max_mol_m3 * (m.sol_max - PARAMS.positive.sol_initial)) * m.density_kg_m3 * 1e3
    np.testing.assert_allclose(result["specific_capacity"], np.array([0.8, 0.5]) * q_th * 1e3 / mass_g)
    assert "mA h cm-2 theoretical" in result.attrs["loading"]
    assert result["specific_capacity"].attrs["units"] == "mA h g-1"


def test_paper_inputs():
    p = analysis.PAPER
    assert p.nonsolid_porosity(p.porosity_of("high")) == pytest.approx(0.28 / 0.57)
    assert p.carbon_binder_fraction(p.porosity_of("low")) == pytest.approx(0.34)
    assert p.one_c_current_density_mA_cm2() == 1.5 and 3 * p.one_c_current_density_mA_cm2() == 4.5
    assert p.one_c_current_density_mA_cm2(100e-6) == pytest.approx(2.5)
    c = p.simulation_c_rate(4.5, PARAMS)
    q = 96485.33212 * 63104.0 * (1.0 - PARAMS.positive.sol_initial) * 0.43 * 60e-6 / 3.6 / 1e4
    assert c == pytest.approx(4.5 / q)
    with pytest.raises(ParameterError, match="medium"):
        p.porosity_of("medium")


def test_bad_inputs_give_one_line_errors():
    particle = lattice(2)
    sol = np.where(particle > 0, 0.5, np.nan)[None].repeat(2, axis=0)
    sim = make_sim(sol, particle=particle, snapshot_dod=(0.3, 0.6))
    no_snapshots = sim.isel(snapshot=slice(0, 0))
    with pytest.raises(ParameterError, match="has no snapshots"):
        analysis.ds_limiting_depth(no_snapshots)
    with pytest.raises(ParameterError, match="has no per-particle series"):
        analysis.delta_sol(sim.drop_vars(["particle_sol_mean"]))
    with pytest.raises(ParameterError, match="ΔSoL needs 2"):
        analysis.delta_sol(sim.isel(snapshot=[0]))
    with pytest.raises(ParameterError, match="snapshots at DoD 0.3, 0.6"):
        analysis.sol_histogram(sim, dod=0.45)
    with pytest.raises(ParameterError, match="kind 'gitt'"):
        analysis.sol_histogram(sim.assign_attrs(kind="gitt"))
    with pytest.raises(ParameterError, match="expected the kind='simulation' Dataset"):
        analysis.rated_capacity([sim.attrs])
    wrong = xr.Dataset({"phase": (("z", "y", "x"), np.ones((4, 4, 4), np.uint8)),
                        "particle": (("z", "y", "x"), np.ones((4, 4, 4), np.int32))}, attrs={"kind": "microstructure"})
    with pytest.raises(ParameterError, match="does not match the simulation"):
        analysis.ds_limiting_depth(sim, wrong, dod=0.6)
    other = xr.Dataset({"phase": (("z", "y", "x"), np.ones(particle.shape, np.uint8)),
                        "particle": (("z", "y", "x"), np.where(particle == 2, 7, particle))}, attrs={"kind": "microstructure"})
    with pytest.raises(ParameterError, match="lacks 1 particle label"):
        analysis.particle_c_rates(sim, other, dod=0.6)


def test_results_are_catalogued_as_analysis(tmp_path):
    particle = lattice(5)
    steps = np.array([0.3, 0.45, 0.6])
    sol = np.where(particle > 0, 1.0, np.nan)[None] * steps[:, None, None, None]
    sim = make_sim(sol, particle=particle)
    results = [analysis.ds_limiting_depth(sim, dod=0.6, reference=0.01), analysis.sol_histogram(sim, dod=0.6),
               analysis.delta_sol(sim), analysis.particle_c_rates(sim, dod=0.6), analysis.rated_capacity([sim])]
    for result in results:
        assert result.attrs["kind"] == "analysis"
        check_dataset(result)
        for name, var in result.variables.items():
            assert var.attrs.get("units") and var.attrs.get("long_name"), name
        store.save_result(result, result.attrs["metric"], catalog_path=tmp_path / "catalog.yml")
    listed = store.list_results(catalog_path=tmp_path / "catalog.yml", kind="analysis")
    assert {r.attrs["metric"] for r in results} <= set(listed["name"])


@pytest.mark.slow
def test_isolated_spheres_electrode_is_fully_ds_limited_and_lithiates_alike():
    """A real gpnp run of identical isolated D8 spheres (1 µm voxels, 3C): the electrolyte barely limits it, so
    its D_s-limiting depth is 1 and its particles' ΔSoL spread is a small share of their mean ΔSoL."""
    import warnings

    from electrode_design import gpnp, microstructure

    iso = microstructure.isolated_spheres(8e-6, thickness_m=30e-6, width_m=24e-6, voxel_size_m=1e-6, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(iso.phase.values.astype(np.uint8), params=PARAMS, voxel_size_m=1e-6, c_rate=3.0,
                             particle=iso.particle.values.astype(np.int32), progress=False, snapshots_dod=(0.2, 0.4))
    limit = analysis.ds_limiting_depth(sim, iso, dod=0.4, bins=6)
    ratio = (limit.sol_std / limit.reference_std).values
    assert float(limit.ds_limiting_depth) == 1.0
    assert 0.9 < ratio.min() and ratio.max() < 1.0  # the voxelised sphere's spread is 7-8 % below the 1D sphere's
    balance = analysis.delta_sol(sim, iso)
    assert float((balance.delta_spread / balance.delta_sol.mean("particle")).max()) < 0.01
