"""The README's "What of the paper is reproduced" table is generated from nbs/paper/claims/ and up to date."""
import csv
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tool():
    spec = importlib.util.spec_from_file_location("claims_table", ROOT / "tools" / "claims_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_claims_table_is_generated_and_current():
    tool = _tool()
    assert tool.main(["--check"]) == 0
    files = tool._files()
    assert {"figs_1_2", "figs_3_4", "fig_5", "fig_6", "figs_7_8"} <= set(files)
    total = sum(len(list(csv.DictReader(path.open(newline="")))) for _, path in files.values())
    readme = (ROOT / "README.md").read_text()
    assert f"| **all** | | {total} |" in readme
    assert readme.count("| figs_7_8 |") == len(list(csv.DictReader(files["figs_7_8"][1].open(newline=""))))
