"""Krylov solver benchmark: the hand-written flexible GMRES against pyamg's and scipy's.

`gpnp.newton._linear_solve` solves each Newton step's bordered, row-scaled system with
`electrode_design.numerics.gmres` (right-preconditioned flexible GMRES, classical
Gram–Schmidt twice) and the block AMG preconditioner `gpnp.linalg._Preconditioner`. This script
takes ~20 of those systems from a real 3C discharge of the D8-like sphere packing of
`bench_gpnp.py` (`sphere_packing`, 60x40x40 at 1 µm, chen2020_nmc811) and solves each, with the
same operator, right-hand side and preconditioner as `_linear_solve`, by

    numerics.gmres            (restart 60, the solver's)
    pyamg.krylov.fgmres       (flexible, right-preconditioned, Householder; restart 60)
    scipy.sparse.linalg.gmres (left-preconditioned, modified Gram–Schmidt; restart 60)
    scipy.sparse.linalg.lgmres, gcrotmk (their default inner sizes)

all to the solver's tolerance (linear_rtol, relative to ‖b‖, x0 = 0) and the same iteration
budget (max_linear). After each solve the TRUE relative residual ‖b − A x‖/‖b‖ of the scaled
bordered system is computed; a solve fails if the solver says so, x is not finite or the
true residual exceeds 10 × rtol. Counts are operator products (A x) and preconditioner
applications (P⁻¹ r, each one block V-cycle sweep plus the border); "Krylov overhead" is the
wall time outside them (orthogonalisation, updates, allocation). Each solve is timed
`--repeat` times (default 2) and the fastest kept.

The systems are solved inside the discharge, at the moment `_linear_solve` is called (nothing
is stored: the preconditioner's border is updated in place between Newton iterations), under
the discharge's single BLAS thread; the solver order rotates from system to system, and the
first system is solved once more beforehand, untimed (imports, first allocations). The run
stops after the last captured system.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_krylov.py               # 60x40x40, 20 systems
    PYTHONPATH=. .venv/bin/python benchmarks/bench_krylov.py --shape 24x16x16 --every 10 --systems 6
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("FIPY_SOLVERS", "scipy")
os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")

import numpy as np


def _sphere_packing():
    spec = importlib.util.spec_from_file_location("bench_gpnp", Path(__file__).with_name("bench_gpnp.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sphere_packing


def bordered_system(J, bcol, crow, d, R, Rs, pre, s_scale):
    """The scaled bordered operator, preconditioner and right-hand side, exactly as `gpnp.newton._linear_solve` builds them."""
    from electrode_design.gpnp.linalg import _bordered_system

    return _bordered_system(J, bcol, crow, d, R, Rs, pre, s_scale=s_scale)


class Counted:
    """x ↦ f(x) with a call count and the time spent in it."""

    def __init__(self, f):
        self.f, self.calls, self.seconds = f, 0, 0.0

    def __call__(self, x):
        t0 = time.perf_counter()
        out = self.f(np.asarray(x).ravel())
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def _numerics(mv, pc, b, rtol, maxiter, restart):
    from electrode_design import numerics

    x, _, info = numerics.gmres(mv, pc, b, rtol=rtol, maxiter=maxiter, restart=restart)
    return x, info


def _ops(mv, pc, n):
    from scipy.sparse.linalg import LinearOperator

    return LinearOperator((n, n), matvec=mv, dtype=float), LinearOperator((n, n), matvec=pc, dtype=float)


def _pyamg_fgmres(mv, pc, b, rtol, maxiter, restart):
    from pyamg.krylov import fgmres

    A, M = _ops(mv, pc, b.size)
    return fgmres(A, b, tol=rtol, restart=restart, maxiter=math.ceil(maxiter / restart), M=M)


def _scipy_gmres(mv, pc, b, rtol, maxiter, restart):
    from scipy.sparse.linalg import gmres

    A, M = _ops(mv, pc, b.size)
    return gmres(A, b, rtol=rtol, atol=0.0, restart=restart, maxiter=math.ceil(maxiter / restart), M=M)


def _scipy_lgmres(mv, pc, b, rtol, maxiter, restart):
    from scipy.sparse.linalg import lgmres

    A, M = _ops(mv, pc, b.size)
    return lgmres(A, b, rtol=rtol, atol=0.0, maxiter=math.ceil(maxiter / 30), M=M, inner_m=30, outer_k=3)


def _scipy_gcrotmk(mv, pc, b, rtol, maxiter, restart):
    from scipy.sparse.linalg import gcrotmk

    A, M = _ops(mv, pc, b.size)
    return gcrotmk(A, b, rtol=rtol, atol=0.0, maxiter=math.ceil(maxiter / 20), M=M, m=20)


SOLVERS = {
    "numerics.gmres": _numerics,
    "pyamg fgmres": _pyamg_fgmres,
    "scipy gmres": _scipy_gmres,
    "scipy lgmres": _scipy_lgmres,
    "scipy gcrotmk": _scipy_gcrotmk,
}


class _Done(BaseException):
    """Ends the discharge after the last captured system (not an Exception: no retry catches it)."""


def solve_all(system, rtol, maxiter, restart, order, records, repeat=1):
    matvec, precond, rhs = system
    bnorm = float(np.linalg.norm(rhs))
    for name in order:
        wall = inside = math.inf
        for _ in range(repeat):  # the fastest of `repeat` identical solves (the machine is shared)
            mv, pc = Counted(matvec), Counted(precond)
            t0 = time.perf_counter()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    x, info = SOLVERS[name](mv, pc, rhs, rtol, maxiter, restart)
                error = ""
            except Exception as exc:  # noqa: BLE001  (a solver that breaks down counts as a failure)
                x, info, error = np.full(rhs.size, np.nan), -1, f"{type(exc).__name__}: {exc}"
            t = time.perf_counter() - t0
            if t < wall:
                wall, inside = t, mv.seconds + pc.seconds
        x = np.asarray(x).ravel()
        true = float(np.linalg.norm(rhs - matvec(x))) / bnorm if np.all(np.isfinite(x)) else float("inf")
        failed = info != 0 or not math.isfinite(true) or true > 10 * rtol
        records[name].append({"wall": wall, "matvecs": mv.calls, "precs": pc.calls,
                              "inside": inside, "true": true, "failed": failed, "error": error})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="60x40x40", help="ZxYxX voxels of 1 µm")
    parser.add_argument("--c-rate", type=float, default=3.0)
    parser.add_argument("--systems", type=int, default=20, help="Newton systems to solve")
    parser.add_argument("--every", type=int, default=8,
                        help="take every N-th linear solve (the 60x40x40 3C run makes 161; 8 spreads 20 over it)")
    parser.add_argument("--repeat", type=int, default=2, help="time each solve this many times, keep the fastest")
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    args = parser.parse_args(argv)

    from electrode_design import gpnp
    from electrode_design.params import parameter_set

    load0 = os.getloadavg()
    print(f"load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} "
          f"({os.cpu_count()} CPUs)", flush=True)
    shape = tuple(int(s) for s in args.shape.split("x"))
    phase, particle = _sphere_packing()(shape, radius_vox=4.0)
    cell = gpnp.build_cell(phase, voxel_size_m=1e-6, params=parameter_set("chen2020_nmc811"), particle=particle)
    print(f"{args.shape} at 1 µm, sphere_packing (active fraction {phase.mean():.3f}, {particle.max()} particles), "
          f"{cell.summary()['unknowns']:,} unknowns; {args.c_rate:g}C; every {args.every}-th linear solve, "
          f"{args.systems} systems", flush=True)

    original = gpnp.newton._linear_solve
    records = {name: [] for name in args.solvers}
    calls = {"n": 0, "captured": 0, "gpnp_its": [], "check": []}

    def capturing(J, bcol, crow, d, R, Rs, pre, *, rtol, maxiter, s_scale):
        calls["n"] += 1
        if calls["n"] % args.every == 0 and calls["captured"] < args.systems:
            k = calls["captured"]
            applications = pre.applications
            order = args.solvers[k % len(args.solvers):] + args.solvers[:k % len(args.solvers)]
            if k == 0:  # warm-up (imports, first allocations), not recorded
                solve_all(bordered_system(J, bcol, crow, d, R, Rs, pre, s_scale), rtol, maxiter, 60, order,
                          {name: [] for name in order})
            solve_all(bordered_system(J, bcol, crow, d, R, Rs, pre, s_scale), rtol, maxiter, 60, order, records,
                      repeat=args.repeat)
            pre.applications = applications
            calls["captured"] += 1
            out = original(J, bcol, crow, d, R, Rs, pre, rtol=rtol, maxiter=maxiter, s_scale=s_scale)
            calls["gpnp_its"].append(out[2])
            if "numerics.gmres" in records:  # the same operator as _linear_solve: the same iterations
                calls["check"].append(out[2] == records["numerics.gmres"][-1]["matvecs"])
            calls["rtol"], calls["maxiter"] = rtol, maxiter
            print(f"  system {k + 1:2d} (linear solve {calls['n']}, {J.shape[0] + 1:,} rows, rtol {rtol:g}): "
                  + ", ".join(f"{name} {records[name][-1]['matvecs']}" for name in args.solvers), flush=True)
            if calls["captured"] == args.systems:
                raise _Done
            return out
        return original(J, bcol, crow, d, R, Rs, pre, rtol=rtol, maxiter=maxiter, s_scale=s_scale)

    gpnp.newton._linear_solve = capturing
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gpnp.discharge(cell, c_rate=args.c_rate, progress=False, on_failure="return", max_steps=2000)
        ended = f"the discharge ended after {calls['n']} linear solves"
    except _Done:
        ended = f"stopped after linear solve {calls['n']}"
    finally:
        gpnp.newton._linear_solve = original
    load1 = os.getloadavg()
    print(f"{ended}; {time.perf_counter() - t0:.0f} s in all; load average at end: {load1[0]:.2f}", flush=True)
    if calls["check"]:
        print(f"numerics.gmres iterations equal to gpnp.newton._linear_solve's on {sum(calls['check'])}/{len(calls['check'])} "
              f"systems (gpnp: {sum(calls['gpnp_its'])} iterations in all)")

    print(f"\n{len(next(iter(records.values())))} systems, fastest of {args.repeat}, rtol {calls.get('rtol', float('nan')):g}, "
          f"iteration budget {calls.get('maxiter', 0)}, restart 60\n")
    print("| solver | wall (s) | vs numerics.gmres | A x | P⁻¹ r | A x + P⁻¹ r | Krylov overhead (s) "
          "| median true residual | max true residual | failures |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    ref = sum(r["wall"] for r in records.get("numerics.gmres", [])) or float("nan")
    for name in args.solvers:
        rec = records[name]
        wall = sum(r["wall"] for r in rec)
        mv = sum(r["matvecs"] for r in rec)
        pc = sum(r["precs"] for r in rec)
        overhead = sum(r["wall"] - r["inside"] for r in rec)
        true = np.array([r["true"] for r in rec])
        fails = sum(r["failed"] for r in rec)
        print(f"| {name} | {wall:.2f} | {wall / ref:.2f}× | {mv} | {pc} | {mv + pc} | {overhead:.2f} "
              f"| {np.median(true):.2e} | {true.max():.2e} | {fails} |")
        for r in rec:
            if r["error"]:
                print(f"    {name}: {r['error']}")


if __name__ == "__main__":
    main()
