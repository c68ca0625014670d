"""A private Galaxy server and a URL inventory behind a bearer token, end to end through the HTTP
door with the real credential store: a Galaxy v3 server that answers 401 without its token, a
``galaxy_token`` credential (``credentials.galaxy``) that installs a ``collection_role`` source and
a repository's ``requirements.yml``, an ``http_headers`` credential a ``url`` inventory names. The
secrets reach no event, log or file; a job without the credential cannot use what another
job's credential installed or fetched."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.creds.support import add, credentials_stack, nowhere, run, stdout_of
from tests.sources.galaxy import build_collection, galaxy_server
from tests.sources.gitrepos import GitRepo
from tests.sources.support import inventory_server, publish_submit
from tests.stack import Stack, complete_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GALAXY_TOKEN = "galaxy-token-5f4e3d2c1b0a99887766"
INVENTORY_TOKEN = "cmdb-bearer-0a1b2c3d4e5f60718293"
INLINE = {
    "type": "inline",
    "hosts": ["localhost"],
    "host_vars": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
}
REQUIRING_PLAY = """- hosts: all
  gather_facts: false
  roles:
    - acme.private.hello
"""


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    settings = {"PLAYLEDGER_SOURCE_ALLOW_HTTP": "true", "PLAYLEDGER_SOURCE_ALLOW_FILE": "true"}
    with credentials_stack(nats_url, database_url, tmp_path, settings) as stack:
        yield stack


def _collection_role(**source: Any) -> dict[str, Any]:
    return {
        "type": "collection_role",
        "collection": "acme.private",
        "role": "hello",
        "version": "1.0.0",
        "role_vars": {"greeting": "world"},
        **source,
    }


def _failed(job: dict[str, Any], words: str) -> None:
    assert job["status"] == "error", job
    assert words in job["failure_reason"], job["failure_reason"]


def test_a_private_galaxy_and_a_bearer_url_inventory_with_stored_credentials(
    stack: Stack, tmp_path: Path
) -> None:
    tarball = build_collection(tmp_path, "acme", "private", "1.0.0", "hello", "hello from private")
    repo = GitRepo(tmp_path / "repos" / "ops.git")
    repo.commit(
        {
            "site.yml": REQUIRING_PLAY,
            "requirements.yml": "collections:\n  - name: acme.private\n    version: 1.0.0\n",
        }
    )
    with (
        galaxy_server({("acme", "private", "1.0.0"): tarball}, token=GALAXY_TOKEN) as (server, requests),
        inventory_server() as (base, served),
        httpx.Client(base_url=stack.url, headers=stack.headers) as client,
    ):
        served["bodies"]["/inv.json"] = json.dumps(
            {"all": {"hosts": {"cmdb-host": {"ansible_connection": "local"}}}}
        ).encode()
        served["require"] = ("Authorization", f"Bearer {INVENTORY_TOKEN}")
        add(client, "hub", "galaxy_token", url=server, token=GALAXY_TOKEN)
        add(client, "hub-wrong", "galaxy_token", url=server, token="galaxy-token-not-this-one")
        add(client, "cmdb", "http_headers", headers={"Authorization": f"Bearer {INVENTORY_TOKEN}"})
        url_inventory = {"type": "url", "url": f"{base}/inv.json", "format": "json", "credential": "cmdb"}

        # Both credentials: the collection from the named server with the token of the credential
        # for that server, the hosts from the URL fetched with the stored header.
        ok = run(
            client,
            {
                "source": _collection_role(galaxy_server=server),
                "inventory": url_inventory,
                "credentials": {"galaxy": "hub"},
            },
            timeout=180,
        )
        assert ok["status"] == "successful", stdout_of(client, ok["id"])
        log = stdout_of(client, ok["id"])
        assert "hello from private world" in log
        assert "ok: [cmdb-host]" in log
        assert any(r.startswith("/download/acme-private-1.0.0") for r in requests)
        assert served["headers"][-1]["Authorization"] == f"Bearer {INVENTORY_TOKEN}"

        # A repository's requirements.yml (no source: the credential's server) is installed with it.
        playbook = {"type": "playbook", "repo": repo.url, "path": "site.yml"}
        needs = run(client, {"source": playbook, "inventory": INLINE, "credentials": {"galaxy": "hub"}}, 180)
        assert needs["status"] == "successful", stdout_of(client, needs["id"])
        assert "hello from private" in stdout_of(client, needs["id"])

        # Without the credential (the same source as the first job, whose install is cached), with a
        # wrong token, and a URL inventory without its credential: each refused, naming no secret.
        bare = run(client, {"source": _collection_role(galaxy_server=server), "inventory": INLINE}, 180)
        _failed(bare, f"installing collection acme.private:1.0.0 from {server} with ansible-galaxy failed")
        assert any(r.startswith("401 ") for r in requests)
        wrong = run(
            client,
            {"source": _collection_role(), "inventory": INLINE, "credentials": {"galaxy": "hub-wrong"}},
            180,
        )
        _failed(wrong, "installing collection acme.private:1.0.0 from the galaxy credential's server")
        local = {"type": "local", "path": "whoami.yml"}
        unheaded = run(client, {"source": local, "inventory": {**url_inventory, "credential": None}})
        _failed(unheaded, f"inventory URL {base}/inv.json answered HTTP 401")

        # The HTTP door refuses what cannot work before anything is published.
        refusals = [
            ({"credentials": {"galaxy": "nope"}}, "$.credentials.galaxy", "credential 'nope' does not exist"),
            (
                {"credentials": {"galaxy": "cmdb"}},
                "$.credentials.galaxy",
                "credential 'cmdb' is a 'http_headers' credential; galaxy needs a 'galaxy_token' one",
            ),
            (
                {"inventory": {**url_inventory, "credential": "hub"}},
                "$.inventory.credential",
                "credential 'hub' is a 'galaxy_token' credential; inventory needs a 'http_headers' one",
            ),
            (
                {"source": local, "credentials": {"galaxy": "hub"}},
                "$.credentials.galaxy",
                "only for a git or collection_role source",
            ),
        ]
        for change, path, words in refusals:
            response = client.post("/api/v1/jobs", json={"source": playbook, "inventory": INLINE, **change})
            assert response.status_code == 422, response.text
            errors = response.json()["errors"]
            assert [e["path"] for e in errors] == [path], errors
            assert words in errors[0]["message"], errors
        # The NATS door, which cannot read the store, refuses the rule a spec alone shows alike.
        spec = {"source": local, "inventory": INLINE, "credentials": {"galaxy": "hub"}}
        asyncio.run(publish_submit(stack, "galaxy-local-nats", spec))
        rejected = complete_job(client, "galaxy-local-nats")
        assert rejected["status"] == "rejected", rejected
        assert rejected["rejection_errors"][0]["path"] == "$.spec.credentials.galaxy"
        assert rejected["rejection_errors"][0]["message"] == refusals[-1][2] + (
            " (ansible-galaxy installs nothing for a local one)"
        )

        ids = [ok["id"], needs["id"], bare["id"], wrong["id"], unheaded["id"]]
        nowhere(stack, client, ids, GALAXY_TOKEN, INVENTORY_TOKEN, "galaxy-token-not-this-one")
