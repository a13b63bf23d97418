"""Design studies on Dask: per-task overhead, speed-up with worker processes, and the cost model's error.

Prints
1. the overhead of one run through Dask (a trivial 3-voxel-thick cell, `Client.submit` on a warm
   one-worker LocalCluster, one task at a time) against the same run called directly;
2. the wall time of 8 equal small 3D runs (different seeds) with 1 and 2 worker processes, and
   the speed-up (target ≥ 1.7× on 2 cores);
3. the cost model `t ≈ a · unknowns · steps + b` (core-seconds) against the CPU time of serial runs of
   several sizes (CPU time: the wall time on a machine shared with other processes is not the cost), refitted.

The machine's other load is printed: on a shared machine the figures are noisy.

    python benchmarks/bench_study.py [--quick]
"""
import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FIPY_SOLVERS", "scipy")

from electrode_design import store, study  # noqa: E402


def spec(name, *, thickness_um, width_um, seeds=(0,), c_rate=1.0, diameter_um=4):
    return {"name": name, "combine": "zip",
            "microstructure": {"args": {"diameter_um": diameter_um, "thickness_um": thickness_um, "width_um": width_um,
                                        "voxel_size_um": 1, "active_volume_fraction": 0.43,
                                        "seed": list(seeds)}},
            "protocol": {"discharge": {"c_rate": c_rate}}, "snapshots_dod": [0.5]}


def overhead(n=8):
    catalog = Path(tempfile.mkdtemp()) / "catalog.yml"
    run = study.expand_study(spec("trivial", thickness_um=3, width_um=4, diameter_um=3))[0]
    study.execute_run(run, catalog, True)  # imports, caches
    start = time.perf_counter()
    for _ in range(n):
        study.execute_run(run, catalog, True)
    direct = (time.perf_counter() - start) / n
    with study.dask_client(n_workers=1) as client:
        client.submit(study.execute_run, run, str(catalog), True, pure=False).result()
        start = time.perf_counter()
        for _ in range(n):
            client.submit(study.execute_run, run, str(catalog), True, pure=False).result()
        through = (time.perf_counter() - start) / n
    print(f"1. trivial run ({'×'.join(map(str, run['shape']))} voxels): direct {direct * 1e3:.0f} ms, "
          f"through Dask {through * 1e3:.0f} ms: overhead {(through - direct) * 1e3:.0f} ms per task")


def speedup(thickness_um, width_um):
    s = spec("eight", thickness_um=thickness_um, width_um=width_um, seeds=range(8))
    walls, cpu, per_run = {}, {}, {}
    for workers in (1, 2):
        catalog = Path(tempfile.mkdtemp()) / "catalog.yml"
        with study.dask_client(n_workers=workers) as client:
            warm = study.expand_study(spec("warm", thickness_um=3, width_um=4, diameter_um=3))[0]
            client.gather([client.submit(study.execute_run, warm, str(catalog), True, pure=False, workers=[address])
                           for address in client.scheduler_info()["workers"]])  # every worker has imported the package
            start = time.perf_counter()
            ds = study.run_study(s, catalog_path=catalog, client=client, progress=False, force=True)
            walls[workers] = time.perf_counter() - start
        assert ds.attrs["status"] == "ok", ds.attrs
        table = store.list_results(catalog_path=catalog, study="eight")
        cpu[workers] = float(table.loc[table.kind == "simulation", "cpu_time"].sum())
        per_run[workers] = np.nanmean(ds.wall_time.values)
    shape = study.expand_study(s)[0]["shape"]
    print(f"2. 8 runs of {'×'.join(map(str, shape))} voxels: 1 worker {walls[1]:.1f} s, 2 workers {walls[2]:.1f} s: "
          f"speed-up {walls[1] / walls[2]:.2f}× (target ≥ 1.7×)")
    for workers in (1, 2):
        print(f"   {workers} worker(s): {per_run[workers]:.1f} s wall and {cpu[workers] / 8:.1f} s CPU per run; "
              f"the runs' CPU time over the study's "
              f"wall time {cpu[workers] / walls[workers]:.2f} (the cores the study got; the rest went to other processes)")


def cost_model(sizes):
    catalog = Path(tempfile.mkdtemp()) / "catalog.yml"
    rows = []
    for i, (thickness, width) in enumerate(sizes):
        for c_rate in (1.0, 3.0):
            s = spec(f"cost{i}", thickness_um=thickness, width_um=width, c_rate=c_rate)
            ds = study.run_study(s, catalog_path=catalog, serial=True, progress=False, force=True)
            run = study.expand_study(s)[0]
            steps = store.open_result(run["name"], catalog_path=catalog).sizes["time"]
            cpu = store.entry_metadata(run["name"], catalog_path=catalog)["cpu_time"]
            rows.append((run["unknowns"], steps, cpu, run["estimated_cost_s"], float(ds.wall_time.values[0])))
    unknowns, steps, measured, estimated, wall = map(np.array, zip(*rows))
    print(f"3. the study planner's estimate (gpnp.cost.predict_cost, the package's one cost model) against the CPU "
          f"time of {len(rows)} serial runs, {unknowns.min()}-{unknowns.max()} unknowns, {steps.min()}-{steps.max()} "
          f"steps (wall time: CPU time × the load):")
    print(f"   median |error| {np.median(np.abs(estimated / measured - 1)):.0%}, "
          f"max {np.max(np.abs(estimated / measured - 1)):.0%}")
    for u, n, m, e, w in rows:
        print(f"   {u:>7} unknowns {n:>4} steps: CPU {m:6.2f} s (wall {w:6.2f} s), estimated {e:6.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few seconds in all)")
    parser.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], help="which measurements (1 2 3)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (other processes share the cores)")
    if 1 in args.parts:
        overhead()
    if 2 in args.parts:
        speedup(*((12, 8) if args.quick else (24, 14)))
    if 3 in args.parts:
        cost_model([(8, 6), (12, 8), (20, 12)] if args.quick else [(8, 6), (16, 10), (24, 14), (32, 16), (40, 20)])
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
