"""The whole system as processes for end-to-end tests: projector, executor and API on real servers."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from playledger_cli.embedded import free_port
from tests.api.conftest import auth_env, key_headers
from tests.processes import service


@dataclass
class Stack:
    url: str
    port: int
    logs_dir: Path
    projects_dir: Path
    env: dict[str, str]
    work: Path
    _services: ExitStack = field(repr=False)
    _api: ExitStack | None = field(default=None, repr=False)
    _api_process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        """The API's bootstrap admin key (auth is on, as in production)."""
        return key_headers(self.work / "admin-key")

    def start_api(self) -> None:
        """Start (or start again, on the same port) the API and wait until it is ready."""
        api_stack = ExitStack()
        log = self.work / "api.log"
        api = api_stack.enter_context(service("api", self.env, log, "--port", str(self.port)))
        self._api, self._api_process = api_stack, api
        wait_ready(self.url, api, log)

    def stop_api(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = self._api_process = None

    def kill_api(self) -> None:
        """kill -9: every client connection drops at once (a graceful stop would wait for them)."""
        if self._api_process is not None:
            self._api_process.kill()
            self._api_process.wait()
        self.stop_api()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API never became ready (projector migrations?)"
        time.sleep(0.3)


@contextmanager
def running_stack(
    nats_url: str,
    database_url: str,
    work: Path,
    playbooks: dict[str, str],
    *,
    auth: bool = True,
    settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Projector, executor and API against ``nats_url`` / ``database_url``; ``playbooks`` by file name.

    With ``auth`` the API requires keys and ``Stack.headers`` carries its bootstrap admin key;
    ``settings``: more ``PLAYLEDGER_*`` variables for all three.
    """
    projects, logs = work / "projects", work / "logs"
    projects.mkdir(parents=True)
    for name, text in playbooks.items():
        (projects / name).write_text(text, encoding="utf-8")
    env = {
        **os.environ,
        "PLAYLEDGER_NATS_URL": nats_url,
        "PLAYLEDGER_DATABASE_URL": database_url,
        "PLAYLEDGER_PROJECTS_DIR": str(projects),
        "PLAYLEDGER_LOGS_DIR": str(logs),
        **(auth_env(work) if auth else {"PLAYLEDGER_AUTH": "off"}),
        **(settings or {}),
    }
    port = free_port()
    with ExitStack() as services:
        services.enter_context(service("projector", env, work / "projector.log"))
        services.enter_context(service("executor", env, work / "executor.log"))
        stack = Stack(
            url=f"http://127.0.0.1:{port}",
            port=port,
            logs_dir=logs,
            projects_dir=projects,
            env=env,
            work=work,
            _services=services,
        )
        stack.start_api()
        try:
            yield stack
        finally:
            stack.stop_api()


def complete_job(client: httpx.Client, job_id: str, timeout: float = 60) -> dict[str, Any]:
    """``GET /api/v1/jobs/<id>`` until the job is ``complete`` in the read model."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/api/v1/jobs/{job_id}")
        if response.status_code == 200 and response.json()["complete"]:
            body: dict[str, Any] = response.json()
            return body
        time.sleep(0.2)
    msg = f"job {job_id} never completed in the read model"
    raise AssertionError(msg)
