"""Benchmarks of electrode_design.microstructure: time and peak memory of each case.

Run from the repository root:  .venv/bin/python benchmarks/bench_microstructure.py [--case NAME] [--repeat N]

Each case runs in its own subprocess, so the peak resident memory (getrusage maxrss) is the
case's own. Cases:
  generate_d8   60 x 48 x 48 µm D8 electrode at 0.5 µm voxels (target < 5 s), without and with
                the per-particle characterisation (no tortuosity)
  nrel          full segmentation + characterisation, pore tortuosity factor included, of the
                251 x 301 x 301 NREL volume (target < 60 s on 2 cores): wall and CPU time of
                each step, the steps of characterise, the parts of the tortuosity solve
                (percolating cluster, operator assembly, multigrid set-up, CG solve) and the
                peak resident memory after each step
  segmentation  synthetic CT (CNR 5, 1 voxel blur) of a 60 µm D8 electrode -> phases -> watershed:
                match rate of interior particles, D50 and solid-fraction errors
The machine is shared (2 cores): wall times vary with the load, which is printed; CPU times
(time.process_time) are reported next to them and depend much less on it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NREL = REPO / "data" / "examples" / "ct_nrel_nmc" / "nmc-1-cal_generatedCBD_bridge.tif"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_generate_d8(repeat: int) -> dict:
    from electrode_design.microstructure import generate_electrode
    generate_electrode(8e-6, thickness_m=24e-6, width_m=24e-6, seed=0)  # warm imports
    gen, full, gen_cpu = [], [], []
    for seed in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        ds = generate_electrode(8e-6, thickness_m=60e-6, width_m=48e-6, voxel_size_m=0.5e-6, seed=seed, measure=False)
        gen.append(time.perf_counter() - t)
        gen_cpu.append(time.process_time() - c)
        t = time.perf_counter()
        ds = generate_electrode(8e-6, thickness_m=60e-6, width_m=48e-6, voxel_size_m=0.5e-6, seed=seed)
        full.append(time.perf_counter() - t)
    return {"generate_wall_s": [round(x, 3) for x in gen], "generate_cpu_s": [round(x, 3) for x in gen_cpu], "generate_and_characterise_s": [round(x, 3) for x in full],
            "active_volume_fraction": round(ds.attrs["active_volume_fraction"], 4), "n_particles": int(ds.n_particles),
            "shape": list(ds.phase.shape), "peak_rss_MB": round(_peak_mb(), 1)}


def case_nrel(repeat: int) -> dict:
    from electrode_design import microstructure as ms
    wall, cpu, peak = {}, {}, {}

    def step(name, fn):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        wall[name], cpu[name] = time.perf_counter() - w, time.process_time() - c
        peak[name] = _peak_mb()
        return out

    # time the parts of the tortuosity solve inside characterise: wrap its helpers
    parts, solver = {}, {}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            w = time.perf_counter()
            out = fn(*args, **kwargs)
            parts[name] = time.perf_counter() - w
            if name == "tortuosity_factor":
                solver.update(out)
            return out
        return wrapper

    for name in ("_percolating", "_fv_operator", "_block_multigrid", "tortuosity_factor"):
        setattr(ms, name, timed(name, getattr(ms, name)))
    load_start = os.getloadavg()[0]
    img = step("read", lambda: ms.read_volume(NREL, voxel_size_m=0.398e-6))
    ph = step("phases", lambda: ms.phases_from_labels(img, {0: 0, 1: 1, 2: 2}))
    del img
    ds = step("segment", lambda: ms.segment_particles(ph))
    ds = step("characterise", lambda: ms.characterise(ds, diffusivity_m2_s=1e-14))
    steps = json.loads(ds.attrs["timings_s"])
    tau_wall = parts.pop("tortuosity_factor")
    parts["solve (CG + W-cycles)"] = tau_wall - sum(parts.values())
    total = sum(wall.values())
    return {"load_average_start_end": [round(load_start, 2), round(os.getloadavg()[0], 2)],
            "wall_s": {k: round(x, 2) for k, x in wall.items()}, "cpu_s": {k: round(x, 2) for k, x in cpu.items()},
            "characterise_steps_wall_s": steps,
            "tortuosity_parts_wall_s": {k.lstrip("_"): round(x, 2) for k, x in parts.items()},
            "total_wall_s": round(total, 2), "total_wall_without_tortuosity_s": round(total - steps["tortuosity"], 2),
            "total_cpu_s": round(sum(cpu.values()), 2),
            "peak_rss_after_step_MB": {k: round(x, 1) for k, x in peak.items()},
            "volume_fractions_pore_nmc_cbd": [round(float(x), 4) for x in ds.volume_fraction.values],
            "psd_number_D10_D50_D90_um": [round(float(x) * 1e6, 2) for x in ds.psd_number.values],
            "psd_volume_D10_D50_D90_um": [round(float(x) * 1e6, 2) for x in ds.psd_volume.values],
            "specific_surface_area_1_per_m": round(float(ds.specific_surface_area), 1),
            "pore_tortuosity_factor": round(float(ds.tortuosity_factor), 4),
            "tortuosity_cg_iterations": solver["iterations"],
            "tortuosity_flux_mismatch": round(solver["flux_mismatch"], 5),
            "percolating_porosity": round(float(ds.effective_porosity), 4),
            "n_particles": int(ds.n_particles), "cut_by_lateral_face": int(ds.touches_edge.sum()),
            "dead": int(ds.dead.sum()), "mean_contact_count": round(float(ds.mean_contact_count), 2),
            "connected_volume_fraction": round(float(ds.connected_volume_fraction), 4),
            "peak_rss_MB": round(_peak_mb(), 1)}


def case_segmentation(repeat: int) -> dict:
    import numpy as np
    from electrode_design.microstructure import (characterise, generate_electrode, match_particles,
                                                 phases_from_greyscale, segment_particles, synthetic_ct)
    out = []
    for seed in range(repeat):
        truth = generate_electrode(8e-6, seed=100 + seed)
        ct = synthetic_ct(truth, cnr=5, blur_vox=1.0, seed=seed)
        t = time.perf_counter()
        seg = characterise(segment_particles(phases_from_greyscale(ct)), tortuosity=False)
        dt = time.perf_counter() - t
        m = match_particles(truth, seg)
        interior = ~(truth.touches_edge.values | truth.touches_collector.values | truth.touches_separator.values)
        out.append({"interior_matched": round(float(m["matched"][interior].mean()), 4),
                    "n_interior": int(interior.sum()),
                    "d50_volume_error": round(float(seg.psd_volume[1] / truth.psd_volume[1] - 1), 4),
                    "d50_number_error": round(float(seg.psd_number[1] / truth.psd_number[1] - 1), 4),
                    "solid_fraction_error": round(seg.attrs["active_volume_fraction"] - truth.attrs["active_volume_fraction"], 4),
                    "segment_and_characterise_s": round(dt, 2)})
    return {"runs": out, "peak_rss_MB": round(_peak_mb(), 1)}


CASES = {"generate_d8": case_generate_d8, "nrel": case_nrel, "segmentation": case_segmentation}
REPEAT = {"generate_d8": 3, "nrel": 1, "segmentation": 2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    parser.add_argument("--repeat", type=int, default=None)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case](args.repeat or REPEAT[args.case])))
        return
    print(f"electrode_design microstructure benchmarks; {os.cpu_count()} CPUs, load average {os.getloadavg()}")
    for name in CASES:
        cmd = [sys.executable, __file__, "--case", name] + (["--repeat", str(args.repeat)] if args.repeat else [])
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        wall = time.perf_counter() - t
        if res.returncode != 0:
            print(f"{name}: FAILED\n{res.stderr[-2000:]}")
            continue
        result = json.loads(res.stdout.strip().splitlines()[-1])
        print(f"\n== {name} (subprocess wall {wall:.1f} s, load average now {os.getloadavg()[0]:.2f})")
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
