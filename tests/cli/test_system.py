"""The CLI against a whole running system (`playledger dev`): real NATS, PostgreSQL, ansible."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from playledger_cli.embedded import free_port
from tests.conftest import with_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = str(ROOT / "examples" / "inventory.yml")


@dataclass
class System:
    process: subprocess.Popen[str]
    data_dir: Path
    api_url: str
    nats_url: str

    @property
    def admin_key(self) -> str:
        return (self.data_dir / "admin-key").read_text(encoding="utf-8").strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_key}"}

    def nats_env(self, role: str) -> dict[str, str]:
        users = json.loads((self.data_dir / "nats-users.json").read_text(encoding="utf-8"))
        return {"PLAYLEDGER_NATS_USER": role, "PLAYLEDGER_NATS_PASSWORD": users[role]}

    def cli(
        self, *args: str, timeout: float = 120, key: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the CLI as a user of this system would: its URL and (by default) its admin key."""
        return subprocess.run(
            [sys.executable, "-m", "playledger_cli", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={
                **os.environ,
                "PLAYLEDGER_API_URL": self.api_url,
                "PLAYLEDGER_NATS_URL": self.nats_url,
                "PLAYLEDGER_API_KEY": key or self.admin_key,
                **self.nats_env("auditor"),  # replay reads the stream, read-only
            },
        )


def own_database(data_dir: Path, *, fresh: bool) -> str | None:
    """A database of this system's own on the shared test server (its projector's leader lock and
    checkpoint must not meet another run's); ``None``: dev starts an embedded PostgreSQL."""
    server = os.environ.get("PLAYLEDGER_TEST_DATABASE_URL")
    if not server:
        return None
    name = "playledger_dev_" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]

    async def create() -> None:
        conn = await asyncpg.connect(server)
        try:
            if fresh:  # a previous run's checkpoint must not meet this run's new stream
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return with_database(server, name)


def start_dev(data_dir: Path, projects: Path, *, restart: bool = False) -> System:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
    database_url = own_database(data_dir, fresh=not restart)
    if database_url:
        env["PLAYLEDGER_DATABASE_URL"] = database_url
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "playledger_cli",
            "dev",
            "--data-dir",
            str(data_dir),
            "--projects-dir",
            str(projects),
            "--api-port",
            str(free_port()),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("ready."):
            break
        if time.monotonic() > deadline:
            break
    url_file = data_dir / "api-url"
    assert url_file.exists(), f"playledger dev did not start; see {data_dir / 'logs'}"
    return System(
        process, data_dir, url_file.read_text().strip(), (data_dir / "nats-url").read_text().strip()
    )


def stop_dev(system: System) -> None:
    system.process.send_signal(signal.SIGINT)
    system.process.wait(timeout=60)
    if system.process.stdout is not None:
        system.process.stdout.close()


@pytest.fixture(name="system", scope="module")
def fx_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = start_dev(tmp_path_factory.mktemp("dev"), ROOT / "examples" / "projects")
    yield system
    stop_dev(system)


def test_submit_follows_a_job_to_success_with_exit_code_0(system: System) -> None:
    result = system.cli("submit", "hello.yml", "-i", INVENTORY, "-e", "release=3.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PLAY [Say hello]" in result.stdout
    assert "changed: [web1]" in result.stdout
    assert "succeeded" in result.stdout


def test_a_failing_playbook_exits_like_ansible_playbook(system: System) -> None:
    result = system.cli("submit", "fail.yml", "-i", INVENTORY)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed: [db1]" in result.stdout


def test_list_show_and_logs(system: System) -> None:
    job_id = "cli-show-1"
    assert system.cli("submit", "hello.yml", "-i", INVENTORY, "--id", job_id).returncode == 0
    listed = json.loads(system.cli("jobs", "-o", "json").stdout)
    by_id = {job["id"]: job for job in listed["items"]}
    assert by_id[job_id]["playbook"] == "hello.yml"
    shown = json.loads(system.cli("show", job_id, "-o", "json").stdout)
    assert shown["status"] == "successful"
    logs = system.cli("logs", job_id).stdout
    assert "PLAY RECAP" in logs
    assert logs.index("PLAY [Say hello]") < logs.index("PLAY RECAP")


def test_cancel_a_running_job(system: System) -> None:
    submitted = system.cli("submit", "slow.yml", "-i", INVENTORY, "--no-wait", "--id", "cli-cancel-1")
    assert submitted.returncode == 0, submitted.stderr
    wait_for_status(system, "cli-cancel-1", {"running"})
    canceled = system.cli("cancel", "cli-cancel-1")
    assert canceled.returncode == 0, canceled.stderr
    assert wait_for_status(system, "cli-cancel-1", {"canceled"}) == "canceled"
    again = system.cli("cancel", "cli-cancel-1")
    assert again.returncode == 1
    assert "409" in again.stderr


def wait_for_status(system: System, job_id: str, wanted: set[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        shown = system.cli("show", job_id, "-o", "json")
        if shown.returncode == 0:
            status = json.loads(shown.stdout)["status"]
            if status in wanted:
                return status
        time.sleep(0.3)
    msg = f"{job_id} is {status!r}, not {wanted} after {timeout}s"
    raise AssertionError(msg)


def test_replay_prints_a_jobs_events_from_the_stream(system: System) -> None:
    system.cli("submit", "hello.yml", "-i", INVENTORY, "--id", "cli-replay-1")
    lines = [json.loads(line) for line in system.cli("replay", "--job", "cli-replay-1").stdout.splitlines()]
    types = [line["event"]["type"] for line in lines]
    assert types[0] == "job.queued.v1"
    assert types[-1] == "job.succeeded.v1"
    assert [line["event"]["seq"] for line in lines] == list(range(1, len(lines) + 1))


def test_ctrl_c_leaves_no_process_behind_and_a_restart_keeps_the_jobs(tmp_path: Path) -> None:
    data_dir = tmp_path / "dev"
    first = start_dev(data_dir, ROOT / "examples" / "projects")
    try:
        assert first.cli("submit", "hello.yml", "-i", INVENTORY, "--id", "survivor").returncode == 0
        children = psutil.Process(first.process.pid).children(recursive=True)
        assert len(children) >= 4  # nats-server, projector, executor, api (+ postgres when embedded)
    finally:
        stop_dev(first)
    time.sleep(1)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if str(data_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []

    second = start_dev(data_dir, ROOT / "examples" / "projects", restart=True)
    try:
        # The admin key of the first start still works: it is kept, not re-created.
        job = httpx.get(f"{second.api_url}/api/v1/jobs/survivor", headers=first.headers, timeout=10).json()
        assert job["status"] == "successful"
    finally:
        stop_dev(second)


def test_dev_keeps_an_admin_key_0600_and_keys_can_be_created_listed_and_revoked(system: System) -> None:
    key_file = system.data_dir / "admin-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((system.data_dir / "auth-secret").stat().st_mode) == 0o600
    assert httpx.get(f"{system.api_url}/api/v1/jobs", timeout=10).status_code == 401

    created = system.cli("keys", "create", "--name", "reader", "--scope", "jobs:read", "-o", "json")
    assert created.returncode == 0, created.stderr
    made = json.loads(created.stdout)
    reader = made["key"]
    assert reader.startswith(f"pl_{made['record']['id']}_")
    assert system.cli("jobs", key=reader).returncode == 0
    refused = system.cli("submit", "hello.yml", "-i", INVENTORY, "--no-wait", key=reader)
    assert refused.returncode == 1
    assert "lacks the scope 'jobs:submit'" in refused.stderr

    listed = json.loads(system.cli("keys", "list", "-o", "json").stdout)
    assert {item["name"] for item in listed} >= {"bootstrap-admin", "reader"}
    assert reader not in json.dumps(listed)
    assert system.cli("keys", "revoke", made["record"]["id"]).returncode == 0
    gone = system.cli("jobs", key=reader)
    assert gone.returncode == 1
    assert "HTTP 401" in gone.stderr


def test_dev_runs_nats_with_a_user_per_role_and_prints_their_credentials(system: System) -> None:
    assert stat.S_IMODE((system.data_dir / "nats-users.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((system.data_dir / "nats" / "nats-server.conf").stat().st_mode) == 0o600
    shown = system.cli("nats-creds", "dashboard", "--data-dir", str(system.data_dir))
    assert shown.returncode == 0, shown.stderr
    lines = dict(line.split("=", 1) for line in shown.stdout.splitlines() if not line.startswith("#"))
    assert lines["PLAYLEDGER_NATS_URL"] == system.nats_url
    assert lines["PLAYLEDGER_NATS_USER"] == "dashboard"
    assert lines["PLAYLEDGER_NATS_PASSWORD"] == system.nats_env("dashboard")["PLAYLEDGER_NATS_PASSWORD"]
    # Anonymous clients are refused: the services run as their own users.
    anonymous = subprocess.run(
        [sys.executable, "-m", "playledger_common", "streams", "init"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
        | {"PLAYLEDGER_NATS_URL": system.nats_url},
    )
    assert anonymous.returncode != 0
