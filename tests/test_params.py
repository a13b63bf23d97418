"""Parameter sets: validation, YAML round trip, PyBaMM conversion."""
import math
from pathlib import Path

import numpy as np
import pytest

from electrode_design import params as P


@pytest.fixture(scope="module")
def chen():
    return P.parameter_set("chen2020_nmc811")


def test_bundled_set_is_chen2020_nmc811(chen):
    assert "chen2020_nmc811" in P.available_parameter_sets()
    pos = chen.positive
    assert pos.particle_radius_m == pytest.approx(5.22e-6)
    assert pos.material.c_max_mol_m3 == pytest.approx(63104.0)
    assert pos.active_volume_fraction == pytest.approx(0.665)
    assert pos.thickness_m == pytest.approx(75.6e-6)
    # NMC811 OCV falls with lithiation and spans the usual window
    sol = np.linspace(0.3, 0.95, 30)
    ocv = pos.material.ocv(sol)
    assert np.all(np.diff(ocv) < 0)
    assert 4.0 < ocv[0] < 4.3 and 3.4 < ocv[-1] < 3.8


def test_yaml_round_trip(chen, tmp_path):
    path = P.save_parameters(chen, tmp_path / "p.yml")
    again = P.load_parameters(path)
    assert again == chen


@pytest.mark.parametrize("change, message", [
    ({"positive.porosity": -0.1}, "porosity"),
    ({"positive.porosity": 0.5}, "exceeds 1"),
    ({"positive.active_volume_fraction": 1.2}, "active_volume_fraction"),
    ({"positive.particle_radius_m": 0.0}, "particle_radius_m"),
    ({"positive.material.c_max_mol_m3": -5.0}, "c_max_mol_m3"),
    ({"positive.material.c_max_mol_m3": float("nan")}, "c_max_mol_m3"),
    ({"temperature_K": float("nan")}, "temperature_K"),
    ({"separator.porosity": 0.0}, "separator.porosity"),
])
def test_non_physical_values_are_refused(chen, change, message):
    with pytest.raises(P.ParameterError, match=message):
        chen.replace(**change)


def test_table_validation_names_the_problem():
    with pytest.raises(P.ParameterError, match="strictly increasing"):
        P.SolTable((0.1, 0.5, 0.4), (1.0, 2.0, 3.0), units="V", name="ocv")
    with pytest.raises(P.ParameterError, match="NaN at index 1"):
        P.SolTable((0.1, math.nan), (1.0, 2.0), units="V", name="ocv")
    with pytest.raises(P.ParameterError, match=r"\[0, 1\]"):
        P.SolTable((0.1, 1.5), (1.0, 2.0), units="V", name="ocv")


def test_unknown_keys_suggest_close_names(chen, tmp_path):
    with pytest.raises(KeyError, match="particle_radius_m"):
        chen.replace(**{"positive.particle_radius": 1e-6})
    data = chen.to_dict()
    data["positive"]["thicknes_m"] = data["positive"].pop("thickness_m")
    with pytest.raises(KeyError, match="thickness_m"):
        P.load_parameters(data)
    with pytest.raises(KeyError, match="chen2020_nmc811"):
        P.parameter_set("chen2020_nmc")


def test_log_table_interpolates_between_decades():
    table = P.SolTable((0.0, 1.0), (1e-15, 1e-13), units="m2 s-1", log=True, name="ds")
    assert table(0.5) == pytest.approx(1e-14, rel=1e-9)
    assert table(1.5) == pytest.approx(1e-13)  # constant beyond the ends


def test_electrolyte_valoen_reimers_values():
    ele = P.Electrolyte()
    # Valøen–Reimers at 1 mol/L, 298.15 K: κ ≈ 1.19 S/m, D ≈ 3.2e-10 m2/s
    assert ele.conductivity_S_m(1000.0, 298.15) == pytest.approx(1.194, rel=1e-3)
    assert ele.diffusivity_m2_s(1000.0, 298.15) == pytest.approx(3.223e-10, rel=1e-3)
    assert ele.thermodynamic_factor(1000.0, 298.15) > 1


def test_electrolyte_matches_pybamm_valoen2005():
    pybamm = pytest.importorskip("pybamm")
    from pybamm.input.parameters.lithium_ion import Xu2019

    ele = P.Electrolyte()
    for c_e in (200.0, 1000.0, 2000.0):
        for temperature in (273.15, 298.15, 318.15):
            args = (pybamm.Scalar(c_e), pybamm.Scalar(temperature))
            kappa = Xu2019.electrolyte_conductivity_Valoen2005(*args).evaluate()
            diff = Xu2019.electrolyte_diffusivity_Valoen2005(*args).evaluate()
            assert ele.conductivity_S_m(c_e, temperature) == pytest.approx(float(kappa), rel=1e-12)
            assert ele.diffusivity_m2_s(c_e, temperature) == pytest.approx(float(diff), rel=1e-12)


def test_pybamm_round_trip_and_half_cell_dfn(chen):
    pybamm = pytest.importorskip("pybamm")
    values = P.to_pybamm(chen)
    back = P.from_pybamm(values, name="back", sol_window=(0.2, 1.0), electrode_area_m2=chen.electrode_area_m2)
    sol = np.linspace(0.2, 1.0, 57)
    assert np.max(np.abs(back.positive.material.ocv(sol) - chen.positive.material.ocv(sol))) < 1e-6
    assert back.positive.material.rate_constant == pytest.approx(chen.positive.material.rate_constant, rel=1e-9)
    model = pybamm.lithium_ion.DFN({"working electrode": "positive"})
    solution = pybamm.Simulation(model, parameter_values=values).solve([0, 3600])
    voltage = solution["Voltage [V]"].entries
    assert voltage[0] > 3.9 and voltage[-1] >= chen.voltage_min_V - 1e-6


def test_bundled_set_matches_pybamm_chen2020(chen):
    pybamm = pytest.importorskip("pybamm")
    original = pybamm.ParameterValues("Chen2020")
    sol = pybamm.Vector(np.linspace(0.25, 0.95, 15))
    expected = original["Positive electrode OCP [V]"](sol).evaluate().ravel()
    assert np.max(np.abs(chen.positive.material.ocv(np.linspace(0.25, 0.95, 15)) - expected)) < 2e-4


def test_bpx_file_is_read(tmp_path):
    pytest.importorskip("bpx")
    source = Path(__file__).parent / "data" / "params" / "minimal_nmc_graphite.bpx.json"
    cell = P.read_bpx(source)
    pos = cell.positive
    assert pos.particle_radius_m == pytest.approx(5e-6)
    assert pos.active_volume_fraction == pytest.approx(3.9e5 * 5e-6 / 3)  # a = 3 eps / R
    assert pos.bruggeman == pytest.approx(1.5, abs=0.01)  # transport efficiency 0.164 = 0.3^1.5
    assert pos.material.c_max_mol_m3 == 50000
    assert float(pos.material.ocv(0.6)) == pytest.approx(3.8)
    assert float(pos.material.diffusivity(1.0)) == pytest.approx(5e-16)
    assert cell.electrode_area_m2 == pytest.approx(0.01)
    with pytest.raises(P.ParameterError, match="not a usable BPX"):
        bad = tmp_path / "bad.json"
        bad.write_text('{"Header": {}}')
        P.read_bpx(bad)


def test_parameter_table_lists_every_scalar(chen):
    table = P.parameter_table(chen)
    assert {"positive.particle_radius_m", "separator.thickness_m", "temperature_K"} <= set(table.parameter)
    assert table.set_index("parameter").loc["positive.particle_radius_m", "units"] == "m"
