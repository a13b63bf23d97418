"""Paper trend check: rated capacity at 3C of D8, D12 and D16 electrodes (Lu et al. 2021, §3.3).

Generates mono-disperse electrodes 60 µm thick, 40×40 µm in plane, 1 µm voxels, 43 % active,
discharges each at 3C to 2.8 V with the microstructure-resolved model (gpnp) and with PyBaMM's
half-cell DFN given the same effective properties (porosity, pore tortuosity factor, specific
surface area, mean radius), and prints the depth of discharge reached and the mean SoL of
the particles nearest the separator and the current collector at the end.

    python benchmarks/study_particle_size.py [--c-rate 3] [--voxel-um 1]
"""
import argparse
import os
import time
import warnings

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

from electrode_design import gpnp, microstructure, params  # noqa: E402


def run(diameter_um, *, c_rate, voxel_um, thickness_um, width_um, seed):
    cell_params = params.parameter_set("chen2020_nmc811")
    ms = microstructure.generate_electrode(diameter_um * 1e-6, thickness_m=thickness_um * 1e-6, width_m=width_um * 1e-6,
                                           voxel_size_m=voxel_um * 1e-6, active_volume_fraction=0.43, seed=seed)
    ms = microstructure.characterise(ms)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = gpnp.discharge(np.asarray(ms.phase.values), params=cell_params, c_rate=c_rate,
                             particle=np.asarray(ms.particle.values), voxel_size_m=voxel_um * 1e-6,
                             progress=False, on_failure="return")
    wall = time.perf_counter() - start
    p2d = gpnp.p2d_reference(cell_params, c_rate=c_rate, cutoff_V=2.8, porosity=float(ms.attrs["porosity"]),
                             active_volume_fraction=float(ms.attrs["active_volume_fraction"]),
                             tortuosity_factor=float(ms.attrs["tortuosity_factor"]),
                             specific_area_m_1=float(ms.attrs["specific_surface_area_m_1"]),
                             particle_radius_m=diameter_um * 0.5e-6, thickness_m=thickness_um * 1e-6)
    depth = sim.particle_depth.values
    final = sim.particle_sol_mean.isel(snapshot=-1).values if sim.sizes.get("snapshot", 0) else np.full(depth.shape, np.nan)
    near_sep = float(np.nanmean(final[depth <= np.quantile(depth, 0.25)]))
    near_cc = float(np.nanmean(final[depth >= np.quantile(depth, 0.75)]))
    return {"d_um": diameter_um, "voxels": int(ms.phase.size), "particles": int(ms.attrs["n_particles"]),
            "tortuosity": float(ms.attrs["tortuosity_factor"]), "dod_3d": float(sim.depth_of_discharge.values[-1]),
            "dod_p2d": float(p2d.depth_of_discharge.values[-1]), "status": sim.attrs.get("status"),
            "sol_sep": near_sep, "sol_cc": near_cc, "snap_dod": float(sim.snapshot_dod.values[-1]) if sim.sizes.get("snapshot", 0) else float("nan"),
            "wall_s": wall, "steps": int(sim.sizes["time"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--c-rate", type=float, default=3.0)
    parser.add_argument("--voxel-um", type=float, default=1.0)
    parser.add_argument("--thickness-um", type=float, default=60.0)
    parser.add_argument("--width-um", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.c_rate:g}C to 2.8 V, {args.thickness_um:g} µm thick, {args.width_um:g}×{args.width_um:g} µm, "
          f"{args.voxel_um:g} µm voxels, 43 % active, Chen2020 NMC811; load {os.getloadavg()[0]:.1f}")
    print(f"{'D':>4} {'voxels':>8} {'particles':>9} {'tau':>5} {'DoD 3D':>7} {'DoD P2D':>8} {'SoL sep':>8} "
          f"{'SoL cc':>7} {'(at DoD)':>8} {'wall s':>7} {'steps':>6} status")
    rows = []
    for d in (8, 12, 16):
        r = run(d, c_rate=args.c_rate, voxel_um=args.voxel_um, thickness_um=args.thickness_um,
                width_um=args.width_um, seed=args.seed)
        rows.append(r)
        print(f"{r['d_um']:>4} {r['voxels']:>8} {r['particles']:>9} {r['tortuosity']:>5.2f} {r['dod_3d']:>7.3f} "
              f"{r['dod_p2d']:>8.3f} {r['sol_sep']:>8.3f} {r['sol_cc']:>7.3f} {r['snap_dod']:>8.2f} "
              f"{r['wall_s']:>7.1f} {r['steps']:>6} {r['status']}", flush=True)
    order_3d = [r["d_um"] for r in sorted(rows, key=lambda r: -r["dod_3d"])]
    print(f"rated capacity order (3D): {' > '.join(f'D{d}' for d in order_3d)}  (paper at 3C: D8 > D12 > D16)")


if __name__ == "__main__":
    main()
