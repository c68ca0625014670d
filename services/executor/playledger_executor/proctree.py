"""Stopping a worker for real: ansible ``setsid()``-detaches its task forks, so killing the
worker's process group is not enough; kill every descendant seen while the run was alive.

And dying with the executor: the worker has its own session (so a terminal's Ctrl-C does not
reach it), so it asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``). What it
leaves (ansible's detached task processes) the next executor on the host sweeps (``workspace``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Callable
from typing import Final

import psutil

PR_SET_PDEATHSIG: Final = 1
_prctl: Final = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork


def die_with(parent_pid: int) -> Callable[[], None]:
    """A ``preexec_fn``: SIGKILL this child when ``parent_pid`` dies (also if it already has)."""

    def arm() -> None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before the request was armed
            os._exit(1)

    return arm


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
