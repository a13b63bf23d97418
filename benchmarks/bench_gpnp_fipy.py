"""FiPy statement of the gPNP model vs the Newton–Krylov–AMG fast path on small cells.

For each cell (a packed electrode, isolated spheres, a field-mode solid potential) and
C-rate (1C, 3C) it runs `gpnp.discharge` with ``backend="newton"`` and ``backend="fipy"``
and prints: unknowns, wall time of both, FiPy sweeps per step, voltage RMS before the
cut-off cliff (`analysis.cliff_start`), capacity difference and the largest SoL difference
over the snapshots. Usage: ``python benchmarks/bench_gpnp_fipy.py [--quick]`` (``--quick``:
the packed cell at 1C only).
"""
import os
import sys
import time
import warnings

os.environ.setdefault("FIPY_SOLVERS", "scipy")
warnings.filterwarnings("ignore", category=DeprecationWarning)

import numpy as np

from electrode_design import gpnp, microstructure
from electrode_design.analysis import cliff_start
from electrode_design.params import parameter_set

PARAMS = parameter_set("chen2020_nmc811")


def cells():
    """The three small cells of the comparison (≈ 16×10×10 µm at 1 µm plus the separator)."""
    packed = microstructure.generate_electrode(6e-6, thickness_m=16e-6, width_m=10e-6, voxel_size_m=1e-6,
                                               seed=3, measure=False)
    spheres = microstructure.isolated_spheres(5e-6, thickness_m=16e-6, width_m=10e-6, voxel_size_m=1e-6,
                                              seed=1, measure=False)
    phase = packed["phase"].values
    return {
        "packed": (gpnp.build_cell(phase, voxel_size_m=1e-6, params=PARAMS), packed["particle"].values),
        "isolated spheres": (gpnp.build_cell(spheres["phase"].values, voxel_size_m=1e-6, params=PARAMS),
                             spheres["particle"].values),
        "packed, field φ_s": (gpnp.build_cell(phase, voxel_size_m=1e-6, params=PARAMS, solid_potential="field",
                                              solid_conductivity_S_m=1.0), packed["particle"].values),
    }


def compare(a, b) -> dict:
    """Voltage RMS before the cliff (on the fast path's depths of discharge), capacity and SoL differences."""
    dod_a, dod_b = a.depth_of_discharge.values, b.depth_of_discharge.values
    cliff = min(cliff_start(dod_a, a.voltage.values), cliff_start(dod_b, b.voltage.values))
    keep = dod_a <= cliff
    vb = np.interp(dod_a[keep], dod_b, b.voltage.values)
    rms = float(np.sqrt(np.mean((vb - a.voltage.values[keep]) ** 2)))
    cap = float(dod_b[-1] / dod_a[-1] - 1.0)
    n = min(a.sizes["snapshot"], b.sizes["snapshot"])
    sol = float(np.nanmax(np.abs(a.sol.values[:n] - b.sol.values[:n]))) if n else float("nan")
    return {"rms_V": rms, "capacity": cap, "sol": sol, "snapshots": n}


def main(quick: bool = False):
    print(f"{'cell':20s} {'C':>3s} {'unknowns':>8s} {'newton s':>8s} {'fipy s':>7s} {'sweeps/step':>11s} "
          f"{'V RMS (V)':>9s} {'Δcapacity':>9s} {'max ΔSoL':>9s}")
    for name, (cell, particle) in cells().items():
        for rate in ((1.0,) if quick else (1.0, 3.0)):
            t0 = time.perf_counter()
            a = gpnp.discharge(cell, c_rate=rate, progress=False, particle=particle)
            t1 = time.perf_counter()
            b = gpnp.discharge(cell, c_rate=rate, progress=False, particle=particle, backend="fipy")
            t2 = time.perf_counter()
            d = compare(a, b)
            sweeps = b.attrs["newton_iterations"] / max(b.attrs["steps"], 1)
            print(f"{name:20s} {rate:3g} {cell.summary()['unknowns']:8d} {t1 - t0:8.2f} {t2 - t1:7.1f} {sweeps:11.1f} "
                  f"{d['rms_V']:9.1e} {d['capacity']:9.1e} {d['sol']:9.1e}", flush=True)
        if quick:
            break


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
