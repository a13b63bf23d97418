"""Explorer responsiveness on a realistic simulation result.

Builds an 800 000-voxel (80 x 100 x 100) simulation with 20 field snapshots (float64, five
fields), saves it with `store.save_result` into a temporary catalog, opens it lazily through
the catalog, and times what one move of the depth-of-discharge slider costs in the kernel:

- data selection: the four field sections, the per-particle table and the SoL histogram
  through the plain selection functions;
- static layout: `simulation_plot` rendered to Bokeh models from scratch (the report path);
- explorer slider move: an `Explorer` over the temp catalog with the run selected and its
  plots drawn to Bokeh models (`pane.get_root()`, what Panel does for the browser), then
  ``dod.value = k``: the callback reads the snapshot and updates the drawn plots' data (the
  kernel side of a slider move; sending the change to the browser and drawing it is not
  included — the browser test measures that end to end).

Target: under 0.5 s per slider move. Run: ``.venv/bin/python benchmarks/bench_explore.py``.
Results are also written to ``benchmarks/out/explore/bench_explore.json``.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from electrode_design import explore as ex
from electrode_design import store

SHAPE = (80, 100, 100)
N_SNAPSHOTS = 20
TARGET_S = 0.5


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> dict:
    import holoviews as hv
    from bokeh.models import Plot

    out = Path(__file__).resolve().parent / "out" / "explore"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Path(tmp) / "catalog.yml"
        t = time.perf_counter()
        ds = ex.example_simulation(shape=SHAPE, voxel_size_m=0.5e-6, n_snapshots=N_SNAPSHOTS, n_time=400, lazy=True)
        t_build = time.perf_counter() - t
        t = time.perf_counter()
        store.save_result(ds, "bench_sim", catalog_path=catalog)
        t_save = time.perf_counter() - t
        size_mb = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file()) / 1e6

        t = time.perf_counter()
        lazy = store.open_result("bench_sim", catalog_path=catalog)
        t_open = time.perf_counter() - t
        assert lazy["sol"].chunks is not None, "expected a dask-backed dataset"
        n_vox = int(np.prod(SHAPE))
        n_particles = lazy.sizes["particle"]

        def selection(k):
            for var in ("sol", "electrolyte_concentration", "electrolyte_potential", "reaction_current_density"):
                ex.select_slice(lazy, var, axis="y", snapshot=k)
            ex.particle_sol_vs_depth(lazy, k)
            ex.sol_histogram(lazy, k)

        snaps = list(range(N_SNAPSHOTS - 2, -1, -2))  # ten different snapshots, as a user scrubs
        cold = _timed(lambda: selection(snaps[0]))
        t_sel = [_timed(lambda k=k: selection(k)) for k in snaps]
        t_static = [_timed(lambda k=k: hv.render(ex.simulation_plot(lazy, k, axis="y"), backend="bokeh"))
                    for k in snaps[:4]]

        # the explorer: select the run, draw its plots (Bokeh models, as Panel does for the
        # browser), then move the DoD slider; each move updates the drawn plots' data
        app = ex.Explorer(catalog)
        t = time.perf_counter()
        app.entries.value = ("bench_sim",)
        section = app.sections["simulation"]
        section.maps.pane.get_root()
        section.curves.pane.get_root()
        t_first = time.perf_counter() - t
        plot = section.maps.pane._plots
        titles = lambda: sorted(m.title.text for m in next(iter(plot.values()))[0].state.select({"type": Plot}))  # noqa: E731

        def move(k):
            section.dod.value = k

        before = titles()
        t_cb = [_timed(lambda k=k: move(k)) for k in snaps]
        assert titles() != before, "the drawn plots did not change"
        t_pos = [_timed(lambda i=i: setattr(section.position, "value", i)) for i in (10, 30, 50, 70, 90)]
        assert app.log.outputs == (), app.log.outputs

    def stats(values):
        return {"median_s": round(statistics.median(values), 4), "max_s": round(max(values), 4)}

    result = {
        "voxels": n_vox, "snapshots": N_SNAPSHOTS, "particles": n_particles, "store_MB": round(size_mb, 1),
        "build_s": round(t_build, 2), "save_s": round(t_save, 2), "open_s": round(t_open, 3),
        "first_selection_s": round(cold, 4),
        "selection": stats(t_sel),
        "static_plot_to_bokeh": stats(t_static),
        "explorer_select_entry_and_draw_s": round(t_first, 3),
        "explorer_dod_slider_move": stats(t_cb),
        "explorer_position_slider_move": stats(t_pos),
        "target_s": TARGET_S,
    }
    (out / "bench_explore.json").write_text(json.dumps(result, indent=2))
    print(f"simulation: {n_vox} voxels x {N_SNAPSHOTS} snapshots, {n_particles} particles; store {size_mb:.1f} MB "
          f"(build {t_build:.1f} s, save {t_save:.1f} s, lazy open {t_open * 1e3:.0f} ms)")
    print(f"{'':44s} {'median':>8s} {'max':>8s}")
    for label, key in [("data selection (4 sections, particles, hist.)", "selection"),
                       ("static layout -> Bokeh (report path)", "static_plot_to_bokeh"),
                       ("explorer: DoD slider move", "explorer_dod_slider_move"),
                       ("explorer: slice-position slider move", "explorer_position_slider_move")]:
        print(f"{label:44s} {result[key]['median_s']:7.3f}s {result[key]['max_s']:7.3f}s")
    worst = result["explorer_dod_slider_move"]["max_s"]
    print(f"first (cold) selection {cold:.3f} s; selecting the run and drawing its plots {t_first:.2f} s")
    print(f"DoD slider move, worst of {len(t_cb)}: {worst:.3f} s -> "
          f"{'within' if worst < TARGET_S else 'OVER'} the {TARGET_S} s target")
    return result


if __name__ == "__main__":
    main()
