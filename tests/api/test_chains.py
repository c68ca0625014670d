"""Template chains (``on_success`` / ``on_failure``) with the API, executor and projector as
processes on real nats-server, PostgreSQL and ansible-runner: launched over HTTP and over
``job.launch.v1`` alike, each link one job naming its parent, once, even when every terminal
event is delivered again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.js.errors import NotFoundError

from playledger_common.bus import connect
from playledger_common.consumers import CHAINS
from playledger_schemas.subjects import EVENTS_STREAM
from tests.api.test_retries_run_at import FAIL, INVENTORY, OK
from tests.api.test_templates import launches_stored, publish_launch
from tests.processes import service
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration]


def template(playbook: str, **links: Any) -> dict[str, Any]:
    return {"spec": {"source": {"type": "local", "path": playbook}, "inventory": INVENTORY}, **links}


CHAINED = {"on_success": [{"template": "notify-ok"}], "on_failure": [{"template": "notify-fail"}]}


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(nats_url, database_url, tmp_path, {"ok.yml": OK, "fail.yml": FAIL}) as stack:
        yield stack


def parent_of(client: httpx.Client, job_id: str) -> Any:
    return complete_job(client, job_id)["parent"]


async def chains_caught_up(stack: Stack, limit_s: float = 60) -> None:
    """Until the ``chains`` consumer exists and has handled (acknowledged) every terminal event stored."""
    nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + limit_s
        while True:
            try:
                info = await js.consumer_info(EVENTS_STREAM, CHAINS)
            except NotFoundError:
                info = None  # an executor creates it when it starts
            if info is not None and info.num_pending == 0 and info.num_ack_pending == 0:
                return
            assert time.monotonic() < deadline, f"chains consumer not caught up: {info}"
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def test_a_template_chain_launches_its_links_once_through_both_doors(stack: Stack) -> None:
    with httpx.Client(base_url=stack.url, timeout=60, headers=stack.headers) as client:
        for name in ("notify-ok", "notify-fail"):
            assert client.put(f"/api/v1/templates/{name}", json=template("ok.yml")).status_code == 201
        for name, playbook in (("deploy", "ok.yml"), ("deploy-broken", "fail.yml")):
            saved = client.put(f"/api/v1/templates/{name}", json=template(playbook, **CHAINED))
            assert saved.status_code == 201, saved.text
            assert [link["template"] for link in saved.json()["on_failure"]] == ["notify-fail"]

        # refused at save: an unknown template, an override it does not allow, a loop
        for body, path, words in (
            (
                template("ok.yml", on_success=[{"template": "nope"}]),
                "$.on_success[0].template",
                "no template",
            ),
            (
                template("ok.yml", on_failure=[{"template": "notify-fail", "overrides": {"limit": "x"}}]),
                "$.on_failure[0].overrides.limit",
                "not allowed by the template",
            ),
            (
                template("ok.yml", on_success=[{"template": "notify-fail"}, {"template": "deploy"}]),
                "$.on_success[1].template",
                "chains back to 'notify-ok' (notify-ok -> deploy -> notify-ok): a chain may not loop",
            ),
        ):
            refused = client.put("/api/v1/templates/notify-ok", json=body)
            assert refused.status_code == 422, refused.text
            assert [(e["path"], words in e["message"]) for e in refused.json()["errors"]] == [(path, True)]
        itself = client.put(
            "/api/v1/templates/loop", json=template("ok.yml", on_failure=[{"template": "loop"}])
        )
        assert itself.status_code == 422
        assert (
            itself.json()["errors"][0]["message"]
            == "chains back to 'loop' (loop -> loop): a chain may not loop"
        )

        # a template others link to is not deleted from under them
        in_use = client.delete("/api/v1/templates/notify-fail")
        assert in_use.status_code == 409, in_use.text
        assert in_use.json()["detail"] == (
            "template 'notify-fail' is still used by template 'deploy' (on_failure[0]), "
            "template 'deploy-broken' (on_failure[0]): change or delete those first"
        )
        assert client.get("/api/v1/templates/notify-fail").status_code == 200

        # a success over HTTP: its on_success link runs, its on_failure link does not
        launched = client.post("/api/v1/templates/deploy/launch", json={"id": "chain-ok"})
        assert launched.status_code == 202, launched.text
        assert complete_job(client, "chain-ok")["status"] == "successful"
        child = complete_job(client, "chain-ok-on_success-0")
        assert (child["status"], child["template"]["name"]) == ("successful", "notify-ok")
        assert child["parent"] == {"job_id": "chain-ok", "link": "on_success", "index": 0, "depth": 1}
        assert child["submitted_by"] == complete_job(client, "chain-ok")["submitted_by"]

        # a failure over NATS: its on_failure link runs
        await publish_launch(stack, "chain-bad", template="deploy-broken")
        assert complete_job(client, "chain-bad")["status"] == "failed"
        assert parent_of(client, "chain-bad-on_failure-0") == {
            "job_id": "chain-bad",
            "link": "on_failure",
            "index": 0,
            "depth": 1,
        }
        await chains_caught_up(stack)
        for never in ("chain-ok-on_failure-0", "chain-bad-on_success-0"):
            assert client.get(f"/api/v1/jobs/{never}").status_code == 404
        assert complete_job(client, "chain-ok")["children"] == [
            {"id": "chain-ok-on_success-0", "link": "on_success", "index": 0, "status": "successful"}
        ]
        assert complete_job(client, "chain-bad")["children"] == [
            {"id": "chain-bad-on_failure-0", "link": "on_failure", "index": 0, "status": "successful"}
        ]
        before = {
            j: complete_job(client, j)["event_count"]
            for j in ("chain-ok-on_success-0", "chain-bad-on_failure-0")
        }

        # every terminal event delivered again (the consumer recreated from the stream's start,
        # by a second executor): each link was launched once, and ran once
        nc = await connect(stack.env["PLAYLEDGER_NATS_URL"], "test-client")
        try:
            await nc.jetstream().delete_consumer(EVENTS_STREAM, CHAINS)
        finally:
            await nc.close()
        with service("executor", stack.env, stack.work / "executor-2.log"):
            await chains_caught_up(stack)
        stored = await launches_stored(stack)
        chained = {s: n for s, n in stored.items() if "-on_" in s}
        assert chained == {
            "playledger.cmd.launch.chain-ok-on_success-0": 1,
            "playledger.cmd.launch.chain-bad-on_failure-0": 1,
        }
        after = {j: complete_job(client, j)["event_count"] for j in before}
        assert after == before
        listed = {j["id"] for j in client.get("/api/v1/jobs", params={"limit": 200}).json()["items"]}
        assert {j for j in listed if "-on_" in j} == set(before)
