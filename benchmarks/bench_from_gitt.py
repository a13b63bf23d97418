"""GITT → parameters → DFN: does a simulation with `params.from_gitt`'s tables reproduce one with the true D_s?

The synthetic DFN titration with known D_s(SoL) (tests/data/gitt/synthetic_dfn.csv.gz, made by
make_synthetic_gitt.py: Chen2020 NMC811 half-cell, D = 1e-14 · 10^(-(SoL - 0.3)/0.6) m² s⁻¹) is
analysed with `gitt.analyse_gitt`; `params.from_gitt` turns the result into a parameter set
(chen2020_nmc811 base). The PyBaMM half-cell DFN (`analysis.p2d_reference`) then discharges to the
titration's 3.4 V cut-off with (a) the true D_s and the base OCV, (b) from_gitt's tables (both
OCV shapes) and (c) the base set's own D_s. Prints the depth of discharge at the cut-off and the
difference to (a).

    python benchmarks/bench_from_gitt.py [--c-rates 1 3 5]
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from electrode_design import analysis, gitt  # noqa: E402
from electrode_design.params import SolTable, from_gitt, parameter_set  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "gitt"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c-rates", type=float, nargs="+", default=[1.0, 3.0])
    args = parser.parse_args()
    truth = json.loads((FIXTURE / "synthetic_dfn_truth.json").read_text())
    start = time.perf_counter()
    result = gitt.analyse_gitt(gitt.read_cycler(FIXTURE / "synthetic_dfn.csv.gz"),
                               gitt.ElectrodeDescription(**truth["electrode"]))
    print(f"GITT analysis {time.perf_counter() - start:.1f} s; fit_status ok in "
          f"{int((result.fit_status.values == 'ok').sum())} of {result.sizes['pulse']} pulses")
    base = parameter_set("chen2020_nmc811")
    grid = np.round(np.linspace(0.2, 1.0, 201), 6)
    d = truth["diffusivity"]
    true_d = d["d_ref_m2_s"] * 10.0 ** (-(grid - d["sol_ref"]) / d["decade_sol"])
    sets = {"true D_s": base.replace(**{"positive.material.diffusivity": SolTable(
                tuple(grid), tuple(true_d), units="m2 s-1", log=True, name="true")}),
            "from_gitt (ocv_shape='base')": from_gitt(result),
            "from_gitt (ocv_shape='points')": from_gitt(result, ocv_shape="points"),
            "base set's D_s": base}
    cutoff = truth["protocol"]["cutoff_V"]
    print(f"DFN to {cutoff} V: depth of discharge at the cut-off (difference to the true D_s)")
    for rate in args.c_rates:
        ref = None
        for label, cell in sets.items():
            start = time.perf_counter()
            cap = float(analysis.p2d_reference(cell, c_rate=rate, cutoff_V=cutoff, snapshots_dod=()).depth_of_discharge[-1])
            ref = cap if ref is None else ref
            print(f"{rate:4g}C  {label:<32} {cap:.4f}  {100 * (cap / ref - 1):+6.2f} %  ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
