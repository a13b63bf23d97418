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
    # our matrix: Σ_faces w (e_i - e_j)(e_i - e_j)^T with w = harmonic mean × A/d
    a, b = domain.face_cells
    fa, fb = domain.face_factors
    w = 2 * fa * fb / (fa + fb) * domain.face_conductance_m
    n = domain.n_cells
    ours = np.zeros((n, n))
    np.add.at(ours, (a, a), w); np.add.at(ours, (b, b), w); np.add.at(ours, (a, b), -w); np.add.at(ours, (b, a), -w)
    # FiPy on the unpadded grid with the same face coefficients
    mesh = fipy.Grid2D(nx=6, ny=5)
    ids = np.ma.getdata(mesh.faceCellIDs)
    interior = ~np.ma.getmaskarray(mesh.faceCellIDs)[1]
    xface = np.abs(np.asarray(mesh.faceNormals)[0]) > 0.5
    f_x, f_y = fx.ravel(), fy.ravel()
    left = np.where(xface, f_x[ids[0]], f_y[ids[0]])
    right = np.where(xface, f_x[ids[1]], f_y[ids[1]])
    coeff = np.where(interior, 2 * left * right / (left + right), 0.0)
    var = fipy.CellVariable(mesh=mesh, value=0.0)
    term = fipy.DiffusionTerm(coeff=fipy.FaceVariable(mesh=mesh, value=coeff))
    term.cacheMatrix()
    term.solve(var=var, solver=fipy.solvers.scipy.LinearLUSolver(tolerance=1e-12))
    theirs = -np.asarray(term.matrix.matrix.todense())
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
