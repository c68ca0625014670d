"""Workspaces: a live executor's directory is never swept; a dead one's is (issue 11, defect 5)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from playledger_executor.workspace import LOCK, PREFIX, Workspace, sweep

pytestmark = pytest.mark.unit


def test_a_live_workspace_is_kept_and_a_dead_ones_is_removed(tmp_path: Path) -> None:
    live = Workspace(tmp_path).claim()
    dead = Workspace(tmp_path).claim()
    (dead.dir / "playledger-job-1-abcd").mkdir()
    assert dead._lock is not None
    dead._lock.close()  # what the kernel does when its process dies
    assert sweep(tmp_path) == [dead.dir]
    assert live.dir.is_dir()
    assert not dead.dir.exists()
    live.close()
    assert not live.dir.exists()


def test_a_directory_being_claimed_is_left_alone_until_it_is_old(tmp_path: Path) -> None:
    claiming = tmp_path / f"{PREFIX}0123456789ab"
    claiming.mkdir()
    assert sweep(tmp_path) == []
    old = time.time() - 3600
    os.utime(claiming, (old, old))
    assert sweep(tmp_path) == [claiming]
    assert not (claiming / LOCK).exists()
