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
  ct_phantom    three-phase greyscale phantoms (benchmarks/make_ct_phantom.py: touching ellipsoids,
                8 % carbon-binder in the necks, 0.4 µm voxels, σ = 1 voxel blur, 5 % drift) at CNR
                2, 3, 5 and several seeds, 112³ voxels: active and carbon-binder fraction errors,
                interior median-diameter error, share of interior particles at IoU > 0.5 and wall
                time, for the plain multi-Otsu classes (before) and the partial-volume model (after)
  nrel_greyscale  the NREL labels rendered as a greyscale CT (levels 0.2 / 0.45 / 1, σ = 1 voxel
                blur, CNR 3, 5 % drift): wall time of the three-phase greyscale path at full size
                (phases, segment, characterise with tortuosity) and its fractions against the labels
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

    for name in ("_percolating", "_fv_operator", "block_multigrid", "tortuosity_factor"):
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


def _phantom_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("make_ct_phantom", REPO / "benchmarks" / "make_ct_phantom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def case_ct_phantom(repeat: int, size: int = 112) -> dict:
    from electrode_design import microstructure as ms
    pm = _phantom_module()
    methods = {"before": dict(sigma_vox=0.7, correct_drift=False, partial_volume=False), "after": {}}
    rows = []
    for cnr in (2.0, 3.0, 5.0):
        for seed in range(repeat):
            ph = pm.ct_phantom(size, seed=seed, cnr=cnr)
            image = ms._image_array(ph["image"].values, ph.attrs["voxel_size_m"])
            for name, kwargs in methods.items():
                t = time.perf_counter()
                p = ms.phases_from_greyscale(image, n_phases=3, **kwargs)
                seg = ms.segment_particles(p)
                wall = time.perf_counter() - t
                sc = pm.score(ph, seg["phase"].values, seg["particle"].values)
                rows.append({"method": name, "cnr": cnr, "seed": seed, **{k: round(v, 4) for k, v in sc.items()},
                             "wall_s": round(wall, 2),
                             "est_cnr": round(p.attrs["contrast_to_noise"], 2),
                             "est_drift": round(p.attrs["drift_amplitude"], 3), "drift_axis": p.attrs["drift_axis"]})
    return {"size": size, "rows": rows, "peak_rss_MB": round(_peak_mb(), 1)}


def case_nrel_greyscale(repeat: int) -> dict:
    import numpy as np
    from scipy import ndimage as ndi
    from electrode_design import microstructure as ms
    labels = ms.read_volume(NREL, voxel_size_m=0.398e-6)
    truth = labels.values
    rng = np.random.default_rng(0)
    grey = np.array([0.2, 1.0, 0.45], np.float32)[truth]
    grey = ndi.gaussian_filter(grey, 1.0) * (1 + 0.05 * np.linspace(-1, 1, truth.shape[0], dtype=np.float32))[:, None, None]
    grey += rng.normal(0, 0.8 / 3, truth.shape).astype(np.float32)
    image = ms._image_array(grey, 0.398e-6)
    del grey, labels
    wall = {}
    t = time.perf_counter()
    p = ms.phases_from_greyscale(image, n_phases=3)
    wall["phases"] = time.perf_counter() - t
    ds = ms.segment_particles(p)
    wall["segment"] = time.perf_counter() - t - sum(wall.values())
    ds = ms.characterise(ds, diffusivity_m2_s=1e-14)
    wall["characterise"] = time.perf_counter() - t - sum(wall.values())
    fr = lambda a, k: float((a == k).mean())  # noqa: E731
    return {"wall_s": {k: round(v, 2) for k, v in wall.items()}, "total_wall_s": round(sum(wall.values()), 2),
            "active_fraction_seg_truth": [round(fr(ds.phase.values, 1), 4), round(fr(truth, 1), 4)],
            "carbon_binder_fraction_seg_truth": [round(fr(ds.phase.values, 2), 4), round(fr(truth, 2), 4)],
            "estimated": {k: ds.attrs[k] for k in ms._INPUT_ESTIMATES if k in ds.attrs},
            "peak_rss_MB": round(_peak_mb(), 1)}


def print_ct_table(result: dict) -> None:
    print(f"phantom {result['size']}³ voxels; errors = segmented − true; D50 = median volume-equivalent diameter of interior particles")
    print(f"{'method':7} {'CNR':>4} {'seed':>4} {'active':>8} {'c-binder':>8} {'D50':>7} {'IoU>0.5':>7} {'n_int':>5} {'wall s':>6} {'est CNR':>7} {'drift':>6}")
    for r in result["rows"]:
        print(f"{r['method']:7} {r['cnr']:4.0f} {r['seed']:4d} {r['active_err']:+8.3f} {r['cbd_err']:+8.3f} {r['d50_err']:+7.1%} "
              f"{r['iou_share']:7.2f} {r['n_interior']:5d} {r['wall_s']:6.2f} {r['est_cnr']:7.2f} {r['est_drift']:5.3f}{r['drift_axis']}")


CASES = {"generate_d8": case_generate_d8, "nrel": case_nrel, "segmentation": case_segmentation,
         "ct_phantom": case_ct_phantom, "nrel_greyscale": case_nrel_greyscale}
REPEAT = {"generate_d8": 3, "nrel": 1, "segmentation": 2, "ct_phantom": 3, "nrel_greyscale": 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=sorted(CASES), help="run one case in this process and print JSON")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--table", action="store_true", help="with --case ct_phantom: print the table, not JSON")
    args = parser.parse_args()
    if args.case:
        result = CASES[args.case](args.repeat or REPEAT[args.case])
        if args.table and args.case == "ct_phantom":
            print_ct_table(result)
        else:
            print(json.dumps(result))
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
        if name == "ct_phantom":
            print_ct_table(result)
        else:
            print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
