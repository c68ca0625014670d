"""What a running ``playledger dev`` keeps in its data dir: a lock, and where it listens.

The lock (``flock`` on ``dev.lock``, released by the kernel when the process ends, however
it ends) makes one data dir belong to one ``dev``: two nats-servers on one JetStream store
would lose data. The CLI reads the URL files only while the lock is held, so files left by
a killed ``dev`` never send it to a server that is gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from playledger_common.errors import PlayledgerError

DEFAULT_DATA_DIR: Final = Path("var/dev")
DATA_DIR_VARIABLE: Final = "PLAYLEDGER_DEV_DATA_DIR"
LOCK_FILE: Final = "dev.lock"
API_URL_FILE: Final = "api-url"
NATS_URL_FILE: Final = "nats-url"
PROJECTS_DIR_FILE: Final = "projects-dir"
_PUBLISHED: Final = (API_URL_FILE, NATS_URL_FILE, PROJECTS_DIR_FILE)


class DevAlreadyRunningError(PlayledgerError):
    """Another ``playledger dev`` holds this data dir."""


@dataclass(frozen=True)
class RunningDev:
    """A ``dev`` holding the lock; its URLs are ``None`` until it is ready."""

    data_dir: Path
    pid: int | None
    api_url: str | None
    nats_url: str | None
    projects_dir: Path | None


@dataclass
class DevLock:
    """This process's hold on a data dir; ``release`` is safe to call more than once."""

    data_dir: Path
    _file: IO[str] | None

    @classmethod
    def acquire(cls, data_dir: Path) -> DevLock:
        data_dir.mkdir(parents=True, exist_ok=True)
        file = (data_dir / LOCK_FILE).open("a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            holder = probe(data_dir)
            pid = holder.pid if holder else "?"
            api = f"API {holder.api_url}" if holder and holder.api_url else "starting"
            msg = f"playledger dev is already running here (pid {pid}, {api}); stop it or use --data-dir"
            raise DevAlreadyRunningError(msg) from None
        file.seek(0)
        file.truncate()
        file.write(json.dumps({"pid": os.getpid()}) + "\n")
        file.flush()
        for name in _PUBLISHED:  # left by a dev that was killed
            (data_dir / name).unlink(missing_ok=True)
        return cls(data_dir, file)

    def publish(self, *, api_url: str, nats_url: str, projects_dir: Path) -> None:
        """Tell the CLI where this ``dev`` listens (written once it is ready)."""
        for name, value in (
            (API_URL_FILE, api_url),
            (NATS_URL_FILE, nats_url),
            (PROJECTS_DIR_FILE, projects_dir),
        ):
            (self.data_dir / name).write_text(f"{value}\n", encoding="utf-8")

    def release(self) -> None:
        if self._file is None:
            return
        for name in _PUBLISHED:
            (self.data_dir / name).unlink(missing_ok=True)
        self._file.close()  # closing the file drops the lock
        self._file = None


def data_dir_in_use() -> Path:
    """Where ``playledger dev`` keeps its state when started here without ``--data-dir``."""
    return Path(os.environ.get(DATA_DIR_VARIABLE) or DEFAULT_DATA_DIR)


def probe(data_dir: Path) -> RunningDev | None:
    """The ``dev`` holding ``data_dir``, or ``None`` when none does."""
    try:
        file = (data_dir / LOCK_FILE).open(encoding="utf-8")
    except FileNotFoundError:
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # held: a dev is running
        else:
            return None
        pid: int | None = None
        with contextlib.suppress(ValueError, TypeError, KeyError):
            pid = int(json.loads(file.read())["pid"])
    projects = _read(data_dir / PROJECTS_DIR_FILE)
    return RunningDev(
        data_dir=data_dir,
        pid=pid,
        api_url=_read(data_dir / API_URL_FILE),
        nats_url=_read(data_dir / NATS_URL_FILE),
        projects_dir=Path(projects) if projects else None,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
