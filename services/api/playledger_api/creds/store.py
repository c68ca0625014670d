"""The credentials table: owned and written by the API, in its own PostgreSQL schema.

Why not events + projection: a secret, even encrypted, has no place in a stream that can never be
purged (a deleted credential must become unrecoverable), and the executor must not read the
database. The table lives in schema ``playledger_secrets``, which a read-model rebuild never
touches; it holds metadata in clear and the secret as an ``Envelope`` (ciphertext, wrapped data key).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Final

import asyncpg
import msgspec

from playledger_api.creds.envelope import Envelope, rewrap
from playledger_common.kekfile import Keyring
from playledger_common.pg import OwnedTable
from playledger_common.readmodel import SCHEMA as READ_MODEL_SCHEMA
from playledger_common.settings import ApiSettings

log: Final = logging.getLogger(__name__)

SCHEMA: Final = "playledger_secrets"
TABLE: Final = f"{SCHEMA}.credentials"
_LOCK: Final = (0x504C, 0x5345)
"""Advisory lock (class, id) that serialises creating the table across API processes."""
_DDL: Final = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (
    name        text PRIMARY KEY,
    type        text NOT NULL,
    description text,
    username    text,
    vault_id    text,
    fingerprint text,
    kek_id      text NOT NULL,
    wrapped_key bytea NOT NULL,
    nonce       bytea NOT NULL,
    ciphertext  bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS job_id text;
CREATE INDEX IF NOT EXISTS credentials_job_id ON {TABLE} (job_id) WHERE job_id IS NOT NULL;
"""

_INFO: Final = "name, type, description, username, vault_id, fingerprint, kek_id, created_at, updated_at"


class CredentialInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What may be shown of a credential: never the secret (a key's fingerprint is public)."""

    name: str
    type: str
    description: str | None = None
    username: str | None = None
    vault_id: str | None = None
    fingerprint: str | None = None
    """``SHA256:…`` of an SSH key's public half (as ``ssh-keygen -l`` prints it); none for passwords."""
    kek_id: str
    """The key-encryption key that wraps its data key (changes on rotation)."""
    created_at: datetime
    updated_at: datetime


class Metadata(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    description: str | None
    username: str | None
    vault_id: str | None
    fingerprint: str | None


def _info(row: asyncpg.Record) -> CredentialInfo:
    return msgspec.convert(dict(row), CredentialInfo)


def _envelope(row: asyncpg.Record) -> Envelope:
    return Envelope(
        kek_id=row["kek_id"], wrapped_key=row["wrapped_key"], nonce=row["nonce"], ciphertext=row["ciphertext"]
    )


class CredentialStore(OwnedTable):
    ddl = _DDL
    lock = _LOCK

    async def insert(self, name: str, meta: Metadata, envelope: Envelope) -> CredentialInfo | None:
        """``None`` when a credential of that name exists."""
        await self.ensure()
        row = await self.pool.fetchrow(
            f"INSERT INTO {TABLE} (name, type, description, username, vault_id, fingerprint, kek_id,"  # noqa: S608 - constant table
            " wrapped_key, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            f" ON CONFLICT (name) DO NOTHING RETURNING {_INFO}",
            name,
            *_meta_values(meta),
            *_envelope_values(envelope),
        )
        return None if row is None else _info(row)

    async def put_job_scoped(self, job_id: str, name: str, meta: Metadata, envelope: Envelope) -> None:
        """Create or replace a credential that lives as long as job ``job_id`` (a resubmit replaces it)."""
        await self.ensure()
        await self.pool.execute(
            f"INSERT INTO {TABLE} (name, type, description, username, vault_id, fingerprint, kek_id,"  # noqa: S608 - constant table
            " wrapped_key, nonce, ciphertext, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (name) DO UPDATE SET type = $2, kek_id = $7, wrapped_key = $8, nonce = $9,"
            " ciphertext = $10, updated_at = now()",
            name,
            *_meta_values(meta),
            *_envelope_values(envelope),
            job_id,
        )

    async def sweep_job_scoped(self, jobs_table: str, max_age_s: int) -> int:
        """Delete the job-scoped credentials of jobs that are complete in the read model (and of jobs
        never seen after ``max_age_s``: their command expired unread); how many were deleted."""
        await self.ensure()
        status = await self.pool.execute(
            f"DELETE FROM {TABLE} c WHERE c.job_id IS NOT NULL AND ("  # noqa: S608 - constant tables
            f" EXISTS (SELECT 1 FROM {jobs_table} j WHERE j.job_id = c.job_id AND j.terminal_seq IS NOT NULL)"
            " OR c.created_at < now() - make_interval(secs => $1))",
            float(max_age_s),
        )
        return int(status.split()[-1])

    async def replace(self, name: str, meta: Metadata, envelope: Envelope) -> CredentialInfo | None:
        """Rotate the secret of an existing credential; ``None`` if there is none of that name."""
        await self.ensure()
        row = await self.pool.fetchrow(
            f"UPDATE {TABLE} SET type = $2, description = $3, username = $4, vault_id = $5,"  # noqa: S608 - constant table
            " fingerprint = $6, kek_id = $7, wrapped_key = $8, nonce = $9, ciphertext = $10,"
            f" updated_at = now() WHERE name = $1 RETURNING {_INFO}",
            name,
            *_meta_values(meta),
            *_envelope_values(envelope),
        )
        return None if row is None else _info(row)

    async def info(self, name: str) -> CredentialInfo | None:
        await self.ensure()
        row = await self.pool.fetchrow(
            f"SELECT {_INFO} FROM {TABLE} WHERE name = $1 AND job_id IS NULL",  # noqa: S608 - constant table
            name,
        )
        return None if row is None else _info(row)

    async def all(self) -> list[CredentialInfo]:
        await self.ensure()
        rows = await self.pool.fetch(f"SELECT {_INFO} FROM {TABLE} WHERE job_id IS NULL ORDER BY name")  # noqa: S608 - constant table
        return [_info(row) for row in rows]

    async def types(self, names: list[str]) -> dict[str, str]:
        """The type of each of ``names`` that exists."""
        await self.ensure()
        rows = await self.pool.fetch(f"SELECT name, type FROM {TABLE} WHERE name = ANY($1)", names)  # noqa: S608 - constant table
        return {row["name"]: row["type"] for row in rows}

    async def load(self, names: list[str]) -> dict[str, tuple[str, Envelope]]:
        """Type and envelope of each of ``names`` that exists."""
        await self.ensure()
        rows = await self.pool.fetch(
            f"SELECT name, type, kek_id, wrapped_key, nonce, ciphertext FROM {TABLE} WHERE name = ANY($1)",  # noqa: S608 - constant table
            names,
        )
        return {row["name"]: (row["type"], _envelope(row)) for row in rows}

    async def delete(self, name: str) -> bool:
        """Delete the row, and with it the wrapped data key: ``False`` if there was none."""
        await self.ensure()
        status = await self.pool.execute(f"DELETE FROM {TABLE} WHERE name = $1", name)  # noqa: S608 - constant table
        return status != "DELETE 0"

    async def rewrap_all(self, keyring: Keyring) -> int:
        """Rewrap every data key not wrapped by the current KEK, one row per transaction
        (readers go on reading: a row is readable before and after its own update)."""
        await self.ensure()
        rewrapped = 0
        names = await self.pool.fetch(f"SELECT name FROM {TABLE} WHERE kek_id <> $1", keyring.current)  # noqa: S608 - constant table
        for record in names:
            async with self.pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    f"SELECT kek_id, wrapped_key, nonce, ciphertext FROM {TABLE} WHERE name = $1 FOR UPDATE",  # noqa: S608 - constant table
                    record["name"],
                )
                if row is None or row["kek_id"] == keyring.current:
                    continue
                moved = rewrap(keyring, record["name"], _envelope(row))
                await conn.execute(
                    f"UPDATE {TABLE} SET kek_id = $2, wrapped_key = $3 WHERE name = $1",  # noqa: S608 - constant table
                    record["name"],
                    moved.kek_id,
                    moved.wrapped_key,
                )
                rewrapped += 1
        return rewrapped


def _meta_values(meta: Metadata) -> tuple[object, ...]:
    return (meta.type, meta.description, meta.username, meta.vault_id, meta.fingerprint)


def _envelope_values(envelope: Envelope) -> tuple[object, ...]:
    return (envelope.kek_id, envelope.wrapped_key, envelope.nonce, envelope.ciphertext)


SWEEP_S: Final = 2.0


async def sweep_job_secrets(store: CredentialStore, settings: ApiSettings) -> None:
    """Delete the inline secrets of complete jobs every ``SWEEP_S`` (any API process may; a delete
    is idempotent). A job that never reaches the read model keeps them until its command expires."""
    jobs = f"{READ_MODEL_SCHEMA}.jobs"
    while True:
        await asyncio.sleep(SWEEP_S)
        try:
            deleted = await store.sweep_job_scoped(jobs, settings.commands_max_age_s)
        except asyncpg.UndefinedTableError:
            continue  # the projector has not created the read models yet
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("could not delete the secrets of finished jobs (will retry): %r", exc)
            continue
        if deleted:
            log.info("deleted the secrets of %d finished jobs", deleted)
