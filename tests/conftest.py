"""Shared pytest set-up: markers, environment for PyBaMM and FiPy."""
import os

os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
os.environ.setdefault("FIPY_SOLVERS", "scipy")
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab or a report in headless Chromium")
