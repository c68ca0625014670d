"""The HTTP door against a hostile client: limits derived from NATS, depth, media type, bounds,
every invalid field, every method in ``Allow``, and a connection the server closed."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_api.app import create_app
from playledger_cli.embedded import NatsServer
from playledger_common.settings import ApiSettings
from playledger_schemas.limits import command_limit
from playledger_schemas.subjects import COMMANDS_STREAM
from tests.api.conftest import admin_headers
from tests.api.test_submit import JOB, problem
from tests.waiting import until

pytestmark = pytest.mark.integration


async def stored_commands(js: JetStreamContext) -> int:
    return (await js.stream_info(COMMANDS_STREAM)).state.messages


def padded(size: int) -> bytes:
    """A valid submit body of exactly ``size`` bytes."""
    import msgspec

    base = msgspec.json.encode({**JOB, "extra_vars": {"pad": ""}})
    return msgspec.json.encode({**JOB, "extra_vars": {"pad": "x" * (size - len(base))}})


async def test_a_body_just_under_max_payload_is_413_and_the_api_keeps_its_connection(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    """Defect 2: ~1,048,300 bytes made the server close the API's connection for good."""
    roomy = ApiSettings(**{**_fields(settings), "max_body_bytes": 2 * 1024 * 1024})
    async with AsyncTestClient(app=create_app(roomy)) as client:
        max_payload = client.app.state.services.bus.nc.max_payload
        limit = command_limit(max_payload)
        headers = {"content-type": "application/json", **admin_headers(roomy)}
        near = await client.post("/api/v1/jobs", content=padded(1_048_300), headers=headers)
        assert near.status_code == 413, near.text
        assert f"more than the limit of {limit}" in problem(near)["detail"]
        # the command is the body plus its envelope and every option's default (a few hundred bytes)
        fits = await client.post("/api/v1/jobs", content=padded(limit - 1024), headers=headers)
        assert fits.status_code == 202, fits.text
        after = await client.post("/api/v1/jobs", json=JOB, headers=admin_headers(roomy))
        assert after.status_code == 202
        assert (await client.get("/health")).status_code == 200
    assert await stored_commands(js) == 2


def _fields(settings: ApiSettings) -> dict[str, Any]:
    import msgspec

    return {f.name: getattr(settings, f.name) for f in msgspec.structs.fields(settings)}


async def test_the_api_reconnects_after_the_server_closes_its_connection(
    client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    nc = client.app.state.services.bus.nc
    disconnects = 0

    async def count() -> None:
        nonlocal disconnects
        disconnects += 1

    original = nc._disconnected_cb

    async def both() -> None:
        await count()
        if original is not None:
            await original()

    nc._disconnected_cb = both
    # Headers + payload over max_payload: nats-py checks only the payload, the server closes the link.
    await nc.publish("playledger.test.oversized", b"x" * 1024, headers={"X-Pad": "y" * nc.max_payload})

    async def reconnected() -> bool:
        return disconnects > 0 and nc.is_connected

    await until(reconnected, timeout=30)
    submitted = await client.post("/api/v1/jobs", json=JOB)
    assert submitted.status_code == 202, submitted.text
    assert (await client.get("/ready")).status_code == 200
    assert (await client.get("/health")).json() == {"status": "ok"}
    assert await stored_commands(js) == 1


async def test_health_fails_when_nats_does_not_come_back(
    nats_server: NatsServer, settings: ApiSettings
) -> None:
    impatient = ApiSettings(**{**_fields(settings), "nats_recover_s": 0.5})
    async with AsyncTestClient(app=create_app(impatient)) as client:
        assert (await client.get("/health")).status_code == 200
        nats_server.stop()

        async def failing() -> bool:
            return (await client.get("/health")).status_code == 503

        await until(failing, timeout=30)
        health = await client.get("/health")
    assert health.json()["status"] == "failing"
    assert "NATS unreachable" in health.json()["detail"]


async def test_only_json_is_read_and_deep_nesting_is_422(
    client: AsyncTestClient[Any], js: JetStreamContext
) -> None:
    import msgspec

    body = msgspec.json.encode(JOB)
    plain = await client.post("/api/v1/jobs", content=body, headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    assert problem(plain)["title"] == "Unsupported Media Type"
    missing = await client.post("/api/v1/jobs", content=body, headers={"content-type": ""})
    assert missing.status_code == 415
    for levels in (63, 970, 2000):  # 970+ was a 500 (RecursionError), fewer failed inside ansible
        deep = body.replace(
            b'"extra_vars":{', b'"extra_vars":{"x":' + b"[" * levels + b"]" * levels + b",", 1
        )
        response = await client.post(
            "/api/v1/jobs", content=deep, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (levels, response.text)
        assert problem(response)["errors"] == [
            {"path": "$", "message": "nested 64 or more levels deep (the limit is 63)"}
        ]
    assert await stored_commands(js) == 0


async def test_a_422_lists_every_invalid_field(client: AsyncTestClient[Any]) -> None:
    bad = {
        **JOB,
        "priority": "urgent",
        "options": {"forks": 0, "verbosity": 9},
        "inventory": {"type": "inline", "hosts": ["bad host"]},
    }
    response = await client.post("/api/v1/jobs", json=bad)
    assert response.status_code == 422
    paths = {e["path"] for e in problem(response)["errors"]}
    assert paths == {"$.priority", "$.options.forks", "$.options.verbosity", "$.inventory.hosts[0]"}


async def test_integer_parameters_are_bounded_by_the_database_types(client: AsyncTestClient[Any]) -> None:
    """Defect 6: ?after=2**31 was a 500, ?attempt=2**31 a broken chunked body."""
    for url in (
        "/api/v1/jobs/j1/events?after=2147483648",
        "/api/v1/jobs/j1/logs?attempt=2147483648",
        "/api/v1/jobs/j1/events?limit=99999999999999999999",
    ):
        response = await client.get(url)
        assert response.status_code == 400, (url, response.text)
    assert (await client.get("/api/v1/jobs/j1/events?after=2147483647")).status_code == 404


async def test_allow_lists_every_method(client: AsyncTestClient[Any]) -> None:
    assert (await client.options("/api/v1/jobs")).headers["allow"] == "GET, OPTIONS, POST"
    assert (await client.options("/api/v1/jobs/j1")).headers["allow"] == "DELETE, GET, OPTIONS"
    assert (await client.options("/api/v1/jobs/j1/events")).headers["allow"] == "GET, OPTIONS"
