"""API keys on HTTP: scopes on every route, 401s, playbook and repository patterns, ``submitted_by``, OpenAPI."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_api.app import create_app
from playledger_api.auth.keys import SCOPES
from playledger_common.logstore import LocalStore, artifact_key
from playledger_common.settings import ApiSettings
from playledger_schemas.subjects import COMMANDS_STREAM, submit_subject
from tests.api.conftest import admin_headers, insert_job, job_events, publish

pytestmark = pytest.mark.integration

JOB: dict[str, Any] = {
    "source": {"type": "local", "path": "deploy/site.yml"},
    "inventory": {"type": "inline", "hosts": ["web1"]},
}


@pytest.fixture(name="app_client")
async def fx_app_client(settings: ApiSettings, js: JetStreamContext) -> Any:
    """Auth on, metrics keyed, no key cache (a changed key row is seen by the next request)."""
    keyed = msgspec.structs.replace(settings, metrics_auth="key", auth_cache_s=0)
    async with AsyncTestClient(app=create_app(keyed)) as client:
        client.headers.update(admin_headers(keyed))
        yield client


async def make_key(client: AsyncTestClient[Any], scopes: list[str], **fields: Any) -> tuple[str, str]:
    response = await client.post(
        "/api/v1/keys", json={"name": fields.pop("name", "k"), "scopes": scopes, **fields}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    return body["key"], body["record"]["id"]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def problem(response: Any) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    return body


async def call(client: AsyncTestClient[Any], route: tuple[str, str, str], key: str) -> Any:
    """One request of ``ROUTES`` as the given key (placeholders filled from a fresh target)."""
    method, path, _ = route
    if "{key_id}" in path:
        _, victim = await make_key(client, ["jobs:read"], name="victim")
        path = path.replace("{key_id}", victim)
    if "{name}" in path:
        name = f"cred-{secrets.token_hex(4)}"
        made = await client.post("/api/v1/credentials", json={"name": name, **CREDENTIAL})
        assert made.status_code == 201, made.text
        path = path.replace("{name}", name)
    if (
        path.startswith("/api/v1/credentials")
        and method in ("POST", "PUT")
        and not path.endswith("rotate-key")
    ):
        body = {**CREDENTIAL, **({"name": f"new-{secrets.token_hex(4)}"} if method == "POST" else {})}
        return await client.request(method, path, json=body, headers=bearer(key))
    if method == "POST" and path == "/api/v1/jobs":
        return await client.post(path, json=JOB, headers=bearer(key))
    if path.startswith("/api/v1/inventories/i1"):  # exists (made by the admin) for reads and PUT
        made = await client.put("/api/v1/inventories/i1", json={"inventory": JOB["inventory"]})
        assert made.status_code in (200, 201), made.text
    if method in ("POST", "PUT") and path.startswith("/api/v1/inventories/"):
        path = path.replace("{inventory}", f"inv-{secrets.token_hex(4)}")
        return await client.request(method, path, json={"inventory": JOB["inventory"]}, headers=bearer(key))
    if method == "PUT" and path.startswith("/api/v1/templates/"):
        return await client.put(
            path, json={"spec": {k: JOB[k] for k in ("source", "inventory")}}, headers=bearer(key)
        )
    if method == "POST":
        return await client.post(path, json={"name": "made", "scopes": ["jobs:read"]}, headers=bearer(key))
    return await client.request(method, path, headers=bearer(key))


ROUTES: list[tuple[str, str, str]] = [
    ("POST", "/api/v1/jobs", "jobs:submit"),
    ("GET", "/api/v1/jobs", "jobs:read"),
    ("GET", "/api/v1/jobs/done1", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/events", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/hosts", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/logs", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/artifacts/rc", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/webhooks", "jobs:read"),
    ("GET", "/api/v1/jobs/done1/stream", "jobs:read"),
    ("GET", "/api/v1/stats", "jobs:read"),
    ("GET", "/api/v1/templates", "jobs:read"),
    ("GET", "/api/v1/schedules", "jobs:read"),
    ("PUT", "/api/v1/templates/t1", "templates:write"),
    ("GET", "/api/v1/inventories", "jobs:read"),
    ("POST", "/api/v1/inventories/{inventory}", "inventories:write"),
    ("PUT", "/api/v1/inventories/i1", "inventories:write"),
    ("GET", "/api/v1/inventories/i1", "jobs:read"),
    ("GET", "/api/v1/inventories/i1/history", "jobs:read"),
    ("DELETE", "/api/v1/jobs/queued1", "jobs:cancel"),
    ("GET", "/metrics", "metrics:read"),
    ("POST", "/api/v1/keys", "admin"),
    ("GET", "/api/v1/keys", "admin"),
    ("GET", "/api/v1/webhooks", "admin"),
    ("DELETE", "/api/v1/keys/{key_id}", "admin"),
    ("POST", "/api/v1/credentials", "credentials:write"),
    ("GET", "/api/v1/credentials", "credentials:read"),
    ("GET", "/api/v1/credentials/{name}", "credentials:read"),
    ("PUT", "/api/v1/credentials/{name}", "credentials:write"),
    ("DELETE", "/api/v1/credentials/{name}", "credentials:write"),
    ("POST", "/api/v1/credentials/rotate-key", "admin"),
]
CREDENTIAL: dict[str, Any] = {"type": "password", "password": "a become password"}


@pytest.fixture(name="jobs")
async def fx_jobs(
    db: asyncpg.Connection[asyncpg.Record], js: JetStreamContext, settings: ApiSettings
) -> None:
    """A finished job with an artifact in the stream, the read model and log storage, and a queued one."""
    await publish(js, job_events("done1", runner_events=3))
    stored = await LocalStore(settings.logs_dir).put(artifact_key("done1", 1, "rc"), b"0")
    artifact = {"name": "rc", "key": stored.key, "size": stored.size, "sha256": stored.sha256}
    await insert_job(db, "done1", status="successful", terminal_seq=6, attempt=1, artifacts=[artifact])
    await insert_job(db, "queued1")


@pytest.mark.parametrize("scope", sorted({scope for _, _, scope in ROUTES}))
async def test_each_scope_is_needed_exactly_where_it_is_declared(
    app_client: AsyncTestClient[Any], jobs: None, scope: str
) -> None:
    others = [s for s in SCOPES if s not in (scope, "admin")]
    without, _ = await make_key(app_client, others, name="without")
    with_it, _ = await make_key(app_client, [scope], name="with")
    for route in ROUTES:
        if route[2] != scope:
            continue
        refused = await call(app_client, route, without)
        assert refused.status_code == 403, route
        assert problem(refused)["detail"].endswith(f"lacks the scope {scope!r}"), route
        allowed = await call(app_client, route, with_it)
        assert 200 <= allowed.status_code < 300, (route, allowed.text)


async def test_missing_malformed_unknown_expired_and_revoked_keys_are_401(
    app_client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    key, key_id = await make_key(app_client, ["jobs:read"])
    doomed, doomed_id = await make_key(app_client, ["jobs:read"], name="doomed")
    assert (await app_client.get("/api/v1/jobs", headers=bearer(key))).status_code == 200
    assert (await app_client.get("/api/v1/jobs", headers={"X-API-Key": key})).status_code == 200
    assert (await app_client.get("/api/v1/jobs", headers=bearer(doomed))).status_code == 200
    revoked = await app_client.delete(f"/api/v1/keys/{doomed_id}")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    admin = app_client.headers.pop("Authorization")

    missing = await app_client.get("/api/v1/jobs")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="playledger"'
    assert problem(missing)["title"] == "Unauthorized"
    wrong_secret = key[:-4] + ("bbbb" if key.endswith("aaaa") else "aaaa")
    for bad in ("nonsense", f"pl_{'0' * 12}_{'x' * 43}", wrong_secret):
        response = await app_client.get("/api/v1/jobs", headers=bearer(bad))
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert problem(response)["detail"] == "the API key is not valid"
        assert bad not in response.text

    gone = await app_client.get("/api/v1/jobs", headers=bearer(doomed))
    assert gone.status_code == 401
    assert problem(gone)["detail"] == "the API key was revoked"

    await db.execute(
        "UPDATE playledger_auth.api_keys SET expires_at = $2 WHERE key_id = $1",
        key_id,
        datetime.now(UTC) - timedelta(seconds=1),
    )
    expired = await app_client.get("/api/v1/jobs", headers=bearer(key))
    assert expired.status_code == 401
    assert problem(expired)["detail"] == "the API key has expired"
    assert (await app_client.get("/api/v1/jobs", headers={"Authorization": admin})).status_code == 200


async def test_health_ready_and_the_openapi_document_are_open(app_client: AsyncTestClient[Any]) -> None:
    app_client.headers.pop("Authorization")
    assert (await app_client.get("/health")).status_code == 200
    assert (await app_client.get("/ready")).status_code == 200
    assert (await app_client.get("/schema/openapi.json")).status_code == 200
    assert (await app_client.get("/metrics")).status_code == 401  # keyed in this fixture


async def test_keys_are_stored_hashed_and_listed_without_secrets(
    app_client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    key, key_id = await make_key(
        app_client, ["jobs:read", "jobs:submit"], name="ci", owner="team-a", expires_at=expires.isoformat()
    )
    row = await db.fetchrow("SELECT * FROM playledger_auth.api_keys WHERE key_id = $1", key_id)
    assert row is not None
    assert key not in str(dict(row))
    assert key.split("_", 2)[2] not in str(dict(row))
    listed = (await app_client.get("/api/v1/keys")).json()["items"]
    assert key not in str(listed)
    mine = next(item for item in listed if item["id"] == key_id)
    assert mine["name"] == "ci"
    assert mine["owner"] == "team-a"
    assert mine["scopes"] == ["jobs:read", "jobs:submit"]
    assert datetime.fromisoformat(mine["expires_at"]) == expires
    assert mine["last_used_at"] is None
    await app_client.get("/api/v1/jobs", headers=bearer(key))
    used = next(i for i in (await app_client.get("/api/v1/keys")).json()["items"] if i["id"] == key_id)
    assert used["last_used_at"] is not None


async def test_bad_key_requests_are_422_naming_the_field(app_client: AsyncTestClient[Any]) -> None:
    unknown_scope = await app_client.post("/api/v1/keys", json={"name": "x", "scopes": ["jobs:everything"]})
    assert unknown_scope.status_code == 422
    assert problem(unknown_scope)["errors"][0]["path"] == "$.scopes[0]"
    extra = await app_client.post("/api/v1/keys", json={"name": "x", "scopes": ["admin"], "secret": "mine"})
    assert extra.status_code == 422
    assert "secret" in problem(extra)["detail"]
    past = await app_client.post(
        "/api/v1/keys", json={"name": "x", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"}
    )
    assert past.status_code == 422
    assert problem(past)["errors"] == [{"path": "$.expires_at", "message": "must be in the future"}]
    assert (await app_client.delete("/api/v1/keys/0123456789ab")).status_code == 404


async def test_a_key_limited_to_playbooks_cannot_submit_another(
    app_client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    key, _ = await make_key(app_client, ["jobs:submit"], name="deployer", playbooks=["deploy/*.yml"])
    ok = await app_client.post("/api/v1/jobs", json=JOB, headers=bearer(key))
    assert ok.status_code == 202
    other = {**JOB, "source": {"type": "local", "path": "maintenance/reboot.yml"}}
    refused = await app_client.post("/api/v1/jobs", json=other, headers=bearer(key))
    assert refused.status_code == 403
    assert "may not run playbook 'maintenance/reboot.yml'" in problem(refused)["detail"]


async def test_a_key_limited_to_one_repository_cannot_submit_another(
    app_client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    """Source and git inventory, submit and template launch: one check, a 403 naming the URL."""
    allowed = "https://git.example.com/ci/app.git"
    key, key_id = await make_key(
        app_client, ["jobs:submit"], name="ci-app", repos=["https://git.example.com/ci/app*"]
    )
    listed = (await app_client.get("/api/v1/keys")).json()["items"]
    assert [k["repos"] for k in listed if k["id"] == key_id] == [["https://git.example.com/ci/app*"]]
    git_job = {**JOB, "source": {"type": "playbook", "repo": allowed, "path": "site.yml"}}
    assert (await app_client.post("/api/v1/jobs", json=git_job, headers=bearer(key))).status_code == 202
    other = "https://git.example.com/ci/other.git"
    foreign_source = {**git_job, "source": {"type": "playbook", "repo": other, "path": "site.yml"}}
    refused = await app_client.post("/api/v1/jobs", json=foreign_source, headers=bearer(key))
    assert refused.status_code == 403
    assert problem(refused)["detail"] == (
        f"the API key {key_id!r} may not use repository {other!r}"
        " (the job's source; it may use: https://git.example.com/ci/app*)"
    )
    foreign_inventory = {**git_job, "inventory": {"type": "git", "repo": other, "path": "hosts.yml"}}
    refused = await app_client.post("/api/v1/jobs", json=foreign_inventory, headers=bearer(key))
    assert refused.status_code == 403
    assert (
        "may not use repository 'https://git.example.com/ci/other.git' (the job's inventory"
        in (problem(refused)["detail"])
    )
    template = {"spec": foreign_source}
    assert (await app_client.put("/api/v1/templates/other-repo", json=template)).status_code == 201
    launched = await app_client.post("/api/v1/templates/other-repo/launch", json={}, headers=bearer(key))
    assert launched.status_code == 403
    assert f"may not use repository {other!r}" in problem(launched)["detail"]
    assert (await app_client.post("/api/v1/templates/other-repo/launch", json={})).status_code == 202  # admin


async def test_the_submit_command_records_which_key_submitted_never_its_secret(
    app_client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    key, key_id = await make_key(app_client, ["jobs:submit"], name="pipeline")
    submitted = await app_client.post("/api/v1/jobs", json={**JOB, "id": "by-key-1"}, headers=bearer(key))
    assert submitted.status_code == 202
    stored = await js.get_last_msg(COMMANDS_STREAM, submit_subject("normal", "by-key-1"))
    command = msgspec.json.decode(stored.data)
    assert command["submitted_by"] == {"key_id": key_id, "name": "pipeline"}
    assert key.split("_", 2)[2] not in stored.data.decode()
    claimed = await app_client.post(
        "/api/v1/jobs", json={**JOB, "submitted_by": {"key_id": "x", "name": "someone"}}, headers=bearer(key)
    )
    assert claimed.status_code == 422


async def test_the_openapi_document_declares_the_schemes_and_each_operations_scope(
    app_client: AsyncTestClient[Any],
) -> None:
    doc = (await app_client.get("/schema/openapi.json")).json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKeyBearer"]["scheme"] == "bearer"
    assert schemes["apiKeyHeader"] == {
        "type": "apiKey",
        "name": "X-API-Key",
        "in": "header",
        "description": schemes["apiKeyHeader"]["description"],
    }
    for method, path, scope in ROUTES:
        template = (
            path.replace("done1", "{job_id}")
            .replace("queued1", "{job_id}")
            .replace("/rc", "/{name}")
            .replace("/t1", "/{name}")
            .replace("/i1", "/{name}")
            .replace("{inventory}", "{name}")
        )
        op = doc["paths"][template][method.lower()]
        assert op["security"] == [{"apiKeyBearer": [scope]}, {"apiKeyHeader": [scope]}], path
        assert "401" in op["responses"], path
    for path in ("/health", "/ready"):
        assert "security" not in doc["paths"][path]["get"]


async def test_open_metrics_are_open_in_the_openapi_document_too(settings: ApiSettings) -> None:
    """``PLAYLEDGER_METRICS_AUTH=open`` (the default): served without a key and documented so."""
    opened = msgspec.structs.replace(settings, metrics_auth="open")
    async with AsyncTestClient(app=create_app(opened)) as client:
        assert (await client.get("/metrics")).status_code == 200
        operation = (await client.get("/schema/openapi.json")).json()["paths"]["/metrics"]["get"]
        assert "security" not in operation
        assert "401" not in operation["responses"]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_auth_off_serves_everything_and_warns_at_every_start(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    off = msgspec.structs.replace(settings, auth="off", auth_secret_file=None, auth_bootstrap_key_file=None)
    records = _Records()
    logging.getLogger("playledger_api.app").addHandler(records)
    try:
        async with AsyncTestClient(app=create_app(off)) as client:
            assert (await client.get("/api/v1/jobs")).status_code == 200
            assert (await client.post("/api/v1/jobs", json=JOB)).status_code == 202
            assert (await client.get("/api/v1/keys")).status_code == 404
    finally:
        logging.getLogger("playledger_api.app").removeHandler(records)
    assert any("PLAYLEDGER_AUTH=off" in message for message in records.messages)


def test_auth_on_needs_a_server_secret(settings: ApiSettings, tmp_path: Any) -> None:
    from playledger_common.errors import ConfigError

    with pytest.raises(ConfigError, match="PLAYLEDGER_AUTH_SECRET_FILE is required"):
        create_app(msgspec.structs.replace(settings, auth_secret_file=None))
    short = tmp_path / "short"
    short.write_text("tooshort", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        create_app(msgspec.structs.replace(settings, auth_secret_file=short))


async def test_every_valid_key_may_read_its_own_record_and_nothing_else_about_keys(
    app_client: AsyncTestClient[Any],
) -> None:
    reader, reader_id = await make_key(app_client, ["jobs:read"], name="reader")
    mine = await app_client.get("/api/v1/keys/current", headers=bearer(reader))
    assert mine.status_code == 200, mine.text
    assert (mine.json()["id"], mine.json()["scopes"]) == (reader_id, ["jobs:read"])
    assert reader not in mine.text  # never the secret
    assert (await app_client.get("/api/v1/keys", headers=bearer(reader))).status_code == 403
    anonymous = await app_client.get("/api/v1/keys/current", headers={"Authorization": ""})
    assert anonymous.status_code == 401
