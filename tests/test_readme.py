"""The README's two commands stay true: CI runs the test command it states."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(python3 -m venv .venv[^\n]*)\n```", text)


def test_readme_states_two_setup_commands():
    commands = _commands()
    assert len(commands) == 2
    assert commands[0].endswith("electrode-design demo")
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    assert _commands()[1] in (ROOT / ".ci" / "run").read_text()


def test_cli_entry_point_is_declared():
    assert 'electrode-design = "electrode_design.cli:main"' in (ROOT / "pyproject.toml").read_text()
