"""Tests of electrode_design.gitt: reading, pulse finding, the electrode description, the
model-based fit against synthetic truth, real-file quirks, and every error path."""

import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from electrode_design import gitt
from electrode_design.gitt import CyclerFileError, ElectrodeDescription
from electrode_design.conventions import ParameterError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "data" / "examples" / "gitt_pybamm_param"
FIXTURE = ROOT / "tests" / "data" / "gitt"

CHEN2020 = dict(
    particle_radius_m=5.22e-6, electrode_area_m2=2.0e-4, thickness_m=75.6e-6,
    active_volume_fraction=0.665, c_max_mol_m3=63104.0,
)


# --------------------------------------------------------------------------- helpers
def write_csv(path, t, current, voltage, header=("Time [s]", "Current [A]", "Voltage [V]"), sep=","):
    frame = pd.DataFrame({header[0]: t, header[1]: current, header[2]: voltage})
    frame.to_csv(path, index=False, sep=sep)
    return path


def model_gitt(*, d_of_sol, ocv_of_sol, n_pulses=6, pulse_s=1800.0, rest_s=10800.0, first_rest_s=600.0,
               current_A=1e-3, electrode=None, sol0=0.3, dt_s=5.0, noise_V=0.0, seed=0):
    """GITT data made with the package's own particle model (constant D per pulse)."""
    electrode = electrode or ElectrodeDescription(**CHEN2020, sol_initial=sol0)
    mesh = gitt._sphere_mesh()
    rate = current_A / electrode.capacity_C
    rows, t0, c = [], 0.0, np.full(mesh["volume"].size, sol0)
    r_s = 5.0
    rows.append(pd.DataFrame({"time_s": np.arange(0.0, first_rest_s, dt_s), "current_A": 0.0,
                              "voltage_V": float(ocv_of_sol(sol0))}))
    t0 = first_rest_s
    for k in range(n_pulses):
        sol_mid = sol0 + rate * pulse_s * (k + 0.5)
        t_d = electrode.particle_radius_m**2 / d_of_sol(sol_mid)
        rel = np.unique(np.r_[gitt._time_grid([0.0, pulse_s], pulse_s + rest_s), np.arange(0.0, pulse_s + rest_s, dt_s)])
        rates = np.where(rel <= pulse_s + 1e-9, rate, 0.0)
        rates[0] = 0.0
        surf, c_end = gitt._simulate_surface(rel, rates, np.array([t_d]), c_init=c, mesh=mesh)
        c = c_end[0]
        keep = np.isin(rel, np.arange(0.0, pulse_s + rest_s, dt_s)) | (rel == pulse_s)
        on = (rel > 0) & (rel <= pulse_s + 1e-9)
        volt = ocv_of_sol(surf[0]) - np.where(on, current_A * r_s, 0.0)
        rows.append(pd.DataFrame({"time_s": t0 + rel[keep], "current_A": np.where(on, current_A, 0.0)[keep],
                                  "voltage_V": volt[keep]}))
        t0 += pulse_s + rest_s
    data = pd.concat(rows, ignore_index=True)
    data = data[np.r_[True, np.diff(data["time_s"].to_numpy()) > 0]].reset_index(drop=True)
    if noise_V:
        data["voltage_V"] += np.random.default_rng(seed).normal(0.0, noise_V, len(data))
    data.attrs.update(source_files=[], source_sha256=[], repairs=[], notes=[])
    return data, electrode


def linear_ocv(sol):
    return 4.3 - 1.2 * np.asarray(sol)


@pytest.fixture(scope="module")
def example_data():
    return gitt.read_cycler(sorted(EXAMPLE.glob("pulse_*.csv")))


@pytest.fixture(scope="module")
def synthetic():
    truth = json.loads((FIXTURE / "synthetic_dfn_truth.json").read_text())
    data = gitt.read_cycler(FIXTURE / "synthetic_dfn.csv.gz")
    electrode = ElectrodeDescription(**truth["electrode"])
    return data, electrode, truth


@pytest.fixture(scope="module")
def synthetic_result(synthetic):
    data, electrode, _ = synthetic
    return gitt.analyse_gitt(data, electrode)


@pytest.fixture(scope="module")
def synthetic_fine():
    """The same DFN truth titrated in 2.5 % SOC steps (15 min C/10 pulses, 2 h rests)."""
    truth = json.loads((FIXTURE / "synthetic_dfn_fine_truth.json").read_text())
    data = gitt.read_cycler(FIXTURE / "synthetic_dfn_fine.csv.gz")
    start = time.perf_counter()
    result = gitt.analyse_gitt(data, ElectrodeDescription(**truth["electrode"]))
    return result, truth, time.perf_counter() - start


@pytest.fixture(scope="module")
def pseudo_ocv():
    """A C/50 discharge of the same DFN (make_synthetic_gitt.py --protocol pseudo_ocv): the
    lab's pseudo-OCV, 2-8 mV below the true OCP in SoL 0.3-0.9, not the OCP itself."""
    curve = pd.read_csv(FIXTURE / "synthetic_dfn_pseudo_ocv.csv")
    return curve["sol"].to_numpy(), curve["voltage_V"].to_numpy()


def true_d(truth, sol):
    d = truth["diffusivity"]
    return d["d_ref_m2_s"] * 10 ** (-(np.asarray(sol) - d["sol_ref"]) / d["decade_sol"])


def accuracy(result, truth):
    sol = result.sol.values
    d_true = true_d(truth, sol)
    inside = (sol >= 0.3) & (sol <= 0.9)
    ok = inside & (result.fit_status.values == "ok")
    err = np.abs(result.solid_diffusivity.values / d_true - 1)
    ocp = np.interp(result.sol_end.values, truth["ocp"]["sol"], truth["ocp"]["voltage_V"])
    return sol, d_true, inside, ok, err, result.ocv.values - ocp


# --------------------------------------------------------------------------- read_cycler
def test_read_example_concatenates_and_repairs(example_data):
    data = example_data
    assert list(data.columns) == ["time_s", "current_A", "voltage_V"]
    assert len(data.attrs["source_files"]) == 40 and len(data.attrs["source_sha256"]) == 40
    assert np.all(np.diff(data["time_s"]) > 0)
    assert any("repeated time stamp" in r for r in data.attrs["repairs"])
    assert any("sign flipped" in r for r in data.attrs["repairs"])
    assert data["current_A"].max() == pytest.approx(1.15e-3, rel=1e-3)
    assert data["voltage_V"].iloc[0] == pytest.approx(4.2377515)  # working electrode, not the cell


def test_read_file_order_by_time_and_column_choice():
    files = [EXAMPLE / "pulse_10.csv", EXAMPLE / "pulse_2.csv", EXAMPLE / "pulse_9.csv"]
    data = gitt.read_cycler(files, columns={"voltage_V": "Voltage [V]"})
    assert [Path(f).name for f in data.attrs["source_files"]] == ["pulse_2.csv", "pulse_9.csv", "pulse_10.csv"]
    assert data["voltage_V"].iloc[0] == pytest.approx(4.1121707)
    glob = gitt.read_cycler(str(EXAMPLE / "pulse_1*.csv"))
    assert Path(glob.attrs["source_files"][0]).name == "pulse_1.csv"


def test_read_restarted_clock_is_offset(tmp_path):
    t = np.arange(0.0, 100.0, 1.0)
    current = np.where((t > 10) & (t <= 40), -1e-3, 0.0)
    a = write_csv(tmp_path / "a.csv", t, current, 4.0 - 1e-3 * (current != 0))
    b = write_csv(tmp_path / "b.csv", t, current, 3.9 - 1e-3 * (current != 0))
    data = gitt.read_cycler([a, b])
    assert np.all(np.diff(data["time_s"]) > 0)
    assert data["time_s"].iloc[-1] == pytest.approx(198.0, abs=0.01)
    assert any("restart their clock" in r for r in data.attrs["repairs"])


def test_read_units_and_semicolon_decimal_comma(tmp_path):
    path = tmp_path / "eu.csv"
    path.write_text("time/min;I/mA;Ewe/V\n0,0;0,0;4,1\n1,0;-1,5;4,0\n2,0;-1,5;3,99\n3,0;0,0;4,05\n")
    data = gitt.read_cycler(path)
    assert data["time_s"].tolist() == [0.0, 60.0, 120.0, 180.0]
    assert data["current_A"].max() == pytest.approx(1.5e-3)  # discharge recorded negative, flipped
    assert data["voltage_V"].iloc[2] == pytest.approx(3.99)
    given = gitt.read_cycler(path, units={"current_A": "uA"}, current_sign="discharge_negative")
    assert given["current_A"].max() == pytest.approx(1.5e-6)


def test_read_mpt_with_header_block(tmp_path):
    lines = [
        "EC-Lab ASCII FILE", "Nb header lines : 4", "", "mode\ttime/s\t<I>/mA\tEwe/V\tcontrol/V/mA",
        "1\t0,0\t0,0\t4,2\t0", "1\t10,0\t1,0\t4,1\t1", "1\t20,0\t1,0\t4,09\t1", "1\t30,0\t0,0\t4,15\t0",
    ]
    path = tmp_path / "test.mpt"
    path.write_text("\n".join(lines) + "\n", encoding="latin-1")
    data = gitt.read_cycler(path)
    assert data["time_s"].tolist() == [0.0, 10.0, 20.0, 30.0]
    assert data["current_A"].iloc[1] == pytest.approx(1e-3)
    assert data["voltage_V"].iloc[2] == pytest.approx(4.09)


def test_repeated_time_stamps_repaired(tmp_path):
    t = [0.0, 1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0, 5.0, 6.0]
    current = [0, 0, 0, -1e-3, -1e-3, -1e-3, -1e-3, -1e-3, 0, 0]
    voltage = [4.0, 4.0, 4.0, 3.99, 3.98, 3.97, 3.97, 3.96, 3.965, 3.97]
    voltage[6] = 3.971  # same time and current, another voltage: averaged
    data = gitt.read_cycler(write_csv(tmp_path / "dup.csv", t, current, voltage))
    assert np.all(np.diff(data["time_s"]) > 0)
    assert len(data) == 9
    text = " ".join(data.attrs["repairs"])
    assert "step edges" in text and "averaged" in text
    same = write_csv(tmp_path / "same.csv", [0.0, 1.0, 1.0, 2.0], [0, 0, 0, 0], [4, 4, 4, 4])
    assert "identical row" in gitt.read_cycler(same).attrs["repairs"][0]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ("Time [s],Current [A],Voltage [V]\n", "no data rows"),
        ("Dear diary,\ntoday I measured nothing.\n", "not a cycler file"),
        ("Time [s],Current [A]\n0,0\n1,1\n", "no voltage column"),
        ("Time [s],Current [A],Voltage [V]\n0,0,4\n2,0,4\n1,0,4\n", "time goes backwards at data row 3"),
        ("Time [s],Current [A],Voltage [V]\n0,0,4\n1,,4\n2,0,4\n", "NaN or non-numeric value(s) in column 'Current [A]'"),
        ("Time [s],Current [kA],Voltage [V]\n0,0,4\n", "unknown unit 'kA'"),
    ],
)
def test_read_errors_name_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CyclerFileError) as info:
        gitt.read_cycler(path)
    assert message in str(info.value) and "bad.csv" in str(info.value)


def test_read_binary_and_bad_mpr(tmp_path):
    binary = tmp_path / "image.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CyclerFileError, match="not a cycler file"):
        gitt.read_cycler(binary)
    mpr = tmp_path / "fake.mpr"
    mpr.write_bytes(b"not really a biologic file" * 10)
    with pytest.raises(CyclerFileError, match="fake.mpr: not a readable BioLogic .mpr file"):
        gitt.read_cycler(mpr)


def test_read_argument_errors(tmp_path):
    path = EXAMPLE / "pulse_1.csv"
    with pytest.raises(CyclerFileError, match="no such file"):
        gitt.read_cycler(tmp_path / "missing.csv")
    with pytest.raises(CyclerFileError, match="matches no file"):
        gitt.read_cycler(str(tmp_path / "*.mpr"))
    with pytest.raises(ValueError, match="current_sign: got 'negative'"):
        gitt.read_cycler(path, current_sign="negative")
    with pytest.raises(ValueError, match="unknown key 'voltage'; expected keys among"):
        gitt.read_cycler(path, columns={"voltage": "Voltage [V]"})
    with pytest.raises(CyclerFileError, match="column 'Voltag' given for 'voltage_V' is not in the file; did you mean"):
        gitt.read_cycler(path, columns={"voltage_V": "Voltag"})


# --------------------------------------------------------------------------- find_pulses
def test_find_pulses_example_cut_short_last(example_data):
    pulses = gitt.find_pulses(example_data)
    assert len(pulses) == 40
    assert np.allclose(pulses["duration_s"].iloc[:39], 900.0, atol=0.1)
    assert pulses["cut_short"].tolist() == [False] * 39 + [True]
    assert pulses["charge_C"].iloc[3] == pytest.approx(1.15e-3 * 900, rel=1e-3)
    assert (pulses["rest_after_s"] > 300).all()


def test_find_pulses_synthetic_protocol(synthetic):
    pulses = gitt.find_pulses(synthetic[0])
    assert len(pulses) == 16
    assert pulses["duration_s"].iloc[0] == pytest.approx(900.0, abs=0.01)  # the first, shorter pulse
    assert not pulses["cut_short"].iloc[0]
    assert pulses["cut_short"].tolist()[-3:] == [True, True, True]
    assert pulses["cut_short"].sum() == 3


def test_find_pulses_first_pulse_at_t0_and_edge_noise():
    t = np.arange(0.0, 4000.0, 1.0)
    current = np.where(t < 600, 1e-3, 0.0) + np.where((t >= 2000) & (t < 2600), 1e-3, 0.0)
    current[300] = 0.0  # a one-sample dropout inside the first pulse
    current[2000] = 2e-5  # ramp sample at the edge
    current[3000] = 1e-9  # noise in the rest
    voltage = 4.0 - 0.01 * (current > 0)
    data = pd.DataFrame({"time_s": t, "current_A": current, "voltage_V": voltage})
    pulses = gitt.find_pulses(data)
    assert len(pulses) == 2
    assert pulses["t_start_s"].iloc[0] == 0.0 and np.isnan(pulses["voltage_before_V"].iloc[0])
    assert pulses["duration_s"].iloc[1] == pytest.approx(600.0, abs=1.0)


def test_find_pulses_errors():
    t = np.arange(0.0, 100.0)
    with pytest.raises(ValueError, match="current is zero throughout"):
        gitt.find_pulses(pd.DataFrame({"time_s": t, "current_A": 0.0, "voltage_V": 4.0}))
    with pytest.raises(ValueError, match="no rest period"):
        gitt.find_pulses(pd.DataFrame({"time_s": t, "current_A": 1e-3, "voltage_V": 4.0}))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['voltage_V'\]"):
        gitt.find_pulses(pd.DataFrame({"time_s": t, "current_A": 0.0}))
    with pytest.raises(ValueError, match="time_s must increase strictly"):
        gitt.find_pulses(pd.DataFrame({"time_s": np.r_[t[:50], t[:50]], "current_A": 0.0, "voltage_V": 4.0}))
    with pytest.raises(ValueError, match="NaN"):
        gitt.find_pulses(pd.DataFrame({"time_s": t, "current_A": np.r_[np.nan, np.zeros(99)], "voltage_V": 4.0}))
    with pytest.raises(ValueError, match="current_threshold_A: got -1"):
        gitt.find_pulses(pd.DataFrame({"time_s": t, "current_A": 0.0, "voltage_V": 4.0}), current_threshold_A=-1)


# --------------------------------------------------------------------------- ElectrodeDescription
@pytest.mark.parametrize(
    "field, value, message",
    [
        ("particle_radius_m", 0.0, "particle_radius_m: got 0.0"),
        ("electrode_area_m2", float("nan"), "electrode_area_m2: got nan"),
        ("thickness_m", -1e-6, "thickness_m: got -1e-06"),
        ("active_volume_fraction", 1.5, "active_volume_fraction: got 1.5; expected a number in (0, 1]"),
        ("active_volume_fraction", 0.0, "active_volume_fraction: got 0.0"),
        ("c_max_mol_m3", "lots", "c_max_mol_m3: got 'lots'"),
        ("sol_initial", 1.2, "sol_initial: got 1.2"),
    ],
)
def test_electrode_validation(field, value, message):
    with pytest.raises(ValueError) as info:
        ElectrodeDescription(**{**CHEN2020, field: value})
    assert message in str(info.value)


def test_electrode_yaml_roundtrip_and_aliases(tmp_path):
    path = tmp_path / "e.yml"
    path.write_text(
        "particle_radius_um: 5.22\nelectrode_area_cm2: 2.0\nthickness_um: 75.6\n"
        "active_volume_fraction: 0.665\nc_max_mol_m3: 63104\nocv_table: ocv.csv\n"
    )
    pd.DataFrame({"sol": [0.2, 0.9], "voltage_V": [4.3, 3.5]}).to_csv(tmp_path / "ocv.csv", index=False)
    electrode = ElectrodeDescription.from_yaml(path)
    assert electrode.particle_radius_m == pytest.approx(5.22e-6)
    assert electrode.electrode_area_m2 == pytest.approx(2e-4)
    assert electrode.ocv_table[1] == (4.3, 3.5)
    assert ElectrodeDescription.from_dict(electrode.to_dict()) == electrode
    path.write_text("particle_radius_m: 5e-6\nthicknes_m: 1e-4\n")
    with pytest.raises(ValueError, match="unknown electrode key 'thicknes_m'; did you mean 'thickness_m'"):
        ElectrodeDescription.from_yaml(path)
    path.write_text("particle_radius_m: 5e-6\n")
    with pytest.raises(ValueError, match="missing"):
        ElectrodeDescription.from_yaml(path)


def test_example_electrode_yaml():
    electrode = ElectrodeDescription.from_yaml(EXAMPLE / "electrode.yml")
    assert electrode.particle_radius_m == 5.22e-6 and electrode.c_max_mol_m3 == 63104.0
    assert electrode.electrode_area_m2 == pytest.approx(2.0e-4)


# --------------------------------------------------------------------------- the particle model
def test_sphere_solver_against_crank_series():
    mesh = gitt._sphere_mesh()
    q, t_pulse = 2e-5, 2700.0
    grid = gitt._time_grid([0.0, t_pulse], 14400.0)
    rate = np.where(grid <= t_pulse, q, 0.0)
    for t_d in (500.0, 7000.0, 50000.0):
        surf, c = gitt._simulate_surface(grid, rate, np.array([t_d]), c_init=0.5, mesh=mesh)
        crank = 0.5 + q * np.minimum(grid, t_pulse) + q * t_d / 3 * (
            gitt._sphere_transient(grid / t_d) - gitt._sphere_transient(np.maximum(grid - t_pulse, 0) / t_d)
        )
        overshoot = np.max(np.abs(crank - 0.5 - q * np.minimum(grid, t_pulse)))
        assert np.max(np.abs(surf[0] - crank)) < 0.02 * overshoot
        assert c[0] @ mesh["volume"] * 3 == pytest.approx(0.5 + q * t_pulse, abs=1e-12)


def test_fit_recovers_model_generated_diffusivity():
    d_of_sol = lambda s: 3e-15 * 10 ** (-(s - 0.3) / 0.6 * 0.1)  # nearly constant within a pulse, as generated
    data, electrode = model_gitt(d_of_sol=d_of_sol, ocv_of_sol=linear_ocv, noise_V=5e-5)
    result = gitt.analyse_gitt(data, electrode)
    ok = result.fit_status.values == "ok"
    assert ok.sum() >= 5
    err = np.abs(result.solid_diffusivity.values[ok] / d_of_sol(result.sol.values[ok]) - 1)
    assert err.max() < 0.05
    assert np.allclose(result.resistance_fit.values[ok], 5.0, rtol=0.05)


def test_flat_ocv_ends_and_unfittable_pulse_reported():
    """OCV table flat at both ends: those pulses fail cleanly; a starved pulse fails too."""

    from scipy.interpolate import PchipInterpolator

    flat_ends = PchipInterpolator([0.0, 0.33, 0.36, 0.50, 0.53, 1.0], [4.0, 4.0, 3.985, 3.845, 3.83, 3.83])
    data, electrode = model_gitt(d_of_sol=lambda s: 2e-15 + 0 * s, ocv_of_sol=flat_ends, n_pulses=9, noise_V=2e-5)
    # starve pulse 4 of samples under current
    pulses = gitt.find_pulses(data)
    p = pulses.iloc[4]
    rows = np.arange(int(p["row_start"]) + 3, int(p["row_end"]))
    data = data.drop(index=rows).reset_index(drop=True)
    data.attrs.update(source_files=[], source_sha256=[], repairs=[], notes=[])
    result = gitt.analyse_gitt(data, electrode)
    status = list(result.fit_status.values)
    assert status[4].startswith("failed: too few samples")
    flat = [k for k, s in enumerate(status) if "flat" in s]
    assert flat and all(np.isnan(result.solid_diffusivity.values[k]) for k in flat)
    assert all(np.isnan(result.solid_diffusivity_wh.values[k]) for k in flat)
    good = [k for k, s in enumerate(status) if s == "ok"]
    assert len(good) >= 2 and np.all(np.isfinite(result.solid_diffusivity.values[good]))
    assert np.all(np.abs(result.solid_diffusivity.values[good] / 2e-15 - 1) < 0.15)  # PCHIP near the OCV corners


# --------------------------------------------------------------------------- analyse_gitt
def test_accuracy_on_synthetic_dfn(synthetic, synthetic_result):
    """Model-based D_s within 10 % of the truth at mid-pulse SoL for every 'ok' pulse in SoL
    0.3-0.9 (PyBaMM half-cell DFN truth), relaxed OCV within 5 mV of the true OCP; the
    textbook Weppner-Huggins is several times off on the same data."""
    _, _, truth = synthetic
    result = synthetic_result
    sol, d_true, inside, ok, err, ocv_err = accuracy(result, truth)
    # >= 9: the pulse after the OCP kink (SoL 0.370) has a 1-sigma above 20 % on this sparsely
    # logged fixture and is reported "uncertain", as any pulse with that uncertainty must be
    assert ok.sum() >= 9
    assert err[ok].max() < 0.10
    assert np.median(err[ok]) < 0.05
    assert np.nanmax(np.abs(ocv_err)) < 5e-3
    # the plateau-edge pulse (SoL 0.316) is reported, not hidden
    flagged = inside & ~ok
    assert flagged.sum() <= 2
    assert all(s.startswith(("uncertain", "failed")) for s in result.fit_status.values[flagged])
    finite = inside & np.isfinite(result.solid_diffusivity.values)
    rel_std = result.solid_diffusivity_std.values / result.solid_diffusivity.values
    assert np.all(err[finite] < 2.5 * rel_std[finite] + 0.05)
    factor_wh = np.maximum(result.solid_diffusivity_wh.values / d_true, d_true / result.solid_diffusivity_wh.values)
    assert np.median(factor_wh[inside]) > 2.0


def test_accuracy_on_synthetic_dfn_fine_titration(synthetic_fine):
    """Finer titration (2.5 % instead of 7.5 % SOC steps) on the same DFN truth: the pulse at the
    OCP kink (mid SoL 0.316), not identifiable with the paper's steps, gets a D_s within 5 %;
    no pulse in SoL 0.3-0.9 fails. But the 10 % target is not met everywhere: the next pulse
    (mid SoL 0.334, 0.325-0.343, where the OCV is flattest) is 20 % low on this fixture (10-20 %
    low over other noise seeds) with a 1-sigma of only 5 %; it is flagged "uncertain: flat OCV"
    (|dE_s| 7.7 mV against an I*R_s drop of 7.1 mV), not "ok". All other pulses in SoL 0.3-0.9
    are within 10 % (7 % at most). Measured outcome, asserted as it is."""
    result, truth, seconds = synthetic_fine
    assert truth["protocol"]["pulse_s"] == truth["protocol"]["first_pulse_s"] == 900.0
    assert truth["rest_end_drift_mV_per_10min"] < 0.1  # 2 h rests: relaxation complete
    sol, d_true, inside, ok, err, ocv_err = accuracy(result, truth)
    assert result.sizes["pulse"] == 41 and inside.sum() == 33
    assert list(result.fit_status.values[-3:]) == ["cut_short"] * 3
    assert not any(s.startswith("failed") for s in result.fit_status.values[inside])
    assert np.all(np.isfinite(result.solid_diffusivity.values[inside]))
    kink = int(np.argmin(np.abs(sol - 0.316)))
    assert sol[kink] == pytest.approx(0.316, abs=0.002) and err[kink] < 0.05
    after = int(np.argmin(np.abs(sol - 0.334)))
    assert sol[after] == pytest.approx(0.334, abs=0.002)
    assert 0.10 < err[after] < 0.25 and result.solid_diffusivity.values[after] < d_true[after]  # the one miss, low
    assert result.fit_status.values[after].startswith("uncertain: flat OCV")  # ... and not labelled ok
    assert err[ok].max() < 0.10
    others = inside & (np.arange(sol.size) != after)
    assert err[others].max() < 0.10
    assert np.median(err[inside]) < 0.03
    assert np.nanmax(np.abs(ocv_err)) < 0.5e-3  # relaxed OCV within 0.5 mV of the true OCP
    factor_wh = np.maximum(result.solid_diffusivity_wh.values / d_true, d_true / result.solid_diffusivity_wh.values)
    assert np.median(factor_wh[inside]) > 1.5 and np.all(result.solid_diffusivity_wh.values[inside] < d_true[inside])
    assert seconds < 20


def test_paper_protocol_every_pulse_within_10_percent_with_reference(synthetic, synthetic_result, pseudo_ocv):
    """The acceptance test with a reference OCV shape: with the lab-style C/50 pseudo-OCV of
    the same DFN (not the OCP that made the data), EVERY pulse with mid SoL in 0.3-0.9 of the
    paper protocol has a model-based D_s within 10 % of the truth (measured: 2.9 % at most,
    the plateau-edge pulse at 0.316 included, which fails without the reference), and the
    relaxed OCV is within 5 mV of the true OCP (0.2 mV)."""
    data, electrode, truth = synthetic
    result = gitt.analyse_gitt(data, electrode, ocv_reference=pseudo_ocv)
    assert result.attrs["ocv_shape"].startswith("reference OCV shape")
    sol, d_true, inside, ok, err, ocv_err = accuracy(result, truth)
    assert inside.sum() == 11
    assert np.all(np.isfinite(result.solid_diffusivity.values[inside]))
    assert np.all(err[inside] < 0.10)
    assert np.median(err[inside]) < 0.03
    assert np.nanmax(np.abs(ocv_err)) < 5e-3
    np.testing.assert_allclose(result.ocv.values, synthetic_result.ocv.values)
    edge = int(np.argmin(np.abs(sol - 0.316)))
    assert not np.isfinite(synthetic_result.solid_diffusivity.values[edge])  # no D_s there without the reference
    assert result.fit_status.values[edge].startswith("uncertain")  # plateau edge: still flagged


def test_paper_protocol_without_reference_misses_the_plateau_edge(synthetic_result):
    """No-reference behaviour as it is: PCHIP through the relaxed points; 10 of the 11 pulses
    in SoL 0.3-0.9 within 10 % (2.5 % at most), the one at the plateau edge (0.316) gets no D_s."""
    result = synthetic_result
    assert "no reference" in result.attrs["ocv_shape"]
    sol = result.sol.values
    inside = (sol >= 0.3) & (sol <= 0.9)
    failed = [k for k in np.flatnonzero(inside) if result.fit_status.values[k].startswith("failed")]
    assert len(failed) == 1 and sol[failed[0]] == pytest.approx(0.316, abs=0.002)


def test_fine_protocol_with_reference(synthetic_fine, pseudo_ocv):
    """The reference shape does not rescue the two 15 min pulses at the plateau edge of the fine
    protocol (0.316: -18 %, 0.334: -11 %; electrode-scale effects, about as far off with the
    true OCP), but both are flagged uncertain; every other pulse in SoL 0.3-0.9 is within 10 %."""
    _, truth, _ = synthetic_fine
    data = gitt.read_cycler(FIXTURE / "synthetic_dfn_fine.csv.gz")
    result = gitt.analyse_gitt(data, ElectrodeDescription(**truth["electrode"]), ocv_reference=pseudo_ocv)
    sol, d_true, inside, ok, err, ocv_err = accuracy(result, truth)
    assert np.all(np.isfinite(result.solid_diffusivity.values[inside]))
    misses = np.flatnonzero(inside & (err >= 0.10))
    assert len(misses) <= 2 and np.all((sol[misses] > 0.31) & (sol[misses] < 0.34))
    assert all(result.fit_status.values[k].startswith("uncertain") for k in misses)
    assert err[ok].max() < 0.10 and ok.sum() >= 30
    assert np.nanmax(np.abs(ocv_err)) < 0.5e-3


def test_misaligned_reference_keeps_ok_pulses_and_flags_the_edge(synthetic, pseudo_ocv):
    """A reference 0.005 SoL off the GITT's axis: the 'ok' pulses stay within 10 %, the
    plateau-edge pulse is tens of per cent off but flagged (hence the flag with a reference)."""
    data, electrode, truth = synthetic
    for shift in (-0.005, 0.005):
        result = gitt.analyse_gitt(data, electrode, ocv_reference=(pseudo_ocv[0] + shift, pseudo_ocv[1]))
        sol, _, inside, ok, err, _ = accuracy(result, truth)
        assert ok.sum() == 10 and err[ok].max() < 0.10
        edge = int(np.argmin(np.abs(sol - 0.316)))
        assert result.fit_status.values[edge].startswith("uncertain")


def test_ocv_interpolant_with_reference():
    """U = U_ref + PCHIP(V_k - U_ref(s_k)): through the nodes, the reference's shape between
    them, today's PCHIP outside the reference's range."""
    ref_sol = np.linspace(0.3, 0.8, 501)
    true = lambda s: 4.2 - 0.8 * s - 0.05 * np.tanh((s - 0.5) / 0.01)  # a step finer than the nodes
    reference = (ref_sol, true(ref_sol) - 0.004 - 0.003 * ref_sol)  # offset, sloping by a few mV
    nodes = np.array([0.2, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.9])
    plain = gitt._ocv_interpolant(nodes, true(nodes))
    shaped = gitt._ocv_interpolant(nodes, true(nodes), reference)
    np.testing.assert_allclose(shaped(nodes), true(nodes), atol=1e-12)
    x = np.linspace(0.35, 0.75, 401)
    assert np.max(np.abs(shaped(x) - true(x))) < 2e-4  # the step is where the reference has it
    assert np.max(np.abs(plain(x) - true(x))) > 5e-3  # PCHIP alone cannot place it
    below = np.linspace(0.15, 0.25, 11)
    np.testing.assert_allclose(shaped(below), plain(below), atol=1e-12)
    beyond = np.linspace(0.9, 1.0, 11)
    np.testing.assert_allclose(shaped(beyond), plain(beyond), atol=1e-12)
    assert np.all(np.isfinite(shaped(np.linspace(0.0, 1.0, 1001))))
    # repeated SoL values in a reference are averaged, not an error
    repeated = (np.r_[ref_sol, 0.5], np.r_[reference[1], reference[1][200]])
    np.testing.assert_allclose(gitt._ocv_interpolant(nodes, true(nodes), repeated)(nodes), true(nodes), atol=1e-12)


def test_ocv_reference_sources(synthetic, pseudo_ocv):
    """The electrode's ocv_table is the default reference; ocv_reference=False turns it off; a
    reference that covers fewer than two relaxed points is not used, and the dataset says so."""
    data, electrode, _ = synthetic
    with_table = ElectrodeDescription(**{**electrode.to_dict(), "ocv_table": pseudo_ocv})
    from_table = gitt.analyse_gitt(data, with_table)
    given = gitt.analyse_gitt(data, electrode, ocv_reference={"sol": pseudo_ocv[0], "voltage_V": pseudo_ocv[1]})
    np.testing.assert_allclose(from_table.solid_diffusivity.values, given.solid_diffusivity.values)
    assert from_table.attrs["ocv_shape"].startswith("reference OCV shape")
    assert json.loads(from_table.attrs["parameters"])["options"]["ocv_shape"] == from_table.attrs["ocv_shape"]
    off = gitt.analyse_gitt(data, with_table, ocv_reference=False)
    assert "no reference" in off.attrs["ocv_shape"]
    narrow = gitt.analyse_gitt(data, electrode, ocv_reference=([0.5, 0.52], [3.8, 3.79]))
    assert "is not used" in narrow.attrs["ocv_shape"]
    with pytest.raises(ValueError, match="ocv_table: got 1 SoL"):
        gitt.analyse_gitt(data, electrode, ocv_reference=([0.5], [3.8]))


def test_dataset_structure(synthetic_result, synthetic):
    ds = synthetic_result
    assert ds.attrs["kind"] == "gitt"
    assert ds.attrs["electrode_design_version"]
    params = json.loads(ds.attrs["parameters"])
    assert params["electrode"]["particle_radius_m"] == 5.22e-6
    assert len(ds.attrs["source_sha256"]) == 1 and len(ds.attrs["source_sha256"][0]) == 64
    assert any("step edges" in r for r in ds.attrs["repairs"])
    assert np.allclose(ds.sol.values, ds.sol_mid.values)
    for name in [
        "sol_start", "sol_mid", "sol_end", "ocv", "solid_diffusivity", "solid_diffusivity_std", "solid_diffusivity_wh",
        "solid_diffusivity_wh_sqrt_t", "resistance_ohmic", "kinetic_overpotential", "fit_rms", "fit_status",
        "diffusion_time", "max_c_rate",
    ]:
        assert ds[name].dims == ("pulse",), name
        assert ds[name].attrs["units"] and ds[name].attrs["long_name"], name
    assert ds.solid_diffusivity.attrs["units"] == "m2 s-1" and ds.sol_mid.attrs["units"] == "1"
    for name in ["time", "voltage", "current", "pulse_id"]:
        assert ds[name].dims == ("time",)
    assert ds.sizes["time"] == len(synthetic[0])
    assert set(np.unique(ds.pulse_id.values)) == set(range(-1, ds.sizes["pulse"]))
    ok = ds.fit_status.values == "ok"
    assert np.allclose(ds.diffusion_time.values[ok], 5.22e-6**2 / ds.solid_diffusivity.values[ok])
    assert np.allclose(ds.max_c_rate.values[ok], 3600 / ds.diffusion_time.values[ok])
    assert list(ds.fit_status.values[-3:]) == ["cut_short"] * 3 or all(
        s.startswith(("cut_short", "failed")) for s in ds.fit_status.values[-3:]
    )


def test_sol_initial_inferred_or_assumed(synthetic):
    data, electrode, truth = synthetic
    table = (truth["ocp"]["sol"], truth["ocp"]["voltage_V"])
    inferred = gitt.analyse_gitt(data, ElectrodeDescription(**{**electrode.to_dict(), "sol_initial": None, "ocv_table": table}))
    assert inferred.sol_start.values[0] == pytest.approx(truth["electrode"]["sol_initial"], abs=0.005)
    assert "inferred" in inferred.attrs["sol_initial_source"]
    bare = gitt.analyse_gitt(data, ElectrodeDescription(**{**electrode.to_dict(), "sol_initial": None}))
    assert bare.sol_start.values[0] == 0.0 and "assumed 0" in bare.attrs["sol_initial_source"]


def test_calibrate_sol_window_recovers_area(synthetic):
    data, electrode, truth = synthetic
    guess = ElectrodeDescription(**{**electrode.to_dict(), "electrode_area_m2": 1.0, "sol_initial": None})
    found, info = gitt.calibrate_sol_window(data, guess, ocv_table=(truth["ocp"]["sol"], truth["ocp"]["voltage_V"]))
    assert found.electrode_area_m2 == pytest.approx(electrode.electrode_area_m2, rel=0.02)
    assert found.sol_initial == pytest.approx(electrode.sol_initial, abs=0.01)
    with pytest.raises(ValueError, match="fall inside its range"):
        gitt.calibrate_sol_window(data, guess, ocv_table=([0.0, 1.0], [5.0, 4.9]))


def test_analyse_argument_errors(synthetic):
    data, electrode, _ = synthetic
    with pytest.raises(TypeError, match="electrode: got dict"):
        gitt.analyse_gitt(data, electrode.to_dict())
    with pytest.raises(ValueError, match="pulses: missing column"):
        gitt.analyse_gitt(data, electrode, pulses=pd.DataFrame({"x": [1]}))


def test_real_example_runs(example_data):
    electrode = ElectrodeDescription.from_yaml(EXAMPLE / "electrode.yml")
    start = time.perf_counter()
    result = gitt.analyse_gitt(example_data, electrode)
    assert time.perf_counter() - start < 20
    assert result.sizes["pulse"] == 40
    assert np.isfinite(result.solid_diffusivity.values).sum() >= 35
    assert result.fit_status.values[-1] == "cut_short"
    good = np.isfinite(result.solid_diffusivity.values)
    assert np.all((result.solid_diffusivity.values[good] > 1e-17) & (result.solid_diffusivity.values[good] < 1e-12))
    assert result.sol_end.values[-1] == pytest.approx(0.945, abs=0.01)


def test_plot_gitt(tmp_path, synthetic_result):
    path = tmp_path / "gitt.png"
    fig = gitt.plot_gitt(synthetic_result, path=path)
    assert path.stat().st_size > 10_000
    assert len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"
    with pytest.raises(ValueError, match="expected 'gitt'"):
        gitt.plot_gitt(synthetic_result.assign_attrs(kind="simulation"))


# --------------------------------------------------------------------------- slow: regenerate the truth
def synthetic_gitt_script():
    """benchmarks/make_synthetic_gitt.py as a module (skips without PyBaMM)."""
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    pytest.importorskip("pybamm")
    spec = importlib.util.spec_from_file_location("make_synthetic_gitt", ROOT / "benchmarks" / "make_synthetic_gitt.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_regenerated_pybamm_truth_matches_fixture(tmp_path):
    """Re-run PyBaMM's DFN (benchmarks/make_synthetic_gitt.py) and check the analysis on it."""
    module = synthetic_gitt_script()
    module.main(tmp_path)
    fresh = pd.read_csv(tmp_path / module.CSV_NAME)
    stored = pd.read_csv(FIXTURE / module.CSV_NAME)
    assert len(fresh) == len(stored)
    assert np.allclose(fresh["Voltage [V]"], stored["Voltage [V]"], atol=2e-4)
    truth = json.loads((tmp_path / module.TRUTH_NAME).read_text())
    data = gitt.read_cycler(tmp_path / module.CSV_NAME)
    result = gitt.analyse_gitt(data, ElectrodeDescription(**truth["electrode"]))
    _, _, _, ok, err, ocv_err = accuracy(result, truth)
    # >= 9 as in test_accuracy_on_synthetic_dfn: the pulse after the kink is "uncertain" (1-sigma > 20 %)
    assert ok.sum() >= 9 and err[ok].max() < 0.10 and np.nanmax(np.abs(ocv_err)) < 5e-3


@pytest.mark.slow
def test_regenerated_pseudo_ocv_matches_fixture(tmp_path):
    """Re-run the C/50 pseudo-OCV discharge (``make_synthetic_gitt.py --protocol pseudo_ocv``)."""
    module = synthetic_gitt_script()
    path, _ = module.main(tmp_path, "pseudo_ocv")
    fresh, stored = pd.read_csv(path), pd.read_csv(FIXTURE / module.PSEUDO_OCV_NAME)
    assert len(fresh) == len(stored)
    assert np.allclose(fresh["voltage_V"], stored["voltage_V"], atol=2e-4)
    offset = stored["voltage_V"] - module.chen2020_ocp_V(stored["sol"])
    inside = (stored["sol"] >= 0.3) & (stored["sol"] <= 0.9)
    assert np.all((offset[inside] < -1e-3) & (offset[inside] > -10e-3))  # a pseudo-OCV, not the OCP


@pytest.mark.slow
def test_regenerated_fine_titration_matches_fixture(tmp_path):
    """Re-run the finer-titration protocol (``make_synthetic_gitt.py --protocol fine``)."""
    module = synthetic_gitt_script()
    csv_path, truth_path = module.main(tmp_path, "fine")
    fresh = pd.read_csv(csv_path)
    stored = pd.read_csv(FIXTURE / module.FINE_CSV_NAME)
    assert len(fresh) == len(stored)
    assert np.allclose(fresh["Voltage [V]"], stored["Voltage [V]"], atol=2e-4)
    assert json.loads(truth_path.read_text())["rest_end_drift_mV_per_10min"] < 0.1


# --------------------------------------------------------------------------- lab-grade inputs
CYCLERS = ROOT / "tests" / "data" / "cyclers"


def load_benchmark(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["biologic.mpt", "arbin.csv", "neware.csv", "maccor.txt", "generic.csv"])
def test_cycler_layouts_read_by_header(name):
    """Each export layout (written by benchmarks/make_cycler_files.py) reads back to the same trace."""
    t, current, voltage, _ = load_benchmark("make_cycler_files").trace()
    data = gitt.read_cycler(CYCLERS / name)
    assert len(data) == len(t)
    assert np.allclose(data["time_s"], t, atol=2e-3)
    assert np.allclose(data["current_A"], current, atol=1e-9)  # discharge positive, A
    assert np.allclose(data["voltage_V"], voltage, atol=1e-6)
    assert len(gitt.find_pulses(data)) == 3
    assumed = data.attrs["assumed_units"]
    assert assumed == ({"time_s": "s", "current_A": "A", "voltage_V": "V"} if name == "generic.csv" else {})


def test_unitless_current_reported_in_summary():
    data = gitt.read_cycler(CYCLERS / "generic.csv")
    electrode = ElectrodeDescription(particle_radius_m=5e-6, electrode_area_m2=1e-4, thickness_m=50e-6,
                                     active_volume_fraction=0.6, c_max_mol_m3=1.0 / 96485.33212 / 3e-9 * 40.0,
                                     sol_initial=0.4)
    ds = gitt.analyse_gitt(data, electrode)
    assert "current_A: A" in ds.attrs["assumed_units"]
    assert "no unit in header 'current'; assumed SI (A)" in ds.attrs["summary"]


def test_summary_reports_noise_and_sampling(synthetic_result):
    ds = synthetic_result
    assert ds.attrs["schema_version"] == 2
    assert ds.attrs["voltage_noise_V"] == pytest.approx(1e-4, rel=0.2)  # the fixture's 0.1 mV
    assert ds.attrs["sampling_interval_s"] > 0
    assert "voltage noise 0.1" in ds.attrs["summary"] and "sampling interval" in ds.attrs["summary"]


def test_stages_callable_alone():
    data, electrode = model_gitt(d_of_sol=lambda s: 3e-15 + 0 * s, ocv_of_sol=linear_ocv, n_pulses=3, noise_V=5e-4)
    table = gitt.pulse_table(data, electrode)
    assert table.attrs["noise_V"] == pytest.approx(5e-4, rel=0.15)
    assert table.attrs["sampling_interval_s"] == pytest.approx(5.0)
    assert np.allclose(table["ocv_after_V"], linear_ocv(table["sol_end"]), atol=3e-4)
    ocv = gitt.ocv_curve(table)
    assert ocv(0.5) == pytest.approx(linear_ocv(0.5), abs=1e-3) and ocv.description
    fits = gitt.fit_pulses(data, table, ocv, electrode)
    assert np.all(np.abs(electrode.particle_radius_m**2 * np.exp(-fits["ln_td"]) / 3e-15 - 1) < 0.1)
    ds = gitt.assemble_dataset(data, table, fits, electrode, ocv_description=ocv.description)
    assert ds.sizes["pulse"] == 3 and ds.attrs["kind"] == "gitt"


def test_noise_sigma_means_what_it_says_on_model_data():
    """Data the fit's own model made (constant D_s, so the model is exact), 0.5 mV noise, 6 seeds:
    the noise part of the 1-sigma (Jacobian scaled by the noise estimated from the rests, plus
    the relaxed points) covers about 68 % of the errors and 2-sigma about 95 %; with the model
    error added the reported 1-sigma covers at least two thirds."""
    errors, noise_sigma, total_sigma = [], [], []
    for seed in range(6):
        data, electrode = model_gitt(d_of_sol=lambda s: 2e-15 + 0 * s, ocv_of_sol=lambda s: 4.3 - 0.6 * np.asarray(s),
                                     n_pulses=4, noise_V=5e-4, seed=seed)
        table = gitt.pulse_table(data, electrode)
        fits = gitt.fit_pulses(data, table, gitt.ocv_curve(table), electrode)
        errors += list(np.abs(np.log(electrode.particle_radius_m**2 * np.exp(-fits["ln_td"]) / 2e-15)))
        noise_sigma += list(np.sqrt(fits["sigma_noise"] ** 2 + fits["sigma_excess"] ** 2 + fits["sigma_ocv"] ** 2))
        total_sigma += list(fits["sigma"])
    errors, noise_sigma, total_sigma = map(np.asarray, (errors, noise_sigma, total_sigma))
    within_1 = np.mean(errors <= noise_sigma)
    assert 0.5 <= within_1 <= 0.9, within_1
    assert np.mean(errors <= 2 * noise_sigma) >= 0.85
    assert np.mean(errors <= total_sigma) >= 2 / 3


def test_large_uncertainty_is_uncertain_never_ok():
    """A nearly flat OCV at 3 mV noise: D_s poorly determined, flagged with the reason."""
    data, electrode = model_gitt(d_of_sol=lambda s: 3e-15 + 0 * s, ocv_of_sol=lambda s: 4.0 - 0.15 * np.asarray(s),
                                 n_pulses=4, noise_V=3e-3, seed=1)
    ds = gitt.analyse_gitt(data, electrode)
    rel = ds.solid_diffusivity_std.values / ds.solid_diffusivity.values
    status = ds.fit_status.values.astype(str)
    assert np.any(rel > 0.2)
    for r, s in zip(rel, status):
        if np.isfinite(r) and r > 0.2:
            assert s.startswith(("uncertain", "failed")) and ("1-sigma" in s)
        assert not (s == "ok" and not r <= 0.2)


@pytest.mark.slow
def test_lab_noise_nmc532_dfn_within_10_percent(tmp_path):
    """NMC532 half-cell DFN (benchmarks/make_lab_gitt.py), 28 pulses, Arbin CSV, 0.5 mV, 2 seeds."""
    lab = load_benchmark("make_lab_gitt")
    covered = total = 0
    for seed in (0, 1):
        path, truth = lab.write("full", noise_V=5e-4, seed=seed, out_dir=tmp_path)
        ds = gitt.analyse_gitt(gitt.read_cycler(path), lab.electrode_description(truth))
        assert ds.attrs["voltage_noise_V"] == pytest.approx(5e-4, rel=0.1)
        assert ds.attrs["sampling_interval_s"] == pytest.approx(5.0)
        inside = (ds.sol.values >= 0.3) & (ds.sol.values <= 0.9) & ~ds.cut_short.values
        assert inside.sum() == 24
        d = ds.solid_diffusivity.values[inside]
        err = np.abs(d / lab.true_diffusivity_m2_s(ds.sol.values[inside]) - 1)
        assert np.all(err < 0.10), (seed, np.round(100 * err, 1))
        covered += int(np.sum(err <= ds.solid_diffusivity_std.values[inside] / d))
        total += err.size
        assert ds.cut_short.values[-2:].all()
    assert covered / total >= 2 / 3


def test_conventions_errors_and_schema(synthetic_result, tmp_path):
    from electrode_design import conventions

    assert issubclass(CyclerFileError, conventions.InputFileError)
    with pytest.raises(conventions.InputFileError, match="no such file"):
        gitt.read_cycler(tmp_path / "missing.csv")
    with pytest.raises(conventions.ParameterError, match="current_sign"):
        gitt.read_cycler(CYCLERS / "generic.csv", current_sign="up")
    conventions.check_dataset(synthetic_result)  # schema v2: units, long names, names, time axis
    assert synthetic_result.attrs["schema_version"] == conventions.SCHEMA_VERSION


def _generic_electrode(**changes):
    values = dict(particle_radius_m=5e-6, electrode_area_m2=1e-4, thickness_m=50e-6, active_volume_fraction=0.6,
                  c_max_mol_m3=1.0 / 96485.33212 / 3e-9 * 40.0, sol_initial=0.4)
    return ElectrodeDescription(**{**values, **changes})


def test_current_in_ma_under_a_plain_header_is_refused_with_its_cause(tmp_path):
    """Issue 16: mA read as A gave SoL 8.7-667 with every pulse 'ok'; now one error naming the likely causes."""
    frame = pd.read_csv(CYCLERS / "generic.csv")
    frame["current"] *= 1000.0  # the cycler wrote mA under a header without unit
    path = tmp_path / "ma.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ParameterError, match=r"state of lithiation runs from .* expected values in \[0, 1\].*assumed"):
        gitt.analyse_gitt(gitt.read_cycler(path), _generic_electrode())


def test_flipped_current_sign_is_named():
    """read_cycler detects a discharge recorded negative; a trace built by hand with the wrong sign is named."""
    data = gitt.read_cycler(CYCLERS / "generic.csv")
    data["current_A"] *= -1.0  # a charge titration passed as discharge
    with pytest.raises(ParameterError, match="current sign"):
        gitt.analyse_gitt(data, _generic_electrode(sol_initial=0.02))


def test_radius_in_micrometres_fails_every_pulse_with_the_cause():
    ds = gitt.analyse_gitt(gitt.read_cycler(CYCLERS / "generic.csv"), _generic_electrode(particle_radius_m=5.0))
    status = [str(s) for s in ds.fit_status.values]
    assert all(s.startswith("failed: D_s") and "radius" in s for s in status), status
    assert "physics:" in ds.attrs["summary"]
