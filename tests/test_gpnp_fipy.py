"""The FiPy statement of the gPNP model (electrode_design.gpnp.fipy_backend) against the fast path.

Geometry: FiPy face coefficients reproduce gpnp's transmissibilities. One step: the FiPy
fixed point is gpnp's implicit-Euler step. Discharge: ``backend="fipy"`` returns the same
Dataset as the Newton backend, equal to solver tolerance (small cell by default, the three
cells of bench_gpnp_fipy at 1C and 3C marked slow).
"""
import os
import sys
import warnings

os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np
import pytest

from electrode_design import gpnp
from electrode_design.conventions import ParameterError, check_dataset
from electrode_design.gpnp.fipy_backend import fipy_model
from electrode_design.params import parameter_set

PARAMS = parameter_set("chen2020_nmc811")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))


def sphere_cell(shape=(8, 6, 6), centre=(2.5, 3, 3), radius=2.6, **options):
    z, y, x = np.indices(shape) + 0.5
    phase = (((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius ** 2).astype(np.uint8)
    return gpnp.build_cell(phase, voxel_size_m=1e-6, params=PARAMS, **options)


def test_face_coefficients_reproduce_transmissibilities():
    cell = sphere_cell()
    model = fipy_model(cell)
    g = model.geometry
    ratio = g.area_over_distance[model._electrolyte_faces] * model._electrolyte_geo[model._electrolyte_faces]
    np.testing.assert_allclose(ratio, cell.electrolyte_transmissibility_m, rtol=1e-12)
    assert np.unique(model._reactive_faces).size == cell.face_area_m2.size
    # every cell kind is where gpnp has it: the separator on top of the image
    assert g.n == np.prod(cell.shape) + cell.separator_cells * cell.shape[1] * cell.shape[2]
    assert g.electrolyte.size == cell.n_electrolyte and g.solid.size == cell.n_solid


@pytest.mark.parametrize("solid_potential", ["uniform", "field"])
def test_one_step_is_the_newton_step(solid_potential):
    cell = sphere_cell(solid_potential=solid_potential)
    current = 2.0 * cell.one_c_current_A
    model = fipy_model(cell)
    state = model.get_state()
    old = {"theta": state["theta"].copy(), "c": np.full(cell.n_electrolyte, model.m.c0)}
    m = gpnp.physics._Model(cell)
    opts = gpnp._solver_options({"newton_tol": 1e-12})
    counters = {"newton": 0, "linear": 0, "amg_setups": 0, "amg_refreshes": 0, "border_solves": 0}
    ok_n, fast, _, _, _ = gpnp.newton._newton(cell, m, dict(state), old, 30.0, current, opts, counters)
    ok_f, spec, faces, _, sweeps = model.solve_step(state, old, 30.0, current)
    assert ok_n and ok_f and sweeps < 30
    assert abs(fast["phi_s"] - spec["phi_s"]) < 1e-9
    np.testing.assert_allclose(spec["theta"], fast["theta"], atol=1e-10)
    np.testing.assert_allclose(spec["w"], fast["w"], atol=1e-9)
    np.testing.assert_allclose(spec["phi"], fast["phi"], atol=1e-9)
    assert abs(faces["I"].sum() + current) < 1e-9 * current


def test_discharge_backend_fipy_equals_newton():
    cell = sphere_cell()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        coarse = {"target_dsol": 0.1, "target_dV": 0.1, "max_dt_s": 150.0}  # few steps, the same for both backends
        fast = gpnp.discharge(cell, c_rate=3.0, progress=False, solver=coarse)
        spec = gpnp.discharge(cell, c_rate=3.0, progress=False, solver=coarse, backend="fipy")
    assert spec.attrs["status"] == "ok" and spec.attrs["termination"] == "cutoff"
    assert set(spec.data_vars) == set(fast.data_vars) and set(spec.attrs) == set(fast.attrs)
    assert '"backend": "fipy"' in spec.attrs["solver"]
    assert spec.sizes["time"] == fast.sizes["time"]           # the same step sequence
    np.testing.assert_allclose(spec.voltage, fast.voltage, atol=1e-6)
    assert abs(float(spec.depth_of_discharge[-1] / fast.depth_of_discharge[-1]) - 1) < 1e-6
    assert float(np.nanmax(np.abs(spec.sol - fast.sol))) < 1e-6
    assert spec.attrs["conservation_error"] < 1e-8
    check_dataset(spec)                                         # the catalog's schema check of save_result


def test_run_protocol_backend_fipy_equals_newton():
    """A discharge pulse and a rest: the FiPy backend through run_protocol's step control."""
    cell = sphere_cell()
    steps = [gpnp.Discharge(c_rate=3.0, duration_s=300.0), gpnp.Rest(duration_s=300.0)]
    coarse = {"target_dsol": 0.1, "target_dV": 0.1, "max_dt_s": 150.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fast = gpnp.run_protocol(cell, steps, progress=False, solver=coarse)
        spec = gpnp.run_protocol(cell, steps, progress=False, solver=coarse, backend="fipy")
    assert spec.sizes["time"] == fast.sizes["time"] and '"backend": "fipy"' in spec.attrs["solver"]
    np.testing.assert_allclose(spec.voltage, fast.voltage, atol=1e-6)
    with pytest.raises(ParameterError, match="backend"):
        gpnp.run_protocol(cell, steps, progress=False, backend="petsc")


def test_add_term_enters_the_right_hand_side():
    from fipy import ImplicitSourceTerm

    cell = sphere_cell()
    model = fipy_model(cell)
    g = model.geometry
    model.add_term("salt_balance", -ImplicitSourceTerm(coeff=1e-2 * model.porosity, var=model.c))
    assert model.step(10.0, 0.0)                                  # at rest: c decays as e^{-k t} / (1 + k dt)
    np.testing.assert_allclose(model.c.value[g.electrolyte], 1000.0 / (1 + 1e-2 * 10.0), rtol=1e-9)
    with pytest.raises(ParameterError, match="equation must be one of"):
        model.add_term("heat", ImplicitSourceTerm(coeff=1.0, var=model.c))


def test_invalid_backend_and_unsupported_cell():
    cell = sphere_cell()
    with pytest.raises(ParameterError, match="backend must be"):
        gpnp.discharge(cell, c_rate=1.0, backend="petsc", progress=False)
    leaky = sphere_cell(solid_potential="field", nonsolid_electronic_conductivity_S_m=10.0)
    with pytest.raises(ParameterError, match="one potential per voxel"):
        fipy_model(leaky)


@pytest.mark.slow
@pytest.mark.parametrize("c_rate", [1.0, 3.0])
@pytest.mark.parametrize("name", ["packed", "isolated spheres", "packed, field φ_s"])
def test_equivalence_on_the_three_cells(name, c_rate):
    import bench_gpnp_fipy as bench

    cell, particle = bench.cells()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fast = gpnp.discharge(cell, c_rate=c_rate, progress=False, particle=particle)
        spec = gpnp.discharge(cell, c_rate=c_rate, progress=False, particle=particle, backend="fipy")
    d = bench.compare(fast, spec)
    assert d["rms_V"] < 1e-3 and abs(d["capacity"]) < 2e-3 and d["sol"] < 1e-3     # the acceptance of the model
    assert d["rms_V"] < 1e-6 and abs(d["capacity"]) < 1e-6 and d["sol"] < 1e-6     # what the solvers reach
