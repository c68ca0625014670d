"""A fresh private data dir per job: extra vars as a file (the inventory and a git checkout are
written by ``inventories`` and ``sources``).

Extra vars go to ``env/extravars`` (read by runner with ``-e @file``) so that they never
appear on a command line; runner's own env files are suppressed (``suppress_env_files``).
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from playledger_common.settings import ExecutorSettings
from playledger_executor.runspec import EXTRAVARS_FILE
from playledger_executor.worker import control_dir


def work_root(settings: ExecutorSettings) -> Path:
    """Where executors on this host keep their workspaces (``PLAYLEDGER_WORK_DIR``, else temp)."""
    return settings.work_dir or Path(tempfile.gettempdir())


def private_dir_for(work_root: Path, job_id: str, attempt: int) -> Path:
    return work_root / f"playledger-{job_id}-{attempt}-{secrets.token_hex(4)}"


def write_private_dir(private_dir: Path, extra_vars: dict[str, Any]) -> None:
    (private_dir / "env").mkdir(parents=True, exist_ok=True)
    if extra_vars:
        (private_dir / EXTRAVARS_FILE).write_text(json.dumps(extra_vars), encoding="utf-8")


def remove_private_dir(private_dir: Path) -> None:
    shutil.rmtree(private_dir, ignore_errors=True)
    shutil.rmtree(control_dir(private_dir), ignore_errors=True)
