"""Time of one `save_result` into a catalog that already holds N entries (validation and truncation check included).

Run from the repository root: `python benchmarks/bench_catalog_save.py [N]`; prints the median of 5 saves.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from electrode_design import store


def main(n: int) -> None:
    catalog = Path(tempfile.mkdtemp()) / "catalog.yml"
    ds = xr.Dataset({"ocv": ("pulse", np.linspace(3.5, 4.2, 8), {"units": "V", "long_name": "open-circuit voltage"})},
                    attrs={"kind": "gitt"})
    for i in range(n):
        store.save_result(ds, f"r{i}", catalog_path=catalog)
    times = []
    for i in range(5):
        start = time.perf_counter()
        store.save_result(ds, f"extra{i}", catalog_path=catalog)
        times.append(time.perf_counter() - start)
    print(f"save into a catalog of {n} entries: median {statistics.median(times) * 1e3:.0f} ms over 5 saves")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
