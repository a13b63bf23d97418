"""Why ε_H = 0.28 and ε_L = 0.23 give nearly the same D8 capacity at the paper's 3C (Figs. 3–4 quick mode).

The paper's porosity ε is the pore volume of the lumped non-solid phase (pores + carbon-binder)
as a share of the electrode volume; `gpnp.build_cell` takes the pore share *within* a non-solid
voxel, ε_ns = ε / (non-solid fraction), with the transport factor ε_ns^b (b = 1.5). This script
(1) shows what each ε puts into the cell (pore volume, transport factor), (2) discharges the
quick-mode D8 electrode (60×24×24 µm, 2 µm voxels, 43 % active) at the paper's 3C
(4.5 mA cm⁻²) to 2.8 V at both ε with the Chen2020 D_s, with D_s × 20, and with the
electrolyte transport factor divided by 3 (an effective tortuosity near the paper's CFD values
for its CT electrodes, 5.1–8.4, instead of our ≈2.3), and prints the
capacity, the electrolyte concentration range and the voltage at DoD 0.3, and the
separator-minus-collector SoL: the electrolyte sees ε (c_e spread and voltage change), while the
capacity at the cut-off is set by particle-surface saturation as long as D_s limits.

    python benchmarks/porosity_sst.py
"""
import os
import time
import warnings

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from electrode_design import analysis, gpnp, microstructure  # noqa: E402
from electrode_design.analysis import PAPER  # noqa: E402
from electrode_design.params import SolTable, parameter_set  # noqa: E402


def main():
    base = parameter_set("chen2020_nmc811")
    table = base.positive.material.diffusivity
    fast = base.replace(**{"positive.material.diffusivity": SolTable(
        table.sol, tuple(20 * v for v in table.values), units=table.units, log=table.log)})
    ms = microstructure.generate_electrode(8e-6, thickness_m=60e-6, width_m=24e-6, voxel_size_m=2e-6,
                                           active_volume_fraction=0.43, seed=0)
    phase, labels = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
    nonsolid = float((phase != 1).mean())
    print(f"D8, 60×24×24 µm, 2 µm voxels: non-solid fraction {nonsolid:.3f}; paper 3C = 4.5 mA cm-2")
    for eps in (0.28, 0.23):
        cell = gpnp.build_cell(phase, voxel_size_m=2e-6, params=base, particle=labels, nonsolid_porosity=eps / nonsolid)
        o = cell.options
        print(f"  ε = {eps}: ε_ns {o['nonsolid_porosity']:.3f}, transport factor {o['nonsolid_ionic_factor']:.3f}")
    print(f"{'D_s':>14} {'ε':>5} {'DoD end':>8} {'V@0.3':>7} {'c_e min–max @0.4 (mol m-3)':>28} {'sep−coll SoL @0.4':>18} {'s':>4}")
    tau_geo = microstructure.tortuosity_factor(phase != 1)["tortuosity_factor"]
    print(f"  geometric tortuosity factor of the non-solid phase {tau_geo:.2f}: effective τ = ε / (f_ns · ε_ns^1.5 / τ_geo)"
          f" = {0.28 / (nonsolid / tau_geo * (0.28 / nonsolid) ** 1.5):.2f} (ε_H), "
          f"{0.23 / (nonsolid / tau_geo * (0.23 / nonsolid) ** 1.5):.2f} (ε_L); the paper's CT electrodes: 5.1 and 8.4")
    for label, p, slow in (("Chen2020", base, 1.0), ("×20", fast, 1.0), ("Chen2020, κ/3", base, 3.0)):
        rate = PAPER.simulation_c_rate(4.5, p)
        out = {}
        for eps in (0.28, 0.23):
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run = gpnp.discharge(phase, params=p, c_rate=rate, particle=labels, voxel_size_m=2e-6,
                                     nonsolid_porosity=eps / nonsolid, snapshots_dod=(0.4,), progress=False,
                                     nonsolid_ionic_factor=(eps / nonsolid) ** 1.5 / slow)
            ce = run.electrolyte_concentration.isel(snapshot=0).values
            ce = ce[np.isfinite(ce) & (phase != 1)]
            v03 = float(np.interp(0.3, run.depth_of_discharge.values, run.voltage.values))
            grad = float(analysis.lithiation_gradient(run).isel(snapshot=0))
            out[eps] = float(run.depth_of_discharge[-1])
            print(f"{label:>14} {eps:>5} {out[eps]:>8.4f} {v03:>7.4f} {ce.min():>13.0f} – {ce.max():<12.0f} {grad:>+18.4f} "
                  f"{time.perf_counter() - start:>4.0f}")
        print(f"{'':>14} capacity ε_L / ε_H − 1: {100 * (out[0.23] / out[0.28] - 1):+.3f} %")


if __name__ == "__main__":
    main()
