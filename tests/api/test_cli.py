"""``playledger api`` as a real process: env settings, --port/--workers overrides, SSE through uvicorn workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from playledger_cli.embedded import free_port
from tests.api.conftest import auth_env, key_headers
from tests.processes import service

pytestmark = pytest.mark.integration


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"api exited with {process.returncode}: {log.read_text(errors='replace')}")
        try:
            response = httpx.get(f"{url}/ready", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response
        time.sleep(0.2)
    pytest.fail(f"{url} never became ready")


@pytest.mark.parametrize("workers", [1, 2])
def test_the_cli_serves_the_api_from_env_with_overrides(
    nats_url: str, readmodel_url: str, workers: int, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PLAYLEDGER_NATS_URL": nats_url,
        "PLAYLEDGER_DATABASE_URL": readmodel_url,
        "PLAYLEDGER_API_PORT": "1",  # overridden by --port
        "PLAYLEDGER_API_WORKERS": "1",
        **auth_env(tmp_path),
    }
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    with service("api", env, log, "--port", str(port), "--workers", str(workers)) as process:
        ready = wait_ready(url, process, log)
        assert ready.json()["ready"] is True
        if workers > 1:
            assert len(psutil.Process(process.pid).children()) >= workers
        for _ in range(4):  # spread over the workers: every one of them answers
            submitted = httpx.post(
                f"{url}/api/v1/jobs",
                json={"source": {"type": "local", "path": "site.yml"}, "inventory": {"type": "inline"}},
                headers={"Idempotency-Key": "cli-test", **key_headers(tmp_path / "admin-key")},
                timeout=10,
            )
            assert submitted.status_code == 202
        assert httpx.get(f"{url}/schema/openapi.json", timeout=10).status_code == 200


def test_a_bad_setting_is_reported_by_name(readmodel_url: str) -> None:
    env = {**os.environ, "PLAYLEDGER_DATABASE_URL": readmodel_url, "PLAYLEDGER_API_WORKERS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "api"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "PLAYLEDGER_API_WORKERS is invalid" in result.stderr
