"""Webhooks end to end: the API, executor, projector and notifier as processes on real NATS and
PostgreSQL, delivering to a receiver on 127.0.0.1 (allow-listed), verified with the
``standardwebhooks`` package."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook

from playledger_cli.embedded import free_port
from tests.executor.support import spec, submit
from tests.notifier.receiver import Receiver, receiving
from tests.processes import service
from tests.stack import Stack, complete_job, running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLAYBOOK = """
- name: Hooked
  hosts: all
  gather_facts: false
  tasks:
    - name: wait a little
      ansible.builtin.command: "sleep {{ sleep_s | default(0) }}"
    - name: fail when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail_now | default(false)
"""
SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
SETTINGS = {
    "PLAYLEDGER_WEBHOOK_ALLOW_HTTP": "true",
    "PLAYLEDGER_WEBHOOK_ALLOW": "127.0.0.1",
    "PLAYLEDGER_WEBHOOK_SECRET": SECRET,
    "PLAYLEDGER_WEBHOOK_BACKOFF_S": "0.3",
    "PLAYLEDGER_WEBHOOK_ACK_WAIT_S": "2",
}


def job(extra_vars: dict[str, Any] | None = None, **options: Any) -> dict[str, Any]:
    return {
        "extra_vars": extra_vars or {},
        "source": {"type": "local", "path": "site.yml"},
        "inventory": {
            "type": "inline",
            "hosts": ["localhost"],
            "vars": {
                "ansible_connection": "local",
                "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            },
        },
        "options": options,
    }


@contextmanager
def hooked_stack(
    nats_url: str, database_url: str, work: Path, metrics_port: int | None = None
) -> Iterator[tuple[Stack, httpx.Client, Receiver]]:
    """``metrics_port``: the notifier serves its probes and metrics there (on 127.0.0.1)."""
    ops = {} if metrics_port is None else {"PLAYLEDGER_METRICS_PORT": str(metrics_port)}
    with (
        receiving() as receiver,
        running_stack(nats_url, database_url, work, {"site.yml": PLAYBOOK}, settings=SETTINGS) as stack,
        httpx.Client(base_url=stack.url, headers=stack.headers, timeout=30) as client,
        service(
            "notifier", {**stack.env, "PLAYLEDGER_METRICS_HOST": "127.0.0.1", **ops}, work / "notifier.log"
        ),
    ):
        yield stack, client, receiver


def verified(received: Any) -> dict[str, Any]:
    """The payload, once its Standard Webhooks signature checks out."""
    payload: dict[str, Any] = Webhook(SECRET).verify(received.body, received.headers)
    return payload


def history(client: httpx.Client, job_id: str, count: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = client.get(f"/api/v1/jobs/{job_id}/webhooks")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        if len(items) >= count:
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def test_signed_webhooks_from_both_doors_in_order_with_their_history(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    with hooked_stack(nats_url, database_url, tmp_path) as (_, client, receiver):
        submitted = client.post(
            "/api/v1/jobs",
            json=job(
                callback_url=f"{receiver.url}/http?token=abc",
                callback_events=["job.started", "terminal"],
            ),
        )
        assert submitted.status_code == 202, submitted.text
        http_job = submitted.json()["id"]
        asyncio.run(_submit_over_nats(nats_url, f"{receiver.url}/nats"))

        started, ended = receiver.wait_for("/http", 2)
        first, last = verified(started), verified(ended)
        assert (first["type"], last["type"]) == ("job.started", "job.succeeded")
        assert last["data"]["id"] == http_job
        assert last["data"]["status"] == "successful"
        assert last["data"]["complete"] is True  # sent once the terminal event is projected
        assert started.headers["webhook-id"] == f"{http_job}.2-callback"
        assert started.path == "/http?token=abc"

        (over_nats,) = receiver.wait_for("/nats", 1)
        assert verified(over_nats)["data"]["id"] == "from-nats"
        assert verified(over_nats)["data"]["status"] == "successful"

        items = history(client, http_job, 2)
        assert [i["type"] for i in items] == ["webhook.delivered.v1"] * 2
        assert [i["trigger"] for i in items] == ["job.started", "job.succeeded"]
        assert all(i["status_code"] == 200 and i["attempt"] == 1 for i in items)
        assert all(i["url"].endswith("/http") for i in items)  # the query (a token) is not kept
        assert "token" not in json.dumps(items)
        assert SECRET.removeprefix("whsec_") not in json.dumps(items)
        terminal = items[1]["delivery_id"]
        asked = client.post(f"/api/v1/jobs/{http_job}/webhooks/{terminal}/redeliver")
        assert asked.status_code == 202, asked.text
        assert asked.json()["attempt"] == 2
        again = receiver.wait_for("/http", 3)[2]
        assert again.headers["webhook-id"] == ended.headers["webhook-id"]
        assert verified(again)["type"] == "job.succeeded"
        assert [(i["type"], i["attempt"]) for i in history(client, http_job, 3)][2] == (
            "webhook.delivered.v1",
            2,
        )
        missing = client.post(f"/api/v1/jobs/{http_job}/webhooks/99-callback/redeliver")
        assert missing.status_code == 404
        assert "no webhook delivery '99-callback'" in missing.json()["detail"]
        forged = dict(ended.headers, **{"webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()})
        with pytest.raises(Exception, match="No matching signature"):
            Webhook(SECRET).verify(ended.body, forged)


async def _submit_over_nats(nats_url: str, url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await submit(nc.jetstream(), "from-nats", spec("site.yml", callback_url=url))
    finally:
        await nc.close()


def test_a_failing_receiver_gets_it_on_the_sixth_attempt_with_backoff_and_bad_targets_are_refused(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    with hooked_stack(nats_url, database_url, tmp_path, port) as (_, client, receiver):
        receiver.answers["/flaky"] = [500] * 5
        flaky = client.post("/api/v1/jobs", json=job(callback_url=f"{receiver.url}/flaky")).json()["id"]
        metadata = client.post("/api/v1/jobs", json=job(callback_url="http://169.254.169.254/latest")).json()
        private = client.post("/api/v1/jobs", json=job(callback_url="http://10.0.0.1/hook")).json()

        attempts = receiver.wait_for("/flaky", 6)
        assert len({a.headers["webhook-id"] for a in attempts}) == 1  # one delivery, six attempts
        assert all(verified(a)["data"]["id"] == flaky for a in attempts)
        items = history(client, flaky, 6)
        assert [i["type"] for i in items] == ["webhook.failed.v1"] * 5 + ["webhook.delivered.v1"]
        assert [i["attempt"] for i in items] == [1, 2, 3, 4, 5, 6]
        assert all(i["reason"] == "answered 500" for i in items[:5])
        gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
        assert gaps[3] > gaps[0] * 2  # waits double (0.3 s, 0.6 s, 1.2 s, 2.4 s, … with jitter)
        waits = [
            (datetime.fromisoformat(i["retry_at"]) - datetime.fromisoformat(i["time"])).total_seconds()
            for i in items[:5]
        ]
        assert waits[4] > waits[0] * 4

        for refused, words in ((metadata["id"], "link-local"), (private["id"], "private")):
            (dead,) = history(client, refused, 1)
            assert dead["type"] == "webhook.dead.v1"
            assert words in dead["reason"]
            assert dead["reason"].startswith("refused:")
            assert dead["attempt"] == 1

        ops = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{ops}/ready").json() == {
            "ready": True,
            "checks": [
                {"name": "nats", "ok": True, "detail": "connected"},
                {"name": "consumers", "ok": True, "detail": "bound"},
            ],
        }
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(httpx.get(f"{ops}/metrics").text)
            for s in family.samples
        }
        deliveries = "playledger_notifier_deliveries_total"
        assert samples[(deliveries, (("result", "failed"),))] == 5
        assert samples[(deliveries, (("result", "delivered"),))] == 1
        assert samples[(deliveries, (("result", "dead"),))] == 2  # the two refused targets
        assert samples[("playledger_notifier_attempt_duration_seconds_count", ())] == 6  # POSTs made


def test_a_notifier_killed_mid_delivery_loses_nothing(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    with receiving() as receiver, ExitStack() as stack_:
        stack = stack_.enter_context(
            running_stack(nats_url, database_url, tmp_path, {"site.yml": PLAYBOOK}, settings=SETTINGS)
        )
        client = stack_.enter_context(httpx.Client(base_url=stack.url, headers=stack.headers, timeout=30))
        receiver.delays["/slow"] = [5.0]  # the first attempt hangs while the notifier dies
        first = stack_.enter_context(service("notifier", stack.env, tmp_path / "notifier-1.log"))
        job_id = client.post("/api/v1/jobs", json=job(callback_url=f"{receiver.url}/slow")).json()["id"]
        complete_job(client, job_id)
        deadline = time.monotonic() + 30
        while not _in_flight(receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        first.kill()
        first.wait()
        stack_.enter_context(service("notifier", stack.env, tmp_path / "notifier-2.log"))
        arrived = receiver.wait_for("/slow", 2)
        assert len({a.headers["webhook-id"] for a in arrived}) == 1  # the receiver can dedupe
        assert all(verified(a)["data"]["id"] == job_id for a in arrived)
        items = history(client, job_id, 1)
        assert [i["type"] for i in items] == ["webhook.delivered.v1"]


def _in_flight(receiver: Receiver) -> bool:
    """The slow path's first request is being answered (its delay was taken)."""
    return not receiver.delays["/slow"]


def test_a_subscription_gets_what_its_pattern_matches_signed_with_its_own_secret(
    nats_url: str, database_url: str, tmp_path: Path
) -> None:
    with hooked_stack(nats_url, database_url, tmp_path) as (_, client, receiver):
        made = client.post(
            "/api/v1/webhooks",
            json={
                "name": "chat bot",
                "url": f"{receiver.url}/bot",
                "events": ["playledger.evt.job.*.job.failed"],
            },
        )
        assert made.status_code == 201, made.text
        secret, subscription = made.json()["secret"], made.json()["subscription"]
        assert secret.startswith("whsec_")
        listed = client.get("/api/v1/webhooks").json()["items"]
        assert [s["id"] for s in listed] == [subscription["id"]]
        assert secret not in json.dumps(listed)
        bad = client.post(
            "/api/v1/webhooks", json={"name": "x", "url": f"{receiver.url}/", "events": ["foo.>"]}
        )
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["path"] == "$.events[0]"

        ok = client.post("/api/v1/jobs", json=job()).json()["id"]
        failed = client.post("/api/v1/jobs", json=job({"fail_now": True})).json()["id"]
        complete_job(client, ok)
        (got,) = receiver.wait_for("/bot", 1)
        payload = Webhook(secret).verify(got.body, got.headers)
        assert (payload["type"], payload["data"]["id"]) == ("job.failed", failed)
        with pytest.raises(Exception, match="No matching signature"):
            verified(got)  # the server's secret is not this subscription's
        (item,) = history(client, failed, 1)
        assert (item["type"], item["target"]) == ("webhook.delivered.v1", subscription["id"])

        assert client.delete(f"/api/v1/webhooks/{subscription['id']}").status_code == 200
        again = client.post("/api/v1/jobs", json=job({"fail_now": True})).json()["id"]
        complete_job(client, again)
        time.sleep(2)
        assert len(receiver.on("/bot")) == 1
        assert client.get("/api/v1/webhooks").json()["items"] == []
