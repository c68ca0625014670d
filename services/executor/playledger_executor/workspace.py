"""This executor's own directory for private data dirs, and the sweep of a dead one's.

Each executor process claims ``<work root>/playledger-executor-<random>/`` and holds an
exclusive ``flock`` on its ``lock`` file for as long as it lives; every job's private data dir
is created inside. The kernel drops the lock when the process dies, however it dies (kill -9
included). A starting executor takes the lock of every other such directory it can: that
owner is gone, so it kills the processes still working in the directory (runner workers and
ansible's detached task processes, found by their command line, working directory or
``HOME``/``TMPDIR``) and removes it. Directories of live executors are never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

import psutil

from playledger_executor.proctree import kill_all
from playledger_executor.worker import control_dir

log: Final = logging.getLogger(__name__)

PREFIX: Final = "playledger-executor-"
LOCK: Final = "lock"
UNCLAIMED_S: Final = 60.0
"""A directory without a lock file is left alone this long (its executor may be claiming it)."""


class Workspace:
    """The claimed directory; ``close()`` (or process death) releases it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / f"{PREFIX}{secrets.token_hex(6)}"
        self._lock: IO[bytes] | None = None

    def claim(self) -> Workspace:
        """Create the directory and lock it; the lock file appears only once it is locked."""
        self.dir.mkdir(parents=True)
        claiming = self.dir / f"{LOCK}.claiming"
        self._lock = claiming.open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        claiming.rename(self.dir / LOCK)  # same inode: whoever opens LOCK finds it locked
        return self

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        shutil.rmtree(self.dir, ignore_errors=True)


def sweep(root: Path) -> list[Path]:
    """Kill what dead executors left under ``root`` and remove their directories; return them."""
    swept = []
    for candidate in sorted(root.glob(f"{PREFIX}*")) if root.is_dir() else []:
        with _lock_if_abandoned(candidate) as abandoned:
            if not abandoned:
                continue
            killed = kill_all(processes_in(candidate))
            for private_dir in candidate.iterdir() if candidate.is_dir() else []:
                shutil.rmtree(control_dir(private_dir), ignore_errors=True)  # ssh sockets, outside it
            shutil.rmtree(candidate, ignore_errors=True)
            log.warning("removed %s left by a dead executor (%d processes killed)", candidate, killed)
            swept.append(candidate)
    return swept


@contextlib.contextmanager
def _lock_if_abandoned(directory: Path) -> Iterator[bool]:
    """Hold the directory's lock if its owner is gone; ``False`` while an executor holds it."""
    try:
        handle = (directory / LOCK).open("rb")
    except OSError:
        # No lock file: being claimed right now, or a claim that died before locking.
        yield _age_s(directory) > UNCLAIMED_S
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False  # its executor lives
            return
        yield True


def _age_s(directory: Path) -> float:
    try:
        return time.time() - directory.stat().st_mtime
    except OSError:
        return 0.0


def processes_in(directory: Path) -> list[psutil.Process]:
    """Live processes that run in ``directory``: by command line, cwd, ``HOME`` or ``TMPDIR``."""
    marker = str(directory)
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            env = process.environ()
            places = [process.cwd(), env.get("HOME", ""), env.get("TMPDIR", ""), *process.cmdline()]
            if any(place.startswith(marker) or f"{marker}/" in place for place in places):
                found.append(process)
    return found
