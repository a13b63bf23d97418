"""One schema, one voice: Dataset schema on save, migration on read, validator messages, quiet library code."""
import logging
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from electrode_design import conventions, params, store
from electrode_design.conventions import (SCHEMA_VERSION, ElectrodeDesignError, ParameterError, StoreError,
                                          check_fraction, check_number, check_positive, migrate_dataset, variable)


def _trace(n=4):
    return xr.Dataset({"voltage": variable("time", np.linspace(4.2, 3.9, n), "V", "working electrode potential")},
                      coords={"time": variable("time", np.arange(n) * 60.0, "s", "time")},
                      attrs={"kind": "simulation"})


def test_errors_share_one_base_and_stay_builtin():
    assert issubclass(ParameterError, ValueError) and issubclass(StoreError, ValueError)
    assert issubclass(conventions.SolverError, RuntimeError)
    assert issubclass(conventions.MissingDependencyError, ImportError)
    assert params.ParameterError is ParameterError and store.StoreError is StoreError
    from electrode_design.gpnp import SolverError
    assert SolverError is conventions.SolverError and SolverError("x", partial_result=1).partial_result == 1


@pytest.mark.parametrize("call, message", [
    (lambda: check_positive("radius_m", -1.0, "m"), "radius_m: got -1.0; expected a positive number in m"),
    (lambda: check_positive("c_rate", "3C"), "c_rate: got '3C'; expected a positive number"),
    (lambda: check_fraction("porosity", 1.5, where="separator."), "separator.porosity: got 1.5; expected a number in (0, 1]"),
    (lambda: check_number("n", 2.5, integer=True, low=1, low_inclusive=True, hint="a count"),
     "n: got 2.5; expected an integer >= 1 (a count)"),
    (lambda: params.parameter_set("chen2020_nmc811").replace(**{"positive.porosity": -0.1}),
     "porosity: got -0.1; expected a number in (0, 1]"),
])
def test_validators_speak_with_one_voice(call, message):
    with pytest.raises(ParameterError) as info:
        call()
    assert str(info.value) == message


def test_unitless_variable_is_refused_on_save(tmp_path):
    ds = _trace().assign(current=("time", np.ones(4)))
    with pytest.raises(StoreError, match=r"variables without 'units' or 'long_name' attrs: \['current'\]"):
        store.save_result(ds, "run", catalog_path=tmp_path / "catalog.yml")
    assert not (tmp_path / "catalog.yml").exists()


def test_time_axis_with_a_unit_suffix_is_refused_on_save(tmp_path):
    ds = _trace().rename({"time": "time_s"})
    with pytest.raises(StoreError, match="dimension 'time_s': the time axis must be named 'time'"):
        store.save_result(ds, "run", catalog_path=tmp_path / "catalog.yml")


@pytest.mark.parametrize("change, message", [
    (lambda ds: ds.rename({"voltage": "voltage_V"}), r"previous-schema variable names \(voltage_V -> voltage\)"),
    (lambda ds: ds.assign(voltage=variable("time", np.full(4, 4000.0), "mV", "potential")),
     "variable 'voltage': units 'mV'; expected 'V'"),
    (lambda ds: ds.assign_attrs(kind="experiment"), "attrs\\['kind'\\]: got 'experiment'"),
])
def test_schema_rejects_old_names_wrong_units_unknown_kind(change, message):
    with pytest.raises(StoreError, match=message):
        conventions.check_dataset(change(_trace()))


def test_saved_result_records_the_schema_version(tmp_path):
    catalog = tmp_path / "catalog.yml"
    store.save_result(_trace().assign_attrs(package_version="0.0.1"), "run", catalog_path=catalog)
    opened = store.open_result("run", catalog_path=catalog)
    assert opened.attrs["schema_version"] == SCHEMA_VERSION
    assert "package_version" not in opened.attrs and "electrode_design_version" in opened.attrs


def test_an_old_schema_entry_opens_migrated(tmp_path, monkeypatch):
    """An entry as the previous version wrote it (GITT names with unit suffixes) opens with the current names."""
    catalog = tmp_path / "catalog.yml"
    old = xr.Dataset(
        {"voltage_V": ("time", [4.0, 3.9, 3.95], {"units": "V", "long_name": "measured voltage"}),
         "time_s": ("time", [0.0, 10.0, 20.0], {"units": "s", "long_name": "test time"}),
         "ds": ("pulse", [1e-14], {"units": "m2 s-1", "long_name": "solid diffusivity"}),
         "c_rate_limit": ("pulse", [3.2], {"units": "1", "long_name": "diffusion-limited C-rate"})},
        coords={"sol": ("pulse", [0.5], {"units": "1", "long_name": "state of lithiation"})},
        attrs={"kind": "gitt", "package_version": "0.0.1"})
    monkeypatch.setattr(store, "check_dataset", lambda ds: None)  # the previous version did not check names
    store.save_result(old, "old_gitt", catalog_path=catalog)
    monkeypatch.undo()
    opened = store.open_result("old_gitt", catalog_path=catalog)
    assert {"voltage", "solid_diffusivity", "max_c_rate"} <= set(opened.data_vars)
    assert "time" in opened.coords and opened.time.attrs["units"] == "s"
    np.testing.assert_allclose(opened.solid_diffusivity.values, [1e-14])
    assert "package_version" not in opened.attrs and opened.attrs["schema_version"] == SCHEMA_VERSION
    conventions.check_dataset(opened)
    assert sorted(migrate_dataset(opened).variables) == sorted(opened.variables)  # a no-op on schema 2


def test_committed_gitt_entry_opens_with_current_names():
    """The committed GITT example opens with the schema-2 names (old-schema stores: the test above)."""
    catalog = Path(__file__).resolve().parent.parent / "catalog.yml"
    ds = store.open_result("gitt_pybamm_param_example", catalog_path=catalog)
    assert {"voltage", "current", "solid_diffusivity", "diffusion_time"} <= set(ds.variables)
    assert not set(conventions.RENAMED_VARIABLES) & set(ds.variables)


def test_library_code_prints_nothing(tmp_path, capsys, caplog):
    """A quiet run (progress=False) of a particle discharge and a store round trip writes nothing to stdout."""
    from electrode_design.particle import discharge_sphere

    cell = params.parameter_set("chen2020_nmc811")
    with caplog.at_level(logging.DEBUG, logger="electrode_design"):
        ds = discharge_sphere(cell, c_rate=2.0, n_cells=12, dsol_max=0.05, progress=False)
        store.save_result(ds, "quiet", catalog_path=tmp_path / "catalog.yml")
        store.open_result("quiet", catalog_path=tmp_path / "catalog.yml").load()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ds.attrs["kind"] == "simulation" and float(ds.depth_of_discharge[-1]) > 0.5
    assert any("step" in r.getMessage() for r in caplog.records)  # the trace went to the logger instead


def test_progress_means_a_tqdm_bar(capsys):
    from electrode_design.particle import discharge_sphere

    cell = params.parameter_set("chen2020_nmc811")
    discharge_sphere(cell, c_rate=2.0, n_cells=12, dsol_max=0.05, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "% DoD" in captured.err


def test_all_package_errors_are_electrode_design_errors():
    for error in (ParameterError, StoreError, conventions.InputFileError, conventions.SolverError,
                  conventions.MissingDependencyError):
        assert issubclass(error, ElectrodeDesignError)
