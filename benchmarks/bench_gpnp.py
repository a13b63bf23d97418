"""Benchmark of the voxel half-cell solver (electrode_design.gpnp).

Prints, for D8-like electrodes (8 µm spheres at ~0.43 active fraction, packed in contact by
`electrode_design.microstructure.generate_electrode`, 1 µm voxels, 3C to the 2.8 V
cut-off): wall time, time steps, Newton and linear iterations, AMG set-ups, peak memory;
the exponent k of time ∝ voxels^k over the sizes; the ratio of time per step to one
AMG-preconditioned Poisson solve on the same grid; PyBaMM's DFN time for the largest case
(with the same effective porosity, active fraction and surface area).

    .venv/bin/python benchmarks/bench_gpnp.py                      # 24x16x16, 40x28x28, 60x40x40 (D8)
    .venv/bin/python benchmarks/bench_gpnp.py --shapes 16x12x12 24x16x16 --c-rate 3
    .venv/bin/python benchmarks/bench_gpnp.py --voxel-um 0.5 --shapes 120x80x80   # D8 at 0.5 µm (<= 30 min, 16 GB)
    .venv/bin/python benchmarks/bench_gpnp.py --shapes 60x40x40 --solid-conductivity 1   # solid potential as a field

Each size runs in a fresh process so that the peak resident memory is its own. The last
(largest) size is checked against the targets: <= 3 min and <= 4 GB.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
import warnings

os.environ.setdefault("FIPY_SOLVERS", "scipy")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np


def sphere_packing(shape, *, radius_vox=4.0, active_fraction=0.43, seed=0):
    """Overlapping random spheres added until the active fraction is reached (touching by density)."""
    rng = np.random.default_rng(seed)
    Z, Y, X = shape
    phase = np.zeros(shape, np.uint8)
    particle = np.zeros(shape, np.int32)
    label = 0
    r = int(np.ceil(radius_vox))
    offsets = np.mgrid[-r:r + 1, -r:r + 1, -r:r + 1].reshape(3, -1).T
    offsets = offsets[(offsets ** 2).sum(axis=1) <= radius_vox ** 2]
    while phase.mean() < active_fraction:
        centre = rng.uniform([0, 0, 0], [Z, Y, X]).astype(int)
        pts = centre + offsets
        keep = np.all((pts >= 0) & (pts < np.array(shape)), axis=1)
        pts = pts[keep]
        free = particle[pts[:, 0], pts[:, 1], pts[:, 2]] == 0
        if free.mean() < 0.6:  # mostly inside another sphere: skip, keeps particles distinct
            continue
        label += 1
        phase[pts[:, 0], pts[:, 1], pts[:, 2]] = 1
        sel = pts[free]
        particle[sel[:, 0], sel[:, 1], sel[:, 2]] = label
    return phase, particle


def poisson_time(phase):
    """Setup + solve time of one RS-AMG-preconditioned CG Poisson solve (two-phase coefficient)."""
    import pyamg
    import scipy.sparse as sp
    from scipy.sparse.linalg import cg

    Z, Y, X = phase.shape
    k = np.where(phase.ravel() == 1, 1.0, 55.0)
    n = phase.size
    idx = np.arange(n).reshape(phase.shape)
    rows, cols, vals = [], [], []
    for axis in range(3):
        a = np.take(idx, np.arange(phase.shape[axis] - 1), axis=axis).ravel()
        b = np.take(idx, np.arange(1, phase.shape[axis]), axis=axis).ravel()
        t = 2 * k[a] * k[b] / (k[a] + k[b])
        rows += [a, b, a, b]
        cols += [a, b, b, a]
        vals += [t, t, -t, -t]
    top = idx[-1].ravel()
    rows.append(top)
    cols.append(top)
    vals.append(2 * k[top])
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    b = np.ones(n)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # the same BLAS set-up as the solver's
        t0 = time.perf_counter()
        ml = pyamg.ruge_stuben_solver(A, max_coarse=300, coarse_solver="splu")
        x, info = cg(A, b, rtol=1e-8, M=ml.aspreconditioner(), maxiter=500)
        return time.perf_counter() - t0


def packing(shape, *, voxel_m=1e-6, seed=0):
    """D8 packing: the microstructure generator, or the quick packing above without it."""
    try:
        from electrode_design.microstructure import generate_electrode
    except ImportError:
        return sphere_packing(shape, radius_vox=4e-6 / voxel_m, seed=seed)
    ms = generate_electrode(8e-6, thickness_m=shape[0] * voxel_m, width_m=(shape[1] * voxel_m, shape[2] * voxel_m),
                            voxel_size_m=voxel_m, active_volume_fraction=0.43, seed=seed, measure=False)
    return ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32)


def _run(shape, c_rate, voxel_m, build_options, queue, max_steps=2000, case=None, poisson=True):
    from electrode_design.gpnp import build_cell, discharge, estimate_cost
    from electrode_design.params import parameter_set

    params = parameter_set("chen2020_nmc811")
    if case is None:
        phase, particle = packing(shape, voxel_m=voxel_m)
    else:
        phase, particle, voxel_m = nrel_volume(**case)
        shape = phase.shape
    est = estimate_cost(phase, c_rate=c_rate)
    t0 = time.perf_counter()
    cell = build_cell(phase, voxel_size_m=voxel_m, params=params, particle=particle, **build_options)
    build_s = time.perf_counter() - t0
    build_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cpu0 = time.process_time()
        ds = discharge(cell, c_rate=c_rate, particle=particle, progress=False, on_failure="return", max_steps=max_steps)
        cpu_s = time.process_time() - cpu0
    peak_MB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    poisson_s = poisson_time(phase) if poisson else float("nan")
    queue.put({"shape": shape, "voxels": int(np.prod(shape)), "unknowns": cell.summary()["unknowns"],
               "active_fraction": float((phase == 1).mean()), "particles": int(particle.max()), "build_s": build_s,
               "build_MB": build_MB, "predicted_MB": est["peak_memory_bytes"] / 2 ** 20,
               "predicted_s": est["wall_time_s"], "predicted_unknowns": est["unknowns"],
               "wall_s": ds.attrs["wall_time_s"], "cpu_s": cpu_s, "steps": ds.attrs["steps"], "newton": ds.attrs["newton_iterations"],
               "linear": ds.attrs["linear_iterations"], "amg_setups": ds.attrs["amg_setups"],
               "amg_refreshes": ds.attrs.get("amg_refreshes", 0), "border_solves": ds.attrs.get("border_solves", 0),
               "rejected": ds.attrs["rejected_steps"],
               "status": ds.attrs["status"], "termination": ds.attrs["termination"],
               "final_V": float(ds.voltage[-1]),
               "capacity_dod": float(ds.depth_of_discharge[-1]), "conservation": ds.attrs["conservation_error"],
               "poisson_s": poisson_s, "peak_MB": peak_MB, "porosity": float((phase == 0).mean()),
               "area_m2": cell.reaction_area_m2, "volume_m3": phase.size * voxel_m ** 3,
               "thickness_m": shape[0] * voxel_m, "voxel_m": voxel_m})


def nrel_volume(crop=None, coarsen=None):
    """The shipped NREL CT electrode (phase, particle, voxel size), cropped then coarsened as asked."""
    from electrode_design import microstructure, store

    ms = store.open_result("nrel_nmc_1_cal")
    ms = ms[["phase", "particle"]].load().assign_attrs(ms.attrs)
    if crop:
        ms = microstructure.crop(ms, crop)
    if coarsen and coarsen > 1:
        ms = microstructure.coarsen(ms, coarsen)
    return ms.phase.values.astype(np.uint8), ms.particle.values.astype(np.int32), float(ms.attrs["voxel_size_m"])


def fit_cost_model(results):
    """Least-squares peak = base + b N (bytes) and log-log wall = a (N/1e5)^k over the runs."""
    n = np.array([r["unknowns"] for r in results], float)
    peak = np.array([r["peak_MB"] for r in results]) * 2 ** 20
    wall = np.array([r["cpu_s"] for r in results])   # CPU time: the wall time on a free core
    b, base = np.polyfit(n, peak, 1)
    k, log_a = np.polyfit(np.log(n / 1e5), np.log(wall), 1)
    return {"base_bytes": float(base), "bytes_per_unknown": float(b), "time_s_at_1e5": float(np.exp(log_a)),
            "time_exponent": float(k)}


def print_nrel(args):
    from electrode_design.gpnp import cost_message, estimate_cost

    case = {"crop": args.crop, "coarsen": args.coarsen}
    phase, particle, voxel_m = nrel_volume(**case)
    est = estimate_cost(phase, c_rate=args.c_rate)
    print(f"nrel_nmc_1_cal, crop {args.crop or 'none'}, coarsen {args.coarsen or 1}: {phase.shape} voxels of "
          f"{voxel_m * 1e6:.3f} µm, {int(np.unique(particle[particle > 0]).size)} particles", flush=True)
    print(f"  predicted: {cost_message(est)}", flush=True)
    if args.dry_run:
        return
    del phase, particle
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=_run, args=(None, args.c_rate, None, {}, queue),
                                           kwargs={"case": case, "poisson": False, "max_steps": args.max_steps})
    proc.start()
    res = queue.get()
    proc.join()
    print(f"  measured: {res['unknowns']:,} unknowns, peak {res['peak_MB']:.0f} MB (predicted {res['predicted_MB']:.0f} MB), "
          f"wall {res['wall_s']:.1f} s, CPU {res['cpu_s']:.1f} s (predicted {res['predicted_s']:.1f} s), build {res['build_s']:.1f} s / "
          f"{res['build_MB']:.0f} MB, {res['steps']} steps, {res['newton']} Newton, {res['linear']} linear iterations, "
          f"{res['status']}/{res['termination']} at {res['final_V']:.3f} V, DoD {res['capacity_dod']:.4f}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["24x16x16", "40x28x28", "60x40x40"],
                        help="ZxYxX grids at 1 µm voxels (the last one is the D8 case)")
    parser.add_argument("--c-rate", type=float, default=None, help="C-rate (default 3 for d8, 1 for nrel)")
    parser.add_argument("--voxel-um", type=float, default=1.0, help="voxel size (µm); 0.5 for the fine D8 case")
    parser.add_argument("--solid-conductivity", type=float, default=None,
                        help="solve the solid potential as a field with this active-material conductivity (S/m)")
    parser.add_argument("--case", choices=["d8", "nrel"], default="d8",
                        help="d8: generated D8 packings of --shapes; nrel: the shipped CT electrode (1C default)")
    parser.add_argument("--crop", default=None, help="nrel: z0:z1,y0:y1,x0:x1 (voxels, or µm with 'um')")
    parser.add_argument("--coarsen", type=int, default=None, help="nrel: merge NxNxN voxel blocks")
    parser.add_argument("--dry-run", action="store_true", help="nrel: print the cost model's estimate only")
    parser.add_argument("--max-steps", type=int, default=2000, help="stop after this many steps (memory probes)")
    parser.add_argument("--cost-model", action="store_true",
                        help="fit the cost model (peak memory, wall time) on the runs and print its error")
    parser.add_argument("--no-poisson", action="store_true", help="skip the Poisson reference solve")
    args = parser.parse_args(argv)
    if args.c_rate is None:
        args.c_rate = 1.0 if args.case == "nrel" else 3.0
    if args.case == "nrel":
        return print_nrel(args)
    voxel_m = args.voxel_um * 1e-6
    build_options = {} if args.solid_conductivity is None else {
        "solid_potential": "field", "solid_conductivity_S_m": args.solid_conductivity}
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes]
    results = []
    ctx = mp.get_context("spawn")
    print(f"gpnp benchmark, {args.c_rate:g}C to 2.8 V, {args.voxel_um:g} µm voxels, solid potential "
          f"{'a field, σ = %g S/m' % args.solid_conductivity if build_options else 'uniform'}; load average at start "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    header = (f"{'grid':>10} {'voxels':>7} {'unknowns':>8} {'wall s':>7} {'steps':>5} {'Newton':>6} {'linear':>6} "
              f"{'AMG':>4} {'peak MB':>7} {'s/step':>6} {'Poisson s':>9} {'step/Poisson':>12}  end")
    print(header, flush=True)
    for shape in shapes:
        queue = ctx.Queue()
        proc = ctx.Process(target=_run, args=(shape, args.c_rate, voxel_m, build_options, queue),
                           kwargs={"max_steps": args.max_steps, "poisson": not args.no_poisson})
        proc.start()
        res = queue.get()
        proc.join()
        results.append(res)
        per_step = res["wall_s"] / max(res["steps"], 1)
        print(f"{'x'.join(map(str, shape)):>10} {res['voxels']:>7} {res['unknowns']:>8} {res['wall_s']:>7.1f} "
              f"{res['steps']:>5} {res['newton']:>6} {res['linear']:>6} {res['amg_setups']:>4} {res['peak_MB']:>7.0f} "
              f"{per_step:>6.2f} {res['poisson_s']:>9.2f} {per_step / res['poisson_s']:>12.1f}  "
              f"{res['status']}/{res['termination']} at {res['final_V']:.3f} V, DoD {res['capacity_dod']:.7f}, "
              f"conservation {res['conservation']:.1e}, AMG refreshes {res['amg_refreshes']}, "
              f"event border solves {res['border_solves']}, rejected steps {res['rejected']}, {res['particles']} particles, active {res['active_fraction']:.3f}, "
              f"build {res['build_s']:.2f} s / {res['build_MB']:.0f} MB, load {os.getloadavg()[0]:.2f}; "
              f"per unknown {res['peak_MB'] * 2 ** 20 / res['unknowns'] / 1e3:.2f} kB, "
              f"{res['wall_s'] / res['unknowns'] * 1e3:.3f} ms (CPU {res['cpu_s']:.1f} s, "
              f"{res['cpu_s'] / res['unknowns'] * 1e3:.3f} ms); cost model {res['predicted_MB']:.0f} MB, "
              f"{res['predicted_s']:.1f} s (unknowns counted {res['predicted_unknowns']})", flush=True)
    if args.cost_model:
        fit = fit_cost_model(results)
        print("cost model fitted on these runs (paste into gpnp.COST_MODEL):", {k: float(f"{v:.4g}") for k, v in fit.items()})
        for r in results:
            mem = fit["base_bytes"] + fit["bytes_per_unknown"] * r["unknowns"]
            wall = fit["time_s_at_1e5"] * (r["unknowns"] / 1e5) ** fit["time_exponent"]
            r = dict(r, wall_s=r["cpu_s"])
            print(f"  {'x'.join(map(str, r['shape'])):>10} {r['unknowns']:>8}: memory {r['peak_MB']:.0f} MB, fit "
                  f"{mem / 2 ** 20:.0f} MB ({100 * (mem / 2 ** 20 / r['peak_MB'] - 1):+.0f} %), shipped model "
                  f"{r['predicted_MB']:.0f} MB ({100 * (r['predicted_MB'] / r['peak_MB'] - 1):+.0f} %); CPU time {r['wall_s']:.1f} s, "
                  f"fit {wall:.1f} s ({100 * (wall / r['wall_s'] - 1):+.0f} %), shipped model {r['predicted_s']:.1f} s "
                  f"({100 * (r['predicted_s'] / r['wall_s'] - 1):+.0f} %)")
    if args.max_steps < 2000:
        return
    if len(results) >= 2:
        voxels = np.log([r["voxels"] for r in results])
        walls = np.log([r["wall_s"] for r in results])
        k = np.polyfit(voxels, walls, 1)[0]
        per_newton = np.log([r["wall_s"] / max(r["newton"], 1) for r in results])
        k_newton = np.polyfit(voxels, per_newton, 1)[0]
        print(f"time ∝ voxels^{k:.2f} (whole discharge; target <= 1.2); time per Newton iteration ∝ voxels^{k_newton:.2f}")
    from electrode_design.analysis import p2d_reference
    from electrode_design.params import parameter_set

    last = results[-1]
    limit_s, limit_MB = (180, 4096) if args.voxel_um >= 1.0 else (1800, 16384)
    ok = last["wall_s"] <= limit_s and last["peak_MB"] <= limit_MB and last["termination"] == "cutoff"
    print(f"largest case {'x'.join(map(str, last['shape']))}: {last['wall_s']:.1f} s, {last['peak_MB']:.0f} MB, "
          f"{last['termination']} -> {'meets' if ok else 'misses'} the target (<= {limit_s} s, <= {limit_MB} MB, "
          f"reaches the cut-off)")
    p2d = p2d_reference(parameter_set("chen2020_nmc811"), c_rate=args.c_rate, porosity=last["porosity"],
                        active_volume_fraction=last["active_fraction"], particle_radius_m=4e-6,
                        thickness_m=last["thickness_m"], specific_area_m_1=last["area_m2"] / last["volume_m3"])
    print(f"PyBaMM DFN, same effective properties: {p2d.attrs['wall_time_s']:.2f} s, "
          f"DoD at cut-off {float(p2d.depth_of_discharge[-1]):.3f} (3D: {last['capacity_dod']:.3f})")


if __name__ == "__main__":
    main()
