"""The log storage port: the same contract against the local directory and a real S3 API server
(moto's standalone server over HTTP, spoken to by aioboto3 as it would speak to AWS)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from playledger_common.logstore import (
    LocalStore,
    LogStore,
    S3Store,
    StorageError,
    artifact_name_problem,
    log_key,
    part_key,
    read_log,
    read_span,
)
from tests.s3 import S3Server, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(name="store", params=["local", "s3"])
async def fx_store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> AsyncIterator[LogStore]:
    store: LogStore
    if request.param == "local":
        store = LocalStore(tmp_path / "logs")
    else:
        store = S3Store(
            bucket=s3_bucket,
            prefix="pl",
            endpoint_url=s3_server.endpoint_url,
            region="us-east-1",
            path_style=True,
        )
    await store.ensure()
    yield store
    await store.close()


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([c async for c in chunks])


async def test_put_size_range_list_delete(store: LogStore) -> None:
    data = bytes(range(256)) * 100
    stored = await store.put("jobs/j1/1/artifacts/a/b.txt", data)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await store.size("jobs/j1/1/artifacts/a/b.txt") == len(data)
    assert await store.size("jobs/j1/1/artifacts/none") is None
    assert await collect(store.open_range("jobs/j1/1/artifacts/a/b.txt", 10, 300)) == data[10:300]
    await store.put("jobs/j1/1/artifacts/c", b"c")
    await store.put("jobs/j10/1/artifacts/c", b"other job")
    assert await store.listing("jobs/j1/") == [
        ("jobs/j1/1/artifacts/a/b.txt", len(data)),
        ("jobs/j1/1/artifacts/c", 1),
    ]
    await store.delete(["jobs/j1/1/artifacts/c", "jobs/j1/1/artifacts/never-was"])
    assert await store.size("jobs/j1/1/artifacts/c") is None


async def test_parts_read_as_one_log_until_the_final_object_replaces_them(
    store: LogStore, tmp_path: Path
) -> None:
    pieces = [b"PLAY [one]\n", b"TASK [two]\nok: [h]\n", b"PLAY RECAP\n"]
    for number, piece in enumerate(pieces[:2], 1):
        await store.put(part_key("j", 1, number), piece)
    so_far, final = await read_log(store, "j", 1)
    assert not final
    whole = b"".join(pieces[:2])
    assert await collect(read_span(store, so_far, 0, len(whole))) == whole
    assert await collect(read_span(store, so_far, 5, 20)) == whole[5:20]  # across the part boundary

    log = tmp_path / "stdout"
    log.write_bytes(b"".join(pieces))
    stored = await store.put_file(log_key("j", 1), log)
    assert stored.sha256 == hashlib.sha256(log.read_bytes()).hexdigest()
    done, final = await read_log(store, "j", 1)
    assert final
    assert done == [(log_key("j", 1), log.stat().st_size)]


async def test_a_large_file_goes_up_in_parts_and_round_trips(store: LogStore, tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as f:
        for _ in range(12):  # 12 MiB: more than one 8 MiB S3 part
            f.write(os.urandom(1024 * 1024))
    stored = await store.put_file(log_key("big", 1), big)
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    assert (stored.size, stored.sha256) == (big.stat().st_size, expected)
    back = await collect(store.open_range(log_key("big", 1), 0, stored.size))
    assert hashlib.sha256(back).hexdigest() == expected


async def test_presigned_urls_serve_the_object_to_any_http_client(store: LogStore) -> None:
    await store.put("jobs/p/1/stdout", b"hello\n")
    url = await store.presign("jobs/p/1/stdout", 60)
    if isinstance(store, LocalStore):
        assert url is None  # the API serves a local store's bytes itself
        return
    assert url is not None
    async with httpx.AsyncClient() as client:
        answer = await client.get(url)
        ranged = await client.get(url, headers={"Range": "bytes=1-3"})
    assert (answer.status_code, answer.content) == (200, b"hello\n")
    assert (ranged.status_code, ranged.content) == (206, b"ell")


async def test_retention(store: LogStore) -> None:
    await store.put("jobs/old/1/stdout", b"old")
    await store.put("jobs/new/1/stdout", b"new")
    if isinstance(store, LocalStore):
        week_ago = time.time() - 8 * 86400
        os.utime(store.path("jobs/old/1/stdout"), (week_ago, week_ago))
        assert await store.expire(7) == 1
        assert await store.size("jobs/old/1/stdout") is None
        assert await store.size("jobs/new/1/stdout") == 3
        return
    assert isinstance(store, S3Store)
    await store.expire(30)
    await store.expire(7)  # replaces its own rule, keeps any other
    s3 = await store._s3()
    rules = (await s3.get_bucket_lifecycle_configuration(Bucket=store.bucket))["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"], r["Status"]) for r in rules] == [
        ("pl/jobs/", 7, "Enabled")
    ]


def test_storage_init_creates_the_bucket_and_its_retention_rule(s3_server: S3Server, s3_bucket: str) -> None:
    env = {**os.environ, **s3_server.bucket_env(s3_bucket), "PLAYLEDGER_LOG_RETENTION_DAYS": "14"}
    done = subprocess.run(
        [sys.executable, "-m", "playledger_cli", "storage", "init"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"log storage s3://{s3_bucket}/logs: ready, logs kept 14 days"

    async def rules() -> list[dict[str, object]]:
        store = S3Store(
            bucket=s3_bucket, prefix="logs", endpoint_url=s3_server.endpoint_url, region="us-east-1"
        )
        s3 = await store._s3()
        found: list[dict[str, object]] = (await s3.get_bucket_lifecycle_configuration(Bucket=s3_bucket))[
            "Rules"
        ]
        await store.close()
        return found

    assert [r["Expiration"] for r in asyncio.run(rules())] == [{"Days": 14}]


@pytest.mark.unit
def test_keys_stay_inside_the_store() -> None:
    for bad in ("", "/etc/passwd", "a/../b", "a//b", "./a", "a\\b", "a\nb"):
        assert artifact_name_problem(bad) is not None, bad
    assert artifact_name_problem("fact_cache/web1") is None
    with pytest.raises(ValueError, match="bad key"):
        LocalStore(Path("/tmp")).path("../escape")


async def test_storage_down_is_a_storage_error_that_names_the_operation_only(
    s3_bucket: str,
) -> None:
    store = S3Store(bucket=s3_bucket, endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1")
    with pytest.raises(StorageError, match=r"^S3 put failed: ") as caught:
        await store.put("jobs/x/1/stdout", b"x")
    assert "playledger-test-secret" not in str(caught.value)
    await store.close()


@pytest.mark.slow
async def test_a_200_mb_log_round_trips_through_s3_in_parts(
    tmp_path: Path, s3_server: S3Server, s3_bucket: str
) -> None:
    store = S3Store(
        bucket=s3_bucket, endpoint_url=s3_server.endpoint_url, region="us-east-1", path_style=True
    )
    await store.ensure()
    log = tmp_path / "stdout"
    line = b"TASK [print] ok: [web1] => " + b"z" * 100 + b"\n"
    with log.open("wb") as f:
        for n in range(200 * 1024 * 1024 // (1024 * 1024)):
            f.write(line * (1024 * 1024 // len(line)) + f"{n:08d}\n".encode())
    expected = hashlib.sha256(log.read_bytes()).hexdigest()
    stored = await store.put_file(log_key("big", 1), log)
    assert stored.size == log.stat().st_size > 200_000_000
    assert stored.sha256 == expected
    digest = hashlib.sha256()
    async for chunk in store.open_range(log_key("big", 1), 0, stored.size):
        digest.update(chunk)
    assert digest.hexdigest() == expected  # what S3 holds is what the runner wrote
    assert await collect(store.open_range(log_key("big", 1), stored.size - 9, stored.size)) == b"00000199\n"
    await store.close()
