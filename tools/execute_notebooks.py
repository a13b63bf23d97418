"""Execute module notebooks in quick mode and keep their outputs (figures included).

Cells flagged ``#| slow`` (nbdev's tst_flags) or ``#| eval: false`` are skipped, exactly as
``nbdev-test`` skips them in CI; every other cell runs in a fresh kernel from ``nbs/`` and
its outputs are written back into the notebook. Run ``nbdev-clean`` afterwards.

    python tools/execute_notebooks.py nbs/02_gitt.ipynb nbs/03_microstructure.ipynb
"""
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SKIP = re.compile(r"^#\|\s*(slow\b|eval:\s*false)", re.MULTILINE)
LOADER_BYTES = 50_000  # a JavaScript output this large is a library loader (BokehJS), not a figure


def _kept(output) -> bool:
    """Figures and text stay; the JavaScript library loaders holoviews/bokeh emit (MBs each) do not."""
    data = output.get("data", {})
    is_loader = "application/javascript" in data or "application/vnd.holoviews_load.v0+json" in data
    return not (is_loader and len(str(data)) > LOADER_BYTES)


def execute(path: Path, timeout_s: int = 1800) -> float:
    nb = nbformat.read(path, as_version=4)
    run = nbformat.from_dict(nb)  # a copy whose skipped cells do nothing
    skipped = set()
    for k, cell in enumerate(run.cells):
        if cell.cell_type == "code" and SKIP.search(cell.source):
            cell.source = "pass  # skipped in quick mode"
            skipped.add(k)
    start = time.perf_counter()
    env = {"FIPY_SOLVERS": "scipy", "PYBAMM_DISABLE_TELEMETRY": "true", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    os.environ.update(env)
    NotebookClient(run, timeout=timeout_s, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for k, (cell, done) in enumerate(zip(nb.cells, run.cells)):
        if cell.cell_type == "code" and k not in skipped:
            cell.outputs = [o for o in done.outputs if _kept(o)]
    nbformat.write(nb, path)
    return time.perf_counter() - start


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: executed in {execute(Path(name)):.0f} s", flush=True)
