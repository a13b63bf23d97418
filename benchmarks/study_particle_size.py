"""Paper trend and P2D check: rated capacity of D8, D12 and D16 electrodes (Lu et al. 2021, §3.3, Fig. S7).

Generates mono-disperse electrodes 60 µm thick, 40×40 µm in plane, 43 % active, discharges
each to 2.8 V with the microstructure-resolved model (gpnp) and with its two PyBaMM DFN
twins (`analysis.p2d_twins`: measured porosity, pore tortuosity factor and reaction area,
and the particle radius either the volume-weighted equivalent radius or 3 ε_am / a), and
prints the depth of discharge at the cut-off of each, the ratio of the 3D reaction area to
the area of free spheres, and at the last common snapshot the mean SoL next to the
separator and the current collector and the through-thickness gradient of both models.

With ``--isolated`` the electrodes are `microstructure.isolated_spheres` instead: spheres
that do not touch (random sequential addition, jammed at 15–25 % active), the electrode a
DFN describes; the gap to the twins then measures the solver, and the packed runs'
larger gap measures the contact effect.

    python benchmarks/study_particle_size.py [--c-rates 1 3] [--voxel-um 1] [--diameters 8 12 16] [--isolated]
"""
import argparse
import json
import os
import time
import warnings

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from electrode_design import analysis, gpnp, microstructure, params  # noqa: E402


def run(ms, *, c_rate, voxel_um, cell_params):
    phase, particle = ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(phase, params=cell_params, c_rate=c_rate, particle=particle, voxel_size_m=voxel_um * 1e-6,
                             snapshots_dod=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8), progress=False,
                             on_failure="return")
    wall = time.perf_counter() - start
    twins = analysis.p2d_twins(sim, ms)
    reports = {r: analysis.compare_with_p2d(sim, p) for r, p in twins.items()}
    return sim, twins, reports, wall


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c-rates", type=float, nargs="+", default=[1.0, 3.0])
    parser.add_argument("--diameters", type=float, nargs="+", default=[8.0, 12.0, 16.0])
    parser.add_argument("--voxel-um", type=float, default=1.0)
    parser.add_argument("--thickness-um", type=float, default=60.0)
    parser.add_argument("--width-um", type=float, default=40.0)
    parser.add_argument("--overlap", type=float, default=0.05, help="contact overlap of the generator")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--isolated", action="store_true",
                        help="non-touching spheres (microstructure.isolated_spheres) instead of a packed electrode")
    args = parser.parse_args()
    cell_params = params.parameter_set("chen2020_nmc811")
    packing = ("isolated spheres (1 voxel gap, jammed)" if args.isolated
               else f"packed, 43 % active, overlap {args.overlap:g}")
    print(f"{args.thickness_um:g} µm thick, {args.width_um:g}×{args.width_um:g} µm, {args.voxel_um:g} µm voxels, "
          f"{packing}, Chen2020 NMC811, to 2.8 V; load {os.getloadavg()[0]:.1f}")
    print(f"{'D':>4} {'C':>3} {'voxels':>8} {'part.':>5} {'eps_am':>6} {'tau':>5} {'a/a_sph':>7} {'DoD 3D':>7} {'P2D vol':>7} "
          f"{'diff':>6} {'P2D area':>8} {'diff':>6} {'at DoD':>6} {'grad 3D':>7} {'grad P2D':>8} {'scatter':>7} "
          f"{'wall s':>6} {'steps':>5} status")
    capacity = {}
    for d in args.diameters:
        box = dict(thickness_m=args.thickness_um * 1e-6, width_m=args.width_um * 1e-6,
                   voxel_size_m=args.voxel_um * 1e-6, seed=args.seed)
        if args.isolated:
            ms = microstructure.isolated_spheres(d * 1e-6, **box)
        else:
            ms = microstructure.generate_electrode(d * 1e-6, active_volume_fraction=0.43, overlap=args.overlap, **box)
        ms.attrs["tortuosity_factor"] = microstructure.tortuosity_factor(ms.phase.values != 1)["tortuosity_factor"]
        for rate in args.c_rates:
            sim, twins, reports, wall = run(ms, c_rate=rate, voxel_um=args.voxel_um, cell_params=cell_params)
            vol, area = reports["volume"], reports["area"]
            info = json.loads(twins["volume"].attrs["twin_of"])
            last = vol["snapshots"][-1] if vol["snapshots"] else {}
            capacity[(d, rate)] = vol["capacity_3d"]
            print(f"{d:>4g} {rate:>3g} {ms.phase.size:>8} {int(ms.attrs['n_particles']):>5} {ms.attrs['active_volume_fraction']:>6.3f} "
                  f"{ms.attrs['tortuosity_factor']:>5.2f} {info['area_ratio_to_spheres']:>7.3f} {vol['capacity_3d']:>7.3f} "
                  f"{vol['capacity_p2d']:>7.3f} {100 * vol['capacity_difference']:>+5.1f}% {area['capacity_p2d']:>8.3f} "
                  f"{100 * area['capacity_difference']:>+5.1f}% {last.get('dod', float('nan')):>6.2f} "
                  f"{last.get('gradient_3d', float('nan')):>+7.3f} {last.get('gradient_p2d', float('nan')):>+8.3f} "
                  f"{last.get('within_scatter', float('nan')):>7.2f} {wall:>6.1f} {sim.sizes['time']:>5} "
                  f"{sim.attrs['status']}", flush=True)
    for rate in args.c_rates:
        order = sorted(args.diameters, key=lambda d: -capacity[(d, rate)])
        print(f"{rate:g}C rated capacity order (3D): {' > '.join(f'D{d:g}' for d in order)}"
              + ("  (paper at 3C: D8 > D12 > D16)" if rate == 3 else ""))
    print("diff = 3D / P2D − 1; a/a_sph = 3D reaction area / area of free spheres of the volume radius; "
          "grad = mean SoL next to the separator − next to the collector; scatter = fraction of depths where the "
          "P2D (volume radius) SoL lies within the range of the 3D particles there")


if __name__ == "__main__":
    main()
