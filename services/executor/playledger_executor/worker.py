"""One ``ansible-runner worker`` subprocess: spawn, read its stream, stop it (whole tree).

The worker protocol (reference/ansible-runner.md §2.3): we send one ``kwargs`` line and
``eof``; it answers with status lines, one JSON line per event, a base64 artifact zip
announced by ``{"zipfile": n}`` and a final ``{"eof": true}``. rc is its exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from playledger_executor.pacedpipe import PacedPipe
from playledger_executor.proctree import die_with, kill_all, snapshot
from playledger_executor.redact import NOTHING, Redactor
from playledger_schemas.events import RunnerEventData
from playledger_schemas.status import RESULT_STATUSES

log: Final = logging.getLogger(__name__)

LINE_LIMIT: Final = 64 * 1024 * 1024
FINAL_STATUSES: Final = RESULT_STATUSES
"""The status lines that end a run: ansible-runner's final statuses are the job's result statuses."""
_as_event: Final = msgspec.json.Decoder(RunnerEventData)
"""An event line decodes once, into what is published (runner's other keys are ignored); status,
zip and ``eof`` lines lack its required fields and take the general path."""


def control_dir(private_dir: Path) -> Path:
    """Where ssh keeps the job's connection-sharing sockets (``ControlPath``).

    Not inside the private dir: a socket path must fit in 108 bytes and private dirs are deep.
    A short directory in the system temp dir, named by a hash of the private dir (one per job),
    removed with it; ssh's masters live with ``HOME`` in the private dir, so the sweep after a
    kill -9 finds and kills them too.
    """
    digest = hashlib.sha256(str(private_dir).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"plcp-{digest}"


def minimal_env(private_dir: Path) -> dict[str, str]:
    """The only variables the run gets: none of the executor's own settings or credentials."""
    venv_bin = str(Path(sys.executable).parent)
    tmp = private_dir / "tmp"
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(private_dir / "home"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(tmp),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir(private_dir)),
    }


def prepare_home(private_dir: Path) -> None:
    """The directories ``minimal_env`` names."""
    for sub in ("home", "tmp", "tmp/ansible-local"):
        (private_dir / sub).mkdir(parents=True, exist_ok=True)
    control_dir(private_dir).mkdir(mode=0o700, exist_ok=True)


@dataclass(frozen=True, slots=True)
class Status:
    """A status line without its ``env`` (which would carry the whole process environment)."""

    status: str
    explanation: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """An event line decoded straight into the published shape (nearly every line)."""

    data: RunnerEventData
    size: int
    """The line's length in bytes: no field of ``data`` can be longer (see ``truncate.fit``)."""


@dataclass(frozen=True, slots=True)
class LooseEvent:
    """An event line that does not match ``RunnerEventData``'s types as is (a missing ``uuid``,
    a number where a string belongs, JSON only Python reads): ``truncate.to_event_data`` coerces it."""

    data: dict[str, Any]


class WorkerProcess:
    """A running worker; iterate ``stream()`` for events and statuses, ``stop()`` to end it."""

    def __init__(
        self, process: asyncio.subprocess.Process, output: PacedPipe, redactor: Redactor = NOTHING
    ) -> None:
        self.process = process
        self.output = output
        """The worker's stdout, read at the executor's event linger (see ``pacedpipe``)."""
        self.redactor = redactor
        """Masks the job's secrets in every line before it is parsed (and in ``stderr_tail``)."""
        self._stderr = b""

    @property
    def stderr_tail(self) -> bytes:
        return self.redactor.line(self._stderr)

    @classmethod
    async def spawn(
        cls,
        private_dir: Path,
        kwargs: Mapping[str, Any],
        redactor: Redactor = NOTHING,
        *,
        linger_s: float,
    ) -> WorkerProcess:
        """``linger_s``: how long the worker's output may wait in its pipe to be read with what follows."""
        prepare_home(private_dir)
        runner = Path(sys.executable).parent / "ansible-runner"
        worker = await cls.start(
            [str(runner), "worker", "--private-data-dir", str(private_dir)],
            linger_s=linger_s,
            redactor=redactor,
            stdin=asyncio.subprocess.PIPE,
            env=minimal_env(private_dir),
            cwd=str(private_dir),
            start_new_session=True,
            preexec_fn=die_with(os.getpid()),
        )
        stdin = worker.process.stdin
        assert stdin is not None  # noqa: S101 - PIPE was requested
        stdin.write(json.dumps({"kwargs": dict(kwargs)}).encode() + b'\n{"eof": true}\n')
        with contextlib.suppress(ConnectionError):
            await stdin.drain()
        stdin.close()
        return worker

    @classmethod
    async def start(
        cls, argv: list[str], *, linger_s: float, redactor: Redactor = NOTHING, **options: Any
    ) -> WorkerProcess:
        """``argv`` as a worker: stdout a paced pipe, stderr kept (its tail), ``options`` as for
        ``asyncio.create_subprocess_exec``."""
        output, child_end = await PacedPipe.open(linger_s, limit=LINE_LIMIT)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=child_end, stderr=asyncio.subprocess.PIPE, limit=LINE_LIMIT, **options
            )
        except BaseException:
            output.close()
            raise
        finally:
            os.close(child_end)
        return cls(process, output, redactor)

    async def stream(self) -> AsyncIterator[Event | LooseEvent | Status]:
        """Events and statuses in the worker's order, until ``eof`` or the end of its output."""
        stdout = self.output.reader
        stderr_task = asyncio.create_task(self._drain_stderr())
        finisher = asyncio.create_task(self._finish_on_exit())
        masked = self.redactor.line
        try:
            while True:
                raw = await stdout.readline()
                if not raw:
                    return
                line = masked(raw)
                try:
                    event = _as_event.decode(line)
                except msgspec.DecodeError:
                    pass
                else:
                    if event.event != "keepalive":
                        yield Event(event, len(line))
                    continue
                try:
                    data = self._decode(raw, line)
                except ValueError:
                    log.warning("worker %d wrote a line that is not JSON; skipped", self.process.pid)
                    continue
                if not isinstance(data, dict):
                    continue
                if "zipfile" in data:
                    size = int(data["zipfile"])
                    await stdout.readexactly(4 * ((size + 2) // 3))
                elif "eof" in data:
                    return
                elif "status" in data:
                    yield Status(str(data["status"]), _explanation(data))
                elif data.get("event") == "keepalive":
                    continue
                elif isinstance(data.get("counter"), int):
                    yield LooseEvent(data)
        finally:
            finisher.cancel()
            self.output.close()  # nothing is read after eof
            await stderr_task

    async def _finish_on_exit(self) -> None:
        """Once the worker has exited, what it wrote last is read at once, not a linger later."""
        await self.process.wait()
        self.output.finish()

    def _decode(self, raw: bytes, masked: bytes) -> Any:
        """The masked line as JSON; should the mask have broken the JSON, the raw line with every
        decoded string masked instead (see ``redact``)."""
        try:
            return json.loads(masked)
        except ValueError:
            if masked is raw:
                raise
        return self.redactor.scrub(json.loads(raw))

    async def _drain_stderr(self) -> None:
        stderr = self.process.stderr
        assert stderr is not None  # noqa: S101 - PIPE was requested
        while chunk := await stderr.read(65536):
            self._stderr = (self._stderr + chunk)[-8192:]

    async def wait(self) -> int:
        return await self.process.wait()

    async def stop(self, grace: float) -> None:
        """SIGTERM the worker (runner cancels: status, artifacts, eof); after ``grace`` kill the
        whole tree, including ansible's detached task processes, whatever state they are in."""
        tree = snapshot(self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self.process.wait()), timeout=grace)
        killed = kill_all([*tree, *snapshot(self.process.pid)])
        if killed:
            log.info("killed %d leftover processes of worker %d", killed, self.process.pid)

    def kill_now(self) -> None:
        """Kill the whole tree immediately (executor shutting down after its grace period)."""
        kill_all(snapshot(self.process.pid))


def _explanation(data: dict[str, Any]) -> str | None:
    text = data.get("job_explanation")
    return str(text)[:2000] if text else None
