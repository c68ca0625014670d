"""The API answers a secrets request only for the executor that started the job, only with the
job's own credentials, sealed to the asker's one-time key — over a real nats-server with the
role users of ``nats_users`` (so the subjects each role may use are the server's decision)."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import msgspec
import nats
import pytest
from cryptography.exceptions import InvalidTag
from nats.aio.client import Client

from playledger_api.creds.keyring import KeySource
from playledger_api.creds.responder import SecretsResponder
from playledger_api.creds.service import Credentials
from playledger_api.creds.store import CredentialStore
from playledger_cli.embedded import NatsServer
from playledger_common.credentials import GitSecret, PasswordSecret
from playledger_common.nats_users import NatsUser, Role, authorization_block, generate_users, inbox_prefix
from playledger_common.sealing import Recipient, SecretsReply, SecretsRequest, job_aad
from playledger_common.settings import ApiSettings, CommonSettings
from playledger_common.streams import ensure_stream, ensure_streams, leases_stream_config
from playledger_executor.secrets import SecretsError, fetch_secrets
from playledger_schemas.codec import encode
from playledger_schemas.commands import InlineInventory, JobCredentials, JobSpec, LocalSource
from playledger_schemas.events import JobQueued, JobStarted, QueuedData, StartedData
from playledger_schemas.subjects import event_subject, lease_subject, secrets_subject

pytestmark = pytest.mark.integration

SPEC = JobSpec(
    source=LocalSource(path="site.yml"),
    inventory=InlineInventory(hosts=["web1"]),
    credentials=JobCredentials(become_password="become"),
)


@pytest.fixture(name="users")
def fx_users(tmp_path: Path) -> dict[Role, NatsUser]:
    return generate_users(tmp_path / "nats-users.json")


@pytest.fixture(name="server")
def fx_server(tmp_path: Path, users: dict[Role, NatsUser]) -> AsyncIterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats", authorization=authorization_block(users)).start()
    yield server
    server.stop()


async def _connect(server: NatsServer, users: dict[Role, NatsUser], role: Role) -> Client:
    async def quiet(exc: Exception) -> None:
        del exc

    return await nats.connect(
        server.url,
        user=users[role].user,
        password=users[role].password,
        inbox_prefix=inbox_prefix(role).encode(),
        error_cb=quiet,
        allow_reconnect=False,
    )


@pytest.fixture(name="conns")
async def fx_conns(server: NatsServer, users: dict[Role, NatsUser]) -> AsyncIterator[dict[Role, Client]]:
    conns = {role: await _connect(server, users, role) for role in ("admin", "api", "executor", "publisher")}
    settings = CommonSettings(nats_url=server.url)
    await ensure_streams(conns["admin"].jetstream(), settings)
    await ensure_stream(conns["admin"].jetstream(), leases_stream_config(settings))
    yield conns
    for conn in conns.values():
        await conn.close()


@pytest.fixture(name="credentials")
async def fx_credentials(readmodel_url: str, settings: ApiSettings) -> AsyncIterator[Credentials]:
    pool = await asyncpg.create_pool(readmodel_url, min_size=1, max_size=2)
    creds = Credentials(CredentialStore(pool), KeySource(settings))
    assert await creds.create("become", PasswordSecret(password="s3cret become"))
    assert await creds.create("other", PasswordSecret(password="another job's secret"))
    yield creds
    await pool.close()


async def _started(executor: Client, job_id: str, executor_id: str) -> None:
    js = executor.jetstream()
    now = datetime.now(UTC)
    for event in (
        JobQueued(
            event_id=uuid.uuid4(), job_id=job_id, attempt=0, seq=1, time=now, data=QueuedData(spec=SPEC)
        ),
        JobStarted(
            event_id=uuid.uuid4(),
            job_id=job_id,
            attempt=1,
            seq=2,
            time=now,
            data=StartedData(executor_id=executor_id, spec=SPEC, playbook="site.yml"),
        ),
    ):
        kind = "job.queued" if isinstance(event, JobQueued) else "job.started"
        await js.publish(event_subject(job_id, kind), encode(event))


async def test_only_the_executor_that_started_the_job_gets_its_secrets_and_only_it_can_open_them(
    conns: dict[Role, Client], credentials: Credentials
) -> None:
    responder = SecretsResponder(conns["api"], conns["api"].jetstream(), credentials)
    await responder.start()
    executor = conns["executor"]
    try:
        with pytest.raises(SecretsError, match="is not running on 'exec-a'"):  # no such job yet
            await fetch_secrets(executor, "job1", 1, "exec-a")
        await _started(executor, "job1", "exec-a")
        with pytest.raises(SecretsError, match="holds no live lease"):
            await fetch_secrets(executor, "job1", 1, "exec-a")
        await executor.jetstream().publish(lease_subject("exec-a"), b"exec-a", msg_ttl=30)
        with pytest.raises(SecretsError, match="is not running on 'exec-b'"):
            await fetch_secrets(executor, "job1", 1, "exec-b")
        with pytest.raises(SecretsError, match="attempt 2 is not running"):
            await fetch_secrets(executor, "job1", 2, "exec-a")

        got = await fetch_secrets(executor, "job1", 1, "exec-a")
        assert got.become_password is not None
        assert got.become_password.password == "s3cret become"
        assert got.ssh is None
        assert b"another job's secret" not in encode(got)

        # what crosses the bus is sealed: another key (or another job's aad) cannot open it
        asker, stranger = Recipient(), Recipient()
        request = SecretsRequest(job_id="job1", attempt=1, executor_id="exec-a", public_key=asker.public_key)
        raw = await executor.request(secrets_subject("job1"), encode(request), timeout=5)
        assert b"s3cret" not in raw.data
        assert base64.b64encode(b"s3cret become") not in raw.data
        sealed = msgspec.json.decode(raw.data, type=SecretsReply).sealed
        assert sealed is not None
        assert b"s3cret become" in asker.open(sealed, job_aad("job1", 1))
        with pytest.raises(InvalidTag):
            stranger.open(sealed, job_aad("job1", 1))
        with pytest.raises(InvalidTag):
            asker.open(sealed, job_aad("job2", 1))

        # a credential deleted before the run: the reply names it
        assert await credentials.store.delete("become")
        with pytest.raises(
            SecretsError, match=r"credentials\.become_password: credential 'become' does not exist"
        ):
            await fetch_secrets(executor, "job1", 1, "exec-a")
    finally:
        await responder.stop()


async def test_no_role_but_the_executor_may_ask_and_none_but_the_asker_reads_the_answer(
    conns: dict[Role, Client], server: NatsServer, users: dict[Role, NatsUser]
) -> None:
    errors: list[str] = []

    async def record(exc: Exception) -> None:
        errors.append(str(exc))

    spy = await nats.connect(
        server.url,
        user=users["publisher"].user,
        password=users["publisher"].password,
        inbox_prefix=inbox_prefix("publisher").encode(),
        error_cb=record,
        allow_reconnect=False,
    )
    try:
        await spy.publish(secrets_subject("job1"), b"{}")
        await spy.subscribe(f"{inbox_prefix('executor')}.>")
        await spy.flush()
        await spy.subscribe("playledger.secrets.*")
        await spy.flush()
        for _ in range(20):
            if len(errors) >= 3:
                break
            await asyncio.sleep(0.1)
        text = " ".join(errors).lower()
        assert text.count("permissions violation") >= 3, errors
        assert "playledger.secrets.job1" in text
    finally:
        await spy.close()
    # the api may answer (one reply per request) but may not publish on an executor inbox otherwise
    api_errors: list[str] = []

    async def record_api(exc: Exception) -> None:
        api_errors.append(str(exc))

    api = await nats.connect(
        server.url,
        user=users["api"].user,
        password=users["api"].password,
        inbox_prefix=inbox_prefix("api").encode(),
        error_cb=record_api,
        allow_reconnect=False,
    )
    try:
        await api.publish(f"{inbox_prefix('executor')}.forged", b"forged secrets")
        await api.flush()
        for _ in range(20):
            if api_errors:
                break
            await asyncio.sleep(0.1)
        assert any("permissions violation" in e.lower() for e in api_errors), api_errors
    finally:
        await api.close()


async def test_a_job_being_prepared_gets_its_git_credential_only_until_that_attempt_starts(
    conns: dict[Role, Client], credentials: Credentials
) -> None:
    assert await credentials.create("repo", GitSecret(token="repo token 1"))
    spec = msgspec.structs.replace(SPEC, credentials=JobCredentials(become_password="become", git="repo"))
    responder = SecretsResponder(conns["api"], conns["api"].jetstream(), credentials)
    await responder.start()
    executor = conns["executor"]
    js = executor.jetstream()
    try:
        with pytest.raises(SecretsError, match="is not queued"):
            await fetch_secrets(executor, "job3", 1, "exec-a", checkout=True)
        queued = JobQueued(
            event_id=uuid.uuid4(),
            job_id="job3",
            attempt=0,
            seq=1,
            time=datetime.now(UTC),
            data=QueuedData(spec=spec),
        )
        await js.publish(event_subject("job3", "job.queued"), encode(queued))
        with pytest.raises(SecretsError, match="holds no live lease"):
            await fetch_secrets(executor, "job3", 1, "exec-a", checkout=True)
        await js.publish(lease_subject("exec-a"), b"exec-a", msg_ttl=30)
        got = await fetch_secrets(executor, "job3", 1, "exec-a", checkout=True)
        assert got.git is not None
        assert got.git.token == "repo token 1"
        assert got.become_password is None  # the rest waits for job.started
        started = JobStarted(
            event_id=uuid.uuid4(),
            job_id="job3",
            attempt=1,
            seq=2,
            time=datetime.now(UTC),
            data=StartedData(executor_id="exec-a", spec=spec, playbook="site.yml"),
        )
        await js.publish(event_subject("job3", "job.started"), encode(started))
        with pytest.raises(SecretsError, match="attempt 1 has started"):
            await fetch_secrets(executor, "job3", 1, "exec-b", checkout=True)
        retry = await fetch_secrets(executor, "job3", 2, "exec-a", checkout=True)  # its executor died
        assert retry.git is not None
    finally:
        await responder.stop()
