"""Write one small GITT trace in the export layouts of five cyclers (tests/data/cyclers/).

The trace is synthetic and analytic (no solver): three discharge pulses of 600 s at 2 mA,
each followed by a 1200 s rest, sampled every 10 s after a 300 s initial rest (561 rows);
the voltage is U(sol) − I·R plus a √t-like diffusion transient. It is the same trace in
every file, so a test can check that each layout reads back to it:

* ``biologic.mpt``: EC-Lab text export, header block ("Nb header lines"), tab separated,
  decimal commas, ``time/s``, ``<I>/mA`` (discharge negative), ``Ewe/V``;
* ``arbin.csv``: ``Data_Point, Test_Time(s), Date_Time, Step_Time(s), Step_Index,
  Cycle_Index, Current(A), Voltage(V), ...``, discharge negative, repeated rows at step edges;
* ``neware.csv``: ``DataPoint, Cycle Index, Step Index, Step Type, Time, Total Time,
  Current(mA), Voltage(V), Capacity(mAh)``, times as ``h:mm:ss.s`` text, discharge negative;
* ``maccor.txt``: a preamble line, then tab separated ``Rec#, Cyc#, Step, Test (Sec),
  Step (Sec), Amp-hr, Watt-hr, Amps, Volts, State, ES, DPt Time``: |I| with the state
  C/D/R giving its direction;
* ``generic.csv``: ``time,current,voltage`` with no units in the header (SI assumed).

Run: python benchmarks/make_cycler_files.py [out_dir]
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "cyclers"
CURRENT_A = 2e-3  # discharge


def trace():
    """(time_s, current_A discharge positive, voltage_V, step) of the synthetic test."""
    steps = [(300.0, 0.0)] + [(600.0, CURRENT_A), (1200.0, 0.0)] * 3
    t, i, step, t0 = [], [], [], 0.0
    for k, (duration, current) in enumerate(steps):
        rel = np.arange(0.0, duration + 1e-9, 10.0)
        t.append(t0 + rel)
        i.append(np.full(rel.size, current))
        step.append(np.full(rel.size, k + 1))
        t0 += duration
    t, i, step = (np.concatenate(x) for x in (t, i, step))
    charge = np.r_[0.0, np.cumsum(i[1:] * np.diff(t))]
    sol = 0.4 + charge / 40.0  # 40 C per unit SoL
    voltage = 4.1 - 0.5 * sol - 25.0 * i
    # diffusion transient: relaxes as 1/sqrt in the rests
    for k in np.flatnonzero(np.diff(i) != 0):
        after = t > t[k]
        sign = -1.0 if i[k + 1] > 0 else 1.0
        voltage[after] += sign * 0.004 * (1 - 1 / np.sqrt(1 + (t[after] - t[k]) / 60.0))
    return t, i, np.round(voltage, 6), step


def write(out=OUT):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t, i, v, step = trace()
    n = t.size
    # BioLogic EC-Lab .mpt: header block, tab separated, decimal commas, mA, discharge negative
    cols = ["mode", "ox/red", "time/s", "control/V/mA", "Ewe/V", "<I>/mA", "cycle number", "(Q-Qo)/mA.h"]
    header = ["EC-Lab ASCII FILE", f"Nb header lines : {6}", "", "Galvanostatic Cycling with Potential Limitation", ""]
    rows = ["\t".join(cols)]
    for k in range(n):
        values = [1, 0, f"{t[k]:.4f}", f"{-1e3 * i[k]:.4f}", f"{v[k]:.6f}", f"{-1e3 * i[k]:.6f}", 0, 0.0]
        rows.append("\t".join(str(x).replace(".", ",") for x in values))
    (out / "biologic.mpt").write_text("\n".join(header + rows) + "\n", encoding="latin-1")
    # Arbin: the last row of each step repeated at the start of the next one
    edges = np.flatnonzero(np.diff(step)) + 1
    idx = np.sort(np.r_[np.arange(n), edges - 1])
    is_dup = np.r_[False, np.diff(idx) == 0]
    arbin_step = np.where(is_dup, step[np.minimum(idx + 1, n - 1)], step[idx])
    pd.DataFrame({
        "Data_Point": np.arange(1, idx.size + 1), "Test_Time(s)": t[idx],
        "Date_Time": (pd.Timestamp("2026-01-05 09:00:00") + pd.to_timedelta(t[idx], unit="s")).strftime("%m/%d/%Y %H:%M:%S"),
        "Step_Time(s)": t[idx] - t[np.searchsorted(step, arbin_step)], "Step_Index": arbin_step, "Cycle_Index": 1,
        "Current(A)": np.where(is_dup, -i[np.minimum(idx + 1, n - 1)], -i[idx]), "Voltage(V)": v[idx],
        "Charge_Capacity(Ah)": 0.0, "Discharge_Capacity(Ah)": 0.0,
    }).to_csv(out / "arbin.csv", index=False)
    # Neware: h:mm:ss.s times, mA, discharge negative
    def clock(x):
        return [f"{int(s // 3600)}:{int(s % 3600 // 60):02d}:{s % 60:04.1f}" for s in x]
    step_start = t[np.searchsorted(step, step)]
    pd.DataFrame({
        "DataPoint": np.arange(1, n + 1), "Cycle Index": 1, "Step Index": step,
        "Step Type": np.where(i > 0, "CC DChg", "Rest"), "Time": clock(t - step_start), "Total Time": clock(t),
        "Current(mA)": -1e3 * i, "Voltage(V)": v, "Capacity(mAh)": 0.0,
    }).to_csv(out / "neware.csv", index=False)
    # Maccor: preamble, tab separated, |I| and a state column
    maccor = pd.DataFrame({
        "Rec#": np.arange(1, n + 1), "Cyc#": 0, "Step": step, "Test (Sec)": t, "Step (Sec)": t - step_start,
        "Amp-hr": 0.0, "Watt-hr": 0.0, "Amps": np.abs(i), "Volts": v, "State": np.where(i > 0, "D", "R"),
        "ES": 0, "DPt Time": (pd.Timestamp("2026-01-05 09:00:00") + pd.to_timedelta(t, unit="s")).strftime("%m/%d/%Y %I:%M:%S %p"),
    })
    text = "Today's Date 01/05/2026  Date of Test: 01/05/2026  Filename: gitt.001  Procedure: GITT.000\n"
    (out / "maccor.txt").write_text(text + maccor.to_csv(sep="\t", index=False))
    # generic: no units in the header
    pd.DataFrame({"time": t, "current": i, "voltage": v}).to_csv(out / "generic.csv", index=False)
    return out


if __name__ == "__main__":
    print(f"wrote {write(sys.argv[1] if len(sys.argv) > 1 else OUT)}")
