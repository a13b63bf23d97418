"""Accuracy cost of coarsening a microstructure before simulating it.

One D8 electrode (8 µm particles, active fraction 0.43, 30 × 18 × 18 µm) generated at 0.5 µm
voxels is discharged at 1C and 3C to 2.8 V at full resolution and after
`microstructure.coarsen` by 2 (1 µm voxels) and 3 (1.5 µm voxels). Prints, per factor and
rate: unknowns, CPU time (the wall time on a free core; and the cost model's prediction), the capacity (depth of discharge
at the cut-off) and its difference to full resolution, and the voltage difference (RMS and
largest, over the depth of discharge both runs reach before the last 5 % of it).

    .venv/bin/python benchmarks/study_coarsen.py            # ~5 min on one free core
"""
from __future__ import annotations

import os
import time
import warnings

os.environ.setdefault("FIPY_SOLVERS", "scipy")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np


def main():
    from electrode_design import gpnp, microstructure
    from electrode_design.params import parameter_set

    params = parameter_set("chen2020_nmc811")
    fine = microstructure.generate_electrode(8e-6, thickness_m=30e-6, width_m=(18e-6, 18e-6), voxel_size_m=0.5e-6,
                                             active_volume_fraction=0.43, seed=0, measure=False)
    print(f"D8 electrode {fine.phase.shape} voxels of 0.5 µm, {len(np.unique(fine.particle)) - 1} particles, "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"{'factor':>6} {'voxel µm':>8} {'rate':>4} {'unknowns':>8} {'CPU s':>7} {'model s':>7} {'active':>6} "
          f"{'area f':>6} {'capacity':>8} {'Δcap %':>7} {'ΔV rms mV':>9} {'ΔV max mV':>9}", flush=True)
    ref = {}
    for factor in (1, 2, 3):
        ms = fine if factor == 1 else microstructure.coarsen(fine, factor)
        phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
        v = float(ms.attrs["voxel_size_m"])
        cell = gpnp.build_cell(phase, voxel_size_m=v, params=params, particle=particle)
        for rate in (1.0, 3.0):
            est = gpnp.estimate_cost(cell, c_rate=rate)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.process_time()
                ds = gpnp.discharge(cell, c_rate=rate, particle=particle, progress=False, on_failure="return",
                                    snapshots_dod=())
                wall = time.process_time() - t0   # CPU time: the wall time on a free core
            dod, volt = ds.depth_of_discharge.values, ds.voltage.values
            cap = float(dod[-1])
            if factor == 1:
                ref[rate] = (dod, volt, cap)
                dcap = drms = dmax = 0.0
            else:
                rdod, rvolt, rcap = ref[rate]
                grid = np.linspace(0.02, 0.95 * min(cap, rcap), 200)
                diff = np.interp(grid, dod, volt) - np.interp(grid, rdod, rvolt)
                dcap, drms, dmax = 100 * (cap / rcap - 1), 1e3 * np.sqrt(np.mean(diff ** 2)), 1e3 * np.abs(diff).max()
            print(f"{factor:>6} {v * 1e6:>8.2f} {rate:>4g} {est['unknowns']:>8} {wall:>7.1f} {est['wall_time_s']:>7.1f} "
                  f"{float((phase == 1).mean()):>6.3f} {cell.area_factor:>6.3f} {cap:>8.4f} {dcap:>+7.2f} {drms:>9.1f} "
                  f"{dmax:>9.1f}  {ds.attrs['status']}/{ds.attrs['termination']}, {ds.attrs['steps']} steps, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
