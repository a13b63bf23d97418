"""Benchmark of electrode_design.gitt: wall time and accuracy.

Prints
- accuracy of the model-based D_s and of Weppner-Huggins against the known D_s of the
  synthetic PyBaMM DFN test, SoL 0.3-0.9, compared at the mid-pulse SoL; relaxed OCV against
  the true OCP; for both titration protocols: the paper's (7.5 % SOC steps, fixture
  tests/data/gitt/synthetic_dfn.csv.gz) and a finer one (2.5 % SOC steps, 2 h rests,
  synthetic_dfn_fine.csv.gz), with the pulses next to the OCP kink at SoL ~0.31; each
  without and with a reference OCV shape (the C/50 pseudo-OCV of the same DFN,
  synthetic_dfn_pseudo_ocv.csv, not the true OCP);
- wall time of the whole analysis (read_cycler + find_pulses + analyse_gitt, fits included)
  of a 16-pulse, ~28k-row test (the same PyBaMM protocol resampled every 9 s; needs pybamm,
  skipped otherwise) and of the real 40-file example (without and with its pseudo-OCP,
  cathode_OCP_2_lit.csv, as the reference shape).

- the lab-noise table (``--lab``, first): the NMC532 half-cell DFN of
  ``benchmarks/make_lab_gitt.py`` (28 C/20 pulses of 30 min, 3 h rests, non-monotonic D_s,
  Arbin CSV, 5 s sampling) at 0.1, 0.5 and 1 mV Gaussian voltage noise, several seeds:
  pulses in SoL 0.3-0.9 (cut-off pulses excepted) within 10 % of the true D_s, median and
  max error, coverage of the reported 1-sigma (|error| <= 1-sigma), pulses flagged
  ``uncertain``, the noise level the analysis estimated, and the wall time of
  read_cycler + analyse_gitt (target < 2 s for 30 pulses).

Run: .venv/bin/python benchmarks/bench_gitt.py [--lab]   (--lab: only the lab-noise table)
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from electrode_design import gitt  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "gitt"
EXAMPLE = ROOT / "data" / "examples" / "gitt_pybamm_param"


def timed(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times), float(np.median(times))


def accuracy_report(result, truth, label):
    d = truth["diffusivity"]
    sol = result.sol.values
    d_true = d["d_ref_m2_s"] * 10 ** (-(sol - d["sol_ref"]) / d["decade_sol"])
    inside = (sol >= 0.3) & (sol <= 0.9)
    ok = inside & (result.fit_status.values == "ok")
    err = np.abs(result.solid_diffusivity.values / d_true - 1)
    wh = result.solid_diffusivity_wh.values
    err_wh = np.abs(wh / d_true - 1)
    factor_wh = np.maximum(wh / d_true, d_true / wh)
    sq = result.solid_diffusivity_wh_sqrt_t.values
    factor_sq = np.maximum(sq / d_true, d_true / sq)
    ocp = np.interp(result.sol_end.values, truth["ocp"]["sol"], truth["ocp"]["voltage_V"])
    ocv_err = np.abs(result.ocv.values - ocp)
    print(f"[{label}] pulses with mid SoL in 0.3-0.9: {inside.sum()} ({ok.sum()} with status ok)")
    print(f"  model-based D_s, status ok : max {100 * err[ok].max():.1f} %, median {100 * np.median(err[ok]):.1f} %")
    finite = inside & np.isfinite(result.solid_diffusivity.values)
    print(f"  model-based D_s, all finite: max {100 * err[finite].max():.1f} %, median {100 * np.median(err[finite]):.1f} %")
    for k in np.flatnonzero(inside & ~ok):
        print(f"    not ok: SoL {sol[k]:.3f}: {result.fit_status.values[k]}")
    print(f"  Weppner-Huggins dEs/dEt   : max {100 * np.nanmax(err_wh[inside]):.0f} %, median {100 * np.nanmedian(err_wh[inside]):.0f} % "
          f"(factor {np.nanmedian(factor_wh[inside]):.1f} median, {np.nanmax(factor_wh[inside]):.1f} max, always low)")
    print(f"  Weppner-Huggins sqrt(t)   : factor {np.nanmedian(factor_sq[inside]):.1f} median, {np.nanmax(factor_sq[inside]):.1f} max")
    print(f"  relaxed OCV vs true OCP   : max {1e3 * np.nanmax(ocv_err):.2f} mV (all pulses)")
    signed = 100 * (result.solid_diffusivity.values / d_true - 1)
    nan_as_inf = np.where(np.isfinite(signed), np.abs(signed), np.inf)
    print(f"  model-based D_s, every pulse in 0.3-0.9: within 10 %: {(nan_as_inf[inside] < 10).sum()} of {inside.sum()} "
          f"({(~np.isfinite(signed[inside])).sum()} without a D_s); max {np.nanmax(np.abs(signed[inside])):.1f} % of those with one")
    wh_signed = 100 * (wh / d_true - 1)
    print(f"  Weppner-Huggins dEs/dEt   : error {np.nanmin(wh_signed[inside]):.0f} .. {np.nanmax(wh_signed[inside]):.0f} %")
    for k in np.flatnonzero((sol > 0.29) & (sol < 0.36)):  # around the OCP kink at SoL ~0.31
        print(f"    SoL {result.sol_start.values[k]:.3f}-{result.sol_end.values[k]:.3f} (mid {sol[k]:.3f}): "
              + (f"model {signed[k]:+.1f} % (1-sigma {100 * result.solid_diffusivity_std.values[k] / result.solid_diffusivity.values[k]:.1f} %), "
                 if np.isfinite(signed[k]) else "model: no D_s, ")
              + f"WH {wh_signed[k]:+.0f} %, status {result.fit_status.values[k]}")


def lab_row(protocol, noise_V, seed, sampling_s=5.0):
    import make_lab_gitt as lab

    path, truth = lab.write(protocol, noise_V=noise_V, seed=seed, sampling_s=sampling_s)
    electrode = lab.electrode_description(truth)
    start, cpu = time.perf_counter(), time.process_time()
    result = gitt.analyse_gitt(gitt.read_cycler(path), electrode)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    sol = result.sol.values
    inside = (sol >= 0.3) & (sol <= 0.9) & ~result.cut_short.values
    d = result.solid_diffusivity.values[inside]
    err = np.abs(d / lab.true_diffusivity_m2_s(sol[inside]) - 1)
    err = np.where(np.isfinite(err), err, np.inf)
    rel_std = result.solid_diffusivity_std.values[inside] / d
    status = result.fit_status.values[inside].astype(str)
    return {
        "noise_mV": 1e3 * noise_V, "sampling_s": sampling_s, "seed": seed, "pulses": int(inside.sum()),
        "within_10%": int((err < 0.10).sum()), "median_%": 100 * np.median(err), "max_%": 100 * err.max(),
        "coverage_1sigma": float(np.mean(err <= rel_std)), "uncertain": int(sum(s.startswith("uncertain") for s in status)),
        "ok_beyond_10%": int(sum((e >= 0.10) and s == "ok" for e, s in zip(err, status))),
        "noise_est_mV": 1e3 * result.attrs["voltage_noise_V"], "wall_s": wall, "cpu_s": cpu, "n_pulses_total": result.sizes["pulse"],
    }


def lab_table(protocol="full", noises=(1e-4, 5e-4, 1e-3), seeds=(0, 1, 2, 3)):
    rows = [lab_row(protocol, n, s) for n in noises for s in seeds]
    rows += [lab_row(protocol, 5e-4, s, sampling_s=10.0) for s in seeds]  # the slow end of 5-10 s logging
    table = pd.DataFrame(rows)
    print(f"(wall_s and cpu_s: read_cycler + analyse_gitt; wall time counts other processes' load, cpu_s does not)")
    print(f"lab-noise table: NMC532 DFN, {protocol} protocol ({rows[0]['n_pulses_total']} pulses), Arbin CSV")
    with pd.option_context("display.width", 160):
        print(table.drop(columns="n_pulses_total").to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    by = table.groupby(["noise_mV", "sampling_s"])
    summary = by.agg(within=("within_10%", "sum"), pulses=("pulses", "sum"), coverage=("coverage_1sigma", "mean"),
                     max_err=("max_%", "max"), uncertain=("uncertain", "sum"), wall=("wall_s", "max"),
                     cpu=("cpu_s", "max"))
    print(summary.to_string(float_format=lambda v: f"{v:.2f}"))
    return table


def main():
    if "--lab" in sys.argv:
        lab_table()
        return
    lab_table()
    print()
    pseudo = pd.read_csv(FIXTURE / "synthetic_dfn_pseudo_ocv.csv")
    pseudo_ref = (pseudo["sol"].to_numpy(), pseudo["voltage_V"].to_numpy())
    truth = json.loads((FIXTURE / "synthetic_dfn_truth.json").read_text())
    electrode = gitt.ElectrodeDescription(**truth["electrode"])
    data = gitt.read_cycler(FIXTURE / "synthetic_dfn.csv.gz")
    result, best, median = timed(lambda: gitt.analyse_gitt(data, electrode))
    print(f"fixture: {len(data)} rows, {result.sizes['pulse']} pulses; analyse_gitt {best:.2f} s (best of 3), {median:.2f} s median")
    accuracy_report(result, truth, "fixture, paper protocol (7.5 % SOC steps), log-sampled, 0.1 mV noise")
    result, best, median = timed(lambda: gitt.analyse_gitt(data, electrode, ocv_reference=pseudo_ref))
    print(f"with the C/50 pseudo-OCV reference: analyse_gitt {best:.2f} s (best of 3)")
    accuracy_report(result, truth, "fixture, paper protocol, reference OCV shape: C/50 pseudo-OCV")

    fine_truth = json.loads((FIXTURE / "synthetic_dfn_fine_truth.json").read_text())
    fine_data = gitt.read_cycler(FIXTURE / "synthetic_dfn_fine.csv.gz")
    fine_electrode = gitt.ElectrodeDescription(**fine_truth["electrode"])
    fine, best, median = timed(lambda: gitt.analyse_gitt(fine_data, fine_electrode))
    print(f"\nfine fixture: {len(fine_data)} rows, {fine.sizes['pulse']} pulses; analyse_gitt {best:.2f} s (best of 3), "
          f"{median:.2f} s median; rest-end drift {fine_truth['rest_end_drift_mV_per_10min']:.3f} mV/10 min max")
    accuracy_report(fine, fine_truth, "fixture, fine protocol (2.5 % SOC steps, 2 h rests), log-sampled, 0.1 mV noise")
    fine, best, median = timed(lambda: gitt.analyse_gitt(fine_data, fine_electrode, ocv_reference=pseudo_ref))
    print(f"with the C/50 pseudo-OCV reference: analyse_gitt {best:.2f} s (best of 3)")
    accuracy_report(fine, fine_truth, "fixture, fine protocol, reference OCV shape: C/50 pseudo-OCV")

    try:
        import make_synthetic_gitt as maker

        sim, _ = maker.simulate_gitt()
        dense = maker.cycler_like(sim, uniform_s=9.0)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "dense.csv"
            dense.to_csv(path, index=False)

            def whole():
                frame = gitt.read_cycler(path)
                return frame, gitt.analyse_gitt(frame, electrode)

            (frame, dense_result), best, median = timed(whole)
            print(f"\n16-pulse test, {len(frame)} rows: read + find + analyse {best:.2f} s (best of 3), {median:.2f} s median "
                  f"(target < 2 s)")
            accuracy_report(dense_result, truth, "dense, every 9 s")
            (frame, dense_result), best, median = timed(
                lambda: (lambda f: (f, gitt.analyse_gitt(f, electrode, ocv_reference=pseudo_ref)))(gitt.read_cycler(path))
            )
            print(f"16-pulse test with the pseudo-OCV reference: read + find + analyse {best:.2f} s (best of 3), "
                  f"{median:.2f} s median (target < 2 s)")
            accuracy_report(dense_result, truth, "dense, every 9 s, reference OCV shape: C/50 pseudo-OCV")
    except ImportError:
        print("\npybamm not installed: the 28k-row timing is skipped")

    files = sorted(EXAMPLE.glob("pulse_*.csv"))
    example_electrode = gitt.ElectrodeDescription.from_yaml(EXAMPLE / "electrode.yml")

    def real():
        frame = gitt.read_cycler(files)
        return frame, gitt.analyse_gitt(frame, example_electrode)

    (frame, real_result), best, median = timed(real)
    kinds = [s.split(" (")[0] for s in real_result.fit_status.values]
    statuses = {s: kinds.count(s) for s in sorted(set(kinds))}
    print(f"\nreal example: {len(files)} files, {len(frame)} rows, {real_result.sizes['pulse']} pulses: "
          f"read + find + analyse {best:.2f} s (best of 3), {median:.2f} s median; statuses {statuses}")
    print(f"  D_s {np.nanmin(real_result.solid_diffusivity.values):.2e} .. {np.nanmax(real_result.solid_diffusivity.values):.2e} m2/s, "
          f"median C_t {np.nanmedian(real_result.max_c_rate.values):.2f}")
    lit = pd.read_csv(EXAMPLE / "cathode_OCP_2_lit.csv")
    with_ref = gitt.analyse_gitt(frame, example_electrode, ocv_reference=(lit.iloc[:, 0].to_numpy(), lit.iloc[:, 1].to_numpy()))
    mid = (real_result.sol.values > 0.36) & (real_result.sol.values < 0.92)
    change = np.abs(with_ref.solid_diffusivity.values[mid] / real_result.solid_diffusivity.values[mid] - 1)
    rms = with_ref.fit_rms.values / real_result.fit_rms.values
    print(f"  with cathode_OCP_2_lit.csv as the reference shape: D_s in SoL 0.36-0.92 changes {100 * np.median(change):.1f} % "
          f"median, {100 * change.max():.1f} % max; fit RMS ratio {np.median(rms):.3f} median, lower in {(rms < 1).sum()} of {rms.size}")


if __name__ == "__main__":
    main()
