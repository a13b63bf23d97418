"""Particle-scale models: analytic, peer-model and conservation checks, bad input."""
import numpy as np
import pytest

from electrode_design.params import FARADAY_C_MOL, ParameterError, parameter_set, to_pybamm
from electrode_design.particle import (ParticleSolverError, crank_sphere_surface_sol, discharge_cross_section,
                                       discharge_sphere, fit_effective_diffusivity, orientation_factors,
                                       orientation_from_greyscale, pulse_sphere, synthetic_cross_section)


@pytest.fixture(scope="module")
def params():
    return parameter_set("chen2020_nmc811")


@pytest.fixture(scope="module")
def sphere_runs(params):
    return {rate: discharge_sphere(params, c_rate=rate) for rate in (1.0, 5.0)}


def test_dataset_layout(sphere_runs):
    ds = sphere_runs[1.0]
    assert ds.attrs["kind"] == "simulation"
    assert ds.attrs["status"] == "cutoff" and ds.attrs["converged"] == 1
    for name in ("voltage", "current", "capacity", "specific_capacity", "depth_of_discharge", "sol_surface", "sol_mean", "sol"):
        assert "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
    assert ds.sol.dims == ("snapshot", "r")
    np.testing.assert_allclose(ds.snapshot_dod, [0.2, 0.4, 0.6, 0.8], atol=1e-9)
    assert abs(float(ds.voltage[-1]) - 2.8) < 0.01  # ends at the cut-off event
    assert np.all(np.diff(ds.time) > 0)


@pytest.mark.parametrize("rate", [1.0, 5.0])
def test_crank_constant_flux(params, sphere_runs, rate):
    """Surface SoL vs Crank eq. 6.49 (constant D = 4e-15 m2/s, constant flux): within 0.5 % for t >= 1 s."""
    ds = sphere_runs[rate]
    radius = params.positive.particle_radius_m
    flux = float(ds.current[0]) / (4 * np.pi * radius ** 2) / (FARADAY_C_MOL * params.positive.material.c_max_mol_m3)
    reference = crank_sphere_surface_sol(ds.time.values, radius_m=radius, diffusivity_m2_s=4e-15,
                                         flux_sol_m_s=flux, sol_initial=params.positive.sol_initial)
    error = np.abs(ds.sol_surface.values / reference - 1)
    assert error[ds.time.values >= 1.0].max() < 0.005
    assert error.max() < 0.015  # the first sub-second steps resolve the √t onset on the grid only


@pytest.mark.parametrize("rate", [1.0, 5.0])
def test_lithium_conservation(params, sphere_runs, rate):
    ds = sphere_runs[rate]
    assert ds.attrs["conservation_error"] < 1e-10
    volume = 4 / 3 * np.pi * params.positive.particle_radius_m ** 3
    gained = (ds.sol_mean.values - ds.sol_mean.values[0]) * volume * params.positive.material.c_max_mol_m3 * FARADAY_C_MOL
    np.testing.assert_allclose(gained, ds.capacity.values * 3600, rtol=1e-9, atol=1e-12 * gained.max())


@pytest.mark.parametrize("rate", [1.0, 5.0])
def test_against_pybamm_spm(params, sphere_runs, rate):
    """Voltage vs PyBaMM's half-cell SPM (particle part: U(surface) + reaction overpotential): < 5 mV RMS."""
    pybamm = pytest.importorskip("pybamm")
    ds = sphere_runs[rate]
    pos = params.positive
    radius = pos.particle_radius_m
    current_density = float(ds.current[0]) / (4 * np.pi * radius ** 2)
    cell_current = current_density * params.electrode_area_m2 * 3 * pos.active_volume_fraction * pos.thickness_m / radius
    values = to_pybamm(params)
    values.update({"Current function [A]": cell_current})
    model = pybamm.lithium_ion.SPM({"working electrode": "positive"})
    sim = pybamm.Simulation(model, parameter_values=values, var_pts={**model.default_var_pts, "r_p": 60})
    t_end = float(ds.time[-1]) * 1.2
    solution = sim.solve([0, t_end], t_interp=np.linspace(0, t_end, 2000))
    t_ref = solution["Time [s]"].entries
    v_ref = (solution["X-averaged positive electrode open-circuit potential [V]"].entries
             + solution["X-averaged positive electrode reaction overpotential [V]"].entries)
    end = min(t_ref[-1], float(ds.time[-1]))
    assert abs(t_ref[-1] / float(ds.time[-1]) - 1) < 0.005  # same time to the cut-off
    grid = np.linspace(0, 0.99 * end, 1000)
    difference = np.interp(grid, ds.time, ds.voltage) - np.interp(grid, t_ref, v_ref)
    assert np.sqrt(np.mean(difference ** 2)) < 0.005


def test_pulse_and_rest(params):
    ds = pulse_sphere(params, c_rate=1.0, pulse_s=300, rest_s=1800, n_pulses=2)
    assert ds.attrs["conservation_error"] < 1e-10
    np.testing.assert_allclose(float(ds.depth_of_discharge[-1]), 600 / 3600, rtol=1e-9)
    rest = ds.current.values == 0
    ocv = params.positive.material.ocv(ds.sol_surface.values[rest])
    np.testing.assert_allclose(ds.voltage.values[rest], ocv, atol=1e-9)  # at rest V = U(θ_surf)
    # after a long rest the surface relaxes towards the mean
    assert abs(float(ds.sol_surface[-1] - ds.sol_mean[-1])) < 2e-3


def test_soL_dependent_diffusivity(params):
    """A SoL-dependent D_s goes through the Picard loop; a slower D_s gives less capacity."""
    from electrode_design.params import SolTable
    import dataclasses

    material = params.positive.material
    grid = np.linspace(0.2, 1.0, 41)
    slow = dataclasses.replace(material, diffusivity=SolTable(tuple(grid), tuple(4e-15 * np.exp(-3 * (grid - 0.2))),
                                                              units="m2 s-1", log=True, name="diffusivity"))
    fast = discharge_sphere(params, c_rate=2.0, snapshots_dod=())
    varying = discharge_sphere(params.replace(**{"positive.material": slow}), c_rate=2.0, snapshots_dod=())
    assert varying.attrs["picard_iterations"] > varying.attrs["time_steps"]
    assert varying.attrs["conservation_error"] < 1e-9
    assert varying.attrs["rated_capacity"] < fast.attrs["rated_capacity"]


@pytest.mark.parametrize("kwargs, word", [
    ({"c_rate": 0}, "c_rate"), ({"c_rate": float("nan")}, "c_rate"), ({"radius_m": -1e-6}, "radius_m"),
    ({"sol_initial": 1.0}, "sol_initial"), ({"c_e_mol_m3": 0}, "c_e_mol_m3"), ({"temperature_K": -3}, "temperature_K"),
    ({"n_cells": 2}, "n_cells"), ({"snapshots_dod": (1.5,)}, "snapshots_dod"), ({"geometry": "cube"}, "geometry"),
])
def test_bad_input_names_argument(params, kwargs, word):
    with pytest.raises(ParameterError, match=word):
        discharge_sphere(params, **kwargs)


def test_material_needs_radius(params):
    with pytest.raises(ParameterError, match="radius_m"):
        discharge_sphere(params.positive.material)
    with pytest.raises(TypeError, match="material"):
        discharge_sphere("nmc", radius_m=1e-6)


def test_kinetics_is_the_package_butler_volmer(params):
    """The particle's insertion current is −numerics.butler_volmer (the package's law, anodic positive) at η = V − U(θ)."""
    from electrode_design.numerics import butler_volmer
    from electrode_design.params import GAS_CONSTANT_J_MOL_K
    from electrode_design.particle import _insertion_current, _Model, _radial_domain, _resolve_conditions

    conditions, _ = _resolve_conditions(params, sol_initial=None, c_e_mol_m3=None, temperature_K=None, cutoff_V=None)
    m = conditions.material
    sol, voltage = np.array([0.3, 0.55, 0.8]), 3.75
    f = FARADAY_C_MOL / (GAS_CONSTANT_J_MOL_K * conditions.temperature_K)
    c_s = sol * m.c_max_mol_m3
    i0 = m.rate_constant * np.sqrt(conditions.c_e_mol_m3 * c_s * (m.c_max_mol_m3 - c_s))  # by hand
    np.testing.assert_allclose(m.exchange_current_density_A_m2(conditions.c_e_mol_m3, sol), i0, rtol=1e-14)
    eta = voltage - m.ocv(sol)
    anodic = i0 * (np.exp(m.alpha_a * f * eta) - np.exp(-m.alpha_c * f * eta))  # the package's sign: η > 0 delithiates
    np.testing.assert_allclose(butler_volmer(i0, eta, m.alpha_a, m.alpha_c, f)[0], anodic, rtol=1e-13)
    j = _insertion_current(conditions, sol, voltage)
    np.testing.assert_allclose(j, -butler_volmer(i0, eta, m.alpha_a, m.alpha_c, f)[0], rtol=1e-14)
    assert np.all(np.sign(j) == -np.sign(eta))  # the particle counts lithiation (η < 0) positive
    # the Newton model's kinetics: the same current, derivatives that match finite differences
    domain, _ = _radial_domain(params.positive.particle_radius_m, 8, "sphere")
    model = _Model(domain, conditions, distributed=True)
    j_model, dj_dsol, dj_dv = model._kinetics(sol, voltage)
    np.testing.assert_allclose(j_model, j, rtol=1e-14)
    step = 1e-7
    np.testing.assert_allclose(dj_dv, (model._kinetics(sol, voltage + step)[0] - model._kinetics(sol, voltage - step)[0]) / (2 * step), rtol=1e-5)
    np.testing.assert_allclose(dj_dsol, (model._kinetics(sol + step, voltage)[0] - model._kinetics(sol - step, voltage)[0]) / (2 * step), rtol=1e-5)
    # and the 1D model's voltage inverts it: the voltage that carries j is V
    uniform = _Model(domain, conditions, distributed=False)
    for k in range(sol.size):
        np.testing.assert_allclose(uniform._uniform_voltage(sol[k:k + 1], j[k]), voltage, rtol=1e-12)


def _dense_operator(domain):
    """Our matrix Σ_faces w (e_i − e_j)(e_i − e_j)ᵀ with w = harmonic mean × A/d, dense; and its size."""
    a, b = domain.face_cells
    fa, fb = domain.face_factors
    w = 2 * fa * fb / (fa + fb) * domain.face_conductance_m
    n = domain.n_cells
    ours = np.zeros((n, n))
    np.add.at(ours, (a, a), w); np.add.at(ours, (b, b), w); np.add.at(ours, (a, b), -w); np.add.at(ours, (b, a), -w)
    return ours, n


def _fipy_operator(fipy, mesh, coeff):
    """−(FiPy's DiffusionTerm matrix) on ``mesh`` with face coefficients ``coeff``, dense."""
    var = fipy.CellVariable(mesh=mesh, value=0.0)
    term = fipy.DiffusionTerm(coeff=fipy.FaceVariable(mesh=mesh, value=coeff))
    term.cacheMatrix()
    term.solve(var=var, solver=fipy.solvers.scipy.LinearLUSolver(tolerance=1e-12))
    return -np.asarray(term.matrix.matrix.todense())


def test_operator_matches_fipy():
    """The assembled 2D operator equals FiPy's DiffusionTerm matrix on the same Grid2D."""
    import os
    os.environ.setdefault("FIPY_SOLVERS", "scipy")
    import fipy
    from electrode_design.particle import _cross_section_domain

    rng = np.random.default_rng(0)
    mask = np.ones((5, 6), dtype=bool)
    fx, fy = rng.uniform(0.2, 1.0, mask.shape), rng.uniform(0.2, 1.0, mask.shape)
    domain, shape, active = _cross_section_domain(mask, fx, fy, 1.0, area_correction=False)
    ours, n = _dense_operator(domain)
    # FiPy on the unpadded grid with the same face coefficients
    mesh = fipy.Grid2D(nx=6, ny=5)
    ids = np.ma.getdata(mesh.faceCellIDs)
    interior = ~np.ma.getmaskarray(mesh.faceCellIDs)[1]
    xface = np.abs(np.asarray(mesh.faceNormals)[0]) > 0.5
    f_x, f_y = fx.ravel(), fy.ravel()
    left = np.where(xface, f_x[ids[0]], f_y[ids[0]])
    right = np.where(xface, f_x[ids[1]], f_y[ids[1]])
    coeff = np.where(interior, 2 * left * right / (left + right), 0.0)
    theirs = _fipy_operator(fipy, mesh, coeff)
    assert n == 30
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_orientation_mapping():
    fx, fy = orientation_factors([0, 30, 60, 90])
    np.testing.assert_allclose(fx, [1, np.cos(np.pi / 6), 0.5, 0], atol=1e-12)  # paper: D_x = D cos 30° ...
    np.testing.assert_allclose(fy, [0, 0.5, np.cos(np.pi / 6), 1], atol=1e-12)  # ... D_y = D cos 60°
    px, py = orientation_factors([30], mapping="projection")
    np.testing.assert_allclose(px + py, 1)
    with pytest.raises(ParameterError, match="mapping"):
        orientation_factors([0], mapping="rotated")


def test_orientation_from_greyscale():
    mask, orientation = synthetic_cross_section("polycrystal", radius_px=16, seed=3)
    grey = np.where(mask, orientation, 0.0) + np.random.default_rng(1).normal(0, 2, mask.shape)
    recovered = orientation_from_greyscale(grey, mask)
    assert np.isnan(recovered[~mask]).all()
    assert np.mean(recovered[mask] == orientation[mask]) > 0.9  # multi-Otsu thresholds, classes of unequal size
    reverse = orientation_from_greyscale(grey, mask, reverse=True)
    np.testing.assert_array_equal(reverse[mask], 90.0 - recovered[mask])
    with pytest.raises(ParameterError, match="grey and mask"):
        orientation_from_greyscale(grey[:3], mask)


def test_synthetic_kinds_and_cracks():
    for kind in ("polycrystal", "single_crystal", "radial", "double_layer"):
        mask, orientation = synthetic_cross_section(kind, radius_px=10, seed=0)
        assert mask.sum() > 250 and np.isnan(orientation[~mask]).all()
    cracked, _ = synthetic_cross_section("polycrystal", radius_px=16, seed=0, crack_fraction=0.5)
    whole, _ = synthetic_cross_section("polycrystal", radius_px=16, seed=0)
    assert cracked.sum() < whole.sum()
    with pytest.raises(ParameterError, match="kind"):
        synthetic_cross_section("onion")


@pytest.fixture(scope="module")
def disc():
    radius_px = 12
    mask, _ = synthetic_cross_section("radial", radius_px=radius_px)
    return mask, parameter_set().positive.particle_radius_m / radius_px


def test_disc_matches_cylinder(params, disc):
    """Isotropic disc vs the 1D cylinder (same BV, same D): rated capacity within 3 %, voltage within 10 mV RMS."""
    mask, pixel = disc
    run = discharge_cross_section(mask, params, pixel_size_m=pixel, c_rate=1.0)
    reference = discharge_sphere(params, c_rate=1.0, geometry="cylinder")
    assert abs(run.attrs["rated_capacity"] / reference.attrs["rated_capacity"] - 1) < 0.03
    grid = np.linspace(0, 0.95 * min(float(run.time[-1]), float(reference.time[-1])), 300)
    rms = np.sqrt(np.mean((np.interp(grid, run.time, run.voltage) - np.interp(grid, reference.time, reference.voltage)) ** 2))
    assert rms < 0.010
    assert run.attrs["conservation_error"] < 1e-8
    assert run.sol.dims == ("snapshot", "y", "x") and np.isnan(run.sol.values[0][~mask]).all()


def test_uniform_tensor_equals_isotropic(params, disc):
    mask, pixel = disc
    iso = discharge_cross_section(mask, params, pixel_size_m=pixel, c_rate=5.0, snapshots_dod=())
    ones = np.ones(mask.shape)
    tensor = discharge_cross_section(mask, params, pixel_size_m=pixel, c_rate=5.0, diffusivity_factors=(ones, ones), snapshots_dod=())
    assert tensor.attrs["rated_capacity"] == pytest.approx(iso.attrs["rated_capacity"], rel=1e-9)


@pytest.mark.slow
def test_rotation_invariance(params):
    """Grain map rotated by 90° with swapped tensors (angle + 90°): same rated capacity (0.1 %)."""
    radius_px = 12
    pixel = params.positive.particle_radius_m / radius_px
    mask, angles = synthetic_cross_section("polycrystal", radius_px=radius_px, seed=1, n_grains=12)
    a = discharge_cross_section(mask, params, pixel_size_m=pixel, c_rate=5.0, orientation_deg=angles, snapshots_dod=())
    b = discharge_cross_section(np.rot90(mask).copy(), params, pixel_size_m=pixel, c_rate=5.0,
                                orientation_deg=np.rot90(angles) + 90.0, snapshots_dod=())
    assert b.attrs["rated_capacity"] == pytest.approx(a.attrs["rated_capacity"], rel=1e-3)


@pytest.mark.slow
def test_heterogeneous_particle_has_tortuosity_above_one(params):
    radius_px = 12
    pixel = params.positive.particle_radius_m / radius_px
    mask, angles = synthetic_cross_section("polycrystal", radius_px=radius_px, seed=1, n_grains=12)
    fit = fit_effective_diffusivity(mask, params, pixel_size_m=pixel, c_rate=5.0, orientation_deg=angles)
    assert fit["tortuosity"] > 1.0
    assert fit["rated_capacity_fit"] == pytest.approx(fit["rated_capacity"], abs=5e-3)


def test_cross_section_bad_input(params, disc):
    mask, pixel = disc
    with pytest.raises(ParameterError, match="mask"):
        discharge_cross_section(mask.astype(int), params, pixel_size_m=pixel)
    with pytest.raises(ParameterError, match="pixel_size_m"):
        discharge_cross_section(mask, params, pixel_size_m=0)
    with pytest.raises(ParameterError, match="orientation_deg"):
        discharge_cross_section(mask, params, pixel_size_m=pixel, orientation_deg=np.zeros((3, 3)))
    with pytest.raises(ParameterError, match="solver"):
        discharge_cross_section(mask, params, pixel_size_m=pixel, solver="gauss")


# ---- 3D voxel particles -----------------------------------------------------------------------------------------
from electrode_design.particle import (c_axis_factors, discharge_particle_3d, rated_capacity,  # noqa: E402
                                       synthetic_particle_3d)


def _equivalent_radius_m(mask, voxel_m):
    return (3 * mask.sum() / (4 * np.pi)) ** (1 / 3) * voxel_m


def _voltage_rms(run, reference):
    grid = np.linspace(0, 0.95 * min(float(run.time[-1]), float(reference.time[-1])), 400)
    difference = np.interp(grid, run.time, run.voltage) - np.interp(grid, reference.time, reference.voltage)
    return float(np.sqrt(np.mean(difference ** 2)))


@pytest.fixture(scope="module")
def voxel_sphere(params):
    """Isotropic sphere 16 voxels across at 1C, with its 1D reference of the same volume."""
    radius_vox = 8
    mask, _ = synthetic_particle_3d("single_crystal", radius_vox=radius_vox)  # only the outline is used
    voxel = params.positive.particle_radius_m / radius_vox
    run = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=1.0, snapshots_dod=(0.3, 0.6),
                                snapshot_at_cutoff=True)
    reference = discharge_sphere(params, radius_m=_equivalent_radius_m(mask, voxel), c_rate=1.0, snapshots_dod=())
    return mask, voxel, run, reference


def test_voxel_sphere_matches_1d_sphere(voxel_sphere):
    """16 voxels across vs the 1D sphere of equal volume at 1C: capacity to the cut-off within 2 %, voltage within 10 mV RMS."""
    mask, voxel, run, reference = voxel_sphere
    assert mask.shape[0] - 4 == 16 and mask[mask.shape[0] // 2].sum(axis=1).max() == 16
    assert run.attrs["status"].startswith("cutoff")
    assert abs(run.attrs["rated_capacity"] / reference.attrs["rated_capacity"] - 1) < 0.02
    assert _voltage_rms(run, reference) < 0.010


def test_voxel_dataset_layout(voxel_sphere):
    mask, voxel, run, _ = voxel_sphere
    assert run.attrs["kind"] == "simulation"
    assert run.sol.dims == ("snapshot", "z", "y", "x") and run.sol.shape[1:] == mask.shape
    assert np.isnan(run.sol.values[:, ~mask]).all() and np.isfinite(run.sol.values[:, mask]).all()
    np.testing.assert_allclose(run.snapshot_dod[:2], [0.3, 0.6], atol=1e-9)
    assert float(run.snapshot_dod[-1]) == pytest.approx(run.attrs["rated_capacity"], rel=1e-12)
    np.testing.assert_allclose(run.x.values[:2], [0.5 * voxel, 1.5 * voxel])
    for name in ("voltage", "current", "capacity", "sol"):
        assert "units" in run[name].attrs and "long_name" in run[name].attrs, name
    assert run.current.attrs["units"] == "A"
    import json
    parameters = json.loads(run.attrs["parameters"])
    assert parameters["model"] == "voxel_particle_3d" and parameters["unknowns"] == mask.sum() + 1


def test_voxel_lithium_conservation(params, voxel_sphere):
    """Charge passed / F = lithium gained, every step and in every stored SoL field."""
    mask, voxel, run, _ = voxel_sphere
    assert run.attrs["conservation_error"] < 1e-10
    material = params.positive.material
    per_sol = voxel ** 3 * material.c_max_mol_m3 * FARADAY_C_MOL  # C per voxel per unit SoL
    gained = (np.nansum(run.sol.values, axis=(1, 2, 3)) - mask.sum() * params.positive.sol_initial) * per_sol
    passed = np.interp(run.snapshot_time, run.time, run.capacity) * 3600
    np.testing.assert_allclose(gained, passed, rtol=1e-9)


def test_voxel_area_correction():
    """Weighted reaction area of a voxel sphere: within 0.5 % of 4πR² (raw voxel faces: ~50 % more)."""
    from electrode_design.particle import _voxel_domain

    for radius_vox in (8, 16):
        mask, _ = synthetic_particle_3d("single_crystal", radius_vox=radius_vox)
        ones = np.ones(mask.shape)
        corrected, _, _ = _voxel_domain(mask, (ones, ones, ones), 1.0, area_correction=True)
        raw, _, _ = _voxel_domain(mask, (ones, ones, ones), 1.0, area_correction=False)
        sphere = 4 * np.pi * _equivalent_radius_m(mask, 1.0) ** 2
        assert abs(corrected.total_area / sphere - 1) < 0.005
        assert 1.4 < raw.total_area / sphere < 1.6
        assert corrected.total_volume == mask.sum()


def test_voxel_operator_matches_fipy():
    """The assembled 3D operator equals FiPy's DiffusionTerm matrix on the same Grid3D."""
    import os
    os.environ.setdefault("FIPY_SOLVERS", "scipy")
    import fipy
    from electrode_design.particle import _voxel_domain

    rng = np.random.default_rng(0)
    shape = (3, 4, 5)
    mask = np.ones(shape, dtype=bool)
    factors = tuple(rng.uniform(0.2, 1.0, shape) for _ in range(3))  # (f_x, f_y, f_z)
    domain, _, _ = _voxel_domain(mask, factors, 1.0, area_correction=False)
    ours, n = _dense_operator(domain)
    mesh = fipy.Grid3D(nx=5, ny=4, nz=3)
    ids = np.ma.getdata(mesh.faceCellIDs)
    interior = ~np.ma.getmaskarray(mesh.faceCellIDs)[1]
    axis = np.argmax(np.abs(np.asarray(mesh.faceNormals)), axis=0)
    stack = np.stack([f.ravel() for f in factors])
    other = np.where(interior, ids[1], ids[0])  # boundary faces have one cell
    left, right = stack[axis, ids[0]], stack[axis, other]
    coeff = np.where(interior, 2 * left * right / (left + right), 0.0)
    theirs = _fipy_operator(fipy, mesh, coeff)
    assert n == 60
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.fixture(scope="module")
def small_polycrystal():
    mask, c_axis = synthetic_particle_3d("polycrystal", radius_vox=6, n_grains=12, seed=4)
    return mask, c_axis


def test_voxel_uniform_tensor_equals_isotropic(params):
    mask, _ = synthetic_particle_3d("single_crystal", radius_vox=6)
    voxel = params.positive.particle_radius_m / 6
    iso = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, snapshots_dod=())
    ones = np.ones(mask.shape)
    tensor = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, diffusivity_factors=(ones, ones, 1.0),
                                   snapshots_dod=())
    assert tensor.attrs["rated_capacity"] == pytest.approx(iso.attrs["rated_capacity"], rel=1e-9)
    np.testing.assert_allclose(tensor.voltage.values, iso.voltage.values, rtol=0, atol=1e-9)


def test_voxel_rotation_invariance(params, small_polycrystal):
    """The grain map rotated by 90° about z and about x, tensor components swapped: same rated capacity (< 0.5 %)."""
    mask, c_axis = small_polycrystal
    voxel = params.positive.particle_radius_m / 6
    f_x, f_y, f_z = c_axis_factors(np.where(mask[..., None], c_axis, 0.0 + np.array([0, 0, 1.0])))
    assert len({round(v, 6) for v in f_x[mask]}) > 2  # really anisotropic and heterogeneous
    base = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, diffusivity_factors=(f_x, f_y, f_z),
                                 snapshots_dod=()).attrs["rated_capacity"]

    def turned(array, axes):
        return np.ascontiguousarray(np.rot90(array, axes=axes))

    about_z = (1, 2)  # (Z, Y, X): turns y into x, so D_x and D_y swap
    about_x = (0, 1)  # turns z into y: D_y and D_z swap
    rotated = rated_capacity(turned(mask, about_z), params, voxel_size_m=voxel, c_rates=(5.0,),
                             diffusivity_factors=(turned(f_y, about_z), turned(f_x, about_z), turned(f_z, about_z)))
    assert float(rotated.rated_capacity[0]) == pytest.approx(base, rel=5e-3)
    rotated = rated_capacity(turned(mask, about_x), params, voxel_size_m=voxel, c_rates=(5.0,),
                             diffusivity_factors=(turned(f_x, about_x), turned(f_z, about_x), turned(f_y, about_x)))
    assert float(rotated.rated_capacity[0]) == pytest.approx(base, rel=5e-3)
    assert rotated.attrs["kind"] == "analysis"


def test_synthetic_particle_3d_kinds():
    radius = 8
    shapes = {}
    for kind in ("polycrystal", "single_crystal", "radial", "double_layer"):
        mask, c_axis = synthetic_particle_3d(kind, radius_vox=radius, seed=0)
        assert mask.shape == (2 * radius + 4,) * 3 and c_axis.shape == mask.shape + (3,)
        assert np.isnan(c_axis[~mask]).all()
        np.testing.assert_allclose(np.linalg.norm(c_axis[mask], axis=-1), 1.0, atol=1e-12)
        shapes[kind] = (mask, c_axis)
    mask, c_axis = shapes["single_crystal"]
    np.testing.assert_array_equal(c_axis[mask], np.broadcast_to([0.0, 0.0, 1.0], c_axis[mask].shape))
    size = mask.shape[0]
    z, y, x = np.mgrid[0:size, 0:size, 0:size] - (size - 1) / 2
    r_hat = np.stack([x, y, z], axis=-1) / np.sqrt(x * x + y * y + z * z)[..., None]
    mask, c_axis = shapes["radial"]
    np.testing.assert_allclose(np.sum(c_axis * r_hat, axis=-1)[mask], 0.0, atol=1e-12)  # layers contain the radius
    mask, c_axis = shapes["double_layer"]
    rho = np.sqrt(x * x + y * y + z * z)
    outer = mask & (rho > 2 / 3 * radius)
    np.testing.assert_allclose(np.sum(c_axis * r_hat, axis=-1)[outer], 0.0, atol=1e-12)
    poly_mask, poly_c = shapes["polycrystal"]
    core = mask & (rho <= 2 / 3 * radius)
    np.testing.assert_array_equal(c_axis[core], poly_c[core])  # same seed: same grains in the core
    assert len(np.unique(np.round(poly_c[poly_mask], 9), axis=0)) > 4  # several orientation classes
    again, again_c = synthetic_particle_3d("polycrystal", radius_vox=radius, seed=0)
    np.testing.assert_array_equal(again_c[again], poly_c[poly_mask])


def test_synthetic_particle_3d_cracks_are_internal(params):
    from scipy import ndimage

    whole, _ = synthetic_particle_3d("polycrystal", radius_vox=10, seed=1)
    cracked, c_axis = synthetic_particle_3d("polycrystal", radius_vox=10, seed=1, crack_fraction=0.5)
    cracks = whole & ~cracked
    assert cracks.sum() > 0.03 * whole.sum()
    labels, _ = ndimage.label(~np.pad(cracked, 1))
    assert not (labels[1:-1, 1:-1, 1:-1][cracks] == labels[0, 0, 0]).any()  # enclosed: no electrolyte inside
    # cracks neither react nor conduct: the same reaction area as the whole particle, fewer diffusion faces
    from electrode_design.particle import _voxel_domain
    ones = np.ones(whole.shape)
    a, _, _ = _voxel_domain(whole, (ones,) * 3, 1.0, area_correction=False)
    b, _, _ = _voxel_domain(cracked, (ones,) * 3, 1.0, area_correction=False)
    assert a.total_area == b.total_area and b.face_cells.shape[1] < a.face_cells.shape[1]


def test_c_axis_factors():
    fx, fy, fz = c_axis_factors([[0, 0, 2.0], [1, 0, 0], [1, 1, 0]], mapping="projection")
    np.testing.assert_allclose(np.c_[fx, fy, fz], [[1, 1, 0], [0, 1, 1], [0.5, 0.5, 1]], atol=1e-12)
    for angle in (0.0, 30.0, 60.0, 90.0):  # c in the x–y plane at ψ: the paper's 2D factors of layers at ψ + 90°
        psi = np.deg2rad(angle)
        for mapping in ("paper", "projection"):
            fx, fy, fz = c_axis_factors([np.cos(psi), np.sin(psi), 0.0], mapping=mapping)
            np.testing.assert_allclose([fx, fy], orientation_factors(angle + 90.0, mapping=mapping), atol=1e-12)
            assert fz == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="length 3"):
        c_axis_factors([1.0, 0.0])
    with pytest.raises(ParameterError, match="zero"):
        c_axis_factors([0.0, 0.0, 0.0])
    with pytest.raises(ParameterError, match="mapping"):
        c_axis_factors([0.0, 0.0, 1.0], mapping="rotated")


def test_voxel_bad_input(params, small_polycrystal):
    mask, c_axis = small_polycrystal
    voxel = 1e-6
    ones = np.ones(mask.shape)
    cases = [
        ((np.zeros((6, 6, 6), dtype=bool),), {}, "no solid voxel"),
        ((mask[6],), {}, "3D"),
        ((mask.astype(np.uint8),), {}, "bool"),
        ((mask,), {"diffusivity_factors": (ones, -ones, ones)}, "f_y must be finite and >= 0"),
        ((mask,), {"diffusivity_factors": (ones, ones, np.full(mask.shape, np.nan))}, "f_z"),
        ((mask,), {"diffusivity_factors": (ones, ones)}, "tuple of 3"),
        ((mask,), {"diffusivity_factors": (ones, ones, ones[:2])}, "broadcast"),
        ((mask,), {"c_axis": c_axis[..., :2]}, "c_axis must have shape"),
        ((mask,), {"c_axis": np.zeros(mask.shape + (3,))}, "zero"),
        ((mask,), {"c_axis": c_axis, "diffusivity_factors": (ones, ones, ones)}, "not both"),
        ((mask,), {"voxel_size_m": 0.0}, "voxel_size_m"),
        ((mask,), {"c_rate": -1.0}, "c_rate"),
        ((mask,), {"solver": "gauss"}, "solver"),
        ((mask,), {"diffusivity_factors": (0.0, 0.0, 0.0)}, "no surface"),  # no face can take current
    ]
    for args, kwargs, words in cases:
        kwargs = {"voxel_size_m": voxel, **kwargs}
        with pytest.raises(ParameterError, match=words):
            discharge_particle_3d(*args, params, **kwargs)
    nan_inside = c_axis.copy()
    nan_inside[mask.nonzero()[0][0], mask.nonzero()[1][0], mask.nonzero()[2][0]] = np.nan
    with pytest.raises(ParameterError, match="NaN"):
        discharge_particle_3d(mask, params, voxel_size_m=voxel, c_axis=nan_inside)
    with pytest.raises(ParameterError, match="exactly one"):
        rated_capacity(mask, params, pixel_size_m=voxel, voxel_size_m=voxel)
    with pytest.raises(ParameterError, match="orientation_deg is for 2D"):
        rated_capacity(mask, params, voxel_size_m=voxel, orientation_deg=np.zeros(mask.shape))
    with pytest.raises(ParameterError, match="2D .* or 3D"):
        rated_capacity(np.ones(4, dtype=bool), params, voxel_size_m=voxel)
    with pytest.raises(ParameterError, match="kind"):
        synthetic_particle_3d("onion")
    with pytest.raises(ParameterError, match="radius_vox"):
        synthetic_particle_3d(radius_vox=2.5)
    with pytest.raises(ParameterError, match="crack_fraction"):
        synthetic_particle_3d(crack_fraction=1.5)


@pytest.mark.slow
def test_voxel_sphere_5c_converges(params):
    """At 5C the near-surface gradient (√(D t) ≈ 1 µm) needs finer voxels: the error shrinks from 16 to 24 voxels across."""
    errors = []
    for radius_vox in (8, 12):
        mask, _ = synthetic_particle_3d("single_crystal", radius_vox=radius_vox)
        voxel = params.positive.particle_radius_m / radius_vox
        run = discharge_particle_3d(mask, params, voxel_size_m=voxel, c_rate=5.0, snapshots_dod=())
        reference = discharge_sphere(params, radius_m=_equivalent_radius_m(mask, voxel), c_rate=5.0, snapshots_dod=())
        errors.append((abs(run.attrs["rated_capacity"] / reference.attrs["rated_capacity"] - 1), _voltage_rms(run, reference)))
        assert run.attrs["conservation_error"] < 1e-8
    assert errors[1][0] < errors[0][0] and errors[1][1] < errors[0][1]
    assert errors[1][0] < 0.05 and errors[1][1] < 0.030


@pytest.mark.slow
def test_voxel_polycrystal_tortuosity(params, small_polycrystal):
    """A 3D polycrystal needs a faster isotropic D to match: SST tortuosity > 1, fitted within 0.5 % of capacity."""
    mask, c_axis = small_polycrystal
    voxel = params.positive.particle_radius_m / 6
    fit = fit_effective_diffusivity(mask, params, voxel_size_m=voxel, c_rate=5.0, c_axis=c_axis)
    assert fit["tortuosity"] > 1.0
    assert fit["rated_capacity_fit"] == pytest.approx(fit["rated_capacity"], abs=5e-3)
