"""POST /api/v1/jobs against real NATS and PostgreSQL: the command on the bus, idempotency, bad input."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_api.app import create_app
from playledger_api.bus import PUBLISH_TIMEOUT_S as SUBMIT_DEADLINE_S
from playledger_cli.api_client import Api
from playledger_cli.client_cli import post_job
from playledger_cli.embedded import NatsServer
from playledger_cli.endpoints import Endpoint
from playledger_common.settings import ApiSettings
from playledger_schemas.codec import decode_command
from playledger_schemas.commands import SubmitJob
from playledger_schemas.ids import job_id_from_key
from playledger_schemas.subjects import COMMANDS_STREAM
from tests.api.conftest import admin_headers, insert_job

pytestmark = pytest.mark.integration

JOB: dict[str, Any] = {
    "source": {"type": "local", "path": "deploy/site.yml"},
    "inventory": {
        "type": "inline",
        "hosts": ["web1", "db1"],
        "groups": {"web": ["web1"], "db": {"hosts": ["db1"], "vars": {"port": 5432}}},
        "host_vars": {"web1": {"http_port": 8080}},
        "vars": {"ansible_connection": "local"},
    },
    "extra_vars": {"release": "1.2.3"},
    "options": {
        "tags": ["deploy"],
        "limit": "web",
        "verbosity": 2,
        "check_mode": True,
        "forks": 5,
        "timeout": 600,
    },
}


async def commands(js: JetStreamContext) -> list[tuple[str, dict[str, str], SubmitJob]]:
    info = await js.stream_info(COMMANDS_STREAM)
    found: list[tuple[str, dict[str, str], SubmitJob]] = []
    if info.state.messages == 0:
        return found
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(COMMANDS_STREAM, seq)
        command = decode_command(msg.data or b"")
        assert isinstance(command, SubmitJob)
        found.append((msg.subject or "", dict(msg.headers or {}), command))
    return found


async def test_submit_publishes_the_command_and_answers_202(
    client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    response = await client.post("/api/v1/jobs", json={**JOB, "id": "deploy-42", "priority": "high"})

    assert response.status_code == 202
    assert response.headers["location"] == "/api/v1/jobs/deploy-42"
    body = response.json()
    assert body["id"] == "deploy-42"
    assert body["status"] == "queued"
    assert body["duplicate"] is False
    assert body["links"]["stream"] == "/api/v1/jobs/deploy-42/stream"
    [(subject, headers, command)] = await commands(js)
    assert subject == "playledger.cmd.submit.high.deploy-42"
    assert headers["Nats-Msg-Id"] == "submit:deploy-42"
    spec = command.spec
    assert command.job_id == "deploy-42"
    assert spec.priority == "high"
    assert spec.source.path == "deploy/site.yml"
    assert spec.inventory.hosts == ["web1", "db1"]
    assert spec.inventory.groups["web"] == ["web1"]
    assert spec.inventory.host_vars == {"web1": {"http_port": 8080}}
    assert spec.extra_vars == {"release": "1.2.3"}
    assert (spec.options.tags, spec.options.limit, spec.options.verbosity) == (["deploy"], "web", 2)
    assert (spec.options.check_mode, spec.options.forks, spec.options.timeout) == (True, 5, 600)


async def test_the_same_idempotency_key_twice_is_one_job(
    client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    first = await client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "ci-run-77"})
    second = await client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "ci-run-77"})
    other = await client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "ci-run-78"})

    assert first.status_code == second.status_code == other.status_code == 202
    assert first.json()["id"] == second.json()["id"] == job_id_from_key("ci-run-77")
    assert (first.json()["duplicate"], second.json()["duplicate"]) == (False, True)
    assert other.json()["id"] != first.json()["id"]
    assert [command.job_id for _, _, command in await commands(js)] == [
        first.json()["id"],
        other.json()["id"],
    ]


async def test_a_job_the_read_model_knows_is_returned_not_resubmitted(
    client: AsyncTestClient[Any], js: JetStreamContext, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(db, "old-job", status="running")
    response = await client.post("/api/v1/jobs", json={**JOB, "id": "old-job"})
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["duplicate"]) == ("running", True)
    assert await commands(js) == []


async def test_wait_returns_the_finished_job_or_202_when_time_is_up(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(db, "finished", status="successful", terminal_seq=9, rc=0, event_count=9)
    done = await client.post("/api/v1/jobs?wait=5", json={**JOB, "id": "finished"})
    assert done.status_code == 200
    assert (done.json()["status"], done.json()["complete"], done.json()["rc"]) == ("successful", True, 0)

    started = time.monotonic()
    pending = await client.post("/api/v1/jobs?wait=1", json={**JOB, "id": "never-runs"})
    assert pending.status_code == 202
    assert time.monotonic() - started >= 1.0
    assert pending.json()["status"] == "queued"

    too_long = await client.post("/api/v1/jobs?wait=301", json=JOB)
    assert too_long.status_code == 400
    assert too_long.json()["errors"] == [{"path": "query.wait", "message": "must be <= 300"}]


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        ({"options": {"forks": "5"}}, "$.options.forks", "Expected `int | null`, got `str`"),
        ({"options": {"verbosity": 9}}, "$.options.verbosity", "Expected `int` <= 5"),
        ({"extra_vars": []}, "$.extra_vars", "Expected `object`, got `array`"),
        ({"priority": "urgent"}, "$.priority", "Invalid enum value 'urgent'"),
        ({"options": {"fork": 5}}, "$.options.fork", "not supported by this executor"),
        ({"colour": "red"}, "$.colour", "not supported by this executor"),
        ({"schedule": "2030-01-01T00:00:00Z"}, "$.schedule", "not supported by this executor"),
        ({"run_at": "2030-01-01T00:00:00"}, "$.run_at", "Expected `datetime` with a timezone component"),
        ({"source": {"type": "local", "path": "/etc/passwd.yml"}}, "$.source.path", "must be relative"),
        (
            {"source": {"type": "local", "path": "../../secrets.yml"}},
            "$.source.path",
            "must not contain '..'",
        ),
        ({"source": {"type": "local", "path": "a/../../b.yml"}}, "$.source.path", "must not contain '..'"),
        ({"source": {"type": "local", "path": "site.txt"}}, "$.source.path", "must end in .yml or .yaml"),
        ({"id": "../etc"}, "$.id", "must be 1-128 characters of A-Z a-z 0-9 _ -"),
        ({"id": "a.b"}, "$.id", "must be 1-128 characters of A-Z a-z 0-9 _ -"),
        ({"id": "a" * 129}, "$.id", "Expected `str` of length <= 128"),
        (
            {"source": {"type": "playbook", "repo": "git@x:y.git"}},
            "$.source",
            "Object missing required field `path`",
        ),
        (
            {"source": {"type": "playbook", "repo": "http://git.example/r.git", "path": "site.yml"}},
            "$.source.repo",
            "repository URL uses plain http://, which this installation does not allow",
        ),
        (
            {"source": {"type": "playbook", "repo": "file:///srv/r.git", "path": "site.yml"}},
            "$.source.repo",
            "repository URL uses file://, which this installation does not allow",
        ),
        (
            {"source": {"type": "playbook", "repo": "ftp://x/r.git", "path": "site.yml"}},
            "$.source.repo",
            "repository URL has scheme 'ftp'; allowed: https, ssh",
        ),
        (
            {"source": {"type": "playbook", "repo": "https://u:pw@x/r.git", "path": "site.yml"}},
            "$.source.repo",
            "repository URL must not carry credentials",
        ),
        (
            {"source": {"type": "playbook", "repo": "https://ghp_token@x/r.git", "path": "site.yml"}},
            "$.source.repo",
            "repository URL must not carry credentials",
        ),
        (
            {"inventory": {"type": "url", "url": "https://user:pw@cmdb/inv"}},
            "$.inventory.url",
            "must not carry credentials",
        ),
        (
            {"source": {"type": "role", "repo": "https://x/r.git", "path": "../roles/x"}},
            "$.source.path",
            "must not contain '..'",
        ),
        (
            {
                "source": {
                    "type": "playbook",
                    "repo": "https://x/r.git",
                    "path": "a.yml",
                    "git_credential": "k",
                }
            },
            "$.source.git_credential",
            "not supported by this executor",
        ),
        (
            {
                "inventory": {
                    "type": "url",
                    "url": "https://cmdb/inv",
                    "headers": {"Authorization": "Bearer x"},
                }
            },
            "$.inventory.headers.Authorization",
            "carries a secret",
        ),
        (
            {"inventory": {"type": "git", "repo": "https://x/i.git", "path": "/etc/hosts"}},
            "$.inventory.path",
            "must be relative to the repository",
        ),
        (
            {
                "source": {
                    "type": "collection_role",
                    "collection": "a.b",
                    "role": "x",
                    "galaxy_credential": "g",
                }
            },
            "$.source.galaxy_credential",
            "not supported by this executor",
        ),
        (
            {"inventory": {"type": "dynamic", "plugin": "aws_ec2"}},
            "$.inventory.plugin",
            "Expected `str` matching regex",
        ),
        ({"credentials": {"ssh": "prod-key"}}, "$.credentials.ssh", "credential 'prod-key' does not exist"),
        ({"credentials": {"ssh": "bad name"}}, "$.credentials.ssh", "Expected `str` matching regex"),
        ({"credentials": {"inline": "x"}}, "$.credentials.inline", "not supported by this executor"),
        (
            {"options": {"notify_url": "https://ci/hook"}},
            "$.options.notify_url",
            "not supported by this executor",
        ),
        (
            {"options": {"callback_url": "https://user:pw@ci/hook"}},
            "$.options.callback_url",
            "must not carry credentials",
        ),
        (
            {"options": {"callback_url": "http://ci/hook"}},
            "$.options.callback_url",
            "uses plain http://, which this installation does not allow",
        ),
        (
            {"options": {"callback_url": "https://ci/hook", "callback_events": ["job.finished"]}},
            "$.options.callback_events[0]",
            "Invalid enum value 'job.finished'",
        ),
        ({"source": {"type": "svn"}}, "$.source.type", "Invalid value 'svn'"),
        (
            {"inventory": {"type": "inline", "hosts": ["bad host"]}},
            "$.inventory.hosts[0]",
            "must be a host name or address",
        ),
    ],
)
async def test_bad_input_is_422_with_the_json_path(
    client: AsyncTestClient[Any], js: JetStreamContext, change: dict[str, Any], path: str, message: str
) -> None:
    response = await client.post("/api/v1/jobs", json={**JOB, **change})
    assert response.status_code == 422, response.text
    body = problem(response)
    assert [e["path"] for e in body["errors"]] == [path]
    assert body["errors"][0]["message"].startswith(message), body
    assert path in body["detail"]
    assert await commands(js) == []


async def test_malformed_json_is_400_and_an_oversized_body_is_413(client: AsyncTestClient[Any]) -> None:
    malformed = await client.post(
        "/api/v1/jobs", content=b'{"source": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert problem(malformed)["detail"] == "Input data was truncated"

    huge = {**JOB, "extra_vars": {"blob": "x" * 70_000}}  # the test app allows 64 KiB
    oversized = await client.post("/api/v1/jobs", json=huge)
    assert oversized.status_code == 413
    assert problem(oversized)["title"] == "Request Entity Too Large"


async def test_a_bad_idempotency_key_or_query_parameter_is_400(client: AsyncTestClient[Any]) -> None:
    key = await client.post("/api/v1/jobs", json=JOB, headers={"Idempotency-Key": "x" * 300})
    assert key.status_code == 422
    assert problem(key)["errors"][0]["path"] == "header.Idempotency-Key"
    unknown = await client.post("/api/v1/jobs?wiat=5", json=JOB)
    assert unknown.status_code == 400
    assert problem(unknown)["errors"] == [{"path": "query.wiat", "message": "unknown query parameter"}]
    negative = await client.post("/api/v1/jobs?wait=-1", json=JOB)
    assert negative.status_code == 400
    assert problem(negative)["errors"][0]["path"] == "query.wait"


async def test_with_a_projects_dir_the_playbook_must_exist_inside_it(
    settings: ApiSettings, js: JetStreamContext, tmp_path: Path
) -> None:
    projects = tmp_path / "projects"
    (projects / "deploy").mkdir(parents=True)
    (projects / "deploy" / "site.yml").write_text("- hosts: all\n", encoding="utf-8")
    (tmp_path / "outside.yml").write_text("- hosts: all\n", encoding="utf-8")
    (projects / "escape.yml").symlink_to(tmp_path / "outside.yml")
    checked = msgspec.structs.replace(settings, projects_dir=projects)
    async with AsyncTestClient(app=create_app(checked)) as client:
        client.headers.update(admin_headers(checked))
        ok = await client.post("/api/v1/jobs", json=JOB)
        missing = await client.post(
            "/api/v1/jobs", json={**JOB, "source": {"type": "local", "path": "nope.yml"}}
        )
        symlink = await client.post(
            "/api/v1/jobs", json={**JOB, "source": {"type": "local", "path": "escape.yml"}}
        )
    assert ok.status_code == 202
    assert missing.status_code == 422
    assert problem(missing)["errors"] == [
        {"path": "$.source.path", "message": "does not exist in the projects directory"}
    ]
    assert symlink.status_code == 422
    assert problem(symlink)["errors"] == [
        {"path": "$.source.path", "message": "resolves outside the projects directory (symlink)"}
    ]


async def test_a_503_on_submit_names_the_job_and_a_retry_with_that_id_is_idempotent(
    client: AsyncTestClient[Any], js: JetStreamContext, nats_server: NatsServer
) -> None:
    """Issue 11, defect 4: during a NATS pause the submit was stored later, but the 503 named no
    job, so the client's retry made a second one."""
    assert nats_server.process is not None
    os.kill(nats_server.process.pid, signal.SIGSTOP)
    try:
        paused = await client.post("/api/v1/jobs", json=JOB)  # no id, no key: the API picks one
    finally:
        os.kill(nats_server.process.pid, signal.SIGCONT)
    assert paused.status_code == 503
    problem = paused.json()
    job_id = problem["job_id"]
    assert paused.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert job_id in problem["detail"]
    assert "retry-after" in paused.headers

    retried = await client.post("/api/v1/jobs", json={**JOB, "id": job_id})
    assert retried.status_code == 202
    assert retried.json()["id"] == job_id
    assert retried.json()["duplicate"] is True  # the paused try had been stored after all
    assert [command.job_id for _, _, command in await commands(js)] == [job_id]


async def test_the_cli_retries_a_503_with_the_id_it_chose(
    base_url: str,
    js: JetStreamContext,
    nats_server: NatsServer,
    settings: ApiSettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI picks the job id before the first try, so its retries after a 503 name one job."""
    key = admin_headers(settings)["Authorization"].removeprefix("Bearer ")
    monkeypatch.setenv("PLAYLEDGER_API_KEY", key)
    api = Api(Endpoint(base_url, "the test's API"))
    assert nats_server.process is not None
    os.kill(nats_server.process.pid, signal.SIGSTOP)
    try:
        submitting = asyncio.create_task(asyncio.to_thread(post_job, api, JOB))
        await asyncio.sleep(SUBMIT_DEADLINE_S + 1.5)  # the API gave up at least once: 503
    finally:
        os.kill(nats_server.process.pid, signal.SIGCONT)
    job = await asyncio.wait_for(submitting, timeout=30)
    assert job["duplicate"] is True
    assert [command.job_id for _, _, command in await commands(js)] == [job["id"]]
