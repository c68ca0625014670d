"""One trace per job through the whole system, exported to a real OTLP/HTTP receiver; JSON logs.

A real playbook run by ansible-runner: an HTTP client's trace -> submit (API) -> job.queued and
job.run (executor) ->
plays -> tasks -> host results, with the right parents and times, the failed host marked; a NATS
publisher's own ``traceparent`` continued; the secret of the job in no span and no log line.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobSpec, LocalSource, SubmitJob
from playledger_schemas.subjects import submit_subject
from tests.creds.support import credentials_stack
from tests.otlp import ReceivedSpan, Receiver, otel_env, otlp_receiver
from tests.stack import Stack, complete_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "s3cr3t-" + secrets.token_hex(8)
PLAYBOOK = """
- name: first play
  hosts: all
  gather_facts: false
  tasks:
    - name: say hello
      ansible.builtin.debug:
        msg: "hello {{ db_password | default('') }}"
    - name: fail on beta
      ansible.builtin.fail:
        msg: "beta fails with {{ db_password | default('') }}"
      when: inventory_hostname == "beta"
- name: second play
  hosts: alpha
  gather_facts: false
  tasks:
    - name: change something
      ansible.builtin.command: "true"
      changed_when: true
"""
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
INVENTORY: dict[str, Any] = {"type": "inline", "hosts": ["alpha", "beta"], "vars": LOCAL}


@pytest.fixture(name="system")
def fx_system(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[tuple[Stack, Receiver]]:
    with otlp_receiver() as receiver:
        settings = {**otel_env(receiver), "PLAYLEDGER_LOG_FORMAT": "json"}
        with credentials_stack(
            nats_url, database_url, tmp_path, settings, **{"timeline.yml": PLAYBOOK}
        ) as stack:
            yield stack, receiver


def _one(spans: list[ReceivedSpan], name: str, **attributes: object) -> ReceivedSpan:
    found = [
        s for s in spans if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [(s.name, s.attributes) for s in spans])
    return found[0]


def _job_spans(job_id: str, count: int) -> Any:
    """Until the job's trace holds ``count`` spans (every service has exported its part)."""

    def found(spans: list[ReceivedSpan]) -> bool:
        run = [s for s in spans if s.name == "job.run" and s.attributes.get("playledger.job_id") == job_id]
        return bool(run) and sum(s.trace_id == run[0].trace_id for s in spans) >= count

    return found


async def _publish(nats_url: str, command: SubmitJob, traceparent: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(
            submit_subject("normal", command.job_id), encode(command), headers={"traceparent": traceparent}
        )
    finally:
        await nc.close()


def test_a_job_is_one_trace_of_its_plays_tasks_and_hosts_and_no_secret_leaks(
    system: tuple[Stack, Receiver], nats_url: str
) -> None:
    stack, receiver = system
    body = {
        "source": {"type": "local", "path": "timeline.yml"},
        "inventory": INVENTORY,
        "secret_vars": {"db_password": SECRET},
    }
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)  # a CI pipeline's own trace
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        traceparent = {"traceparent": f"00-{client_trace}-{client_span}-01"}
        response = client.post("/api/v1/jobs", json=body, headers=traceparent)
        assert response.status_code == 202, response.text
        job_id = response.json()["id"]
        assert complete_job(client, job_id)["status"] == "failed"
        spans = receiver.wait_for(_job_spans(job_id, 13))  # submit, queued, run, 2 plays, 3 tasks, 5 hosts

    # the client's trace -> submit (API) -> queued and run (executor): one trace, crossing NATS
    submit = _one(spans, "job.submit", **{"playledger.job_id": job_id})
    assert submit.service == "playledger-api"
    assert (submit.trace_id, submit.parent_id) == (client_trace, client_span)
    trace = [s for s in spans if s.trace_id == submit.trace_id]
    queued = _one(trace, "job.queued")
    run = _one(trace, "job.run")
    assert queued.parent_id == run.parent_id == submit.span_id
    assert run.service == "playledger-executor"
    assert run.attributes["playledger.outcome"] == "failed"
    assert run.error

    # plays -> tasks -> hosts, from the runner events, inside the job's time
    first, second = _one(trace, "play: first play"), _one(trace, "play: second play")
    assert first.parent_id == second.parent_id == run.span_id
    assert first.end_ns <= second.start_ns
    hello = _one(trace, "task: say hello")
    fail = _one(trace, "task: fail on beta")
    change = _one(trace, "task: change something")
    assert hello.parent_id == fail.parent_id == first.span_id
    assert change.parent_id == second.span_id
    hosts = [s for s in trace if s.name.startswith("host: ")]
    assert sorted((s.parent_id, s.attributes["ansible.host"]) for s in hosts) == sorted(
        [
            (hello.span_id, "alpha"),
            (hello.span_id, "beta"),
            (fail.span_id, "alpha"),
            (fail.span_id, "beta"),
            (change.span_id, "alpha"),
        ]
    )
    for span in trace:
        if span.name.startswith(("play: ", "task: ", "host: ")):
            assert run.start_ns <= span.start_ns <= span.end_ns <= run.end_ns, span
    failed = _one(trace, "host: beta", **{"ansible.task": "fail on beta"})
    assert failed.error
    assert failed.attributes["ansible.status"] == "failed"
    assert failed.attributes["ansible.failed"] is True
    assert fail.error
    assert first.error
    skipped = _one(trace, "host: alpha", **{"ansible.task": "fail on beta"})
    assert skipped.attributes["ansible.status"] == "skipped"
    assert not skipped.error
    changed = _one(trace, "host: alpha", **{"ansible.task": "change something"})
    assert changed.attributes["ansible.changed"] is True
    assert not second.error

    # a NATS publisher's own traceparent: the job's spans continue it
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    spec = JobSpec(
        source=LocalSource(path="timeline.yml"),
        inventory=InlineInventory(hosts=["alpha"], vars=LOCAL),
    )
    asyncio.run(_publish(nats_url, SubmitJob(job_id="from-nats", spec=spec), f"00-{trace_id}-{parent_id}-01"))
    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        assert complete_job(client, "from-nats")["status"] == "successful"
    spans = receiver.wait_for(_job_spans("from-nats", 10))  # queued, run, 2 plays, 3 tasks, 3 hosts
    nats_run = _one(spans, "job.run", **{"playledger.job_id": "from-nats"})
    nats_queued = _one(spans, "job.queued", **{"playledger.job_id": "from-nats"})
    assert nats_run.trace_id == nats_queued.trace_id == trace_id
    assert nats_run.parent_id == nats_queued.parent_id == parent_id

    # no secret in any exported span; JSON log lines about the job name it and its trace
    assert not [body for body in receiver.bodies if SECRET.encode() in body]
    lines = {name: (stack.work / f"{name}.log").read_text() for name in ("api", "executor", "projector")}
    for name, text in lines.items():
        assert SECRET not in text, name
    about = [json.loads(line) for line in lines["executor"].splitlines() if job_id in line]
    assert about, lines["executor"]
    for line in about:
        assert line["job_id"] == job_id
        assert line["trace_id"] == submit.trace_id
    assert any(line.get("attempt") == 1 for line in about)
