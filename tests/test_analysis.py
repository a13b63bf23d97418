"""3D-vs-P2D comparison and through-thickness lithiation (electrode_design.analysis)."""
import json
import warnings

import numpy as np
import pytest
import xarray as xr

from electrode_design import gpnp, microstructure
from electrode_design.analysis import compare_with_p2d, lithiation_gradient, p2d_twin, p2d_twins, plot_p2d_comparison
from electrode_design.params import parameter_set

PARAMS = parameter_set("chen2020_nmc811")


def profile_dataset(profiles, thickness_m=40e-6, dod=(0.2, 0.4)):
    """A minimal P2D-like simulation Dataset with given (snapshot, z) SoL profiles."""
    profiles = np.asarray(profiles, dtype=float)
    nz = profiles.shape[1]
    z = (np.arange(nz) + 0.5) * thickness_m / nz
    t = np.linspace(0, 100, 5)
    return xr.Dataset({"voltage": ("time", np.linspace(4.0, 3.5, 5)), "depth_of_discharge": ("time", t / 200),
                       "sol_profile": (("snapshot", "z"), profiles)},
                      coords={"time": t, "z": z, "snapshot_dod": ("snapshot", np.asarray(dod, dtype=float))},
                      attrs={"kind": "simulation", "c_rate": 1.0})


def test_lithiation_gradient_of_a_linear_profile():
    # θ(z) = a + b z/L: top quarter mean a + 7b/8, bottom quarter mean a + b/8 -> gradient 3b/4
    nz = 40
    zeta = (np.arange(nz) + 0.5) / nz
    ds = profile_dataset([0.3 + 0.2 * zeta, 0.5 - 0.1 * zeta])
    g = lithiation_gradient(ds)
    np.testing.assert_allclose(g.values, [0.75 * 0.2, -0.75 * 0.1], rtol=1e-12)
    assert g.attrs["units"] == "1"


def test_compare_with_itself_is_exact():
    ds = profile_dataset([np.linspace(0.3, 0.5, 10), np.linspace(0.4, 0.7, 10)])
    report = compare_with_p2d(ds, ds)
    assert report["capacity_difference"] == 0 and report["voltage_rms_V"] == 0
    assert [s["profile_rms"] for s in report["snapshots"]] == [0.0, 0.0]
    assert all(s["gradient_3d"] == s["gradient_p2d"] for s in report["snapshots"])
    assert all(np.isnan(s["within_scatter"]) for s in report["snapshots"])  # no particles


def test_bad_input_is_named():
    ds = profile_dataset([np.linspace(0.3, 0.5, 10)], dod=(0.2,))
    with pytest.raises(TypeError, match="xarray.Dataset"):
        compare_with_p2d(ds, {"voltage": 1})
    with pytest.raises(ValueError, match="kind 'microstructure'.*expected 'simulation'"):
        lithiation_gradient(ds.assign_attrs(kind="microstructure"))
    with pytest.raises(ValueError, match="no 'sol_profile'"):
        lithiation_gradient(ds.drop_vars("sol_profile"))


@pytest.fixture(scope="module")
def small_electrode():
    ms = microstructure.generate_electrode(8e-6, thickness_m=30e-6, width_m=16e-6, voxel_size_m=1e-6, seed=1)
    ms.attrs["tortuosity_factor"] = microstructure.tortuosity_factor(ms.phase.values != 1)["tortuosity_factor"]
    phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(phase, params=PARAMS, voxel_size_m=1e-6, c_rate=3.0, particle=particle,
                             progress=False, snapshots_dod=(0.2, 0.4))
    return ms, sim


def test_p2d_twins_bracket_the_3d_capacity(small_electrode, tmp_path):
    ms, sim = small_electrode
    twins = p2d_twins(sim, ms)
    info = {r: json.loads(p.attrs["twin_of"]) for r, p in twins.items()}
    assert info["area"]["area_ratio_to_spheres"] == pytest.approx(1.0, abs=1e-12)
    assert info["volume"]["area_ratio_to_spheres"] < 1.0  # contacts do not react
    assert info["area"]["radius_m"] > info["volume"]["radius_m"]
    reports = {r: compare_with_p2d(sim, p) for r, p in twins.items()}
    cap3 = reports["volume"]["capacity_3d"]
    # the volume radius gives the DFN more diffusion area, the area radius longer paths
    assert reports["area"]["capacity_p2d"] < cap3 < reports["volume"]["capacity_p2d"]
    for snap in reports["volume"]["snapshots"]:
        assert snap["sol_mean_3d"] == pytest.approx(snap["sol_mean_p2d"], abs=2e-3)  # charge passed
        assert snap["gradient_3d"] > 0  # at 3C lithiation runs from the separator
        assert 0.0 <= snap["within_scatter"] <= 1.0
    fig = plot_p2d_comparison(sim, twins["volume"], path=tmp_path / "cmp.png")
    assert len(fig.axes) == 2 and (tmp_path / "cmp.png").stat().st_size > 10_000


def test_p2d_twin_rejects_a_mismatched_microstructure(small_electrode):
    ms, sim = small_electrode
    with pytest.raises(ValueError, match="shape"):
        p2d_twin(sim, ms.isel(z=slice(0, 10)))
    with pytest.raises(TypeError, match="microstructure"):
        p2d_twin(sim, sim)
    with pytest.raises(ValueError, match="radius"):
        p2d_twin(sim, ms, radius=-1.0)


@pytest.mark.slow
def test_lower_porosity_moves_lithiation_towards_the_separator():
    """The paper's trend (§3.3, Fig. 3): ε_L = 0.23 lithiates more next to the separator than ε_H = 0.28."""
    ms = microstructure.generate_electrode(8e-6, thickness_m=40e-6, width_m=16e-6, voxel_size_m=1e-6, seed=2,
                                           measure=False)
    phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
    nonsolid = float((phase != 1).mean())
    gradients = {}
    for eps in (0.28, 0.23):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = gpnp.discharge(phase, params=PARAMS, voxel_size_m=1e-6, c_rate=3.0, particle=particle,
                                 progress=False, snapshots_dod=(0.2, 0.3), nonsolid_porosity=eps / nonsolid)
        gradients[eps] = lithiation_gradient(sim).values
    assert gradients[0.23].size == 2 and gradients[0.28].size == 2
    # measured on this electrode: 0.022/0.032 (ε_H) against 0.025/0.036 (ε_L) at DoD 0.2/0.3
    assert np.all(gradients[0.23] > 1.05 * gradients[0.28]), gradients


def test_p2d_twin_of_a_field_mode_run_gets_the_network_conductivity(small_electrode):
    ms, _ = small_electrode
    phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(phase, params=PARAMS, voxel_size_m=1e-6, c_rate=1.0, particle=particle, progress=False,
                             snapshots_dod=(0.2,), solid_potential="field", solid_conductivity_S_m=0.05)
    twin = p2d_twin(sim, ms, radius="volume")
    info = json.loads(twin.attrs["twin_of"])
    expected = 0.05 * microstructure.tortuosity_factor(phase == 1)["relative_diffusivity"]
    assert info["electronic_conductivity_S_m"] == pytest.approx(expected, rel=1e-9)
    assert 0 < info["electronic_conductivity_S_m"] < 0.05
    report = compare_with_p2d(sim, twin)
    assert abs(report["capacity_difference"]) < 0.15 and report["snapshots"]


@pytest.mark.slow
@pytest.mark.parametrize("diameter_um, width_um", [(8, 24), (16, 40)])
@pytest.mark.parametrize("c_rate", [1.0, 3.0])
def test_electrode_without_contacts_matches_its_dfn_twin(diameter_um, width_um, c_rate):
    """Issue 4: 3D vs DFN within 5 % at 1C and 3C for D8 and D16 where the DFN's free spheres exist.

    Packed electrodes differ from their twins by the contact effect (−2 % to −18 %, see the
    analysis notebook); isolated spheres (measured at 60×40×40 µm: −0.2 % to −1.5 %) must not.
    """
    ms = microstructure.isolated_spheres(diameter_um * 1e-6, thickness_m=60e-6, width_m=width_um * 1e-6,
                                         voxel_size_m=1e-6, seed=0)
    ms.attrs["tortuosity_factor"] = microstructure.tortuosity_factor(ms.phase.values != 1)["tortuosity_factor"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(ms.phase.values.astype(np.uint8), params=PARAMS, voxel_size_m=1e-6, c_rate=c_rate,
                             particle=ms.particle.values.astype(np.int32), progress=False, snapshots_dod=(0.2, 0.4))
    twin = p2d_twin(sim, ms, radius="volume")
    assert json.loads(twin.attrs["twin_of"])["area_ratio_to_spheres"] > 0.9  # nothing hides the surface
    report = compare_with_p2d(sim, twin)
    assert abs(report["capacity_difference"]) < 0.05, report
    for snap in report["snapshots"]:  # same charge passed, same through-thickness mean
        assert snap["sol_mean_3d"] == pytest.approx(snap["sol_mean_p2d"], abs=2e-3)


def test_cliff_start_finds_the_vertical_drop():
    from electrode_design.analysis import cliff_start

    assert cliff_start([0.0, 0.5, 0.9, 0.92, 0.925], [4.0, 3.7, 3.5, 3.45, 2.8]) == 0.92
    assert cliff_start([0.0, 0.5, 0.9], [4.0, 3.7, 3.5]) == 0.9  # no cliff: the whole curve


def test_voltage_rms_of_coinciding_curves_ignores_the_cut_off_cliff():
    """Issue 10: a non-touching D8 electrode and its DFN twin at 1C lie on top of each other.

    Over the common depth of discharge including the last vertical drop the RMS was 60–75 mV
    (measured 78 mV on this cell); before the cliff, on a uniform DoD grid, it is 3.7 mV.
    """
    ms = microstructure.isolated_spheres(8e-6, thickness_m=30e-6, width_m=24e-6, voxel_size_m=1e-6, seed=1)
    ms.attrs["tortuosity_factor"] = microstructure.tortuosity_factor(ms.phase.values != 1)["tortuosity_factor"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(ms.phase.values.astype(np.uint8), params=PARAMS, voxel_size_m=1e-6, c_rate=1.0,
                             particle=ms.particle.values.astype(np.int32), progress=False, snapshots_dod=(0.2,))
    report = compare_with_p2d(sim, p2d_twin(sim, ms, radius="volume"))
    assert abs(report["capacity_difference"]) < 0.01
    assert report["voltage_rms_V"] < 0.010, report
    assert report["voltage_rms_with_cliff_V"] > report["voltage_rms_V"]  # the cliff is reported apart
    assert 0.85 < report["cliff_dod_3d"] <= report["capacity_3d"]
