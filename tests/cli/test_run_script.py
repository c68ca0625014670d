"""`./run` installs only when what it installs from changed (a stamp of constraints.txt + pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def fake_clone(tmp_path: Path) -> Path:
    """The real script and files, with a .venv whose pip and playledger only record their calls."""
    clone = tmp_path / "clone"
    (clone / ".venv" / "bin").mkdir(parents=True)
    for name in ("run", "constraints.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, clone / name)
    python = clone / ".venv" / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo pip >> "$(dirname "$0")/../calls"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n',
        encoding="utf-8",
    )
    playledger = clone / ".venv" / "bin" / "playledger"
    playledger.write_text('#!/bin/sh\necho "playledger $*" >> "$(dirname "$0")/../calls"\n', encoding="utf-8")
    for script in (python, playledger):
        script.chmod(0o755)
    return clone


def run(clone: Path) -> list[str]:
    subprocess.run([str(clone / "run"), "--no-example"], check=True, timeout=60, env=dict(os.environ))
    calls = (clone / ".venv" / "calls").read_text(encoding="utf-8").splitlines()
    (clone / ".venv" / "calls").unlink()
    return calls


def test_pip_runs_once_until_the_constraints_or_the_project_change(tmp_path: Path) -> None:
    clone = fake_clone(tmp_path)
    assert run(clone) == ["pip", "playledger dev --example --no-example"]
    assert run(clone) == ["playledger dev --example --no-example"]
    with (clone / "constraints.txt").open("a", encoding="utf-8") as constraints:
        constraints.write("# upgraded\n")
    assert run(clone) == ["pip", "playledger dev --example --no-example"]
    assert run(clone) == ["playledger dev --example --no-example"]
