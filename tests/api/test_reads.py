"""Read endpoints over real read-model rows (inserted as the projector would write them), and cancel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_common.logtext import log_piece
from playledger_schemas.codec import decode_command
from playledger_schemas.commands import CancelJob
from playledger_schemas.subjects import COMMANDS_STREAM
from tests.api.conftest import T0, insert_event, insert_job

pytestmark = pytest.mark.integration


async def test_job_status_has_progress_result_and_completeness(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(
        db,
        "j1",
        status="failed",
        started_at=T0 + timedelta(seconds=2),
        finished_at=T0 + timedelta(seconds=9),
        attempt=1,
        executor_id="exec-1",
        rc=2,
        runner_status="failed",
        failure_reason="1 host failed",
        current_play="Deploy application",
        current_task="Copy files",
        hosts_total=3,
        hosts_ok=1,
        hosts_changed=1,
        hosts_failed=1,
        hosts_unreachable=1,
        hosts_skipped=0,
        event_count=40,
        runner_event_count=37,
        last_seq=40,
        last_stream_seq=812,
        terminal_seq=40,
    )
    await db.execute("INSERT INTO projection_checkpoint (projection, last_stream_seq) VALUES ('jobs', 900)")

    body = (await client.get("/api/v1/jobs/j1")).json()

    assert body["status"] == body["result"] == "failed"
    assert (body["rc"], body["runner_status"], body["failure_reason"]) == (2, "failed", "1 host failed")
    assert body["progress"] == {
        "current_play": "Deploy application",
        "current_task": "Copy files",
        "hosts_total": 3,
        "hosts_ok": 1,
        "hosts_changed": 1,
        "hosts_failed": 1,
        "hosts_unreachable": 1,
        "hosts_skipped": 0,
    }
    assert (body["event_count"], body["last_projected_seq"], body["projection_seq"]) == (40, 812, 900)
    assert body["complete"] is True
    assert body["created_at"] == "2026-11-01T12:00:00Z"
    assert body["finished_at"] == "2026-11-01T12:00:09Z"
    assert body["source"] == {"type": "local", "path": "site.yml"}
    assert body["log_url"] == "/api/v1/jobs/j1/logs"


async def test_a_running_job_is_not_complete(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(db, "r1", status="running", last_seq=5)
    body = (await client.get("/api/v1/jobs/r1")).json()
    assert (body["status"], body["result"], body["complete"], body["projection_seq"]) == (
        "running",
        None,
        False,
        0,
    )


async def test_list_filters_newest_first_with_a_cursor(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    for i in range(7):
        await insert_job(
            db,
            f"job{i}",
            status="successful" if i % 2 else "failed",
            priority="high" if i < 3 else "normal",
            created_at=T0 + timedelta(minutes=i if i != 6 else 5),  # job5 and job6 share a time
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/jobs", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["job6", "job5", "job4", "job3", "job2", "job1", "job0"]

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/jobs", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(status="successful") == ["job5", "job3", "job1"]
    assert await ids(priority="high", status="failed") == ["job2", "job0"]
    assert await ids(created_after="2026-11-01T12:02:00Z", created_before="2026-11-01T12:05:00+00:00") == [
        "job4",
        "job3",
    ]
    await insert_job(db, "job_x", created_at=T0)  # "_" is not a LIKE wildcard here
    assert await ids(id_prefix="job") == ["job6", "job5", "job4", "job3", "job2", "job1", "job_x", "job0"]
    assert await ids(id_prefix="job_") == ["job_x"]
    assert await ids(id_prefix="job5") == ["job5"]
    assert await ids(id_prefix="nobody") == []


async def test_list_filters_by_playbook_submitter_and_template(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    alice = {"key_id": "k-alice", "name": "alice"}
    await insert_job(db, "a1", submitted_by=alice, template="nightly", template_version=2)
    await insert_job(
        db,
        "a2",
        submitted_by=alice,
        source={"type": "playbook", "repo": "https://git.example/infra.git", "path": "deploy.yml"},
        created_at=T0 + timedelta(minutes=1),
    )
    await insert_job(
        db, "b1", submitted_by={"key_id": "k-bob", "name": "bob"}, created_at=T0 + timedelta(minutes=2)
    )
    await insert_job(
        db, "n1", created_at=T0 + timedelta(minutes=3), hosts_total=3, hosts_ok=2, hosts_failed=1
    )

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/jobs", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(playbook="site.yml") == ["n1", "b1", "a1"]
    assert await ids(playbook="deploy.yml") == ["a2"]  # a git playbook's path, as the list shows it
    assert await ids(playbook="site") == []  # exact, not a prefix
    assert await ids(submitter="alice") == ["a2", "a1"]  # the key's name ...
    assert await ids(submitter="k-bob") == ["b1"]  # ... or its id
    assert await ids(template="nightly") == ["a1"]
    assert await ids(submitter="alice", playbook="site.yml", template="nightly") == ["a1"]
    assert await ids(submitter="alice", template="other") == []
    # n1: a NATS command naming no key
    items = (await client.get("/api/v1/jobs", params={"playbook": "site.yml"})).json()["items"]
    assert [(i["id"], i["submitted_by"], i["template"]) for i in items] == [
        ("n1", None, None),
        ("b1", {"key_id": "k-bob", "name": "bob"}, None),
        ("a1", alice, "nightly"),
    ]
    assert items[0]["progress"] == {  # as in the job's own document
        "current_play": None,
        "current_task": None,
        "hosts_total": 3,
        "hosts_ok": 2,
        "hosts_changed": 0,
        "hosts_failed": 1,
        "hosts_unreachable": 0,
        "hosts_skipped": 0,
    }


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("limit=0", "query.limit"),
        ("limit=201", "query.limit"),
        ("limit=ten", "query.limit"),
        ("status=done", "query.status"),
        ("priority=urgent", "query.priority"),
        ("created_after=yesterday", "query.created_after"),
        ("created_after=2026-11-01T12:00:00", "query.created_after"),
        ("cursor=not-a-cursor", "query.cursor"),
        ("sort=asc", "query.sort"),
        ("id_prefix=a.b", "query.id_prefix"),
        ("id_prefix=", "query.id_prefix"),
        ("playbook=", "query.playbook"),
        (f"playbook={'a' * 1025}", "query.playbook"),
        ("playbook=a%00.yml", "query.playbook"),
        ("submitter=", "query.submitter"),
        ("submitter=a%0Ab", "query.submitter"),
        (f"submitter={'a' * 129}", "query.submitter"),
        ("template=no%20spaces", "query.template"),
    ],
)
async def test_list_validates_every_query_parameter(
    client: AsyncTestClient[Any], readmodel_url: str, query: str, path: str
) -> None:
    response = await client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["path"] for e in response.json()["errors"]] == [path]


async def test_events_in_order_after_a_seq_filtered_by_name_and_host(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(db, "e1", status="running")
    await insert_event(db, "e1", 1, event="job.queued", type_="job.queued.v1", attempt=0)
    await insert_event(db, "e1", 2, event="job.started", type_="job.started.v1")
    for seq in range(3, 13):
        await insert_event(
            db, "e1", seq, event="runner_on_ok" if seq % 2 else "runner_on_start", host=f"h{seq % 3}"
        )

    first = (await client.get("/api/v1/jobs/e1/events", params={"limit": 5})).json()
    assert [e["seq"] for e in first["items"]] == [1, 2, 3, 4, 5]
    assert first["next_after"] == 5
    assert first["items"][0]["event"] == "job.queued"
    rest = (await client.get("/api/v1/jobs/e1/events", params={"after": 5, "limit": 100})).json()
    assert [e["seq"] for e in rest["items"]] == list(range(6, 13))
    assert rest["next_after"] is None
    oks = (await client.get("/api/v1/jobs/e1/events", params={"event": "runner_on_ok", "host": "h0"})).json()
    assert [(e["seq"], e["event"], e["host"]) for e in oks["items"]] == [
        (3, "runner_on_ok", "h0"),
        (9, "runner_on_ok", "h0"),
    ]
    assert oks["items"][0]["data"]["pid"] == 1

    bad = await client.get("/api/v1/jobs/e1/events", params={"after": -1, "limit": 5000})
    assert bad.status_code == 400
    bad_host = await client.get("/api/v1/jobs/e1/events", params={"host": "a b"})
    assert bad_host.status_code == 400
    assert bad_host.json()["errors"][0]["path"] == "query.host"


async def test_hosts(client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]) -> None:
    await insert_job(db, "h1", status="successful")
    await db.execute(
        "INSERT INTO job_hosts (job_id, host, ok, changed, failures, unreachable, skipped, rescued, ignored) "
        "VALUES ('h1', 'web2', 3, 1, 0, 0, 1, 0, 0), ('h1', 'web1', 2, 0, 1, 0, 0, 1, 1)"
    )
    body = (await client.get("/api/v1/jobs/h1/hosts")).json()
    assert body["items"] == [
        {
            "host": "web1",
            "ok": 2,
            "changed": 0,
            "failures": 1,
            "unreachable": 0,
            "skipped": 0,
            "rescued": 1,
            "ignored": 1,
        },
        {
            "host": "web2",
            "ok": 3,
            "changed": 1,
            "failures": 0,
            "unreachable": 0,
            "skipped": 1,
            "rescued": 0,
            "ignored": 0,
        },
    ]
    empty = await client.get("/api/v1/jobs/queued-only/hosts")
    assert empty.status_code == 404


async def test_logs_stream_the_runner_stdout_in_seq_order(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await insert_job(db, "l1", status="successful")
    await insert_event(db, "l1", 1, event="job.queued", type_="job.queued.v1", attempt=0)
    await insert_event(db, "l1", 2, event="job.started", type_="job.started.v1")
    rows = [("verbose", "No config file found; using defaults", None), ("playbook_on_start", "", 7)]
    rows += [("runner_on_ok", f'ok: [host{i}] => {{\r\n    "msg": "{i}"\r\n}}', 7) for i in range(2000)]
    rows += [("playbook_on_stats", "\r\nPLAY RECAP ***", 7)]
    expected = ""
    for offset, (event, stdout, pid) in enumerate(rows):
        data = {"event": event, "stdout": stdout, "pid": pid}
        await insert_event(db, "l1", 3 + offset, event=event, stdout=stdout, data=data)
        expected += log_piece(event, stdout, data)

    async with client.stream("GET", "/api/v1/jobs/l1/logs") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert "content-length" not in response.headers  # streamed, not built in memory
        chunks = [chunk async for chunk in response.aiter_bytes()]
    text = b"".join(chunks).decode()
    assert text == expected
    assert text.startswith("No config file found; using defaults\r\nok: [host0] => {\r\n")
    assert text.endswith("\r\nPLAY RECAP ***\n")

    assert (await client.get("/api/v1/jobs/nolog/logs")).status_code == 404
    assert (await client.get("/api/v1/jobs/l1/logs?attempt=0")).status_code == 400


async def test_unknown_jobs_are_404_with_problem_details(
    client: AsyncTestClient[Any], readmodel_url: str
) -> None:
    for path in (
        "/api/v1/jobs/ghost",
        "/api/v1/jobs/ghost/events",
        "/api/v1/jobs/ghost/hosts",
        "/api/v1/jobs/ghost/logs",
    ):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "no job with id 'ghost'",
            "instance": path,
        }
    deleted = await client.delete("/api/v1/jobs/ghost")
    assert deleted.status_code == 404
    unsafe = await client.get("/api/v1/jobs/bad.id")
    assert unsafe.status_code == 400
    assert unsafe.json()["errors"][0]["path"] == "path.job_id"


async def test_cancel_publishes_a_cancel_command_and_a_finished_job_is_409(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record], js: JetStreamContext
) -> None:
    await insert_job(db, "c1", status="running")
    await insert_job(db, "c2", status="successful", terminal_seq=5)

    accepted = await client.delete("/api/v1/jobs/c1")
    assert accepted.status_code == 202
    assert accepted.json() == {"id": "c1", "status": "running", "cancel_requested": True}
    message = await js.get_last_msg(COMMANDS_STREAM, "playledger.cmd.cancel.c1")
    command = decode_command(message.data or b"")
    assert isinstance(command, CancelJob)
    assert command.job_id == "c1"
    assert (message.headers or {})["Nats-Msg-Id"] == "cancel:c1"

    conflict = await client.delete("/api/v1/jobs/c2")
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == "job 'c2' already finished (successful); it cannot be canceled"


async def test_a_submitted_job_not_yet_projected_can_be_canceled(client: AsyncTestClient[Any]) -> None:
    accepted = await client.post(
        "/api/v1/jobs",
        json={"id": "fresh", "source": {"type": "local", "path": "a.yml"}, "inventory": {"type": "inline"}},
    )
    assert accepted.status_code == 202
    canceled = await client.delete("/api/v1/jobs/fresh")
    assert canceled.status_code == 202
    assert canceled.json()["status"] == "queued"
