"""Bad inputs, damaged catalogs and interrupts through the `electrode-design` command: one row per case.

Run from the repository root: `python benchmarks/reliability_cases.py [WORKDIR]`. Each case runs the CLI
in a subprocess and is classed: `one line` (exit != 0, stderr is one line, no traceback), `traceback`,
`ok` (exit 0) or `exit N`. Prints a Markdown table (case, exit code, verdict, first line of stderr).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "FIPY_SOLVERS": "scipy", "PYBAMM_DISABLE_TELEMETRY": "true",
       "MPLBACKEND": "Agg"}
CLI = [sys.executable, "-c", "import sys; from electrode_design.cli import main; sys.exit(main())"]
GITT = ROOT / "data" / "examples" / "gitt_pybamm_param"


def cli(*args, catalog=None, timeout=600):
    pre = ["--catalog", str(catalog)] if catalog is not None else []
    return subprocess.run([*CLI, *pre, *map(str, args)], env=ENV, capture_output=True, text=True, timeout=timeout)


def verdict(proc) -> tuple[int, str, str]:
    err = [line for line in proc.stderr.splitlines() if line.strip() and "it/s" not in line and "%|" not in line
           and "Warning" not in line and not line.startswith("  warnings.warn")]
    if "Traceback" in proc.stderr:
        return proc.returncode, "traceback", err[-1] if err else ""
    if proc.returncode == 0:
        return 0, "ok", (err[0] if err else proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "")
    return proc.returncode, "one line" if len(err) == 1 else f"{len(err)} lines", err[0] if err else ""


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    cat = work / "cat" / "catalog.yml"
    rows = []

    def case(label, proc):
        rows.append((label, *verdict(proc)))
        print(f"| {label} | {rows[-1][1]} | {rows[-1][2]} | {rows[-1][3][:150]} |", flush=True)

    print("| case | exit | verdict | message |\n|---|---|---|---|")
    ms = cli("generate", "--out", "tiny", "--diameter-um", "4", "--thickness-um", "12", "--width-um", "8",
             "--voxel-um", "1", "--no-tortuosity", catalog=cat)
    assert ms.returncode == 0, ms.stderr
    case("simulate --c-rate 1000", cli("simulate", "tiny", "--c-rate", "1000", "--out", "fast", catalog=cat))
    case("simulate --cutoff 4.3 (above the initial OCV 4.27 V)", cli("simulate", "tiny", "--c-rate", "1", "--cutoff", "4.3",
                                                           "--out", "high", catalog=cat))
    base = yaml.safe_load((ROOT / "electrode_design" / "parameter_sets" / "chen2020_nmc811.yml").read_text())
    hot = dict(base, temperature_K=5000.0)
    (work / "hot.yml").write_text(yaml.safe_dump(hot))
    case("simulate --params at 5000 K", cli("simulate", "tiny", "--c-rate", "1", "--params", work / "hot.yml",
                                            "--out", "hot", catalog=cat))
    micro = yaml.safe_load(yaml.safe_dump(base))
    micro["positive"]["particle_radius_m"] = 5.0  # µm written where metres are expected
    (work / "micro.yml").write_text(yaml.safe_dump(micro))
    case("params: particle_radius_m 5 (µm slip)", cli("params", work / "micro.yml"))
    conc = yaml.safe_load(yaml.safe_dump(base))
    conc["electrolyte"]["c_initial_mol_m3"] = 1.0  # mol/L written where mol/m3 is expected
    (work / "conc.yml").write_text(yaml.safe_dump(conc))
    case("params: c_initial_mol_m3 1 (mol/L slip)", cli("params", work / "conc.yml"))
    (work / "syntax.yml").write_text("name: x\npositive: [unclosed\n  thickness_m: 1\n")
    case("params: YAML syntax error", cli("params", work / "syntax.yml"))
    case("simulate --params YAML syntax error", cli("simulate", "tiny", "--c-rate", "1", "--params",
                                                    work / "syntax.yml", catalog=cat))
    (work / "electrode_bad.yml").write_text("particle_radius_m: [1,\n")
    case("gitt --electrode YAML syntax error", cli("gitt", GITT / "pulse_1.csv", "--electrode", work / "electrode_bad.yml",
                                                   "--no-plot", catalog=cat))
    for label, array in (("bool", np.ones((8, 8, 8), bool)), ("complex", np.ones((8, 8, 8), complex)),
                         ("empty", np.zeros((0, 8, 8), np.uint8)), ("1-D", np.arange(10, dtype=np.uint8)),
                         ("object", np.array([[["a"]]], dtype=object))):
        path = work / f"{label.replace('-', '')}.npy"
        np.save(path, array, allow_pickle=True)
        case(f"segment {label} .npy", cli("segment", path, "--voxel-um", "1", catalog=cat))
    (work / "garbage.npy").write_bytes(b"not a numpy file at all")
    case("segment garbage .npy", cli("segment", work / "garbage.npy", "--voxel-um", "1", catalog=cat))
    (work / "dircat").mkdir(exist_ok=True)
    case("--catalog DIR catalog list", cli("catalog", "list", catalog=work / "dircat"))
    case("--catalog DIR generate", cli("generate", "--out", "g", "--thickness-um", "8", "--width-um", "8",
                                       "--voxel-um", "1", "--diameter-um", "4", "--no-tortuosity",
                                       catalog=work / "dircat"))
    case("generate --fraction 1.5", cli("generate", "--out", "g", "--fraction", "1.5", catalog=cat))
    case("simulate of a missing entry", cli("simulate", "nope", "--c-rate", "1", catalog=cat))

    case("simulate --c-rate -1", cli("simulate", "tiny", "--c-rate", "-1", catalog=cat))
    case("simulate --cutoff 0", cli("simulate", "tiny", "--c-rate", "1", "--cutoff", "0", catalog=cat))
    case("generate --voxel-um 0", cli("generate", "--out", "g", "--voxel-um", "0", catalog=cat))
    case("params of a missing file", cli("params", work / "missing.yml"))
    case("gitt of a missing file", cli("gitt", work / "missing.csv", "--electrode", GITT / "electrode.yml", catalog=cat))
    case("report of a missing entry", cli("report", "nope", "--out", work / "r.html", catalog=cat))
    (work / "afile").write_text("x")
    case("--catalog under a file (afile/catalog.yml)", cli("catalog", "list", catalog=work / "afile" / "catalog.yml"))
    cli("generate", "--out", "doomed", "--diameter-um", "4", "--thickness-um", "8", "--width-um", "8",
        "--voxel-um", "1", "--no-tortuosity", catalog=cat)
    shutil.rmtree(cat.parent / "data" / "microstructure" / "doomed.zarr")
    case("catalog show of an entry whose store was deleted", cli("catalog", "show", "doomed", catalog=cat))
    cli("catalog", "remove", "doomed", catalog=cat)
    ct = ROOT / "data" / "examples" / "ct_nrel_nmc" / "nmc-1-cal_generatedCBD_bridge.tif"
    proc = subprocess.Popen([*CLI, "--catalog", str(cat), "segment", str(ct), "--voxel-um", "0.398", "--labels",
                             "0:0,1:1,2:2", "--out", "seg"], env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(8.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    case("Ctrl-C (SIGINT) during segment", subprocess.CompletedProcess([], proc.returncode, out, err))

    # damaged catalogs: save over a result while the catalog is invalid YAML / truncated
    good = cat.read_text()
    store = cat.parent / "data" / "microstructure" / "tiny.zarr"
    created = json.loads((store / "zarr.json").read_text())["attributes"]["created"]
    cat.write_text(good + "\n  : : [\n")
    proc = cli("generate", "--out", "tiny", "--diameter-um", "4", "--thickness-um", "12", "--width-um", "8",
               "--voxel-um", "1", "--seed", "1", "--no-tortuosity", catalog=cat)
    case("save over 'tiny' with a catalog that is not YAML", proc)
    kept = store.exists() and json.loads((store / "zarr.json").read_text())["attributes"]["created"] == created
    case("  ... then: is the old 'tiny' store unchanged?", subprocess.CompletedProcess(
        [], 0 if kept else 1, "", "" if kept else "old store replaced although the save failed"))
    cat.write_text(good)
    raw = yaml.safe_load(good)
    raw["entries"], raw["aliases"], raw["data"] = {}, {}, {}
    cat.write_text(yaml.safe_dump(raw))
    case("catalog list with a truncated-but-parseable catalog", cli("catalog", "list", catalog=cat))
    case("generate into a truncated-but-parseable catalog", cli(
        "generate", "--out", "other", "--diameter-um", "4", "--thickness-um", "8", "--width-um", "8",
        "--voxel-um", "1", "--no-tortuosity", catalog=cat))
    case("catalog check", cli("catalog", "check", catalog=cat))
    case("catalog rebuild", cli("catalog", "rebuild", catalog=cat))
    case("catalog list after rebuild", cli("catalog", "list", catalog=cat))
    cat.write_text("- a\n- b\n")
    case("catalog list with a YAML list as catalog", cli("catalog", "list", catalog=cat))
    cat.write_text(good)

    # Ctrl-C during simulate, two seconds into the time loop
    cli("generate", "--out", "big", "--diameter-um", "8", "--thickness-um", "40", "--width-um", "24",
        "--voxel-um", "1", "--no-tortuosity", catalog=cat)
    proc = subprocess.Popen([*CLI, "--catalog", str(cat), "simulate", "big", "--c-rate", "0.5", "--out", "ctrlc"],
                            env={**ENV, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:
        if "voxels of" in line:
            break
    time.sleep(2.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    case("Ctrl-C (SIGINT) during simulate", subprocess.CompletedProcess([], proc.returncode, out, err))
    case("  ... then: catalog show ctrlc", cli("catalog", "show", "ctrlc", catalog=cat))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="reliability_")))
