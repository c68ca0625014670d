"""A ``collection_role`` source end to end with a real executor: collections built with
``ansible-galaxy collection build``, served by a Galaxy v3 server on a free port, installed into
the job's private collections path (cached by collection, range and server), the role run by a
generated play naming the version that ran."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from nats.js import JetStreamContext

from playledger_api.models import SubmitJobBody
from playledger_api.submission import build_command
from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import CollectionRoleSource, InlineInventory, JobOptions, JobSpec
from playledger_schemas.events import JobError, JobSucceeded
from tests.executor.support import running_executor
from tests.sources.galaxy import build_collection, galaxy_server
from tests.sources.support import run, started, stdout

pytestmark = pytest.mark.integration

HOST = InlineInventory(
    hosts=["localhost"], vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
)


def job(server: str, version: str) -> JobSpec:
    source = CollectionRoleSource(
        collection="acme.tools",
        role="hello",
        version=version,
        galaxy_server=server,
        role_vars={"greeting": "world"},
    )
    return JobSpec(source=source, inventory=HOST, options=JobOptions(gather_facts=False))


async def test_a_collection_role_from_a_galaxy_server(
    js: JetStreamContext, settings: ExecutorSettings, tmp_path: Path
) -> None:
    tarballs = {
        ("acme", "tools", v): build_collection(tmp_path, "acme", "tools", v, "hello", f"hello from {v}")
        for v in ("1.0.0", "2.0.0")
    }
    with galaxy_server(tarballs) as (server, requests):
        async with running_executor(settings):
            terminal, events = await run(js, "coll1", job(server, ">=1.0.0,<2.0.0"))
            assert isinstance(terminal, JobSucceeded), terminal
            assert "hello from 1.0.0 world" in stdout(events)
            assert started(events).data.playbook_sha256 is not None
            plays = [
                e.data.event_data.get("name")
                for e in events
                if getattr(e.data, "event", "") == "playbook_on_play_start"
            ]
            assert plays == ["role acme.tools.hello (acme.tools 1.0.0)"]
            assert any(r.startswith("/download/acme-tools-1.0.0") for r in requests)

            fetched = len(requests)  # the same collection and range again: from the cache
            terminal, events = await run(js, "coll2", job(server, ">=1.0.0,<2.0.0"))
            assert isinstance(terminal, JobSucceeded), terminal
            assert len(requests) == fetched

            terminal, events = await run(js, "coll3", job(server, "2.0.0"))
            assert isinstance(terminal, JobSucceeded), terminal
            assert "hello from 2.0.0 world" in stdout(events)

            terminal, _ = await run(js, "coll4", job(server, "9.9.9"))
    assert isinstance(terminal, JobError)
    assert terminal.data.reason is not None
    assert terminal.data.reason.startswith(
        f"installing collection acme.tools:9.9.9 from {server} with ansible-galaxy failed: "
    )


def test_the_http_door_takes_the_same_source() -> None:
    body = msgspec.json.decode(
        b'{"source": {"type": "collection_role", "collection": "acme.tools", "role": "hello",'
        b' "version": ">=1.0.0", "galaxy_server": "https://galaxy.example/"}, "inventory": {"type": "inline"}}',
        type=SubmitJobBody,
    )
    source = build_command(body, "job-1", datetime.now(UTC)).spec.source
    assert source == CollectionRoleSource(
        collection="acme.tools", role="hello", version=">=1.0.0", galaxy_server="https://galaxy.example/"
    )
