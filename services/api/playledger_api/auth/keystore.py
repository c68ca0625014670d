"""The API keys table: owned and written by the API, in its own PostgreSQL schema.

Why not events + projection (invariant 1 is about the job read models): a revoked key must
stop working at once in every API process, not after a projection lag; ``last_used_at``
changes on every use and is no fact worth an immutable log; and even a keyed hash of a
secret has no place in a stream auditors replay (invariant 6). The table lives in schema
``playledger_auth``, which a read-model rebuild never touches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec

from playledger_api.auth.keys import KeyRecord
from playledger_common.pg import OwnedTable

SCHEMA: Final = "playledger_auth"
_LOCK: Final = (0x504C, 0x4B45)
"""Advisory lock (class, id) that serialises creating the table across API processes."""
_COLUMNS: Final = (
    "key_id AS id, name, owner, scopes, playbooks, repos, created_at, expires_at, revoked_at, last_used_at"
)
_DDL: Final = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.api_keys (
    key_id       text PRIMARY KEY,
    hash         text NOT NULL,
    name         text NOT NULL,
    owner        text NOT NULL,
    scopes       text[] NOT NULL,
    playbooks    text[] NOT NULL DEFAULT '{{}}',
    repos        text[] NOT NULL DEFAULT '{{}}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
ALTER TABLE {SCHEMA}.api_keys ADD COLUMN IF NOT EXISTS repos text[] NOT NULL DEFAULT '{{}}';
"""


def _record(row: asyncpg.Record) -> KeyRecord:
    return msgspec.convert(dict(row), KeyRecord)


class KeyStore(OwnedTable):
    ddl = _DDL
    lock = _LOCK

    async def insert(
        self,
        *,
        key_id: str,
        hash_: str,
        name: str,
        owner: str,
        scopes: list[str],
        playbooks: list[str],
        repos: list[str],
        expires_at: datetime | None,
    ) -> KeyRecord:
        await self.ensure()
        row = await self.pool.fetchrow(
            f"INSERT INTO {SCHEMA}.api_keys (key_id, hash, name, owner, scopes, playbooks, repos, expires_at) "  # noqa: S608 - constant schema
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
            key_id,
            hash_,
            name,
            owner,
            scopes,
            playbooks,
            repos,
            expires_at,
        )
        assert row is not None  # noqa: S101 - INSERT … RETURNING returns the row
        return _record(row)

    async def lookup(self, key_id: str) -> tuple[KeyRecord, str] | None:
        """The key and its stored hash."""
        await self.ensure()
        row = await self.pool.fetchrow(
            f"SELECT {_COLUMNS}, hash FROM {SCHEMA}.api_keys WHERE key_id = $1",  # noqa: S608 - constant schema
            key_id,
        )
        if row is None:
            return None
        fields: dict[str, Any] = dict(row)
        stored: str = fields.pop("hash")
        return msgspec.convert(fields, KeyRecord), stored

    async def touch(self, key_id: str, when: datetime) -> None:
        await self.pool.execute(
            f"UPDATE {SCHEMA}.api_keys SET last_used_at = $2 WHERE key_id = $1",  # noqa: S608 - constant schema
            key_id,
            when,
        )

    async def list(self) -> list[KeyRecord]:
        await self.ensure()
        rows = await self.pool.fetch(f"SELECT {_COLUMNS} FROM {SCHEMA}.api_keys ORDER BY created_at, key_id")  # noqa: S608 - constant schema
        return [_record(row) for row in rows]

    async def revoke(self, key_id: str, when: datetime) -> KeyRecord | None:
        """Revoke a key (a second revoke keeps the first time); ``None`` if there is no such key."""
        await self.ensure()
        row = await self.pool.fetchrow(
            f"UPDATE {SCHEMA}.api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE key_id = $1 "  # noqa: S608 - constant schema
            f"RETURNING {_COLUMNS}",
            key_id,
            when,
        )
        return None if row is None else _record(row)
