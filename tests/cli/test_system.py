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
    banner: list[str]
    """What ``dev`` printed up to ``ready.``."""

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
        """The CLI told where the system is, with its admin key (or ``key``) and, for replay, the
        auditor's NATS user."""
        env = {
            **os.environ,
            "PLAYLEDGER_API_URL": self.api_url,
            "PLAYLEDGER_NATS_URL": self.nats_url,
            "PLAYLEDGER_API_KEY": key or self.admin_key,
            **self.nats_env("auditor"),
        }
        return run_cli(args, env, timeout)

    def cli_found_by_data_dir(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """The CLI finding this `dev` as it would in its own clone (var/dev, here via the variable)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
        env["PLAYLEDGER_DEV_DATA_DIR"] = str(self.data_dir)
        return run_cli(args, env, timeout)


def run_cli(args: tuple[str, ...], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "playledger_cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env={**env, "COLUMNS": "80"},
        cwd=ROOT,
    )


def dev_command(data_dir: Path) -> list[str]:
    """`playledger dev` with its data dir as a flag; the port and projects dir come as variables."""
    return [sys.executable, "-m", "playledger_cli", "dev", "--data-dir", str(data_dir)]


CREATED_DATABASES: list[str] = []


def dev_env(data_dir: Path, projects: Path, api_port: int) -> dict[str, str]:
    """Without a test server, `dev` embeds its own PostgreSQL; with one, a database per data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
    env["PLAYLEDGER_API_PORT"] = str(api_port)
    env["PLAYLEDGER_PROJECTS_DIR"] = str(projects)
    server = os.environ.get("PLAYLEDGER_TEST_DATABASE_URL")
    if server:
        name = f"playledger_dev_{hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]}"
        asyncio.run(_create_database(server, name))
        env["PLAYLEDGER_DATABASE_URL"] = with_database(server, name)
    return env


async def _create_database(server: str, name: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
            CREATED_DATABASES.append(name)
    finally:
        await admin.close()


async def _drop_databases(server: str) -> None:
    admin = await asyncpg.connect(server)
    try:
        for name in CREATED_DATABASES:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(autouse=True, scope="module")
def fx_drop_dev_databases() -> Iterator[None]:
    yield
    server = os.environ.get("PLAYLEDGER_TEST_DATABASE_URL")
    if server and CREATED_DATABASES:
        asyncio.run(_drop_databases(server))


def start_dev(data_dir: Path, projects: Path) -> System:
    api_port = free_port()
    process = subprocess.Popen(
        dev_command(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dev_env(data_dir, projects, api_port),
        cwd=ROOT,
    )
    deadline = time.monotonic() + 120
    assert process.stdout is not None
    banner = []
    for line in process.stdout:
        banner.append(line.rstrip("\n"))
        if line.startswith("ready."):
            break
        if time.monotonic() > deadline:
            break
    url_file = data_dir / "api-url"
    assert url_file.exists(), f"playledger dev did not start; see {data_dir / 'logs'}"
    system = System(
        process, data_dir, url_file.read_text().strip(), (data_dir / "nats-url").read_text().strip(), banner
    )
    assert system.api_url == f"http://127.0.0.1:{api_port}"  # PLAYLEDGER_API_PORT, not a flag
    return system


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


def test_dev_prints_where_each_service_is_probed_and_scraped(system: System) -> None:
    ops = {
        line.split("(")[1].split(";")[0]: line.split()[0].removesuffix("/metrics")
        for line in system.banner
        if "/metrics (" in line and "; /health, /ready)" in line
    }
    assert sorted(ops) == ["executor", "notifier", "projector"]
    for name, url in ops.items():
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 30  # dev waits for the API; the others may still be binding
        while httpx.get(f"{url}/ready", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"{name} never ready"
            time.sleep(0.2)
        assert f"playledger_{name}_" in httpx.get(f"{url}/metrics", timeout=10).text


def test_submit_follows_a_job_to_success_with_exit_code_0(system: System) -> None:
    result = system.cli("submit", "hello.yml", "-i", INVENTORY, "-e", "release=3.1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PLAY [Say hello]" in result.stdout
    assert "changed: [web1]" in result.stdout
    assert "successful (rc 0" in result.stdout


def test_a_failing_playbook_exits_like_ansible_playbook(system: System) -> None:
    result = system.cli("submit", "fail.yml", "-i", INVENTORY)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "failed: [db1]" in result.stdout


def test_list_show_and_logs(system: System) -> None:
    job_id = "cli-show-1"
    assert system.cli("submit", "hello.yml", "-i", INVENTORY, "--id", job_id).returncode == 0
    listed = json.loads(system.cli("jobs", "-o", "json", "--limit", "200").stdout)
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
    replayed = system.cli("replay", "--job", "cli-replay-1", "-o", "json").stdout
    lines = [json.loads(line) for line in replayed.splitlines()]
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

    second = start_dev(data_dir, ROOT / "examples" / "projects")
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

    limited = system.cli(
        "keys",
        "create",
        "--name",
        "ci-app",
        "--scope",
        "jobs:submit",
        "--repo",
        "https://git.example.com/ci/*",
    )
    assert limited.returncode == 0, limited.stderr
    listed = json.loads(system.cli("keys", "list", "-o", "json").stdout)
    assert {item["name"] for item in listed} >= {"bootstrap-admin", "reader", "ci-app"}
    assert [item["repos"] for item in listed if item["name"] == "ci-app"] == [
        ["https://git.example.com/ci/*"]
    ]
    assert "repos https://git.example.com/ci/*" in system.cli("keys", "list").stdout
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
        [sys.executable, "-m", "playledger_cli", "streams", "init"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
        | {"PLAYLEDGER_NATS_URL": system.nats_url},
    )
    assert anonymous.returncode != 0


def json_lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines, result.stderr
    return [json.loads(line) for line in lines]


def test_a_second_dev_on_the_same_data_dir_is_refused_in_one_line(system: System) -> None:
    second = subprocess.run(
        dev_command(system.data_dir),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=dev_env(system.data_dir, ROOT / "examples" / "projects", free_port()),
        cwd=ROOT,
    )
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.splitlines() == [
        f"playledger: playledger dev is already running here (pid {system.process.pid}, API {system.api_url}); "
        "stop it or use --data-dir"
    ]
    # The first one keeps its files and answers for its jobs.
    assert (system.data_dir / "api-url").read_text().strip() == system.api_url
    assert system.cli_found_by_data_dir("jobs").returncode == 0


def test_every_command_speaks_json_lines(system: System) -> None:
    job = json_lines(system.cli("submit", "slow.yml", "-i", INVENTORY, "--no-wait", "-o", "json"))
    assert len(job) == 1
    canceled = json_lines(system.cli("cancel", str(job[0]["id"]), "-o", "json"))
    assert canceled[0]["id"] == job[0]["id"]
    events = json_lines(
        system.cli("submit", "hello.yml", "-i", INVENTORY, "-o", "json", "--id", "cli-json-1")
    )
    assert events[-1]["type"] == "job.succeeded.v1"
    assert json_lines(system.cli("jobs", "-o", "json"))[0]["items"]
    assert json_lines(system.cli("show", "cli-json-1", "-o", "json"))[0]["status"] == "successful"
    logs = json_lines(system.cli("logs", "cli-json-1", "-o", "json"))
    assert any("PLAY RECAP" in str(line["line"]) for line in logs)
    followed = json_lines(system.cli("logs", "cli-json-1", "--follow", "-o", "json"))
    assert any("PLAY RECAP" in str(line["line"]) for line in followed)
    replayed = json_lines(system.cli("replay", "--job", "cli-json-1", "-o", "json"))
    assert replayed[-1]["event"]["type"] == "job.succeeded.v1"  # type: ignore[index]
    finished = system.cli("cancel", "cli-json-1", "-o", "json")
    assert finished.returncode == 1  # a finished job cannot be canceled: an error, in one line
    assert finished.stdout == ""
    assert len(finished.stderr.splitlines()) == 1


def test_ids_are_never_cut_and_a_unique_prefix_is_enough(system: System) -> None:
    submitted = system.cli("submit", "hello.yml", "-i", INVENTORY, "--no-wait")
    assert submitted.returncode == 0, submitted.stderr
    generated = submitted.stdout.strip()
    assert len(generated) == 32
    for job_id in ("prefix-one", "prefix-two"):
        assert system.cli("submit", "hello.yml", "-i", INVENTORY, "--no-wait", "--id", job_id).returncode == 0
    listed = system.cli("jobs")  # COLUMNS=80, output piped: the narrow case
    assert listed.returncode == 0, listed.stderr
    assert generated in listed.stdout
    shown = system.cli("show", generated[:8], "-o", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["id"] == generated
    wait_for_status(system, "prefix-one", {"successful"})
    assert "PLAY RECAP" in system.cli("logs", "prefix-o").stdout
    ambiguous = system.cli("show", "prefix-")
    assert ambiguous.returncode == 5
    assert ambiguous.stderr.splitlines() == [
        "playledger: 'prefix-' is the start of several job ids (prefix-two, prefix-one); give more of it"
    ]
    unknown = system.cli("show", "zz-no-such-job")
    assert unknown.returncode == 1
    assert unknown.stderr.splitlines() == [
        "playledger: no job with id 'zz-no-such-job' (or an id starting with it)"
    ]


def test_exit_codes_follow_ansible_playbook(system: System) -> None:
    assert system.cli("jobs", "--no-such-option").returncode == 5
    empty = system.cli("show", "")
    assert empty.returncode == 5
    assert empty.stdout == ""
    rejected = system.cli("submit", "nope.yml", "-i", INVENTORY)
    assert rejected.returncode == 5, rejected.stderr
    unknown = system.cli("replay", "--job", "not-a-real-id")
    assert unknown.returncode == 1
    assert unknown.stdout == ""


def test_errors_say_what_is_wrong_once(system: System, tmp_path: Path) -> None:
    missing = system.cli_found_by_data_dir("submit", "nope.yml", "-i", INVENTORY)
    assert missing.returncode == 5
    assert missing.stderr.count("does not exist in the projects directory") == 1, missing.stderr
    assert str(ROOT / "examples" / "projects") in missing.stderr

    outside = system.cli("submit", "../../etc/passwd", "-i", INVENTORY)
    assert outside.returncode == 5
    assert "$.source.path: must end in .yml or .yaml" in outside.stderr
    assert "regex" not in outside.stderr

    bad = tmp_path / "hosts.yml"
    bad.write_text("all:\n  hosts:\n    web1: {x: 1\n", encoding="utf-8")
    malformed = system.cli("submit", "hello.yml", "-i", str(bad))
    assert malformed.returncode == 5
    assert malformed.stderr.startswith(f"playledger: inventory {bad}:")
    assert len(malformed.stderr.splitlines()) == 1

    no_inventory = system.cli("submit", "hello.yml")
    assert no_inventory.returncode == 5
    assert "no inventory: give -i" in no_inventory.stderr


def test_the_cli_finds_the_running_dev_and_says_where_it_looked(system: System, tmp_path: Path) -> None:
    found = system.cli_found_by_data_dir("replay", "--job", "cli-show-1", "-o", "json")
    assert found.returncode in (0, 1)  # found the stream (the job may not have run in this module yet)
    assert "cannot reach" not in found.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYLEDGER_")}
    env["PLAYLEDGER_DEV_DATA_DIR"] = str(tmp_path / "not-running")
    env["PLAYLEDGER_API_URL"] = f"http://127.0.0.1:{free_port()}"
    result = run_cli(("jobs",), env, 60)
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"playledger: cannot reach the API at {env['PLAYLEDGER_API_URL']} (from PLAYLEDGER_API_URL)"
    )


def test_the_failure_line_says_the_rc_once(system: System) -> None:
    result = system.cli("submit", "fail.yml", "-i", INVENTORY)
    assert result.returncode == 2
    summary = next(line for line in result.stdout.splitlines() if line.startswith("failed"))
    assert summary.count("rc 2") == 1, summary
