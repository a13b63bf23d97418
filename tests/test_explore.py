"""Unit tests of the explorer's data selection (no browser): each view of each result kind,
the catalog browser table, the widget wiring driven from Python, and the static report."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from electrode_design import explore as ex
from electrode_design import store


@pytest.fixture(scope="module")
def gitt():
    return ex.example_gitt(n_pulses=8, seed=3)


@pytest.fixture(scope="module")
def micro():
    return ex.example_microstructure(shape=(16, 20, 24), voxel_size_m=0.5e-6, seed=1)


@pytest.fixture(scope="module")
def sim():
    return ex.example_simulation(shape=(12, 14, 16), n_snapshots=5, n_time=30, seed=2)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    path = tmp_path_factory.mktemp("explore") / "catalog.yml"
    ex.write_example_catalog(path)
    return path


# -- example datasets follow the data model ------------------------------------------------
def test_examples_follow_data_model(gitt, micro, sim):
    for ds, kind in [(gitt, "gitt"), (micro, "microstructure"), (sim, "simulation")]:
        store.check_dataset(ds)
        assert ds.attrs["kind"] == kind
    assert micro["phase"].dtype == np.uint8 and micro["particle"].dtype == np.int32
    assert micro["particle"].dims == ("z", "y", "x") and micro.sizes["particle"] == int(micro["particle"].max())
    assert sim["sol"].dims == ("snapshot", "z", "y", "x")
    assert sim["particle_sol_mean"].dims == ("snapshot", "particle")
    assert sim["snapshot_dod"].dims == ("snapshot",)
    assert set(np.unique(gitt["pulse_id"].values)) == set(range(-1, 8))


def test_lazy_example_equals_eager():
    eager = ex.example_simulation(shape=(8, 9, 10), n_snapshots=3, seed=5)
    lazy = ex.example_simulation(shape=(8, 9, 10), n_snapshots=3, seed=5, lazy=True)
    assert lazy["sol"].chunks is not None
    xr.testing.assert_allclose(eager["sol"], lazy["sol"].compute())


def test_examples_round_trip_through_store(catalog):
    table = store.list_results(catalog_path=catalog, kind="simulation")
    assert len(table) == 2
    ds = store.open_result("sim_example_0", catalog_path=catalog)
    assert ds["sol"].chunks is not None  # lazy, dask-backed
    assert ds["particle"].dims == ("z", "y", "x")
    assert ex.select_slice(ds, "sol", snapshot=1).shape == (ds.sizes["y"], ds.sizes["x"])


# -- catalog browser --------------------------------------------------------------------------
def test_catalog_table_reports_broken_stores(catalog):
    table = ex.catalog_table(catalog).set_index("name")
    assert table.loc["gitt_store_missing", "view_status"] == "store missing"
    assert table.loc["gitt_store_corrupt", "view_status"].startswith("cannot open: ")
    assert (table.drop(["gitt_store_missing", "gitt_store_corrupt"]).view_status == "ok").all()
    quick = ex.catalog_table(catalog, check_stores=False).set_index("name")
    assert quick.loc["gitt_store_corrupt", "view_status"] == "ok"  # not checked
    assert quick.loc["gitt_store_missing", "view_status"] == "store missing"


def test_catalog_table_without_catalog(tmp_path):
    table = ex.catalog_table(tmp_path / "none.yml")
    assert table.empty and "view_status" in table.columns


def test_filter_table(catalog):
    table = ex.catalog_table(catalog, check_stores=False)
    assert set(ex.filter_table(table, kind="microstructure").name) == {"micro_example_0", "micro_example_1"}
    assert len(ex.filter_table(table, kind="all")) == len(table)
    assert list(ex.filter_table(table, kind="gitt", cell="cell_0").name) == ["gitt_example_0"]
    assert list(ex.filter_table(table, c_rate="2").name) == ["sim_example_1"]  # "2" matches 2.0
    with pytest.raises(KeyError, match="did you mean"):
        ex.filter_table(table, c_rat=1)


# -- GITT -------------------------------------------------------------------------------------
def test_gitt_trace_and_pulses(gitt):
    trace = ex.gitt_trace(gitt)
    assert list(trace.columns) == ["time_s", "voltage_V", "current_A", "pulse_id"]
    assert len(trace) == gitt.sizes["time"]
    thin = ex.gitt_trace(gitt, max_points=100)
    assert len(thin) < len(trace)
    assert (thin.pulse_id >= 0).sum() == (trace.pulse_id >= 0).sum()  # pulses all kept
    spans = ex.gitt_pulse_spans(gitt)
    assert list(spans.pulse_id) == list(range(8))
    in_pulse = trace[trace.pulse_id == 3].time_s
    assert spans.start_s[3] == in_pulse.min() and spans.end_s[3] == in_pulse.max()


def test_gitt_tables_overlay_and_uncertainty(gitt):
    other = ex.example_gitt(n_pulses=5, seed=9).drop_vars(["solid_diffusivity_wh"])
    tab = ex.gitt_tables({"a": gitt, "b": other})
    assert (tab.groupby("name").size() == pd.Series({"a": 8, "b": 5})).all()
    a = tab[tab.name == "a"]
    np.testing.assert_allclose(a.ds_high_m2_s - a.ds_m2_s, gitt["solid_diffusivity_std"].values)
    assert (tab.ds_low_m2_s > 0).all()
    assert tab[tab.name == "b"].ds_wh_m2_s.isna().all()
    assert a.fit_status.iloc[-1] == "poor fit"


def test_gitt_missing_trace_is_a_clear_error(gitt):
    with pytest.raises(KeyError, match="'voltage'"):
        ex.gitt_trace(gitt.drop_vars(["voltage"]))


# -- slices -----------------------------------------------------------------------------------
@pytest.mark.parametrize("axis, dims", [("z", ("y", "x")), ("y", ("z", "x")), ("x", ("z", "y"))])
def test_select_slice_axes(micro, axis, dims):
    sec = ex.select_slice(micro, "phase", axis=axis, index=3)
    assert sec.dims == dims
    np.testing.assert_array_equal(sec.values, micro["phase"].isel({axis: 3}).transpose(*dims).values)


def test_select_slice_position_and_default(micro):
    z = micro["z"].values
    sec = ex.select_slice(micro, "particle", axis="z", position_m=z[5] + 0.1e-6)
    assert float(sec["z"]) == z[5]
    assert float(ex.select_slice(micro, "phase")["z"]) == z[len(z) // 2]
    assert float(ex.select_slice(micro, "phase", index=-1)["z"]) == z[-1]


def test_select_slice_snapshot(sim):
    sec = ex.select_slice(sim, "sol", axis="x", index=2, snapshot=3)
    np.testing.assert_array_equal(sec.values, sim["sol"].isel(snapshot=3, x=2).values)
    assert isinstance(sec.data, np.ndarray)


def test_select_slice_errors(sim, micro):
    with pytest.raises(KeyError, match="did you mean"):
        ex.select_slice(sim, "sol_", snapshot=0)
    with pytest.raises(ValueError, match="snapshot"):
        ex.select_slice(sim, "sol")
    with pytest.raises(ValueError, match="axis must be"):
        ex.select_slice(micro, "phase", axis="t")
    with pytest.raises(ValueError, match="out of range"):
        ex.select_slice(micro, "phase", index=99)
    with pytest.raises(ValueError, match="not both"):
        ex.select_slice(micro, "phase", index=1, position_m=1e-6)
    with pytest.raises(ValueError, match="expected z, y, x"):
        ex.select_slice(sim, "voltage")


# -- microstructure ---------------------------------------------------------------------------
def test_psd_from_table_and_from_labels(micro):
    from_table = ex.particle_size_distribution(micro, bins=8)
    from_labels = ex.particle_size_distribution(micro.drop_vars(["equivalent_diameter"]), bins=8)
    assert from_table["count"].sum() == micro.sizes["particle"]
    np.testing.assert_allclose(from_table["count"], from_labels["count"])
    np.testing.assert_allclose(from_table.left_m, from_labels.left_m, rtol=1e-9)
    with pytest.raises(KeyError, match="equivalent_diameter"):
        ex.particle_size_distribution(micro.drop_vars(["equivalent_diameter", "particle"]))


def test_volume_fraction_profile(micro):
    prof = ex.volume_fraction_profile(micro)
    assert prof.index.name == "z_m" and len(prof) == micro.sizes["z"]
    expected = (micro["phase"] == 1).mean(["y", "x"]).values
    np.testing.assert_allclose(prof["active"], expected)
    stored = micro.assign(porosity=("z", 1 - expected, {"units": "1", "long_name": "porosity"}))
    assert list(ex.volume_fraction_profile(stored).columns) == ["porosity"]


# -- simulation -------------------------------------------------------------------------------
def test_discharge_curves_units_and_overlay(sim):
    in_coulomb = ex.example_simulation(shape=(6, 6, 6), n_snapshots=2, n_time=30, seed=2, capacity_units="C")
    curves = ex.discharge_curves({"ah": sim, "coulomb": in_coulomb}, x="capacity")
    a, c = (curves[curves.name == n].capacity_Ah.to_numpy() for n in ("ah", "coulomb"))
    np.testing.assert_allclose(a, c)
    np.testing.assert_allclose(a, sim["capacity"].values)
    dod = ex.discharge_curves({"ah": sim})
    np.testing.assert_allclose(dod.depth_of_discharge, sim["depth_of_discharge"].values)
    no_voltage = sim.drop_vars(["voltage"])
    odd_units = sim.assign(capacity=sim["capacity"].assign_attrs(units="furlong"))
    skipped = ex.discharge_curves({"ok": sim, "nv": no_voltage, "odd": odd_units}, x="capacity")
    assert set(skipped.name) == {"ok"}
    assert set(skipped.attrs["skipped"]) == {"nv", "odd"} and "furlong" in skipped.attrs["skipped"]["odd"]
    with pytest.raises(ValueError, match="x must be"):
        ex.discharge_curves({"a": sim}, x="time")


def test_snapshot_index(sim):
    dods = sim["snapshot_dod"].values
    assert ex.snapshot_index(sim, dods[2] + 0.01) == 2
    assert ex.snapshot_index(sim, 5.0) == len(dods) - 1
    assert ex.snapshot_index(sim.drop_vars("snapshot_dod"), 0.0) == 0


def test_particle_sol_vs_depth(sim):
    per = ex.particle_sol_vs_depth(sim, 2)
    assert per.depth_m.is_monotonic_increasing
    assert {"particle", "depth_m", "sol_mean", "sol_std", "sol_min", "sol_max", "j_mean"} <= set(per.columns)
    row = per.iloc[0]
    i = int(np.flatnonzero(sim["particle_id"].values == row.particle)[0])
    assert row.sol_mean == sim["particle_sol_mean"].values[2, i]
    assert row.depth_m == sim["particle_depth"].values[i]
    assert (per.sol_min <= per.sol_mean + 1e-12).all() and (per.sol_mean <= per.sol_max + 1e-12).all()
    minimal = ex.particle_sol_vs_depth(sim.drop_vars(["particle_sol_std", "particle_sol_min", "particle_sol_max"]), 0)
    assert "sol_std" not in minimal
    with pytest.raises(KeyError, match="particle_sol_mean"):
        ex.particle_sol_vs_depth(sim.drop_vars(["particle_sol_mean"]), 0)


def test_sol_histogram(sim):
    hist = ex.sol_histogram(sim, 4, bins=10)
    active = sim["sol"].isel(snapshot=4).values[sim["phase"].values == 1]
    assert hist["count"].sum() == np.isfinite(active).sum()
    np.testing.assert_allclose(hist.fraction.sum(), 1)
    mean = np.average((hist.left + hist.right) / 2, weights=hist["count"])
    assert abs(mean - np.nanmean(active)) < 0.1


# -- plots: missing optional variables hide a panel with a note --------------------------------
def test_plots_tolerate_missing_variables(sim, micro, gitt):
    full = ex.simulation_plot(sim, 1)
    assert len(full) == 6
    partial = ex.simulation_plot(sim.drop_vars(["reaction_current_density", "electrolyte_concentration"]), 1)
    notes = [p for p in partial.values() if type(p).__name__ == "Div"]
    assert len(notes) == 2 and "not shown" in notes[0].data
    assert len(ex.microstructure_plot(micro.drop_vars(["equivalent_diameter", "particle"]))) == 3
    assert len(ex.gitt_plot({"g": gitt.drop_vars(["solid_diffusivity", "solid_diffusivity_std"])})) >= 2
    assert len(ex.discharge_plot({"s": sim.drop_vars("voltage")})) == 1


# -- widgets driven from Python -----------------------------------------------------------------
def _titles(pane) -> list[str]:
    """Titles of the Bokeh figures a Panel HoloViews pane has drawn."""
    from bokeh.models import Plot

    (plot, _), = pane._plots.values()
    return [p.title.text for p in plot.state.select({"type": Plot}) if p.title is not None]


def test_simulation_dynamic_updates_drawn_plots(sim):
    import holoviews as hv
    from bokeh.models import GlyphRenderer

    layout, stream = ex.simulation_dynamic(sim, snapshot=0, axis="y")
    plot = hv.renderer("bokeh").get_plot(layout)
    images = lambda: [np.array(r.data_source.data["image"][0]) for r in plot.state.select({"type": GlyphRenderer})  # noqa: E731
                      if "image" in r.data_source.data]
    first = images()
    stream.event(snapshot=4)
    later = images()
    assert len(first) == 4 and any(not np.allclose(np.nan_to_num(a), np.nan_to_num(b)) for a, b in zip(first, later))
    expected = ex.select_slice(sim, "sol", axis="y", snapshot=4).values
    assert any(np.allclose(np.nan_to_num(im), np.nan_to_num(expected)) for im in later)
    layout, stream = ex.simulation_dynamic(sim.drop_vars(["electrolyte_concentration"]), snapshot=0)
    assert type(layout.values()[1]).__name__ == "Div"


def test_explorer_wiring(catalog):
    pytest.importorskip("ipywidgets")
    app = ex.explore(catalog)
    assert "store missing" in app.table_html.value and "cannot open" in app.table_html.value
    app.kind.value = "simulation"
    assert [v for _, v in app.entries.options] == ["sim_example_0", "sim_example_1"]
    app.kind.value = "all"
    app.key.value = "cell"
    assert app.value.options == ("cell_0", "cell_1")
    app.value.value = "cell_1"
    app.add_filter.click()
    assert [v for _, v in app.entries.options] == ["gitt_example_1"]
    app.clear_filters.click()
    app.entries.value = ("sim_example_0", "sim_example_1", "micro_example_1", "gitt_example_0",
                         "gitt_store_corrupt")
    assert set(app.sections) == {"simulation", "microstructure", "gitt"}
    assert "gitt_store_corrupt" in app.message.value
    simv = app.sections["simulation"]
    simv.maps.pane.get_root()  # draw the plots to Bokeh models, as Panel does for the browser
    simv.curves.pane.get_root()
    before = _titles(simv.maps.pane)
    drawn = simv.maps.pane.object
    simv.dod.value = 1
    assert simv.stream.snapshot == 1 and simv.maps.pane.object is drawn  # data updated in place
    dod1 = float(app.open("sim_example_0")["snapshot_dod"][1])
    after = _titles(simv.maps.pane)
    assert after != before and any(f"DoD {dod1:.2f}" in t for t in after)
    simv.position.value = 1
    assert simv.stream.index == 1 and any("y = 1.5 µm" in t for t in _titles(simv.maps.pane))
    simv.x.value = "capacity"
    simv.entry.value = "sim_example_1"
    assert simv.dod.value == len(simv.dod.options) - 1
    micro_view = app.sections["microstructure"]
    micro_view.axis.value = "x"
    micro_view.colour.value = "particle"
    micro_view.plots.pane.get_root()
    micro_view.position.value = 2
    x2 = float(app.open("micro_example_1")["x"][2]) * 1e6
    assert any(f"particle, x = {x2:.2f} µm" in t for t in _titles(micro_view.plots.pane))
    assert app.log.outputs == ()  # no traceback captured


# -- report --------------------------------------------------------------------------------------
def test_report_html_offline(catalog, tmp_path):
    pytest.importorskip("panel")
    import panel  # noqa: F401  (registers Bokeh models with external JS: must not leak into the report)

    out = ex.report_html(["gitt_example_0", "micro_example_0", "sim_example_0", "sim_example_1",
                          "gitt_store_missing"], tmp_path / "sub" / "report.html", catalog_path=catalog)
    text = out.read_text()
    assert out.exists() and "cdn.bokeh.org" not in text and "cdn.holoviz.org" not in text
    assert "<script src=" not in text and "<link " not in text  # everything inline
    assert "Bokeh" in text and "gitt_store_missing" in text and "missing" in text
    with pytest.raises(KeyError, match="no entry"):
        ex.report_html(["nope"], tmp_path / "r.html", catalog_path=catalog)


# -- launcher ------------------------------------------------------------------------------------
def test_explorer_notebook_exists():
    nb = ex.explorer_notebook_path(create=False)
    assert nb.exists() and "explore()" in nb.read_text()


def test_launch_jupyterlab_command(tmp_path, monkeypatch):
    seen = {}

    class FakePopen:
        def __init__(self, cmd, env, cwd, stdout, stderr):
            seen.update(cmd=cmd, env=env, cwd=cwd)

        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(ex.subprocess, "Popen", FakePopen)
    nb = tmp_path / "explorer.ipynb"
    nb.write_text("{}")
    ex.launch_jupyterlab(catalog_path=tmp_path / "c.yml", port=9999, open_browser=False, notebook=nb,
                         extra_args=["--ServerApp.token=x"])
    assert seen["env"][ex.CATALOG_ENV] == str((tmp_path / "c.yml").resolve())
    assert "--port=9999" in seen["cmd"] and "--no-browser" in seen["cmd"] and seen["cmd"][-1] == "explorer.ipynb"
    assert "--ServerApp.ip=127.0.0.1" in seen["cmd"] and "--ServerApp.token=x" in seen["cmd"]
    with pytest.raises(FileNotFoundError):
        ex.launch_jupyterlab(notebook=tmp_path / "missing.ipynb", wait=False)


# -- analysis results (the paper's metrics) ------------------------------------------------------
@pytest.fixture(scope="module")
def metrics():
    """Every metric of `analysis` on a real (small) gpnp discharge: 16×10×10 µm, 1 µm voxels, 3C."""
    import warnings

    from electrode_design import analysis, gpnp, microstructure
    from electrode_design.params import parameter_set

    small = microstructure.generate_electrode(8e-6, thickness_m=16e-6, width_m=10e-6, voxel_size_m=1e-6, seed=1)
    runs = []
    for rate in (1.0, 3.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(gpnp.discharge(small.phase.values.astype(np.uint8), params=parameter_set("chen2020_nmc811"),
                                       c_rate=rate, particle=small.particle.values.astype(np.int32), voxel_size_m=1e-6,
                                       snapshots_dod=(0.2, 0.4), progress=False))
    run = runs[1]
    return {"limit": analysis.ds_limiting_depth(run, small, dod=0.4, bins=4),
            "hist": analysis.sol_histogram(run, dod=0.4),
            "delta": analysis.delta_sol(run, small),
            "cp": analysis.particle_c_rates(run, small, dod=0.4),
            "rated": analysis.rated_capacity(runs),
            "sst": analysis.sst_limiting_region(runs, small, dod=0.4, bins=4)}


def test_analysis_views_by_metric(metrics):
    import holoviews as hv

    views = {k: ex.analysis_plot(ds) for k, ds in metrics.items()}
    assert type(views["limit"]).__name__ == "Overlay" and "D_s-limited" in views["limit"].opts.get().kwargs["title"]
    vline, = [e for e in views["limit"] if isinstance(e, hv.VLine)]
    assert vline.data == pytest.approx(float(metrics["limit"].ds_limiting_depth))
    assert isinstance(views["cp"], hv.Points) and "C_diff" in [d.name for d in views["cp"].vdims]
    np.testing.assert_allclose(views["cp"].dframe()["C_diff"], metrics["cp"].c_diff.values)
    assert len(views["delta"]) == metrics["delta"].sizes["interval"]
    for key in ("rated", "sst"):
        assert isinstance(views[key], hv.Layout)
        table = ex.analysis_table(metrics[key])
        assert len(table) == 2 and list(table.index) == sorted(metrics[key].c_rate.values)
    rated = ex.analysis_table(metrics["rated"])
    np.testing.assert_allclose(rated.iloc[:, 1], metrics["rated"].capacity_fraction.values)  # capacity fraction column
    scalars = ex.analysis_table(metrics["hist"]).set_index("name")
    assert scalars.loc["p_ds_location", "value"] == pytest.approx(float(metrics["hist"].p_ds_location), nan_ok=True)
    other = metrics["hist"].assign_attrs(metric="something_new")
    assert type(ex.analysis_plot(other)).__name__ == "Div"
    with pytest.raises(KeyError, match="SoL profile"):
        ex.analysis_plot(metrics["limit"].drop_vars("sol_mean_profile"))


def test_explorer_shows_catalogued_analysis(metrics, tmp_path):
    pytest.importorskip("ipywidgets")
    catalog = tmp_path / "catalog.yml"
    for key in ("limit", "rated"):
        store.save_result(metrics[key], f"metric_{key}", catalog_path=catalog)
    table = store.list_results(catalog_path=catalog).set_index("name")
    assert table.loc["metric_limit", "metric"] == "ds_limiting_depth"  # the metric is searchable metadata
    app = ex.explore(catalog)
    app.entries.value = ("metric_limit", "metric_rated")
    section = app.sections["analysis"]
    assert section.entry.options == ("metric_limit", "metric_rated") and section.note.value == ""
    section.entry.value = "metric_rated"
    assert isinstance(section.plots.pane.object, __import__("holoviews").Layout)
    assert app.log.outputs == ()
