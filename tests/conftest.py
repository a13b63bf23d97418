"""Shared pytest set-up: markers, environment for PyBaMM and FiPy."""
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FIPY_SOLVERS", "scipy")
os.environ.setdefault("MPLBACKEND", "Agg")

