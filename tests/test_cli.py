"""The electrode-design command: each subcommand end to end on small inputs, and its errors."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from electrode_design import cli, store

ROOT = Path(__file__).resolve().parent.parent
GITT = ROOT / "data" / "examples" / "gitt_pybamm_param"


def run(*args, catalog):
    return cli.main(["--catalog", str(catalog), *map(str, args)])


def test_gitt_then_catalog_list_search_show_remove(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    files = sorted(GITT.glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))[:8]
    assert run("gitt", *files, "--electrode", GITT / "electrode.yml", "--out", "eight", catalog=catalog) == 0
    out = capsys.readouterr().out
    assert "8 pulses" in out and "saved as catalog entry 'eight'" in out
    assert (tmp_path / "data" / "gitt" / "eight.png").stat().st_size > 10_000
    assert run("catalog", "list", catalog=catalog) == 0
    assert "eight" in capsys.readouterr().out
    assert run("catalog", "search", "kind=gitt", "n_pulses=8", catalog=catalog) == 0
    assert "eight" in capsys.readouterr().out
    assert run("catalog", "search", "kind=simulation", catalog=catalog) == 0
    assert "no matching entries" in capsys.readouterr().out
    assert run("catalog", "show", "eight", catalog=catalog) == 0
    assert "solid_diffusivity_wh" in capsys.readouterr().out
    assert run("catalog", "remove", "eight", catalog=catalog) == 0
    assert store.list_results(catalog_path=catalog).empty


def test_gitt_with_an_ocv_reference(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    files = sorted(GITT.glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))[4:12]
    assert run("gitt", *files, "--electrode", GITT / "electrode.yml", "--out", "with_ref", "--no-plot",
               "--ocv-reference", GITT / "cathode_OCP_2_lit.csv", catalog=catalog) == 0
    ds = store.open_result("with_ref", catalog_path=catalog)
    assert "reference" in ds.attrs["ocv_shape"] and ds.sizes["pulse"] == 8
    bad = tmp_path / "one_column.csv"
    bad.write_text("sol\n0.1\n0.2\n")
    assert run("gitt", *files, "--electrode", GITT / "electrode.yml", "--ocv-reference", bad, catalog=catalog) == 2
    assert "two numeric columns" in capsys.readouterr().err


def test_bad_input_is_one_clear_line_and_nothing_registered(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    not_cycler = tmp_path / "notes.csv"
    not_cycler.write_text("colour,shape\nred,round\n")
    code = run("gitt", not_cycler, "--electrode", GITT / "electrode.yml", catalog=catalog)
    err = capsys.readouterr().err
    assert code == 2 and "notes.csv" in err and "Traceback" not in err
    assert not catalog.exists()
    assert run("catalog", "show", "missing_entry", catalog=catalog) == 2
    assert "no entry 'missing_entry'" in capsys.readouterr().err
    assert run("catalog", "search", "kind", catalog=catalog) == 2
    assert "key=value" in capsys.readouterr().err


def test_generate_characterise_and_segment(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    assert run("generate", "--out", "tiny", "--diameter-um", 8, "--thickness-um", 24, "--width-um", 20,
               "--voxel-um", 1, "--seed", 3, "--ds", 4e-15, catalog=catalog) == 0
    out = capsys.readouterr().out
    assert "tiny:" in out and "tortuosity" in out
    ds = store.open_result("tiny", catalog_path=catalog)
    assert ds.attrs["kind"] == "microstructure" and abs(ds.attrs["active_volume_fraction"] - 0.43) <= 0.01
    assert run("characterise", "tiny", "--out", "tiny_again", "--no-tortuosity", catalog=catalog) == 0
    assert "tiny_again" in set(store.list_results(catalog_path=catalog).name)
    # a labelled volume written as .npy goes through segment
    labels = np.asarray(ds["phase"].values, dtype=np.uint8)
    volume = tmp_path / "labels.npy"
    np.save(volume, labels)
    assert run("segment", volume, "--voxel-um", 1, "--labels", "0:0,1:1", "--no-tortuosity", "--out", "seg",
               catalog=catalog) == 0
    seg = store.open_result("seg", catalog_path=catalog)
    assert seg.attrs["n_particles"] > 0 and seg.attrs["source"] == "labels.npy"
    for suffix in ("slices", "psd", "profile"):
        assert (tmp_path / "data" / "microstructure" / f"seg_{suffix}.png").exists()


def test_simulate_with_p2d_twins(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    assert run("generate", "--out", "small", "--diameter-um", 8, "--thickness-um", 20, "--width-um", 12,
               "--voxel-um", 1, "--seed", 1, catalog=catalog) == 0
    assert run("simulate", "small", "--c-rate", 3, "--p2d", "--out", "small_3c", catalog=catalog) == 0
    out = capsys.readouterr().out
    assert "small_3c: status ok" in out
    assert "radius 'volume'" in out and "radius 'area'" in out and "separator-minus-collector" in out
    assert "contacts hide" in out  # a packed electrode: the DFN's free spheres react over more area
    sim = store.open_result("small_3c", catalog_path=catalog)
    assert sim.attrs["kind"] == "simulation" and "sol_profile" in sim
    # the solid potential as a field (finite electronic conductivity)
    assert run("simulate", "small", "--c-rate", 3, "--solid-conductivity", 0.05, "--out", "small_field",
               catalog=catalog) == 0
    field = store.open_result("small_field", catalog_path=catalog)
    assert "solid_potential" in field and '"solid_potential": "field"' in field.attrs["build_options"]
    v_field = np.interp(0.3, field.depth_of_discharge.values, field.voltage.values)
    v_uniform = np.interp(0.3, sim.depth_of_discharge.values, sim.voltage.values)
    assert v_field < v_uniform - 1e-3  # the ohmic drop in the solid
    assert run("simulate", "small", "--c-rate", 3, "--solid-conductivity", -1, catalog=catalog) == 2


def test_params_command_prints_the_table(capsys):
    assert cli.main(["params", "chen2020_nmc811"]) == 0
    assert "positive.particle_radius_m" in capsys.readouterr().out


def test_console_script_runs():
    exe = Path(sys.executable).with_name("electrode-design")
    assert exe.exists(), "pip install -e . should install the electrode-design console script"
    result = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "electrode_design" in result.stdout


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    syntax = tmp_path / "cell.yml"
    syntax.write_text("name: x\npositive: [unclosed\n")
    hot = tmp_path / "hot.yml"
    hot.write_text(Path(ROOT / "electrode_design" / "parameter_sets" / "chen2020_nmc811.yml").read_text()
                   .replace("temperature_K: 298.15", "temperature_K: 5000.0"))
    np.save(tmp_path / "mask.npy", np.ones((4, 4, 4), bool))
    (tmp_path / "cut.npy").write_bytes(b"")
    for args, expected in ((("params", syntax), "not valid YAML"), (("params", hot), "expected a number in [200, 400] in K"),
                           (("segment", tmp_path / "mask.npy", "--voxel-um", "1"), "a boolean volume"),
                           (("segment", tmp_path / "cut.npy", "--voxel-um", "1"), "not a readable volume")):
        assert run(*args, catalog=catalog) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err
    assert cli.main(["--catalog", str(tmp_path), "catalog", "list"]) == 2
    assert "is a directory" in capsys.readouterr().err

def test_simulate_with_gitt_uses_the_measured_diffusivity(tmp_path, capsys):
    catalog = tmp_path / "catalog.yml"
    files = sorted(GITT.glob("pulse_*.csv"), key=lambda p: int(p.stem.split("_")[1]))
    assert run("gitt", *files, "--electrode", GITT / "electrode.yml", "--out", "g", "--no-plot", catalog=catalog) == 0
    assert run("generate", "--out", "small", "--diameter-um", 8, "--thickness-um", 16, "--width-um", 10,
               "--voxel-um", 1, "--seed", 1, catalog=catalog) == 0
    capsys.readouterr()
    assert run("simulate", "small", "--c-rate", 3, "--gitt", "g", "--out", "small_gitt", catalog=catalog) == 0
    assert "from the GITT entry 'g' (params.from_gitt)" in capsys.readouterr().out
    sim = store.open_result("small_gitt", catalog_path=catalog)
    from electrode_design import params
    used = json.loads(sim.attrs["parameters"])["positive"]["material"]["diffusivity"]
    expected = params.from_gitt("g", catalog_path=catalog).positive.material.diffusivity
    np.testing.assert_allclose(used["values"], expected.values, rtol=1e-12)
    assert store.list_results(catalog_path=catalog).set_index("name").loc["small_gitt", "gitt"] == "g"
    assert run("simulate", "small", "--c-rate", 3, "--gitt", "nothing_here", catalog=catalog) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing_here" in err[0]

def test_simulate_estimate_dry_run_and_refusal(tmp_path, capsys, monkeypatch):
    catalog = tmp_path / "catalog.yml"
    assert run("generate", "--out", "small", "--diameter-um", 8, "--thickness-um", 20, "--width-um", 12,
               "--voxel-um", 1, "--seed", 1, catalog=catalog) == 0
    capsys.readouterr()
    assert run("simulate", "small", "--c-rate", 1, "--dry-run", "--crop", "0:16um,0:10,0:10", "--coarsen", 2,
               catalog=catalog) == 0
    out = capsys.readouterr().out
    assert "(8, 5, 5) voxels of 2 µm" in out and "'operation': 'crop'" in out and "'operation': 'coarsen'" in out
    assert "unknowns" in out and "predicted peak memory" in out
    assert "small_1C" not in set(store.list_results(catalog_path=catalog)["name"])   # nothing simulated or saved
    monkeypatch.setenv("ELECTRODE_DESIGN_MEMORY_LIMIT", "10MB")
    assert run("simulate", "small", "--c-rate", 1, catalog=catalog) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "0.0 GB are available" in err[0] and "--coarsen" in err[0] and "--crop" in err[0]
    assert "status" not in captured.out                                   # nothing was run


def test_simulate_warns_about_pores_cut_off_from_the_separator(tmp_path, capsys):
    """Issue 16: unreachable pore space is a warning with the volume fraction it removes, in the output and the attrs."""
    catalog = tmp_path / "catalog.yml"
    assert run("generate", "--out", "g1", "--diameter-um", 8, "--thickness-um", 16, "--width-um", 10, "--voxel-um", 1,
               "--seed", 1, "--no-tortuosity", catalog=catalog) == 0
    capsys.readouterr()
    assert run("simulate", "g1", "--c-rate", 3, "--out", "s", catalog=catalog) == 0
    assert "of the non-solid volume (1 voxels) is cut off from the separator" in capsys.readouterr().out
    assert 0 < store.open_result("s", catalog_path=catalog).attrs["unreachable_pore_fraction"] < 0.01
