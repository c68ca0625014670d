"""No secret anywhere: each secret of a job (and its base64) planted where ansible echoes it
(``debug: var=``, a failing command line, a module error, verbosity 4), then looked for in the
whole events and commands streams, every read-model and credentials row, every API response,
the job logs, what is left of the executor's private dirs, and the services' own logs."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from nats.js.errors import NotFoundError

from playledger_common.readmodel import SCHEMA
from playledger_executor.redact import MASK
from playledger_schemas.subjects import COMMANDS_STREAM, EVENTS_STREAM
from tests.creds.conftest import SshTarget, keypair
from tests.creds.support import add, credentials_stack, job, run, stdout_of, vault_file
from tests.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ECHO = """
- name: echo every secret ansible can be made to echo
  hosts: target
  gather_facts: false
  vars_files:
    - planted.yml
  tasks:
    - name: debug var
      ansible.builtin.debug:
        var: planted
    - name: base64 of each
      ansible.builtin.debug:
        msg: "{{ planted.values() | map('b64encode') | list }}"
    - name: a failing command line
      ansible.builtin.command: "/bin/false {{ planted.become }} {{ planted.passphrase }} {{ planted.vault }}"
      ignore_errors: true
    - name: a module error
      ansible.builtin.fail:
        msg: "module error with {{ planted.vault }} and {{ planted.key }}"
      ignore_errors: true
    - name: a hidden one stays hidden
      ansible.builtin.debug:
        msg: "{{ planted.become }}"
      no_log: true
"""


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    with credentials_stack(nats_url, database_url, tmp_path, **{"echo.yml": ECHO}) as stack:
        yield stack


def _forms(values: list[str]) -> list[str]:
    """Each value, its base64, and each long line of a multi-line value (a key's body)."""
    forms = set()
    for value in values:
        forms.update({value, base64.b64encode(value.encode()).decode()})
        forms.update(line for line in value.splitlines() if len(line) > 20)
    return sorted(forms)


async def _stream_bytes(nats_url: str, stream: str) -> bytes:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(stream)).state.last_seq
        chunks = []
        for seq in range(1, last + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            chunks.append((msg.subject or "").encode() + (msg.data or b"") + repr(msg.headers).encode())
        return b"\n".join(chunks)
    finally:
        await nc.close()


async def _database_text(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = ANY($1)",
            [SCHEMA, "playledger_secrets", "playledger_auth"],
        )
        assert len(tables) > 3, tables
        rows = [
            str(row[0])
            for t in tables
            for row in await conn.fetch(f'SELECT t::text FROM "{t[0]}"."{t[1]}" t')  # noqa: S608 - catalog names
        ]
        return "\n".join(rows)
    finally:
        await conn.close()


def _files_text(*roots: Path) -> str:
    parts = []
    for root in roots:
        for path in [root] if root.is_file() else sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                parts.append(path.read_bytes().decode(errors="replace"))
    return "\n".join(parts)


def test_no_secret_value_or_its_base64_is_stored_published_logged_or_left_behind(
    stack: Stack, ssh_target: SshTarget, tmp_path: Path, nats_url: str, database_url: str
) -> None:
    key, public = keypair(tmp_path, "leaky", passphrase="passphrase-planted-7f3a")
    ssh_target.authorize(public)
    planted = {
        "become": ssh_target.become_password,
        "passphrase": "passphrase-planted-7f3a",
        "vault": "vault-password-planted-91bc",
        "key": key,
    }
    # the planted values reach ansible only through a vault file the stored vault password opens
    lines = "".join(f"  {name}: {value!r}\n" for name, value in planted.items() if name != "key")
    body = "planted:\n" + lines + "  key: |\n" + "".join(f"    {line}\n" for line in key.splitlines())
    vault_file(stack.projects_dir, planted["vault"], tmp_path, name="planted.yml", text=body)
    forms = _forms(list(planted.values()))

    with httpx.Client(base_url=stack.url, headers=stack.headers) as client:
        add(
            client,
            "leak-key",
            "ssh_key",
            private_key=key,
            passphrase=planted["passphrase"],
            username="pl-login",
        )
        add(client, "leak-become", "password", password=planted["become"])
        add(client, "leak-vault", "vault_password", password=planted["vault"])
        refs = {"ssh": "leak-key", "become_password": "leak-become", "vault_password": "leak-vault"}
        echoed = run(client, job(ssh_target, "echo.yml", refs, options={"verbosity": 4}))
        assert echoed["status"] == "successful", stdout_of(client, echoed["id"])
        became = run(client, job(ssh_target, "become.yml", refs))
        assert became["status"] == "successful", stdout_of(client, became["id"])

        responses = []
        for job_id in (echoed["id"], became["id"]):
            for path in ("", "/events?limit=1000", "/logs", "/hosts"):
                response = client.get(f"/api/v1/jobs/{job_id}{path}")
                assert response.status_code == 200, (path, response.text)
                responses.append(response.text)
        for path in ("", "/leak-key", "/leak-become", "/leak-vault"):
            responses.append(client.get(f"/api/v1/credentials{path}").text)
        log_text = stdout_of(client, echoed["id"])

    assert MASK in log_text, "the planted secrets never reached ansible's output: this test proves nothing"
    assert "planted" in log_text
    places = {
        "events stream": asyncio.run(_stream_bytes(nats_url, EVENTS_STREAM)).decode(errors="replace"),
        "commands stream": asyncio.run(_stream_bytes(nats_url, COMMANDS_STREAM)).decode(errors="replace"),
        "database": asyncio.run(_database_text(database_url)),
        "API responses": "\n".join(responses),
        "job logs": _files_text(stack.logs_dir),
        "executor private dirs": _files_text(stack.work / "executor-work"),
        "service logs": _files_text(
            *(stack.work / f"{name}.log" for name in ("api", "executor", "projector"))
        ),
    }
    assert len(places["events stream"]) > 10_000  # verbosity 4: plenty of output was published
    leaks = [(place, form[:12] + "…") for place, text in places.items() for form in forms if form in text]
    assert leaks == []
