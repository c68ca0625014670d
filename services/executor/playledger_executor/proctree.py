"""Stopping a worker for real: ansible ``setsid()``-detaches its task forks, so killing the
worker's process group is not enough; kill every descendant seen while the run was alive."""

from __future__ import annotations

import contextlib

import psutil


def snapshot(pid: int) -> list[psutil.Process]:
    """The process and all its current descendants (empty if it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def kill_all(processes: list[psutil.Process]) -> int:
    """SIGKILL each process still alive (pid reuse is guarded by psutil); return how many."""
    killed = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            if process.is_running():
                process.kill()
                killed += 1
    return killed
