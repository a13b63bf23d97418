"""Wall time and peak memory of `electrode-design demo` (the README's main job), per stage.

Runs the demo into a temporary catalog (the repository's catalog.yml is not touched) and
prints the time of each stage from the demo's own output, the total wall time and the peak
resident memory of the process.

    python benchmarks/bench_demo.py
"""
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    exe = Path(sys.executable).with_name("electrode-design")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ELECTRODE_DESIGN_CATALOG": str(Path(tmp) / "catalog.yml"), "PYTHONUNBUFFERED": "1"}
        start = time.perf_counter()
        result = subprocess.run([str(exe), "demo"], env=env, capture_output=True, text=True)
        wall_s = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
        raise SystemExit(f"demo failed with exit code {result.returncode}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out = result.stdout + result.stderr
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    for pattern, label in [
        (r"from (\d+) file\(s\) in ([\d.]+) s", "GITT analysis (40 files)"),
        (r"generated and characterised in ([\d.]+) s", "D8 electrode generation + characterisation"),
        (r"segment ([\d.]+) s, characterise ([\d.]+) s", "NREL segmentation, characterisation (no tortuosity)"),
        (r"steps in ([\d.]+) s, lithium conservation error ([\de.+-]+)", "3C gPNP discharge (seconds, conservation)"),
    ]:
        match = re.search(pattern, out)
        print(f"{label:>55}: {', '.join(match.groups()) if match else 'not found'}")
    print(f"{'electrode-design demo, total wall time (s)':>55}: {wall_s:.1f}")
    print(f"{'peak resident memory of the demo process (MB)':>55}: {peak_mb:.0f}")


if __name__ == "__main__":
    main()
