"""Why the CT volume's Newton systems need more GMRES iterations than a D8 packing's, and what the layer correction does.

Discharges a crop of the shipped NREL CT electrode at 1C for a few steps, keeps the bordered
Newton systems of chosen Newton iterations, and solves each with the same GMRES (rtol 1e-6)
and the block lower-triangular preconditioner (w -> phi_e -> theta) in several variants:

* V-cycles only (one Ruge-Stueben V-cycle per block, as before the layer correction);
* V-cycles + the correction on z-layer aggregates, tiles of 4 (the default), 10 and 40 voxels;
* exact (LU) diagonal blocks, the best any block-triangular preconditioner can do.

Then, on the phi_e block alone, the V-cycle's convergence factor as a stationary iteration and
the share of its slowest error in the constant mode. Prints one line per variant.

    .venv/bin/python benchmarks/bench_ct_preconditioner.py                       # 251 x 40 x 40 voxels, native 0.4 um
    .venv/bin/python benchmarks/bench_ct_preconditioner.py --crop 0:251,0:24,0:24 --systems 3 8
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("FIPY_SOLVERS", "scipy")

import numpy as np


def capture_systems(crop: str, steps: int, wanted: list[int] | None, coarsen: int | None = None):
    """Run the crop (coarsened if asked) at 1C; return (cell, shape, voxel size, {Newton iteration index: system dict}).

    ``wanted``: indices of the linear solves whose systems are kept; None keeps only the last one.
    """
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from bench_gpnp import nrel_volume
    from electrode_design import gpnp
    from electrode_design.gpnp import newton
    from electrode_design.params import parameter_set

    phase, particle, voxel_m = nrel_volume(crop=crop, coarsen=coarsen)
    cell = gpnp.build_cell(phase, voxel_size_m=voxel_m, params=parameter_set("chen2020_nmc811"), particle=particle)
    kept, calls = {}, [0]
    solve = newton._linear_solve

    def keep(J, bcol, crow, d, R, Rs, pre, *, rtol, maxiter, s_scale):
        if wanted is None:
            kept.clear()
        if wanted is None or calls[0] in wanted:
            kept[calls[0]] = {"J": J.copy(), "bcol": bcol.copy(), "crow": crow.copy(), "d": d, "R": R.copy(),
                              "Rs": Rs, "s_scale": s_scale, "rtol": rtol}
        calls[0] += 1
        return solve(J, bcol, crow, d, R, Rs, pre, rtol=rtol, maxiter=maxiter, s_scale=s_scale)

    newton._linear_solve = keep
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gpnp.discharge(cell, c_rate=1.0, particle=particle, progress=False, on_failure="return", max_steps=steps)
    finally:
        newton._linear_solve = solve
    return cell, phase.shape, voxel_m, kept


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", default="0:251,0:40,0:40", help="z0:z1,y0:y1,x0:x1 of the NREL volume (voxels)")
    parser.add_argument("--steps", type=int, default=6, help="time steps to run")
    parser.add_argument("--systems", type=int, nargs="+", default=[5, 15], help="Newton iterations whose systems are solved")
    args = parser.parse_args(argv)

    import pyamg
    from scipy.sparse.linalg import splu

    from electrode_design.gpnp.linalg import _Preconditioner, _electrolyte_layers, _linear_solve
    from electrode_design.numerics import AggregateCorrection, VCycle

    cell, shape, voxel_m, systems = capture_systems(args.crop, args.steps, args.systems)
    ns, ne = cell.n_solid, cell.n_electrolyte
    print(f"NREL crop {args.crop}: {shape} voxels of {voxel_m * 1e6:.3f} um, {ns + 2 * ne + 1:,} unknowns "
          f"({ne:,} electrolyte cells); systems of Newton iterations {sorted(systems)}", flush=True)

    class Variant(_Preconditioner):
        mode = "layers"

        def _electrolyte_solve(self, i, b):
            if self.mode == "exact":
                return self.lu[i].solve(b)
            x = self.amg[i](b)
            return x if self.mode == "vcycle" else self.layer_correction[i](b, x)

    sl = {"w": slice(ns, ns + ne), "p": slice(ns + ne, ns + 2 * ne), "t": slice(0, ns)}
    for k in sorted(systems):
        s = systems[k]
        J = s["J"].tocsr()
        t0 = time.perf_counter()
        pre = Variant(cell, J, s["bcol"], s["crow"], s["d"])
        setup_s = time.perf_counter() - t0
        blocks = {key: J[v][:, v].tocsr() for key, v in sl.items()}
        variants = [("V-cycles only", "vcycle", None), ("V-cycles + layers, 4-voxel tiles (default)", "layers", None)]
        variants += [(f"V-cycles + layers, {t}-voxel tiles", "layers", t) for t in (10, 40)]
        variants += [("exact (LU) blocks", "exact", None)]
        default_correction = pre.layer_correction
        for label, mode, tile in variants:
            pre.mode = mode
            pre.layer_correction = default_correction
            if tile is not None:
                labels = _electrolyte_layers(cell, tile, 10 ** 9)
                pre.layer_correction = [AggregateCorrection(blocks[key], labels) for key in ("w", "p")]
            if mode == "exact":
                pre.lu = [splu(blocks[key].tocsc()) for key in ("w", "p")]
                pre.amg[2] = lambda b, lu=splu(blocks["t"].tocsc()): lu.solve(b)
            pre.update_border(s["bcol"], s["crow"], s["d"])
            t0 = time.perf_counter()
            its = _linear_solve(J, s["bcol"], s["crow"], s["d"], s["R"], s["Rs"], pre, rtol=1e-6, maxiter=200,
                                s_scale=s["s_scale"])[2]
            aggregates = "" if mode != "layers" else f", {pre.layer_correction[0].k:,} aggregates"
            print(f"  Newton iteration {k}: {label}: {its} GMRES iterations, solve {time.perf_counter() - t0:.2f} s"
                  f"{aggregates} (set-up {setup_s:.2f} s)", flush=True)

    # the phi_e block's V-cycle as a stationary iteration: convergence factor and its slowest error
    A = blocks["p"]
    cycle = VCycle(pyamg.ruge_stuben_solver(A, max_coarse=300, coarse_solver="splu"))
    correction = AggregateCorrection(A, _electrolyte_layers(cell, 4, 30000))
    for label, apply in (("V-cycle", cycle), ("V-cycle + layers", lambda r: correction(r, cycle(r)))):
        error = np.random.default_rng(1).standard_normal(A.shape[0])
        norms = []
        for _ in range(30):
            error = error - apply(A @ error)
            norms.append(np.linalg.norm(error))
        factor = (norms[-1] / norms[-11]) ** 0.1
        constant = (error.sum() ** 2 / error.size) / (error @ error)
        print(f"  phi_e block, {label}: error reduced by {factor:.3f} per cycle (last 10 of 30); "
              f"{100 * constant:.0f} % of the remaining error is the constant", flush=True)


if __name__ == "__main__":
    main()
