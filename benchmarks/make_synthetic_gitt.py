"""Synthetic GITT data with a known, SoL-dependent solid diffusivity (PyBaMM half-cell DFN).

The truth for the accuracy test of ``electrode_design.gitt``: PyBaMM's half-cell DFN
(NMC811 working electrode | separator | Li metal) with the Chen2020 parameter set, except
for the particle diffusivity, which is replaced by a known function of the state of
lithiation, ``D(sol) = 1e-14 * 10**(-(sol - 0.3) / 0.6)`` m2/s (10x across SoL 0.3-0.9).

Protocol (the paper's, section 2.2): C/10 pulses, 15 min for the first, 45 min for the
others, each followed by a 4 h rest, until the cut-off voltage; the last pulses are cut
short by it. C/10 is a tenth of the capacity between the initial SoL and SoL = 1.

Run ``python benchmarks/make_synthetic_gitt.py`` to (re)write the test fixture
``tests/data/gitt/synthetic_dfn.csv.gz`` (cycler-like: log-spaced samples after every step
edge, discharge current recorded negative, repeated time stamps at step edges, 0.1 mV
noise) and its truth ``tests/data/gitt/synthetic_dfn_truth.json``.

``--protocol fine`` writes a second fixture, ``synthetic_dfn_fine.csv.gz`` and
``synthetic_dfn_fine_truth.json``, with a finer titration: C/10 pulses of 15 min throughout
(2.5 % SOC steps, 0.018 SoL) and 2 h rests, until the cut-off voltage; otherwise the same
(model, D_s truth, sampling, noise). 2 h rather than 4 h keeps the generation time and the
fixture small; the relaxation is complete by then: the largest voltage drift over the last
10 min of any rest is stored in the truth file (``rest_end_drift_mV_per_10min``, must be
< 0.1 mV). ``--protocol all`` writes both.

``--protocol pseudo_ocv`` writes ``synthetic_dfn_pseudo_ocv.csv``: the pseudo-OCV curve a
lab would record alongside a GITT, a slow C/50 discharge of the same half-cell DFN (same
electrode, same D_s, same cut-off) from SoL 0.27, with the SoL counted from the charge
(``sol = sol_initial + Q / (F c_max eps A L)``) and the voltage under current, so it carries
the small ohmic, kinetic, electrolyte and solid-diffusion overpotentials of C/50 and is a few
mV below the true OCP; 0.1 mV noise, one row per 0.002 SoL. It is the reference OCV *shape*
for ``analyse_gitt`` and deliberately not the exact OCP that made the GITT data.

The particle mesh is refined to 60 shells: with PyBaMM's default 20 the "truth" itself is
off by about 4 % in the apparent diffusivity (measured against the Crank series).
"""

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "gitt"
CSV_NAME = "synthetic_dfn.csv.gz"
TRUTH_NAME = "synthetic_dfn_truth.json"
FINE_CSV_NAME = "synthetic_dfn_fine.csv.gz"
FINE_TRUTH_NAME = "synthetic_dfn_fine_truth.json"
PSEUDO_OCV_NAME = "synthetic_dfn_pseudo_ocv.csv"
PSEUDO_OCV_C_RATE = 1.0 / 50.0

#: The two titration protocols: simulate_gitt arguments and the fixture file names.
PROTOCOLS = {
    # the paper's: 15 min then 45 min pulses (7.5 % SOC steps), 4 h rests
    "paper": {"simulation": {}, "csv": CSV_NAME, "truth": TRUTH_NAME},
    # finer titration: 15 min pulses throughout (2.5 % SOC steps), 2 h rests
    "fine": {
        "simulation": {"n_pulses": 41, "first_pulse_s": 900.0, "pulse_s": 900.0, "rest_s": 7200.0},
        "csv": FINE_CSV_NAME,
        "truth": FINE_TRUTH_NAME,
    },
}

D_REF_M2_S = 1e-14
D_SOL_REF = 0.3
D_DECADE_SOL = 0.6

#: Chen2020 NMC811 positive electrode and the LG M50 electrode area.
ELECTRODE = {
    "particle_radius_m": 5.22e-6,
    "electrode_area_m2": 0.065 * 1.58,
    "thickness_m": 75.6e-6,
    "active_volume_fraction": 0.665,
    "c_max_mol_m3": 63104.0,
    "sol_initial": 0.27,
}


def true_diffusivity_m2_s(sol):
    """The diffusivity used to make the synthetic data, m2/s, as a function of SoL."""
    return D_REF_M2_S * 10.0 ** (-(np.asarray(sol, dtype=float) - D_SOL_REF) / D_DECADE_SOL)


def chen2020_ocp_V(sol):
    """Chen2020 NMC811 open-circuit potential (the same closed form as PyBaMM's), V."""
    s = np.asarray(sol, dtype=float)
    return (
        -0.8090 * s
        + 4.4875
        - 0.0428 * np.tanh(18.5138 * (s - 0.5542))
        - 17.7326 * np.tanh(15.7890 * (s - 0.3117))
        + 17.5842 * np.tanh(15.9308 * (s - 0.3120))
    )


def half_cell(parameter_set):
    """PyBaMM's half-cell DFN (Li-metal counter electrode) and ``parameter_set`` completed with the
    half-cell parameters the full-cell sets lack (the model's own defaults)."""
    import pybamm

    model = pybamm.lithium_ion.DFN({"working electrode": "positive"})
    params = pybamm.ParameterValues(parameter_set)
    defaults = model.default_parameter_values
    for key in [
        "Lithium metal partial molar volume [m3.mol-1]",
        "Exchange-current density for lithium metal electrode [A.m-2]",
        "Separator Bruggeman coefficient (electrode)",
        "Heat transfer coefficient [W.m-2.K-1]",
    ]:
        params.update({key: defaults[key]}, check_already_exists=False)
    return model, params


def simulate_gitt(
    *,
    n_pulses=16,
    first_pulse_s=900.0,
    pulse_s=2700.0,
    rest_s=14400.0,
    initial_rest_s=600.0,
    cutoff_V=3.4,
    c_rate=0.1,
    particle_shells=60,
    steps=None,
):
    """Run the half-cell DFN through a GITT protocol; 1 s output, discharge current positive.

    ``steps``, when given, replaces the GITT protocol: a callable taking the C/1 current (A)
    and returning the list of PyBaMM experiment steps.

    Returns a DataFrame with ``time_s``, ``current_A``, ``voltage_V``, ``step`` and a dict
    with the truth (electrode, protocol).
    """
    import pybamm

    model, params = half_cell("Chen2020")

    def diffusivity(sto, T):
        return D_REF_M2_S * 10 ** (-(sto - D_SOL_REF) / D_DECADE_SOL)

    e = ELECTRODE
    params.update(
        {
            "Positive particle diffusivity [m2.s-1]": diffusivity,
            "Lower voltage cut-off [V]": cutoff_V - 0.5,
            "Upper voltage cut-off [V]": 4.6,
            "Initial concentration in positive electrode [mol.m-3]": e["sol_initial"] * e["c_max_mol_m3"],
            "Positive particle radius [m]": e["particle_radius_m"],
            "Positive electrode thickness [m]": e["thickness_m"],
            "Positive electrode active material volume fraction": e["active_volume_fraction"],
            "Maximum concentration in positive electrode [mol.m-3]": e["c_max_mol_m3"],
        }
    )
    faraday = 96485.33212
    capacity_C = (
        faraday * e["c_max_mol_m3"] * e["active_volume_fraction"] * e["electrode_area_m2"] * e["thickness_m"]
        * (1.0 - e["sol_initial"])
    )
    current_A = c_rate * capacity_C / 3600.0
    custom = steps
    steps = [f"Rest for {initial_rest_s} seconds (1 second period)"]
    for k in range(n_pulses):
        duration = first_pulse_s if k == 0 else pulse_s
        steps.append(f"Discharge at {current_A} A for {duration} seconds or until {cutoff_V} V (1 second period)")
        steps.append(f"Rest for {rest_s} seconds (1 second period)")
    if custom is not None:
        steps = custom(capacity_C / 3600.0)
    experiment = pybamm.Experiment(steps)
    var_pts = dict(model.default_var_pts)
    var_pts["r_p"] = particle_shells
    solver = pybamm.IDAKLUSolver(output_variables=["Voltage [V]", "Current [A]", "Time [s]"])
    sim = pybamm.Simulation(model, parameter_values=params, experiment=experiment, solver=solver, var_pts=var_pts)
    solution = sim.solve()
    frames = []
    for k, sub in enumerate(solution.sub_solutions):
        frames.append(
            pd.DataFrame(
                {
                    "time_s": sub["Time [s]"].entries,
                    "current_A": sub["Current [A]"].entries,
                    "voltage_V": sub["Voltage [V]"].entries,
                    "step": k,
                }
            )
        )
    data = pd.concat(frames, ignore_index=True)
    truth = {
        "electrode": dict(e),
        "current_A": current_A,
        "protocol": {
            "n_pulses": n_pulses, "first_pulse_s": first_pulse_s, "pulse_s": pulse_s, "rest_s": rest_s,
            "initial_rest_s": initial_rest_s, "cutoff_V": cutoff_V, "c_rate": c_rate,
        },
        "diffusivity": {
            "formula": "D = d_ref * 10**(-(sol - sol_ref) / decade_sol)",
            "d_ref_m2_s": D_REF_M2_S, "sol_ref": D_SOL_REF, "decade_sol": D_DECADE_SOL,
        },
        "model": f"PyBaMM {pybamm.__version__} DFN, working electrode positive, Chen2020, r_p = {particle_shells}",
    }
    return data, truth


def cycler_like(data, *, points_per_decade=12, max_gap_pulse_s=60.0, max_gap_rest_s=300.0,
                uniform_s=None, noise_V=1e-4, seed=0):
    """Resample 1 s output as a cycler would log it.

    Per step: one sample at the step start (sharing its time stamp with the previous step's
    last sample, as cyclers do), then log-spaced samples after the edge (``points_per_decade``)
    with at most ``max_gap_*`` between them, or every ``uniform_s`` seconds when given.
    Discharge current is written negative; Gaussian voltage noise of ``noise_V``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _, step in data.groupby("step", sort=True):
        t = step["time_s"].to_numpy()
        t0, t1 = t[0], t[-1]
        duration = t1 - t0
        if uniform_s is not None:
            rel = np.arange(0.0, duration, uniform_s)
        else:
            is_pulse = abs(step["current_A"].iloc[-1]) > 0
            max_gap = max_gap_pulse_s if is_pulse else max_gap_rest_s
            rel = [0.0]
            logs = np.unique(np.round(np.logspace(0, np.log10(max(duration, 1.0)), int(points_per_decade * np.log10(max(duration, 10.0))) + 1)))
            for x in logs:
                while x - rel[-1] > max_gap:
                    rel.append(rel[-1] + max_gap)
                rel.append(float(x))
            rel = np.unique(np.asarray(rel))
        rel = rel[rel < duration]
        idx = np.unique(np.searchsorted(t - t0, rel - 1e-9))
        idx = np.r_[idx, len(t) - 1]
        rows.append(step.iloc[np.unique(idx)])
    out = pd.concat(rows, ignore_index=True)
    out["time_s"] = np.round(out["time_s"].to_numpy(), 3)
    voltage = out["voltage_V"].to_numpy() + rng.normal(0.0, noise_V, len(out))
    return pd.DataFrame(
        {
            "Time [s]": out["time_s"].to_numpy(),
            "Current [A]": -out["current_A"].to_numpy(),
            "Voltage [V]": np.round(voltage, 6),
        }
    )


def ocp_table(sol_min=0.2, sol_max=1.0, n=401):
    sol = np.linspace(sol_min, sol_max, n)
    return {"sol": sol.round(6).tolist(), "voltage_V": chen2020_ocp_V(sol).round(7).tolist()}


def rest_end_drift_V(data, window_s=600.0):
    """Voltage change over the last ``window_s`` of every rest after a pulse (1 s output), V."""
    drifts = []
    steps = list(data.groupby("step", sort=True))
    for (_, before), (_, step) in zip(steps[:-1], steps[1:]):
        if abs(step["current_A"].iloc[-1]) > 0 or abs(before["current_A"].iloc[-1]) == 0:
            continue  # not a rest after a pulse
        t = step["time_s"].to_numpy()
        v = step["voltage_V"].to_numpy()
        if t[-1] - t[0] < window_s:
            continue
        drifts.append(v[-1] - np.interp(t[-1] - window_s, t, v))
    return np.asarray(drifts)


def simulate_pseudo_ocv(*, c_rate=PSEUDO_OCV_C_RATE, cutoff_V=3.4, sol_step=0.002, noise_V=1e-4, seed=1):
    """A slow constant-current discharge of the same DFN, as a lab's pseudo-OCV curve.

    Returns a DataFrame with ``sol`` (from the charge passed, on a ``sol_step`` grid) and
    ``voltage_V`` (the voltage under current, with ``noise_V`` Gaussian noise).
    """

    def steps(one_c_A):
        return [f"Discharge at {c_rate * one_c_A} A for {int(3.0 / c_rate)} hours or until {cutoff_V} V (60 second period)"]

    data, truth = simulate_gitt(steps=steps)
    e = truth["electrode"]
    capacity = 96485.33212 * e["c_max_mol_m3"] * e["active_volume_fraction"] * e["electrode_area_m2"] * e["thickness_m"]
    t = data["time_s"].to_numpy()
    current = data["current_A"].to_numpy()
    charge = np.r_[0.0, np.cumsum(0.5 * (current[1:] + current[:-1]) * np.diff(t))]
    sol = e["sol_initial"] + charge / capacity
    grid = np.arange(np.ceil(sol[1] / sol_step) * sol_step, sol[-1], sol_step)
    voltage = np.interp(grid, sol, data["voltage_V"].to_numpy())
    voltage = voltage + np.random.default_rng(seed).normal(0.0, noise_V, grid.size)
    return pd.DataFrame({"sol": grid.round(6), "voltage_V": voltage.round(6)})


def main(out_dir=FIXTURE_DIR, protocol="paper"):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if protocol == "pseudo_ocv":
        curve = simulate_pseudo_ocv()
        path = out_dir / PSEUDO_OCV_NAME
        curve.to_csv(path, index=False)
        print(f"wrote {path} ({len(curve)} rows, SoL {curve.sol.iloc[0]:.3f}-{curve.sol.iloc[-1]:.3f})")
        return path, None
    spec = PROTOCOLS[protocol]
    data, truth = simulate_gitt(**spec["simulation"])
    cycler = cycler_like(data)
    csv_path, truth_path = out_dir / spec["csv"], out_dir / spec["truth"]
    cycler.to_csv(csv_path, index=False, float_format="%.6f", compression={"method": "gzip", "mtime": 0})
    truth["ocp"] = ocp_table()
    truth["fixture"] = {"rows": len(cycler), "noise_V": 1e-4, "seed": 0}
    if protocol != "paper":  # the paper fixture's truth file stays as it was
        drift = rest_end_drift_V(data)
        truth["rest_end_drift_mV_per_10min"] = round(1e3 * float(np.max(np.abs(drift))), 4)
    truth_path.write_text(json.dumps(truth, indent=1) + "\n")
    print(f"wrote {csv_path} ({len(cycler)} rows) and {truth_path}")
    return csv_path, truth_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default=FIXTURE_DIR)
    parser.add_argument("--protocol", choices=[*PROTOCOLS, "pseudo_ocv", "all"], default="paper")
    args = parser.parse_args()
    for name in [*PROTOCOLS, "pseudo_ocv"] if args.protocol == "all" else [args.protocol]:
        main(args.out_dir, name)
