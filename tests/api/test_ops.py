"""Health, readiness, metrics, 503 when a dependency is down, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from playledger_api.app import create_app
from playledger_cli.embedded import NatsServer, free_port
from playledger_common.readmodel import READ_MODEL_VERSION
from playledger_common.settings import ApiSettings
from tests.api.conftest import admin_headers

pytestmark = pytest.mark.integration

JOB = {
    "source": {"type": "local", "path": "site.yml"},
    "inventory": {"type": "inline", "hosts": ["localhost"]},
}


async def test_health_and_ready(client: AsyncTestClient[Any]) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "ready": True,
        "checks": [
            {"name": "nats", "ok": True, "detail": "connected"},
            {"name": "streams", "ok": True, "detail": "present"},
            {"name": "postgresql", "ok": True, "detail": f"read models at version {READ_MODEL_VERSION}"},
        ],
    }


async def test_not_ready_until_the_read_models_are_migrated(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await db.execute("DELETE FROM schema_migrations")
    ready = await client.get("/ready")
    assert ready.status_code == 503
    assert ready.headers["retry-after"] == "5"
    assert ready.json()["checks"][2] == {
        "name": "postgresql",
        "ok": False,
        "detail": f"read models at version 0, need {READ_MODEL_VERSION}",
    }


async def test_postgresql_down_is_503_with_retry_after_and_no_exception_text(nats_url: str) -> None:
    nowhere = f"postgresql://playledger:s3cr3t@127.0.0.1:{free_port()}/playledger"
    # Auth off: API keys live in PostgreSQL, so with auth on an uncached key is a 503 here too.
    settings = ApiSettings(nats_url=nats_url, database_url=nowhere, auth="off")
    async with AsyncTestClient(app=create_app(settings)) as client:
        response = await client.get("/api/v1/jobs/some-job")
        ready = await client.get("/ready")
        accepted = await client.post("/api/v1/jobs", json=JOB)  # submit needs NATS only
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "PostgreSQL is unavailable, retry later",
        "instance": "/api/v1/jobs/some-job",
    }
    assert "s3cr3t" not in response.text
    assert "refused" not in response.text.lower()
    assert ready.status_code == 503
    assert ready.json()["checks"][2]["ok"] is False
    assert accepted.status_code == 202


async def test_nats_down_is_503_with_retry_after(nats_server: NatsServer, settings: ApiSettings) -> None:
    async with AsyncTestClient(app=create_app(settings)) as client:
        client.headers.update(admin_headers(settings))
        nats_server.stop()
        submit = await client.post("/api/v1/jobs", json=JOB)
        ready = await client.get("/ready")
    assert submit.status_code == 503
    assert submit.headers["retry-after"] == "5"
    assert submit.json()["detail"] == "NATS is unavailable, retry later"
    assert ready.status_code == 503
    assert [check["ok"] for check in ready.json()["checks"]] == [False, False, True]


async def test_metrics_count_requests_submits_and_sse_clients(client: AsyncTestClient[Any]) -> None:
    await client.post("/api/v1/jobs", json=JOB)
    await client.get("/api/v1/jobs/missing")
    await client.get("/api/v1/jobs/missing")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert (
        'playledger_api_requests_total{method="GET",route="/api/v1/jobs/{job_id}",status="404"} 2.0' in text
    )
    assert 'playledger_api_requests_total{method="POST",route="/api/v1/jobs",status="202"} 1.0' in text
    assert "playledger_api_request_duration_seconds_bucket{" in text
    assert "playledger_api_jobs_submitted_total 1.0" in text
    assert "playledger_api_sse_clients 0.0" in text


async def test_the_openapi_document_describes_every_endpoint(client: AsyncTestClient[Any]) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    operations = {
        (path, method): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method != "parameters"
    }
    assert set(operations) == {
        ("/api/v1/jobs", "post"),
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs/{job_id}", "get"),
        ("/api/v1/jobs/{job_id}", "delete"),
        ("/api/v1/jobs/{job_id}/events", "get"),
        ("/api/v1/jobs/{job_id}/hosts", "get"),
        ("/api/v1/jobs/{job_id}/webhooks", "get"),
        ("/api/v1/jobs/{job_id}/webhooks/{delivery_id}/redeliver", "post"),
        ("/api/v1/webhooks", "get"),
        ("/api/v1/webhooks", "post"),
        ("/api/v1/webhooks/{subscription_id}", "delete"),
        ("/api/v1/jobs/{job_id}/logs", "get"),
        ("/api/v1/jobs/{job_id}/artifacts/{name}", "get"),
        ("/api/v1/jobs/{job_id}/stream", "get"),
        ("/api/v1/jobs/{job_id}/retry", "post"),
        ("/api/v1/stream", "get"),
        ("/api/v1/stats", "get"),
        ("/api/v1/templates", "get"),
        ("/api/v1/templates/{name}", "get"),
        ("/api/v1/templates/{name}", "put"),
        ("/api/v1/templates/{name}", "delete"),
        ("/api/v1/templates/{name}/launch", "post"),
        ("/api/v1/inventories", "get"),
        ("/api/v1/inventories/{name}", "get"),
        ("/api/v1/inventories/{name}", "post"),
        ("/api/v1/inventories/{name}", "put"),
        ("/api/v1/inventories/{name}", "delete"),
        ("/api/v1/inventories/{name}/history", "get"),
        ("/api/v1/schedules", "get"),
        ("/api/v1/schedules/{name}", "get"),
        ("/api/v1/schedules/{name}", "put"),
        ("/api/v1/schedules/{name}", "delete"),
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/api/v1/keys", "post"),
        ("/api/v1/keys", "get"),
        ("/api/v1/keys/current", "get"),
        ("/api/v1/keys/{key_id}", "delete"),
        ("/api/v1/credentials", "post"),
        ("/api/v1/credentials", "get"),
        ("/api/v1/credentials/{name}", "get"),
        ("/api/v1/credentials/{name}", "put"),
        ("/api/v1/credentials/{name}", "delete"),
        ("/api/v1/credentials/rotate-key", "post"),
    }
    for key, op in operations.items():
        assert op.get("operationId"), key
        assert op.get("description") or op.get("summary"), key
        assert any(code.startswith("2") for code in op["responses"]), key
    schemas = doc["components"]["schemas"]

    submit = operations[("/api/v1/jobs", "post")]
    body_ref = submit["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schemas[body_ref.rsplit("/", 1)[1]]
    assert {"source", "inventory", "extra_vars", "options", "id", "priority"} <= set(body["properties"])
    assert body.get("additionalProperties") is False or body_ref.endswith("SubmitJobBody")
    assert {"202", "200", "400", "413", "422", "503"} <= set(submit["responses"])
    problem = submit["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem["$ref"].endswith("/Problem")
    assert {"path", "message"} <= set(schemas["FieldProblem"]["properties"])
    params = {p["name"]: p["in"] for p in submit["parameters"]}
    assert params == {"Idempotency-Key": "header", "wait": "query"}

    create = operations[("/api/v1/credentials", "post")]["requestBody"]["content"]["application/json"]
    kinds = {ref["$ref"].rsplit("/", 1)[1] for ref in create["schema"]["oneOf"]}
    assert all("name" in schemas[kind]["required"] for kind in kinds), kinds
    replace = operations[("/api/v1/credentials/{name}", "put")]["requestBody"]["content"]["application/json"]
    assert len(replace["schema"]["oneOf"]) == len(kinds)

    status = operations[("/api/v1/jobs/{job_id}", "get")]
    status_ref = status["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert {
        "progress",
        "complete",
        "last_projected_seq",
        "projection_seq",
        "rc",
        "attempts",
        "max_attempts",
    } <= set(schemas[status_ref.rsplit("/", 1)[1]]["properties"])
    assert "404" in status["responses"]
    assert "409" in operations[("/api/v1/jobs/{job_id}", "delete")]["responses"]
    stream = operations[("/api/v1/jobs/{job_id}/stream", "get")]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert {p["name"] for p in stream["parameters"]} == {"job_id", "after", "Last-Event-ID"}
    assert "text/plain" in operations[("/api/v1/jobs/{job_id}/logs", "get")]["responses"]["200"]["content"]
    listing = {p["name"] for p in operations[("/api/v1/jobs", "get")]["parameters"]}
    assert listing == {
        "status",
        "priority",
        "created_after",
        "created_before",
        "cursor",
        "limit",
        "id_prefix",
        "dead_letter",
        "template",
        "playbook",
        "submitter",
    }


async def test_an_unexpected_error_is_500_without_exception_text(
    client: AsyncTestClient[Any], db: asyncpg.Connection[asyncpg.Record]
) -> None:
    await db.execute("ALTER TABLE jobs DROP COLUMN current_task")  # a read model the API does not expect
    response = await client.get("/api/v1/jobs/any-job")
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "an unexpected error occurred",
        "instance": "/api/v1/jobs/any-job",
    }
    assert "current_task" not in response.text
