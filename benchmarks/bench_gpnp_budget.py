"""Where the voxel half-cell solver's memory and time go, per unknown, on the shipped NREL CT electrode.

Runs a few 1C steps of `nrel_nmc_1_cal` (cropped / coarsened as asked), keeps one bordered
Newton system, builds the preconditioner on it as `gpnp` does, and prints

* the memory held while GMRES runs, in bytes per unknown, part by part: the cell and its fixed
  sparsity pattern, the Jacobian, the off-diagonal couplings, each block's AMG hierarchy, the
  layer corrections' LU factors, and the GMRES basis at the iterations this system needs;
* the time of one GMRES iteration, in nanoseconds per unknown, part by part (Jacobian product,
  each block's V-cycle, the layer corrections, the couplings, the orthogonalisation), beside the
  measured time per iteration of the whole solve; the time of one assembly and of one set-up;
* the budget the issue's target leaves: 16 GB and 2 h for the full volume's 34.8 M unknowns,
  given the Newton and linear iterations of a whole discharge (default: those measured for the
  volume at --coarsen 2, 203 and 3550).

    .venv/bin/python benchmarks/bench_gpnp_budget.py                    # the volume at --coarsen 3 (1.3 M unknowns)
    .venv/bin/python benchmarks/bench_gpnp_budget.py --crop 0:251,0:40,0:40 --coarsen 1
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np
import scipy.sparse as sp

FULL_UNKNOWNS = 34.8e6     # nrel_nmc_1_cal whole, native voxels (gpnp.estimate_cost)
TARGET_BYTES = 16e9
TARGET_S = 2 * 3600.0


def nbytes(a) -> int:
    """Bytes held by an ndarray or a sparse matrix's arrays."""
    if sp.issparse(a):
        a = a.tocsr()
        return a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
    return a.nbytes if isinstance(a, np.ndarray) else 0


def fastest(f, repeat=3) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def capture(crop, coarsen, steps):
    """(cell, shape, the last Newton system of `steps` 1C steps, the median seconds of one assembly)."""
    sys.path.insert(0, os.path.dirname(__file__))
    from bench_ct_preconditioner import capture_systems
    from electrode_design.gpnp import newton

    assemble, assembly_s = newton._assemble, []

    def timed_assemble(*args, **kwargs):
        t0 = time.perf_counter()
        out = assemble(*args, **kwargs)
        assembly_s.append(time.perf_counter() - t0)
        return out

    newton._assemble = timed_assemble
    try:
        cell, shape, _, kept = capture_systems(crop, steps, None, coarsen=coarsen)
    finally:
        newton._assemble = assemble
    return cell, shape, next(iter(kept.values())), float(np.median(assembly_s))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", default=None, help="z0:z1,y0:y1,x0:x1 of the NREL volume (voxels)")
    parser.add_argument("--coarsen", type=int, default=3, help="merge NxNxN voxel blocks (1: native)")
    parser.add_argument("--steps", type=int, default=4, help="1C steps run before the system is kept")
    parser.add_argument("--newton", type=int, default=203, help="Newton iterations of a whole discharge")
    parser.add_argument("--linear", type=int, default=3550, help="GMRES iterations of a whole discharge")
    parser.add_argument("--setups", type=int, default=10, help="AMG set-ups of a whole discharge")
    args = parser.parse_args(argv)

    from electrode_design.gpnp.linalg import _Preconditioner, _bordered_system, _linear_solve

    cell, shape, s, assembly_s = capture(args.crop, args.coarsen, args.steps)
    J = s["J"].tocsr()
    n = J.shape[0]
    N = n + 1
    t0 = time.perf_counter()
    pre = _Preconditioner(cell, J, s["bcol"], s["crow"], s["d"])
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    its = _linear_solve(J, s["bcol"], s["crow"], s["d"], s["R"], s["Rs"], pre, rtol=s["rtol"], maxiter=500,
                        s_scale=s["s_scale"])[2]
    solve_s = time.perf_counter() - t0
    print(f"nrel_nmc_1_cal, crop {args.crop or 'none'}, coarsen {args.coarsen}: {shape} voxels, {N:,} unknowns "
          f"({cell.n_solid:,} solid, {cell.n_electrolyte:,} electrolyte, {cell.n_conducting:,} conducting cells); "
          f"the system after {args.steps} steps: {its} GMRES iterations to rtol {s['rtol']:g}", flush=True)

    names = ["w", "phi_e", "theta", "psi"][:len(pre.amg)]
    pattern = cell._pattern
    memory = [("cell (geometry, coefficients)", sum(nbytes(v) for k, v in vars(cell).items() if k != "_pattern")),
              ("fixed sparsity pattern (CSR index, term slots)", sum(nbytes(v) for v in vars(pattern).values())),
              ("Jacobian J (its values; the index arrays are the pattern's)", J.data.nbytes),
              ("couplings between blocks", sum(nbytes(v) for v in pre.off.values()))]
    for name, vc in zip(names, pre.amg):
        memory.append((f"AMG hierarchy, {name} block ({len(vc.levels) + 1} levels)",
                       sum(nbytes(A) + nbytes(P) + nbytes(R) for A, P, R in vc.levels)))
    for name, corr in zip(names, pre.layer_correction):
        memory.append((f"layer correction, {name} block ({corr.k:,} aggregates, LU)",
                       12 * (corr.lu.L.nnz + corr.lu.U.nnz) + corr.labels.nbytes))
    memory.append((f"GMRES basis ({its + 1} vectors)", 8 * (its + 1) * N))
    total = sum(b for _, b in memory)
    print("\nmemory held during a solve (bytes per unknown):")
    for label, b in memory:
        print(f"  {label:<62s} {b / N:7.0f}")
    print(f"  {'total':<62s} {total / N:7.0f}   (the 16 GB target at 34.8 M unknowns: {TARGET_BYTES / FULL_UNKNOWNS:.0f})")

    matvec, precond, rhs = _bordered_system(J, s["bcol"], s["crow"], s["d"], s["R"], s["Rs"], pre, s_scale=s["s_scale"])
    x = np.random.default_rng(0).standard_normal(N)
    st, sw, sp_ = pre.sl
    parts = [("Jacobian product (bordered, scaled)", lambda: matvec(x))]
    for i, (name, vc) in enumerate(zip(names, pre.amg)):
        block = {0: sw, 1: sp_, 2: st}.get(i, getattr(pre, "sq", None))
        parts.append((f"V-cycle, {name} block", lambda vc=vc, b=x[block]: vc(b)))
    for name, corr, block in zip(names, pre.layer_correction, (sw, sp_)):
        parts.append((f"layer correction, {name} block", lambda c=corr, b=x[block]: c(b, b)))
    parts.append(("couplings between blocks", lambda: [M @ x[:M.shape[1]] for M in pre.off.values()]))
    basis = np.random.default_rng(1).standard_normal((max(its, 1), N))
    mean_basis = basis[:its // 2 + 1]

    def orthogonalise():  # classical Gram-Schmidt twice, as numerics.gmres does
        w = x.copy()
        for _ in range(2):
            w -= (mean_basis @ w) @ mean_basis

    parts.append((f"orthogonalisation against {its // 2 + 1} vectors (the mean)", orthogonalise))
    times = [(label, fastest(f)) for label, f in parts]
    print("\ntime of one GMRES iteration (nanoseconds per unknown):")
    for label, t in times:
        print(f"  {label:<62s} {t / N * 1e9:7.0f}")
    per_it = solve_s / max(its + 1, 1)
    print(f"  {'sum of the parts':<62s} {sum(t for _, t in times) / N * 1e9:7.0f}")
    print(f"  {'measured: the whole solve / (iterations + 1)':<62s} {per_it / N * 1e9:7.0f}")
    print(f"  one assembly (residual + Jacobian): {assembly_s / N * 1e9:.0f} ns per unknown; "
          f"one preconditioner set-up: {setup_s / N * 1e9:.0f} ns per unknown")

    whole = (args.newton * assembly_s + args.setups * setup_s + args.linear * per_it) / N
    budget = TARGET_S / FULL_UNKNOWNS
    print(f"\na whole discharge at {args.newton} Newton, {args.setups} set-ups, {args.linear} GMRES iterations: "
          f"{whole * 1e6:.0f} µs per unknown (the 2 h target at 34.8 M unknowns: {budget * 1e6:.0f} µs); "
          f"the full volume would take {whole * FULL_UNKNOWNS / 3600:.1f} h and hold {total / N * FULL_UNKNOWNS / 1e9:.0f} GB "
          f"in these parts alone")
    print(f"  the 2 h target allows {budget / (per_it / N) :.0f} GMRES iterations at this cost per iteration "
          f"(with no time for assembly and set-ups)")


if __name__ == "__main__":
    main()
