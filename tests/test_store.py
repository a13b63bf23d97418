"""Results store: atomic Zarr writes, intake catalog, concurrency, bad input."""
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from electrode_design import store


def _dataset(kind="gitt", n=5, value=1.0):
    return xr.Dataset(
        {"ocv": ("pulse", np.full(n, value), {"units": "V", "long_name": "open-circuit voltage"})},
        coords={"sol": ("pulse", np.linspace(0.3, 0.9, n), {"units": "1", "long_name": "state of lithiation"})},
        attrs={"kind": kind, "source": "test", "particle_radius_um": 5.22, "parameters": {"a": 1}},
    )


def test_save_list_open_remove(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(_dataset(), "first", catalog_path=catalog, metadata={"c_rate": 3})
    store.save_result(_dataset(kind="microstructure"), "second", catalog_path=catalog)
    table = store.list_results(catalog_path=catalog)
    assert list(table.name) == ["first", "second"]
    assert list(store.list_results(catalog_path=catalog, kind="gitt").name) == ["first"]
    assert list(store.list_results(catalog_path=catalog, c_rate="3").name) == ["first"]
    opened = store.open_result("first", catalog_path=catalog)
    assert opened.ocv.attrs["units"] == "V"
    assert hasattr(opened.ocv.data, "dask")  # lazy
    np.testing.assert_allclose(opened.ocv.values, 1.0)
    # the catalog is plain intake 2 YAML with relative URLs
    raw = yaml.safe_load(catalog.read_text())
    urls = [d["kwargs"]["url"] for d in raw["data"].values()]
    assert all(u.startswith("{CATALOG_DIR}/data/") for u in urls)
    assert "CATALOG_DIR" not in raw["user_parameters"]
    store.remove_result("first", catalog_path=catalog)
    assert list(store.list_results(catalog_path=catalog).name) == ["second"]
    assert not (tmp_path / "data" / "gitt" / "first.zarr").exists()
    assert len(raw["data"]) == 2 and len(yaml.safe_load(catalog.read_text())["data"]) == 1


def test_overwrite_replaces_store(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(_dataset(value=1.0), "run", catalog_path=catalog)
    store.save_result(_dataset(value=2.0), "run", catalog_path=catalog)
    assert float(store.open_result("run", catalog_path=catalog).ocv[0]) == 2.0
    with pytest.raises(store.StoreError, match="already has an entry 'run'"):
        store.save_result(_dataset(), "run", catalog_path=catalog, overwrite=False)
    leftovers = [p.name for p in (tmp_path / "data" / "gitt").iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_zstd_compression_and_snapshot_chunks(tmp_path):
    import zarr

    catalog = tmp_path / "catalog.yml"
    field = np.random.default_rng(0).random((4, 6, 5, 5))
    ds = xr.Dataset({"sol": (("snapshot", "z", "y", "x"), field, {"units": "1", "long_name": "state of lithiation"})},
                    attrs={"kind": "simulation"})
    store.save_result(ds, "sim", catalog_path=catalog)
    array = zarr.open_group(tmp_path / "data" / "simulation" / "sim.zarr", mode="r")["sol"]
    assert array.chunks == (1, 6, 5, 5)
    assert "zstd" in str(array.metadata.codecs).lower()


@pytest.mark.parametrize("ds, name, message", [
    (_dataset(kind="nonsense"), "x", "kind"),
    (_dataset().assign(bad=("pulse", np.zeros(5))), "x", "bad"),
    (_dataset(), "has space", "identifier"),
    (_dataset(), "9lives", "identifier"),
])
def test_bad_results_are_refused_and_nothing_registered(tmp_path, ds, name, message):
    catalog = tmp_path / "catalog.yml"
    with pytest.raises(store.StoreError, match=message):
        store.save_result(ds, name, catalog_path=catalog)
    assert not catalog.exists()
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*.zarr"))


def test_interrupted_write_leaves_no_store_and_no_entry(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog.yml"

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.Dataset, "to_zarr", boom)
    with pytest.raises(KeyboardInterrupt):
        store.save_result(_dataset(), "half", catalog_path=catalog)
    assert not catalog.exists()
    assert list((tmp_path / "data" / "gitt").iterdir()) == []


def test_missing_and_corrupt_stores_give_clear_errors(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(_dataset(), "gone", catalog_path=catalog)
    store.save_result(_dataset(), "broken", catalog_path=catalog)
    import shutil

    shutil.rmtree(tmp_path / "data" / "gitt" / "gone.zarr")
    (tmp_path / "data" / "gitt" / "broken.zarr" / "zarr.json").write_text("{not json")
    with pytest.raises(store.StoreError, match="missing"):
        store.open_result("gone", catalog_path=catalog)
    with pytest.raises(store.StoreError, match="cannot open"):
        store.open_result("broken", catalog_path=catalog)
    with pytest.raises(KeyError, match="did you mean"):
        store.open_result("brokn", catalog_path=catalog)
    table = store.list_results(catalog_path=catalog).set_index("name")
    assert not table.loc["gone", "store_exists"] and table.loc["broken", "store_exists"]


def _register_four(args):
    catalog, worker = args
    for i in range(4):
        store.save_result(_dataset(value=worker * 10 + i), f"w{worker}_r{i}", catalog_path=catalog)
    return worker


def test_concurrent_registration(tmp_path):
    catalog = tmp_path / "catalog.yml"
    with mp.get_context("spawn").Pool(8) as pool:
        assert sorted(pool.map(_register_four, [(catalog, w) for w in range(8)])) == list(range(8))
    table = store.list_results(catalog_path=catalog)
    assert len(table) == 32 and table.store_exists.all()
    for name in table.name:
        worker, i = (int(part[1:]) for part in name.split("_"))
        assert float(store.open_result(name, catalog_path=catalog).ocv[0]) == worker * 10 + i
    temp_files = [p for p in tmp_path.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert temp_files == []


def test_repository_catalog_entries_all_open():
    """Every entry of the repository's committed catalog.yml opens (and there is at least one)."""
    catalog = Path(__file__).resolve().parent.parent / "catalog.yml"
    table = store.list_results(catalog_path=catalog)
    assert len(table) >= 1, "the repository catalog should hold the example results"
    for name in table.name:
        ds = store.open_result(name, catalog_path=catalog)
        assert ds.attrs["kind"] in store.RESULT_KINDS
        for var in ds.data_vars.values():
            assert "units" in var.attrs and "long_name" in var.attrs


def test_shipped_examples_are_listed_beneath_your_default_catalog(tmp_path, monkeypatch):
    """Issue 10: your results go to an untracked catalog; the committed examples stay listed and openable."""
    examples = store.examples_catalog_path()
    assert examples is not None and examples.name == "catalog.yml"
    shipped = set(store.list_results(catalog_path=examples).name)
    monkeypatch.setenv("ELECTRODE_DESIGN_CATALOG", str(tmp_path / "catalog.yml"))
    table = store.list_results()
    assert set(table.name) == shipped and set(table.source) == {"example"}
    name = sorted(shipped)[0]
    kind = store.entry_metadata(name)["kind"]
    assert store.open_result(name).attrs["kind"] == kind
    with pytest.raises(store.StoreError, match="shipped example"):
        store.remove_result(name)
    store.save_result(_dataset(kind="gitt", value=7.0), name)  # yours hides the example of that name
    table = store.list_results()
    assert table.set_index("name").loc[name, "source"] == "yours" and len(table) == len(shipped)
    assert float(store.open_result(name).ocv[0]) == 7.0
    assert (tmp_path / "data" / "gitt" / f"{name}.zarr").exists()
    # another catalog given explicitly is read alone
    assert list(store.list_results(catalog_path=tmp_path / "other.yml").name) == []


def test_a_save_whose_catalog_write_fails_leaves_store_and_catalog_as_they_were(tmp_path, monkeypatch):
    catalog = tmp_path / "catalog.yml"
    store.save_result(_dataset(), "kept", catalog_path=catalog, metadata={"run": 1})
    before = catalog.read_text()
    created = store.entry_metadata("kept", catalog_path=catalog)["created"]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the new store moved in, before the catalog was written

    monkeypatch.setattr(store, "_write_raw", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.save_result(_dataset(), "kept", catalog_path=catalog, metadata={"run": 2})
    monkeypatch.undo()
    assert catalog.read_text() == before
    assert store.open_result("kept", catalog_path=catalog).attrs["created"] == created
    assert [p.name for p in (tmp_path / "data" / "gitt").iterdir()] == ["kept.zarr"]  # nothing left aside
