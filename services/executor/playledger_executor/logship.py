"""A running attempt's stdout on its way to log storage, and the attempt's artifacts after it.

The pump hands every runner event's text to :meth:`LogShipper.write`, which only appends to a
local spool file: the event pipeline never waits for storage. A background task sends what is
new as the next numbered part every ``log_flush_s`` seconds (or as soon as ``log_flush_bytes``
wait), so a running job's log is readable, and an executor killed mid-run leaves it in storage
up to its last flush. A storage outage only delays the parts (retried with a growing wait).

When the run ends, :meth:`LogShipper.finish` stores the complete log as one object — the
runner's own ``stdout`` artifact (byte for byte what ``ansible-runner`` writes, events cut in the
stream included), else the spool — and removes the parts. :func:`store_artifacts` stores the rest
of the runner's artifact directory, minus what may hold secrets, and the ``set_stats`` data.
Every final upload is retried until ``storage_final_s``; what did not land is reported as missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from pathlib import Path
from typing import Any, Final

from playledger_common.logstore import (
    TRANSIENT,
    LogStore,
    Stored,
    artifact_key,
    artifact_name_problem,
    log_key,
    part_key,
    parts_prefix,
)
from playledger_common.retry import retrying
from playledger_schemas.events import MissingObject, StoredObject

log: Final = logging.getLogger(__name__)

LOG_NAME: Final = "stdout"
ARTIFACT_DATA: Final = "artifact_data.json"
NEVER_STORED: Final = frozenset({"command", "env", "job_events", "stdout"})
"""Top-level entries of ``artifacts/<ident>/`` never stored as artifacts: ``command`` holds the
command line and the runner's whole environment, ``env/`` the job's secrets and settings,
``job_events/`` what the events stream already holds, ``stdout`` is the log."""
MAX_WAIT_S: Final = 30.0
"""Longest wait between two tries of a part while storage is down."""


def described(obj: Stored, name: str) -> StoredObject:
    return StoredObject(name=name, key=obj.key, size=obj.size, sha256=obj.sha256)


class LogShipper:
    """One attempt's log: ``write`` while it runs (never blocks), ``finish`` once."""

    def __init__(
        self, store: LogStore, job_id: str, attempt: int, spool: Path, *, flush_s: float, flush_bytes: int
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.attempt = attempt
        self.spool = spool
        self.flush_s = flush_s
        self.flush_bytes = flush_bytes
        self._file = spool.open("wb")
        self._written = 0
        self._shipped = 0
        self._parts = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task = asyncio.create_task(self._ship_loop(), name=f"log-{job_id}")

    def write(self, text: str) -> None:
        if not text:
            return
        data = text.encode("utf-8", errors="surrogateescape")
        self._file.write(data)
        self._written += len(data)
        if self._written - self._shipped >= self.flush_bytes:
            self._wake.set()

    async def _ship_loop(self) -> None:
        wait = self.flush_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            if self._closing:
                return
            try:
                await self._ship()
            except TRANSIENT as exc:
                wait = min(max(wait, self.flush_s) * 2, MAX_WAIT_S) * random.uniform(0.8, 1.0)  # noqa: S311 - jitter
                log.warning("job %s: log part not stored (%s); next try in %.1fs", self.job_id, exc, wait)
            else:
                wait = self.flush_s

    async def _ship(self) -> None:
        """Store what was written since the last part, in parts of at most ``flush_bytes``."""
        self._file.flush()
        end = self._written
        while self._shipped < end:
            size = min(end - self._shipped, self.flush_bytes)
            chunk = await asyncio.to_thread(_read, self.spool, self._shipped, size)
            await self.store.put(part_key(self.job_id, self.attempt, self._parts + 1), chunk)
            self._parts += 1
            self._shipped += len(chunk)

    async def stop(self) -> None:
        """Stop shipping parts (idempotent); the spool file stays complete on disk."""
        self._closing = True
        self._wake.set()
        await self._task
        if not self._file.closed:
            self._file.close()

    async def finish(self, runner_stdout: Path | None, deadline_s: float) -> StoredObject | MissingObject:
        """Store the complete log as one object and drop the parts; or say why it is missing."""
        await self.stop()
        ran = runner_stdout is not None and await asyncio.to_thread(runner_stdout.is_file)
        source = runner_stdout if ran and runner_stdout is not None else self.spool
        key = log_key(self.job_id, self.attempt)
        try:
            stored = await _with_retries(lambda: self.store.put_file(key, source), deadline_s)
        except TRANSIENT as exc:
            log.error("job %s: log not stored: %s", self.job_id, exc)
            return MissingObject(name=LOG_NAME, reason=f"log storage unavailable: {exc}")
        with contextlib.suppress(*TRANSIENT):  # the final object is there; parts left over are only clutter
            parts = await self.store.listing(parts_prefix(self.job_id, self.attempt))
            await self.store.delete([k for k, _ in parts])
        return described(stored, LOG_NAME)


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(size)


async def _with_retries(call: Any, deadline_s: float) -> Stored:
    async for attempt in retrying(TRANSIENT, attempts=None, timeout_s=deadline_s, wait_max_s=5.0):
        with attempt:
            stored: Stored = await call()
            return stored
    raise AssertionError("unreachable: retrying() re-raises the last failure")  # noqa: EM101


def artifact_files(artifact_dir: Path | None) -> list[tuple[str, Path]]:
    """``(name, path)`` of every regular file of the runner's artifact directory worth keeping
    (none for ``None``: a job with secrets, whose files are unmasked)."""
    if artifact_dir is None or not artifact_dir.is_dir():
        return []
    found = []
    for path in sorted(artifact_dir.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        name = path.relative_to(artifact_dir).as_posix()
        if name.split("/", 1)[0] in NEVER_STORED or artifact_name_problem(name):
            continue
        found.append((name, path))
    return found


async def store_artifacts(
    store: LogStore,
    job_id: str,
    attempt: int,
    artifact_dir: Path | None,
    artifact_data: dict[str, Any] | None,
    deadline_s: float,
) -> tuple[list[StoredObject], list[MissingObject]]:
    """Store the artifacts and the ``set_stats`` data; what could not be stored is missing."""
    stored: list[StoredObject] = []
    missing: list[MissingObject] = []
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline_s
    uploads: list[tuple[str, Any]] = [
        (name, lambda n=name, p=path: store.put_file(artifact_key(job_id, attempt, n), p))
        for name, path in await asyncio.to_thread(artifact_files, artifact_dir)
    ]
    if artifact_data:
        body = json.dumps(artifact_data, sort_keys=True, indent=2).encode()
        uploads.append((ARTIFACT_DATA, lambda: store.put(artifact_key(job_id, attempt, ARTIFACT_DATA), body)))
    for name, call in uploads:
        left = until - loop.time()
        if left <= 0:
            missing.append(MissingObject(name=name, reason="log storage unavailable: gave up"))
            continue
        try:
            stored.append(described(await _with_retries(call, left), name))
        except TRANSIENT as exc:
            missing.append(MissingObject(name=name, reason=f"log storage unavailable: {exc}"))
    if missing:
        log.error("job %s: %d artifacts not stored", job_id, len(missing))
    return stored, missing
