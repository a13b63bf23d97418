"""Paper trend check: lower porosity moves lithiation towards the separator (Lu et al. 2021, §3.3, Fig. 3).

The same generated electrode (60 µm thick, 40×40 µm in plane, 1 µm voxels, 43 % active) is
discharged at 3C to 2.8 V with the non-solid domain (pore + carbon-binder, 57 % of the
volume) holding the paper's two pore fractions: ε_H = 0.28 and ε_L = 0.23 of the electrode
volume, i.e. a non-solid porosity ε/0.57 with the Bruggeman transport factor (ε/0.57)^1.5.
Prints the depth of discharge at the cut-off and, at each snapshot, the through-thickness
lithiation gradient (`analysis.lithiation_gradient`: mean SoL of the quarter next to the
separator minus that next to the current collector) of the 3D run and of its P2D twin.

    python benchmarks/study_porosity.py [--diameters 8 16] [--c-rate 3]
"""
import argparse
import os
import time
import warnings

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from electrode_design import analysis, gpnp, microstructure, params  # noqa: E402

SNAPSHOTS_DOD = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--diameters", type=float, nargs="+", default=[8.0, 16.0])
    parser.add_argument("--c-rate", type=float, default=3.0)
    parser.add_argument("--pore-fractions", type=float, nargs=2, default=[0.28, 0.23])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cell_params = params.parameter_set("chen2020_nmc811")
    print(f"{args.c_rate:g}C to 2.8 V, 60×40×40 µm, 1 µm voxels, 43 % active, Chen2020 NMC811; "
          f"load {os.getloadavg()[0]:.1f}")
    for d in args.diameters:
        ms = microstructure.generate_electrode(d * 1e-6, thickness_m=60e-6, width_m=40e-6, voxel_size_m=1e-6,
                                               active_volume_fraction=0.43, seed=args.seed)
        ms.attrs["tortuosity_factor"] = microstructure.tortuosity_factor(ms.phase.values != 1)["tortuosity_factor"]
        phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
        nonsolid = float((phase != 1).mean())
        print(f"\nD{d:g}: non-solid fraction {nonsolid:.3f}, pore tortuosity factor {ms.attrs['tortuosity_factor']:.2f}")
        print(f"{'ε':>5} {'ε_ns':>5} {'DoD 3D':>6} {'P2D':>6} {'wall s':>6}  gradient 3D / P2D at DoD "
              + " ".join(f"{x:.1f}" for x in SNAPSHOTS_DOD))
        gradients = {}
        for eps in args.pore_fractions:
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sim = gpnp.discharge(phase, params=cell_params, c_rate=args.c_rate, particle=particle,
                                     voxel_size_m=1e-6, nonsolid_porosity=eps / nonsolid, snapshots_dod=SNAPSHOTS_DOD,
                                     progress=False, on_failure="return")
                wall = time.perf_counter() - start
                p2d = analysis.p2d_twin(sim, ms, radius="volume")
            g3 = dict(zip(np.round(sim.snapshot_dod.values, 3), analysis.lithiation_gradient(sim).values))
            gp = dict(zip(np.round(p2d.snapshot_dod.values, 3), analysis.lithiation_gradient(p2d).values))
            gradients[eps] = g3
            cells = " ".join(f"{g3[x]:+.3f}/{gp.get(x, float('nan')):+.3f}" for x in sorted(g3))
            print(f"{eps:>5.2f} {eps / nonsolid:>5.3f} {float(sim.depth_of_discharge[-1]):>6.3f} "
                  f"{float(p2d.depth_of_discharge[-1]):>6.3f} {wall:>6.1f}  {cells}", flush=True)
        hi, lo = args.pore_fractions
        common = sorted(set(gradients[hi]) & set(gradients[lo]))
        steeper = [x for x in common if gradients[lo][x] > gradients[hi][x]]
        print(f"lower porosity gives the steeper separator-side lithiation at {len(steeper)}/{len(common)} common "
              f"snapshots (paper: ε_L lithiates more preferentially near the separator, most for D8)")


if __name__ == "__main__":
    main()
