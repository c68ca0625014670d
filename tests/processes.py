"""Running playledger's own commands as child processes in tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def service(name: str, env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``playledger <name> <args>`` with its output in ``log``; SIGTERM (then kill) on exit."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "playledger_cli", name, *args],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def system(env: dict[str, str], logs: Path) -> Iterator[str]:
    """Projector, executor and API as processes (logs in ``logs``); yields the API's URL once ready."""
    import time

    import httpx

    from playledger_cli.embedded import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        stack.enter_context(service("projector", env, logs / "projector.log"))
        stack.enter_context(service("executor", env, logs / "executor.log"))
        api = stack.enter_context(service("api", env, logs / "api.log", "--port", str(port)))
        deadline = time.monotonic() + 90
        while True:
            assert api.poll() is None, (logs / "api.log").read_text(errors="replace")
            try:
                if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API never became ready (projector migrations?)"
            time.sleep(0.3)
        yield url


def complete_job(client: Any, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """``GET /api/v1/jobs/<id>`` until the job is ``complete`` in the read model."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/jobs/{job_id}")
        if response.status_code == 200 and response.json()["complete"]:
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.2)
    msg = f"job {job_id} never completed in the read model"
    raise AssertionError(msg)
