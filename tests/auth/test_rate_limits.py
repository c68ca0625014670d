"""Per-key submit limits: 429 with Retry-After, then submits go through again."""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from playledger_api.app import create_app
from playledger_common.settings import ApiSettings
from tests.api.conftest import admin_headers, insert_job
from tests.auth.test_keys_http import JOB, bearer, make_key, problem

pytestmark = pytest.mark.integration


async def test_too_many_submits_are_429_with_retry_after_then_accepted_again(
    settings: ApiSettings, js: JetStreamContext
) -> None:
    limited = msgspec.structs.replace(settings, rate_submits="2/second")
    async with AsyncTestClient(app=create_app(limited)) as client:
        client.headers.update(admin_headers(limited))
        key, key_id = await make_key(client, ["jobs:submit"], name="ci")
        other, _ = await make_key(client, ["jobs:submit"], name="other")
        answers = [await client.post("/api/v1/jobs", json=JOB, headers=bearer(key)) for _ in range(3)]
        assert [a.status_code for a in answers] == [202, 202, 429]
        refused = answers[2]
        retry_after = int(refused.headers["retry-after"])
        assert retry_after == 1
        assert problem(refused)["detail"] == f"the API key {key_id!r} may submit 2 jobs per second"
        # Per key: another key is not held back.
        assert (await client.post("/api/v1/jobs", json=JOB, headers=bearer(other))).status_code == 202
        await asyncio.sleep(retry_after)  # do as the header says
        assert (await client.post("/api/v1/jobs", json=JOB, headers=bearer(key))).status_code == 202


async def test_a_key_with_too_many_unfinished_jobs_is_429_until_one_finishes(
    settings: ApiSettings, js: JetStreamContext, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    limited = msgspec.structs.replace(settings, max_unfinished_jobs_per_key=1)
    async with AsyncTestClient(app=create_app(limited)) as client:
        client.headers.update(admin_headers(limited))
        key, key_id = await make_key(client, ["jobs:submit"], name="busy")
        await insert_job(db, "running1", status="running", submitted_by={"key_id": key_id, "name": "busy"})
        refused = await client.post("/api/v1/jobs", json=JOB, headers=bearer(key))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "5"
        assert "has 1 unfinished jobs (at most 1)" in problem(refused)["detail"]
        await db.execute("UPDATE jobs SET status = 'successful' WHERE job_id = 'running1'")
        assert (await client.post("/api/v1/jobs", json=JOB, headers=bearer(key))).status_code == 202


def test_a_bad_rate_setting_is_refused() -> None:
    from playledger_common.errors import ConfigError
    from playledger_common.settings import from_env

    with pytest.raises(ConfigError, match="PLAYLEDGER_RATE_SUBMITS is invalid"):
        from_env(
            ApiSettings, {"PLAYLEDGER_DATABASE_URL": "postgresql://x/y", "PLAYLEDGER_RATE_SUBMITS": "lots"}
        )
