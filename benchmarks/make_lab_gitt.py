"""Lab-grade synthetic GITT: an NMC532 half-cell DFN written as an Arbin-style CSV with noise.

The held-out check of issue "Lab-grade inputs": a cathode other than the package's default
(PyBaMM's Mohtat2020 NMC532 OCP, kinetics and electrolyte, 3.5 µm particles) in PyBaMM's
half-cell DFN (NMC532 | separator | Li metal), with a known **non-monotonic** solid
diffusivity between 4e-16 and 2e-15 m2/s::

    D(sol) = 4e-16 * 5 ** exp(-((sol - 0.55) / 0.18) ** 2)   m2/s   (peak 2e-15 at sol 0.55)

Protocol: 10 min rest, then C/20 pulses of 30 min (C/1 is the charge of the full SoL range,
so each pulse moves SoL by 0.025) each followed by a 3 h rest, 28 pulses from SoL 0.28; the
voltage cut-off (3.5 V) cuts the last ones. The DFN is solved once per protocol at 1 s output
(60 particle shells) and cached as ``benchmarks/out/lab_gitt_<protocol>_clean.parquet``; each
noise level and seed is then a cheap resampling of that trace:

* 5 s sampling (``sampling_s``), one row at every step start that repeats the previous step's
  last time stamp (the duplicated rows at step edges of Arbin exports);
* discharge current written negative;
* Gaussian voltage noise (``noise_V``: 0.1, 0.5, 1 mV) from ``numpy.random.default_rng(seed)``;
* the Arbin column layout (``Data_Point, Test_Time(s), Date_Time, Step_Time(s), Step_Index,
  Cycle_Index, Current(A), Voltage(V), Charge_Capacity(Ah), Discharge_Capacity(Ah)``).

``protocol="short"`` (8 pulses of 30 min with 2 h rests from SoL 0.40) is the variant the
slow tests use. Usage::

    python benchmarks/make_lab_gitt.py [--protocol full|short] [--noise-mV 0.5] [--seed 0] [--sampling-s 5] [--all] [out_dir]

writes ``lab_gitt_<protocol>_<noise>mV_s<seed>.csv`` and ``..._truth.json`` (the electrode
description, the D_s formula, the protocol) under ``out_dir`` (default ``benchmarks/out``).
"""

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic_gitt import half_cell  # noqa: E402  (the same PyBaMM half-cell set-up)

OUT_DIR = Path(__file__).resolve().parent / "out"
FARADAY = 96485.33212

D_LOW_M2_S = 4e-16
D_PEAK_FACTOR = 5.0
D_PEAK_SOL = 0.55
D_WIDTH_SOL = 0.18

#: Mohtat2020 NMC532 positive electrode, 10 cm2.
ELECTRODE = {
    "particle_radius_m": 3.5e-6,
    "electrode_area_m2": 1e-3,
    "thickness_m": 67e-6,
    "active_volume_fraction": 0.445,
    "c_max_mol_m3": 35380.0,
}

PROTOCOLS = {
    "full": {"n_pulses": 28, "pulse_s": 1800.0, "rest_s": 10800.0, "sol_initial": 0.28, "c_rate": 0.05},
    "short": {"n_pulses": 8, "pulse_s": 1800.0, "rest_s": 7200.0, "sol_initial": 0.40, "c_rate": 0.05},
}
CUTOFF_V = 3.5


def true_diffusivity_m2_s(sol):
    """The solid diffusivity that made the data, m2/s (non-monotonic in SoL)."""
    s = np.asarray(sol, dtype=float)
    return D_LOW_M2_S * D_PEAK_FACTOR ** np.exp(-(((s - D_PEAK_SOL) / D_WIDTH_SOL) ** 2))


def capacity_C(electrode=ELECTRODE):
    """Charge for ΔSoL = 1, C."""
    e = electrode
    return FARADAY * e["c_max_mol_m3"] * e["active_volume_fraction"] * e["electrode_area_m2"] * e["thickness_m"]


def simulate(protocol="full", *, particle_shells=60, period_s=1):
    """Solve the half-cell DFN through the protocol; returns (1 s trace with ``step``, truth dict)."""
    import pybamm

    spec = PROTOCOLS[protocol]
    model, params = half_cell("Mohtat2020")

    def diffusivity(sto, T):
        return D_LOW_M2_S * D_PEAK_FACTOR ** pybamm.exp(-(((sto - D_PEAK_SOL) / D_WIDTH_SOL) ** 2))

    e = ELECTRODE
    params.update(
        {
            "Positive particle diffusivity [m2.s-1]": diffusivity,
            "Lower voltage cut-off [V]": CUTOFF_V - 0.5,
            "Upper voltage cut-off [V]": 4.6,
            "Initial concentration in positive electrode [mol.m-3]": spec["sol_initial"] * e["c_max_mol_m3"],
            "Positive particle radius [m]": e["particle_radius_m"],
            "Positive electrode thickness [m]": e["thickness_m"],
            "Positive electrode active material volume fraction": e["active_volume_fraction"],
            "Maximum concentration in positive electrode [mol.m-3]": e["c_max_mol_m3"],
            "Electrode height [m]": 0.1,
            "Electrode width [m]": e["electrode_area_m2"] / 0.1,
        }
    )
    current_A = spec["c_rate"] * capacity_C() / 3600.0
    steps = [f"Rest for 600 seconds ({period_s} second period)"]
    for _ in range(spec["n_pulses"]):
        steps.append(
            f"Discharge at {current_A} A for {spec['pulse_s']} seconds or until {CUTOFF_V} V ({period_s} second period)"
        )
        steps.append(f"Rest for {spec['rest_s']} seconds ({period_s} second period)")
    var_pts = dict(model.default_var_pts)
    var_pts["r_p"] = particle_shells
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]", "Current [A]", "Time [s]"])
    sim = pybamm.Simulation(
        model, parameter_values=params, experiment=pybamm.Experiment(steps), solver=solver, var_pts=var_pts
    )
    solution = sim.solve()
    frames = [
        pd.DataFrame({"time_s": sub["Time [s]"].entries, "current_A": sub["Current [A]"].entries,
                      "voltage_V": sub["Voltage [V]"].entries, "step": k})
        for k, sub in enumerate(solution.sub_solutions)
    ]
    truth = {
        "electrode": {**e, "sol_initial": spec["sol_initial"]},
        "current_A": current_A,
        "protocol": {**spec, "name": protocol, "cutoff_V": CUTOFF_V},
        "diffusivity": {
            "formula": "D = d_low * factor ** exp(-((sol - sol_peak) / width) ** 2)",
            "d_low_m2_s": D_LOW_M2_S, "factor": D_PEAK_FACTOR, "sol_peak": D_PEAK_SOL, "width": D_WIDTH_SOL,
        },
        "model": f"PyBaMM {pybamm.__version__} DFN, working electrode positive, Mohtat2020 (NMC532), r_p = {particle_shells}",
    }
    return pd.concat(frames, ignore_index=True), truth


def clean_trace(protocol="full", out_dir=OUT_DIR):
    """The noise-free 1 s trace and truth, simulated once and cached under ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path, truth_path = out_dir / f"lab_gitt_{protocol}_clean.csv.gz", out_dir / f"lab_gitt_{protocol}_truth.json"
    if path.exists() and truth_path.exists():
        return pd.read_csv(path), json.loads(truth_path.read_text())
    data, truth = simulate(protocol)
    data.to_csv(path, index=False, float_format="%.9g", compression={"method": "gzip", "mtime": 0})
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    return data, truth


def arbin_csv(data, *, sampling_s=5.0, noise_V=5e-4, seed=0):
    """Resample the 1 s trace as an Arbin export (see the module notes); returns a DataFrame."""
    rng = np.random.default_rng(seed)
    rows = []
    for _, step in data.groupby("step", sort=True):
        t = step["time_s"].to_numpy()
        rel = np.arange(0.0, t[-1] - t[0], sampling_s)
        idx = np.unique(np.r_[np.searchsorted(t - t[0], rel - 1e-9), len(t) - 1])
        rows.append(step.iloc[idx])
    out = pd.concat(rows, ignore_index=True)
    t = np.round(out["time_s"].to_numpy(), 3)
    current = out["current_A"].to_numpy()
    voltage = out["voltage_V"].to_numpy() + rng.normal(0.0, noise_V, len(out))
    step = out["step"].to_numpy()
    step_start = np.r_[0, np.flatnonzero(np.diff(step)) + 1]
    step_time = t - np.repeat(t[step_start], np.diff(np.r_[step_start, len(t)]))
    dq = np.r_[0.0, 0.5 * (current[1:] + current[:-1]) * np.diff(t)] / 3600.0
    return pd.DataFrame(
        {
            "Data_Point": np.arange(1, len(t) + 1),
            "Test_Time(s)": t,
            "Date_Time": (pd.Timestamp("2026-01-05 09:00:00") + pd.to_timedelta(t, unit="s")).strftime("%m/%d/%Y %H:%M:%S"),
            "Step_Time(s)": np.round(step_time, 3),
            "Step_Index": step + 1,
            "Cycle_Index": 1,
            "Current(A)": -current,
            "Voltage(V)": np.round(voltage, 6),
            "Charge_Capacity(Ah)": 0.0,
            "Discharge_Capacity(Ah)": np.round(np.cumsum(dq), 9),
        }
    )


def electrode_description(truth):
    """The ElectrodeDescription a lab would write for this cell (true SoL window)."""
    from electrode_design.gitt import ElectrodeDescription

    return ElectrodeDescription(**truth["electrode"])


def write(protocol="full", *, noise_V=5e-4, seed=0, out_dir=OUT_DIR, sampling_s=5.0):
    """Write (or reuse) one noisy Arbin CSV; returns (csv path, truth dict)."""
    out_dir = Path(out_dir)
    data, truth = clean_trace(protocol, OUT_DIR if out_dir == OUT_DIR else out_dir)
    every = "" if sampling_s == 5.0 else f"_{sampling_s:g}s"
    path = out_dir / f"lab_gitt_{protocol}_{1e3 * noise_V:g}mV_s{seed}{every}.csv"
    if not path.exists():
        arbin_csv(data, sampling_s=sampling_s, noise_V=noise_V, seed=seed).to_csv(path, index=False)
    truth = {**truth, "fixture": {"noise_V": noise_V, "seed": seed, "sampling_s": sampling_s}}
    return path, truth


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=OUT_DIR)
    parser.add_argument("--protocol", choices=list(PROTOCOLS), default="full")
    parser.add_argument("--noise-mV", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampling-s", type=float, default=5.0)
    parser.add_argument("--all", action="store_true", help="noise 0.1, 0.5, 1 mV x seeds 0-3")
    args = parser.parse_args()
    grid = [(n, s) for n in (0.1, 0.5, 1.0) for s in range(4)] if args.all else [(args.noise_mV, args.seed)]
    for noise_mV, seed in grid:
        path, truth = write(args.protocol, noise_V=1e-3 * noise_mV, seed=seed, out_dir=Path(args.out_dir),
                            sampling_s=args.sampling_s)
        print(f"wrote {path}")
