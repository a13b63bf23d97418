"""Nothing lost, nothing silently wrong: transactional saves, catalog repair, interrupts, property-based input checks."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from electrode_design import cli, params, store
from electrode_design.conventions import ElectrodeDesignError

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "FIPY_SOLVERS": "scipy", "PYBAMM_DISABLE_TELEMETRY": "true",
       "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"}
CLI = [sys.executable, "-c", "import sys; from electrode_design.cli import main; sys.exit(main())"]


def result(value: float, n: int = 4) -> xr.Dataset:
    ds = xr.Dataset({"ocv": ("pulse", np.full(n, value), {"units": "V", "long_name": "open-circuit voltage"})},
                    coords={"pulse": ("pulse", np.arange(n), {"units": "1", "long_name": "pulse index"})})
    ds.attrs["kind"] = "gitt"
    return ds


def ocv_of(name, catalog) -> float:
    return float(store.open_result(name, catalog_path=catalog)["ocv"].values[0])


# ---------------------------------------------------------------- transactional saves

def test_a_save_failing_after_the_store_was_written_keeps_the_old_result(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog.yml"
    store.save_result(result(3.7), "r", catalog_path=catalog)
    before = catalog.read_text()

    def broken(*args, **kwargs):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(store, "_write_raw", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save_result(result(4.1), "r", catalog_path=catalog, metadata={"note": "new"})
    monkeypatch.undo()
    assert catalog.read_text() == before
    assert ocv_of("r", catalog) == 3.7  # the old store is back, unchanged
    assert store.check_catalog(catalog) == {"orphans": [], "missing": [], "leftovers": [], "unreadable": [],
                                            "fixed": []}


def test_a_damaged_catalog_is_never_written_over(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(result(3.7), "r", catalog_path=catalog)
    store.save_result(result(3.8), "s", catalog_path=catalog)
    assert store._backup_path(catalog).exists()
    raw = yaml.safe_load(catalog.read_text())
    for damage in ("  : : [\n", None):
        if damage is None:  # parseable but inconsistent: an entry whose data is gone
            raw["data"] = {}
            text = yaml.safe_dump(raw)
        else:
            text = catalog.read_text() + damage
        catalog.write_text(text)
        with pytest.raises(store.StoreError, match=r"damaged .*catalog\.yml\.bak") as error:
            store.save_result(result(4.2), "r", catalog_path=catalog)
        assert "\n" not in str(error.value)
        assert catalog.read_text() == text
        with pytest.raises(store.StoreError, match="damaged"):
            store.list_results(catalog_path=catalog)
    shutil.copy(store._backup_path(catalog), catalog)  # the backup named in the message is the last good one
    assert ocv_of("r", catalog) == 3.7 and ocv_of("s", catalog) == 3.8


def test_a_truncated_catalog_is_refused_with_the_backup_named_then_fixed(tmp_path):
    catalog = tmp_path / "catalog.yml"
    for name, value in (("a", 3.5), ("b", 3.6)):
        store.save_result(result(value), name, catalog_path=catalog, metadata={"cell": name}, description=f"{name}!")
    raw = yaml.safe_load(catalog.read_text())
    store._drop_entry(raw, "a")
    catalog.write_text(yaml.safe_dump(raw))  # still a valid catalog, one entry short
    truncated = catalog.read_text()
    with pytest.raises(store.StoreError, match=r"does not list 1 result.*\(a\).*catalog\.yml\.bak.*check --fix"):
        store.save_result(result(3.9), "c", catalog_path=catalog)
    with pytest.raises(store.StoreError, match="truncated"):
        store.remove_result("b", catalog_path=catalog)
    assert catalog.read_text() == truncated
    assert not (tmp_path / "data" / "gitt" / "c.zarr").exists()
    report = store.check_catalog(catalog, fix=True)
    assert report["orphans"] == ["gitt/a"] and report["fixed"] == ["registered a (gitt, status ok)"]
    assert store.entry_metadata("a", catalog_path=catalog)["cell"] == "a"  # extra metadata came from the store
    store.save_result(result(3.9), "c", catalog_path=catalog)
    assert sorted(store.list_results(catalog_path=catalog)["name"]) == ["a", "b", "c"]


# ---------------------------------------------------------------- check --fix and rebuild

def _messy_catalog(tmp_path) -> Path:
    """A catalog with an orphan store, an entry without store, leftovers and a store that does not open."""
    catalog = tmp_path / "catalog.yml"
    for name, value in (("kept", 3.5), ("gone", 3.6), ("orphan", 3.7)):
        store.save_result(result(value), name, catalog_path=catalog, metadata={"value": value})
    raw = yaml.safe_load(catalog.read_text())
    store._drop_entry(raw, "orphan")
    catalog.write_text(yaml.safe_dump(raw))
    store._names_path(catalog).unlink()  # a catalog from before the sidecar
    folder = tmp_path / "data" / "gitt"
    shutil.rmtree(folder / "gone.zarr")
    shutil.copytree(folder / "kept.zarr", folder / ".kept.zarr.tmp-1a2b3c4d")
    shutil.copytree(folder / "kept.zarr", folder / ".lost.zarr.old-5e6f7a8b")
    (folder / "broken.zarr").mkdir()
    (folder / "broken.zarr" / "zarr.json").write_text("{not json")
    (tmp_path / ".catalog.yml.tmp-0badf00d").write_text("half a catalog")
    return catalog


def test_check_reports_and_fix_repairs(tmp_path):
    catalog = _messy_catalog(tmp_path)
    report = store.check_catalog(catalog)
    assert report["orphans"] == ["gitt/orphan"] and report["missing"] == ["gone"]
    assert sorted(Path(p).name for p in report["leftovers"]) == [
        ".catalog.yml.tmp-0badf00d", ".kept.zarr.tmp-1a2b3c4d", ".lost.zarr.old-5e6f7a8b"]
    assert len(report["unreadable"]) == 1 and "broken.zarr" in report["unreadable"][0]
    fixed = store.check_catalog(catalog, fix=True)
    assert "registered orphan (gitt, status ok)" in fixed["fixed"] and len(fixed["fixed"]) == 4
    after = store.check_catalog(catalog)
    assert after["orphans"] == [] and after["leftovers"] == [] and after["missing"] == ["gone"]
    assert ocv_of("orphan", catalog) == 3.7 and store.entry_metadata("orphan", catalog_path=catalog)["value"] == 3.7


def test_rebuild_makes_a_catalog_from_the_stores_alone(tmp_path):
    catalog = _messy_catalog(tmp_path)
    catalog.write_text("entries: [this is not a catalog\n")
    assert store.rebuild_catalog(catalog) == ["kept", "orphan"]
    assert list(tmp_path.glob("catalog.yml.damaged-*"))  # the damaged one is kept, the .bak untouched
    assert ocv_of("kept", catalog) == 3.5 and store.entry_metadata("kept", catalog_path=catalog)["value"] == 3.5


def test_catalog_check_and_rebuild_commands(tmp_path, capsys):
    catalog = _messy_catalog(tmp_path)
    assert cli.main(["--catalog", str(catalog), "catalog", "check"]) == 1
    out = capsys.readouterr().out
    assert "1 stores no entry lists\n  gitt/orphan" in out and "catalog check --fix" in out
    assert cli.main(["--catalog", str(catalog), "catalog", "check", "--fix"]) == 0
    assert "fixed: registered orphan" in capsys.readouterr().out
    assert cli.main(["--catalog", str(catalog), "catalog", "rebuild"]) == 0
    assert "2 entries (kept, orphan)" in capsys.readouterr().out
    assert cli.main(["--catalog", str(tmp_path), "catalog", "list"]) == 2
    assert "is a directory" in capsys.readouterr().err


# ---------------------------------------------------------------- SIGKILL during a save, Ctrl-C during simulate

def test_sigkill_during_a_save_leaves_the_catalog_and_check_finds_the_leftovers(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(result(3.7), "r", catalog_path=catalog)
    before = catalog.read_text()
    code = textwrap.dedent(f"""
        import os, signal, numpy as np, xarray as xr
        from electrode_design import store
        store._write_raw = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # killed after the store swap
        ds = xr.Dataset({{"ocv": ("pulse", np.full(4, 4.1), {{"units": "V", "long_name": "ocv"}})}})
        ds.attrs["kind"] = "gitt"
        store.save_result(ds, "r", catalog_path={str(catalog)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert catalog.read_text() == before
    report = store.check_catalog(catalog)
    assert [Path(p).name.split("-")[0] for p in report["leftovers"]] == [".r.zarr.old"]
    store.check_catalog(catalog, fix=True)  # the save never completed: the old store goes back
    assert ocv_of("r", catalog) == 3.7 and store.check_catalog(catalog)["leftovers"] == []


def _read_until(stream, marker: bytes, timeout_s: float) -> bytes:
    seen, end = b"", time.monotonic() + timeout_s
    while marker not in seen and time.monotonic() < end:
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        seen += chunk
    return seen


def test_ctrl_c_during_simulate_saves_the_partial_run_as_interrupted(tmp_path):
    from electrode_design import microstructure

    catalog = tmp_path / "catalog.yml"
    ds = microstructure.generate_electrode(8e-6, thickness_m=40e-6, width_m=24e-6, voxel_size_m=1e-6,
                                           active_volume_fraction=0.43, seed=0)
    store.save_result(microstructure.characterise(ds, tortuosity=False), "ms", catalog_path=catalog)
    # a shell runs background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt
    # handler: give the child the default disposition, as a terminal would
    proc = subprocess.Popen([*CLI, "--catalog", str(catalog), "simulate", "ms", "--c-rate", "0.2", "--out", "run"],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert b"gPNP" in _read_until(proc.stderr, b"gPNP", 120)  # the time loop has started
    time.sleep(3.0)  # a few of its ~60 steps (the whole run takes ~25 s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    lines = [line for line in err.decode().replace("\r", "\n").splitlines() if line.strip() and "gPNP" not in line]
    assert proc.returncode == 130, err.decode()
    assert lines == [lines[0]] and "saved as 'run' with status 'interrupted'" in lines[0]
    meta = store.entry_metadata("run", catalog_path=catalog)
    assert meta["status"] == "interrupted"
    run = store.open_result("run", catalog_path=catalog)
    assert run.sizes["time"] > 0 and 0 < float(run["depth_of_discharge"][-1]) < 0.9


# ---------------------------------------------------------------- physical sanity

@pytest.mark.parametrize("change, message", [
    ({"temperature_K": 5000.0}, r"temperature_K: got 5000.0; expected a number in \[200, 400\] in K"),
    ({"positive.particle_radius_m": 5.0}, r"particle_radius_m: got 5.0; .*\[1e-08, 0.0001\] in m .*µm"),
    ({"electrolyte.c_initial_mol_m3": 1.0}, r"c_initial_mol_m3: got 1.0; .*mol m-3"),
    ({"positive.thickness_m": 60.0}, r"thickness_m: got 60.0"),
])
def test_implausible_parameters_are_refused_with_range_and_unit(change, message):
    with pytest.raises(params.ParameterError, match=message):
        params.parameter_set().replace(**change)


def test_cutoff_above_the_initial_ocv_is_refused():
    cell = params.parameter_set()
    with pytest.raises(ValueError, match=r"--cutoff: got 4.3 V; expected a voltage below the initial open-circuit"):
        cli._check_cutoff(cell, 4.3)
    cli._check_cutoff(cell, 2.8)


def test_isolated_active_material_fraction():
    phase = np.zeros((6, 6, 6), np.uint8)
    phase[1:5, 1:5, 1:5] = 1                      # a shell particle (1) around an inner particle (2)
    particle = np.where(phase == 1, 1, 0).astype(np.int32)
    particle[2:4, 2:4, 2:4] = 2
    assert cli._isolated_active_fraction(phase, particle) == pytest.approx(8 / 64)  # no face on the pore space
    assert cli._isolated_active_fraction(phase) == 0.0   # one cluster: the inner voxels diffuse to the shell


# ---------------------------------------------------------------- property-based: YAML loaders

BASE = yaml.safe_load((ROOT / "electrode_design" / "parameter_sets" / "chen2020_nmc811.yml").read_text())
LEAVES = [("temperature_K",), ("electrode_area_m2",), ("voltage_min_V",), ("voltage_max_V",),
          ("positive", "particle_radius_m"), ("positive", "thickness_m"), ("positive", "porosity"),
          ("positive", "active_volume_fraction"), ("positive", "sol_initial"), ("positive", "material", "c_max_mol_m3"),
          ("positive", "material", "rate_constant"), ("electrolyte", "c_initial_mol_m3"),
          ("electrolyte", "transference_number"), ("separator", "thickness_m"), ("separator", "porosity")]
VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9), st.text(max_size=5),
                   st.none(), st.booleans(), st.lists(st.floats(), max_size=3), st.dictionaries(st.text(max_size=3),
                                                                                                st.integers(), max_size=2))
SLIPS = st.sampled_from([1e-6, 1e-3, 1e3, 1e6, -1.0, 0.0])


def _in_range(cell) -> None:
    for dotted, low, high, unit, _ in params.PLAUSIBLE_RANGES:
        value = cell
        for part in dotted.split("."):
            value = getattr(value, part)
        assert low <= value <= high, dotted


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(leaf=st.sampled_from(LEAVES), value=VALUES, slip=SLIPS, mode=st.sampled_from(["value", "slip", "drop"]))
def test_parameter_yaml_with_random_corruptions(tmp_path, leaf, value, slip, mode):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    node = data
    for key in leaf[:-1]:
        node = node[key]
    if mode == "value":
        node[leaf[-1]] = value
    elif mode == "slip":
        node[leaf[-1]] = node[leaf[-1]] * slip
    else:
        del node[leaf[-1]]
    path = tmp_path / "cell.yml"
    path.write_text(yaml.safe_dump(data))
    try:
        cell = params.load_parameters(path)
    except (ValueError, KeyError, ElectrodeDesignError) as error:  # the package's errors (ValueError family)
        assert "\n" not in str(error)
        return
    _in_range(cell)  # what loads is physically plausible


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 4000), junk=st.binary(max_size=40))
def test_parameter_yaml_with_random_bytes_and_truncation(tmp_path, cut, junk):
    text = (ROOT / "electrode_design" / "parameter_sets" / "chen2020_nmc811.yml").read_bytes()
    path = tmp_path / "cell.yml"
    path.write_bytes(text[:cut] + junk)
    try:
        cell = params.load_parameters(path)
    except (ValueError, KeyError, ElectrodeDesignError) as error:
        assert "\n" not in str(error)
        return
    _in_range(cell)


# ---------------------------------------------------------------- property-based: the volume reader (CLI path)

DTYPES = st.sampled_from([np.bool_, np.uint8, np.int16, np.int64, np.float32, np.float64, np.complex64, np.uint64])
SHAPES = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(dtype=DTYPES, shape=SHAPES, cut=st.integers(0, 400), fill=st.sampled_from([0, 1, 255, np.nan, np.inf]))
def test_volume_files_with_random_types_shapes_and_truncation(tmp_path, dtype, shape, cut, fill):
    path = tmp_path / "volume.npy"
    array = np.full(shape, fill if np.issubdtype(dtype, np.inexact) or np.isfinite(fill) else 0).astype(dtype)
    np.save(path, array)
    if cut < 400:
        path.write_bytes(path.read_bytes()[:cut])
    try:
        volume = cli._read_volume(path, voxel_size_m=1e-6)
    except (ValueError, KeyError, FileNotFoundError, ElectrodeDesignError) as error:  # what the CLI turns into one line
        assert str(error)
        return
    assert volume.ndim == 3 and min(volume.shape) >= 2
    assert np.issubdtype(volume.dtype, np.integer) or np.issubdtype(volume.dtype, np.floating)
