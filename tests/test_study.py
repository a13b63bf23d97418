"""Design studies on a real Dask cluster: equal to serial runs, resumable, fault tolerant, one catalog shared."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from electrode_design import conventions, store, study

REPO = Path(__file__).resolve().parent.parent
TIMING_ATTRS = ("created", "wall_time_s", "study_wall_time_s", "wall_time", "cpu_time")


def tiny_spec(name="tiny", *, porosities=(0.28, 0.23), c_rates=(1.0, 4.0), thickness_um=8, **extra):
    """Two particle sizes would double the runs: one D4 design, 8×6×6 voxels of 1 µm (about 0.4 s a run)."""
    spec = {"name": name,
            "microstructure": {"generator": "generate_electrode",
                               "args": {"diameter_um": 4, "thickness_um": thickness_um, "width_um": 6,
                                        "voxel_size_um": 1, "active_volume_fraction": 0.43, "seed": 0}},
            "parameters": {"set": "chen2020_nmc811", "overrides": {"positive.porosity": list(porosities)}},
            "protocol": {"discharge": {"c_rate": list(c_rates), "cutoff_V": 2.8}},
            "snapshots_dod": [0.5]}
    spec.update(extra)
    return spec


@pytest.fixture(scope="module")
def client():
    with study.dask_client(n_workers=2) as c:
        yield c


def _strip_timing(ds):
    ds = ds.load()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in TIMING_ATTRS}
    entry = json.loads(ds.attrs.pop("catalog_entry", "{}"))  # the catalog metadata, timings included
    ds.attrs["catalog_metadata"] = json.dumps({k: v for k, v in entry.get("metadata", {}).items()
                                               if k not in TIMING_ATTRS}, sort_keys=True)
    return ds


def test_spec_errors_name_key_and_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("name: bad\nmicrostructure:\n  args:\n    diameter_um: 8\nprotocol:\n  discharge:\n"
                    "    c_rate: [1, -2]\n")
    with pytest.raises(study.SpecError, match=r"bad.yml, line 7: protocol.discharge.c_rate: expected a positive"):
        study.load_study(path)
    path.write_text("name: bad\nmicrostructure:\n  args: {diameter_um: 8}\nparameters:\n  overrides:\n"
                    "    positive.porosty: 0.3\n")
    with pytest.raises(study.SpecError, match=r"line 6: parameters.overrides.positive.porosty: not a parameter"):
        study.load_study(path)
    with pytest.raises(study.SpecError, match=r"combine: zip needs lists of one length; this has 3"):
        study.expand_study(tiny_spec(combine="zip", c_rates=(1, 2, 3)))
    assert issubclass(study.SpecError, conventions.InputFileError)
    with pytest.raises(study.SpecError, match="unknown key; did you mean 'protocol'"):
        study.load_study({**tiny_spec(), "protocols": {}})


def test_plan_grid_zip_current_density_and_shipped_specs(tmp_path):
    grid = study.plan_study(tiny_spec(), catalog_path=tmp_path / "catalog.yml")
    assert len(grid) == 4 and set(grid.state) == {"todo"} and grid.name.is_unique
    assert list(grid.columns[1:3]) == ["porosity", "c_rate"] and (grid.voxels == 8 * 6 * 6).all()
    zipped = study.expand_study(tiny_spec(combine="zip"))
    assert [r["swept"] for r in zipped] == [{"porosity": 0.28, "c_rate": 1.0}, {"porosity": 0.23, "c_rate": 4.0}]
    spec = tiny_spec(protocol={"discharge": {"current_density_mA_cm2": [0.5, 2.0]}})
    assert [r["swept"]["current_density"] for r in study.expand_study(spec)] == [0.5, 2.0, 0.5, 2.0]
    paper = study.plan_study(REPO / "studies" / "paper_rate_maps.yml")
    assert len(paper) == 3 * 2 * 6 and set(paper.design) == {"D8", "D12", "D16"}
    assert paper.estimated_cost_s.sum() > 50 * study.plan_study(REPO / "studies" / "quick.yml").estimated_cost_s.sum()


def test_cluster_equals_serial_and_rerun_does_no_work(client, tmp_path):
    serial = study.run_study(tiny_spec(), catalog_path=tmp_path / "a" / "catalog.yml", serial=True, progress=False)
    dask_ds = study.run_study(tiny_spec(), catalog_path=tmp_path / "b" / "catalog.yml", client=client, progress=False)
    assert dask_ds.attrs["status"] == "ok" and dask_ds.attrs["computed_runs"] == 4
    store.check_dataset(dask_ds)
    conventions.check_dataset(dask_ds)  # schema v2: units and long names on data and coordinates
    assert dask_ds.sizes == {"porosity": 2, "c_rate": 2}
    for name in dask_ds.run_name.values.ravel():
        a = _strip_timing(store.open_result(name, catalog_path=tmp_path / "a" / "catalog.yml"))
        b = _strip_timing(store.open_result(name, catalog_path=tmp_path / "b" / "catalog.yml"))
        xr.testing.assert_identical(a, b)
    for var in ("rated_capacity", "specific_capacity", "areal_capacity", "average_voltage", "energy", "duration"):
        np.testing.assert_array_equal(serial[var].values, dask_ds[var].values)
    rates = dask_ds.rated_capacity.values
    assert np.all((rates > 0.3) & (rates < 1.0)) and np.all(rates[:, 1] < rates[:, 0])  # 4C keeps less than 1C
    assert np.all((dask_ds.average_voltage.values > 3.3) & (dask_ds.average_voltage.values < 4.2))
    created = store.list_results(catalog_path=tmp_path / "b" / "catalog.yml", study="tiny").set_index("name").created
    again = study.run_study(tiny_spec(), catalog_path=tmp_path / "b" / "catalog.yml", client=client, progress=False)
    assert again.attrs["computed_runs"] == 0
    after = store.list_results(catalog_path=tmp_path / "b" / "catalog.yml", study="tiny").set_index("name").created
    runs = [n for n in created.index if n != "tiny"]
    assert (after[runs] == created[runs]).all()
    xr.testing.assert_identical(again.drop_attrs(), dask_ds.drop_attrs())


def test_failing_run_leaves_others_complete_and_study_partial(client, tmp_path):
    catalog = tmp_path / "catalog.yml"
    ds = study.run_study(tiny_spec("failing", porosities=(0.28, 0.7), c_rates=(1.0,)), catalog_path=catalog,
                         client=client, progress=False)
    assert ds.attrs["status"] == "partial" and ds.attrs["n_ok"] == 1 and ds.attrs["n_failed"] == 1
    assert list(ds.status.values.ravel()) == ["ok", "failed"]
    assert np.isfinite(ds.rated_capacity.values[0, 0]) and np.isnan(ds.rated_capacity.values[1, 0])
    failed = store.entry_metadata(str(ds.run_name.values[1, 0]), catalog_path=catalog)
    assert failed["status"] == "failed" and "exceeds 1" in failed["error"] and failed["porosity"] == 0.7
    assert store.open_result(str(ds.run_name.values[1, 0]), catalog_path=catalog).attrs["error"].startswith("ParameterError")
    reopened = store.open_result("failing", catalog_path=catalog)
    assert reopened.attrs["kind"] == "study" and reopened.attrs["status"] == "partial"


def test_four_studies_write_one_catalog_without_losing_entries(client, tmp_path):
    catalog = tmp_path / "catalog.yml"
    errors = []

    def one(i):
        try:
            study.run_study(tiny_spec(f"s{i}", porosities=(0.28 - 0.01 * i,), c_rates=(1.0, 2.0)), catalog_path=catalog,
                            client=client, progress=False, update_interval_s=0.0)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors
    table = store.list_results(catalog_path=catalog)
    assert len(table) == 4 * 3 and (table.status == "ok").all()
    assert sorted(table[table.kind == "study"].name) == ["s0", "s1", "s2", "s3"]
    assert all(Path(catalog.parent, "data", "simulation", f"{n}.zarr").is_dir() for n in table[table.kind == "simulation"].name)


@pytest.mark.slow
def test_killed_worker_is_retried_and_study_completes(tmp_path):
    catalog = tmp_path / "catalog.yml"
    spec = tiny_spec("killed", porosities=(0.28,), c_rates=(1.0, 2.0), thickness_um=30)
    spec["microstructure"]["args"].update(width_um=14)
    runs = study.expand_study(spec)
    with study.dask_client(n_workers=2) as client:
        result = {}
        thread = threading.Thread(target=lambda: result.update(ds=study.run_study(spec, catalog_path=catalog,
                                                                                 client=client, progress=False)))
        thread.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                time.sleep(0.5)  # well inside the run
                worker, keys = next(iter(busy.items()))
                run_name = keys[0].rsplit("-", 1)[0]
                assert run_name in {r["name"] for r in runs}
                pid = client.run(os.getpid, workers=[worker])[worker]
                os.kill(pid, signal.SIGKILL)
                victim = (pid, run_name)
            time.sleep(0.05)
        assert victim is not None
        with pytest.raises(KeyError):
            store.entry_metadata(victim[1], catalog_path=catalog)  # killed mid-run: not saved yet
        thread.join(timeout=300)
        ds = result["ds"]
        assert ds.attrs["status"] == "ok" and ds.attrs["n_ok"] == 2
        assert store.entry_metadata(victim[1], catalog_path=catalog)["status"] == "ok"
        assert victim[0] not in client.run(os.getpid).values()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_runs_a_study_on_dask_scheduler_and_worker_processes(tmp_path):
    import yaml
    from dask.distributed import Client

    spec = tiny_spec("by_hand", porosities=(0.28,))
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--no-dashboard"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with Client(address, timeout="60s") as c:
            c.wait_for_workers(1, timeout=60)
        done = subprocess.run([sys.executable, "-c", "from electrode_design.cli import main; raise SystemExit(main())",
                               "--catalog", str(tmp_path / "catalog.yml"), "study", "run", str(tmp_path / "spec.yml"),
                               "--scheduler", address, "--no-progress"],
                              env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        assert "2 ok, 0 failed, 0 pending of 2 runs" in done.stdout
        table = store.list_results(catalog_path=tmp_path / "catalog.yml", study="by_hand")
        assert len(table) == 3 and (table.status == "ok").all()
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
        for proc in (worker, scheduler):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_explorer_shows_a_half_done_study_and_opens_a_run(tmp_path):
    from electrode_design import explore

    catalog = tmp_path / "catalog.yml"
    study.run_study(tiny_spec("half", porosities=(0.28,), c_rates=(1.0, 4.0)), catalog_path=catalog, serial=True,
                    progress=False)
    bigger = tiny_spec("half", porosities=(0.28, 0.23), c_rates=(1.0, 4.0))
    ds = study._save_study(study.load_study(bigger), study.expand_study(bigger), catalog)  # as while runs go on
    assert ds.attrs["status"] == "partial" and ds.attrs["n_pending"] == 2
    table = explore.study_table(store.open_result("half", catalog_path=catalog).load())
    assert list(table.status) == ["ok", "ok", "pending", "pending"] and table.rated_capacity.isna().sum() == 2
    ex = explore.Explorer(catalog)
    ex.entries.value = ("half",)
    section = ex.sections["study"]
    assert [v for _, v in section.run.options][1:] == list(table.run_name[:2])
    section.pick(section.heat.pane.object, "4.0", "0.28")
    assert section.run.value == table.run_name[1]
    assert ex.sections[f"simulation:{table.run_name[1]}"].ds.attrs["c_rate"] == 4.0


@pytest.mark.slow
def test_both_models_at_current_densities(tmp_path):
    """3D and its DFN twin at current densities: the C-rate is the density over the areal theoretical capacity."""
    catalog = tmp_path / "catalog.yml"
    spec = tiny_spec("twins", porosities=(0.28,), thickness_um=12, models="both",
                     protocol={"discharge": {"current_density_mA_cm2": [0.5, 2.0]}})
    ds = study.run_study(spec, catalog_path=catalog, serial=True, progress=False)
    assert ds.attrs["status"] == "ok" and ds.sizes == {"porosity": 1, "current_density": 2, "model": 2}
    for name in ds.run_name.values.ravel():
        meta = store.entry_metadata(str(name), catalog_path=catalog)
        result = store.open_result(str(name), catalog_path=catalog)
        areal_1c_mA_cm2 = result.attrs["theoretical_capacity_Ah"] * 1e3 / result.attrs["electrode_area_cm2"]
        assert meta["c_rate_applied"] * areal_1c_mA_cm2 == pytest.approx(meta["current_density"], rel=1e-9)
    rated = ds.rated_capacity.sel(porosity=0.28)
    assert np.all(rated.sel(current_density=2.0) < rated.sel(current_density=0.5))
    np.testing.assert_allclose(rated.sel(model="p2d"), rated.sel(model="3d"), atol=0.08)  # twins within 8 points


def test_cli_plan_and_serial_run(tmp_path, capsys):
    import yaml

    from electrode_design import cli

    path = tmp_path / "spec.yml"
    path.write_text(yaml.safe_dump(tiny_spec("cli_tiny", porosities=(0.28, 0.7), c_rates=(1.0,))))
    catalog = ["--catalog", str(tmp_path / "catalog.yml")]
    assert cli.main([*catalog, "study", "plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "study cli_tiny: 2 runs (2 todo)" in out and "core-seconds" in out
    assert cli.main([*catalog, "study", "run", str(path), "--serial", "--no-progress"]) == 1  # one run fails
    out = capsys.readouterr().out
    assert "1 ok, 1 failed, 0 pending of 2 runs" in out and "exceeds 1" in out
    assert cli.main([*catalog, "study", "plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 done" in out and "1 failed" in out and "to compute: 1," in out
    path.write_text("name: cli_tiny\nmicrostructure:\n  args: {diameter_um: 4}\nmodels: [3d, p3d]\n")
    assert cli.main([*catalog, "study", "plan", str(path)]) == 2
    assert "line 4: models: expected '3d', 'p2d', 'both'" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_keeps_finished_runs(tmp_path):
    import yaml

    spec = tiny_spec("interrupted", porosities=(0.28, 0.26, 0.24, 0.22), c_rates=(1.0, 2.0), thickness_um=24)
    spec["microstructure"]["args"].update(width_um=14)
    (tmp_path / "spec.yml").write_text(yaml.safe_dump(spec))
    catalog = tmp_path / "catalog.yml"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", "from electrode_design.cli import main; raise SystemExit(main())",
                             "--catalog", str(catalog), "study", "run", str(tmp_path / "spec.yml"), "--workers", "2",
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as from a terminal
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            if catalog.exists() and len(store.list_results(catalog_path=catalog, study="interrupted", kind="simulation")):
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: the finished runs are saved" in err
    plan = study.plan_study(tmp_path / "spec.yml", catalog_path=catalog)
    done = store.list_results(catalog_path=catalog, study="interrupted", kind="simulation")
    assert 1 <= (plan.state == "done").sum() == len(done) < 8 and (done.status == "ok").all()
    assert store.entry_metadata("interrupted", catalog_path=catalog)["status"] == "partial"


def test_study_with_a_gitt_entry_uses_its_diffusivity(tmp_path):
    """Issue 13: the study spec accepts a catalogued GITT result (params.from_gitt) like `simulate --gitt`."""
    from electrode_design import gitt, params

    catalog = tmp_path / "catalog.yml"
    example = REPO / "data" / "examples" / "gitt_pybamm_param"
    files = sorted(example.glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
    result = gitt.analyse_gitt(gitt.read_cycler(files), gitt.ElectrodeDescription.from_yaml(example / "electrode.yml"))
    store.save_result(result, "g", catalog_path=catalog)
    spec = tiny_spec(porosities=(0.28,), c_rates=(1.0,))
    spec["parameters"]["gitt"] = "g"
    (run,) = study.expand_study(spec, catalog_path=catalog)
    assert run["parameters"]["gitt"]["entry"] == "g"
    assert run["input_hash"] != study.expand_study(tiny_spec(porosities=(0.28,), c_rates=(1.0,)), catalog_path=catalog)[0]["input_hash"]
    ds = study.run_study(spec, catalog_path=catalog, serial=True, progress=False)
    sim = store.open_result(str(ds.run_name.values.ravel()[0]), catalog_path=catalog)
    used = json.loads(sim.attrs["parameters"])["positive"]["material"]["diffusivity"]["values"]
    np.testing.assert_allclose(used, params.from_gitt("g", catalog_path=catalog).positive.material.diffusivity.values)
    spec["parameters"]["gitt"] = "not a name"
    with pytest.raises(study.SpecError, match="gitt"):
        study.load_study(spec)
