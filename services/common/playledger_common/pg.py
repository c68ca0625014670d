"""PostgreSQL connections of readers of the read models (the API, the notifier)."""

from __future__ import annotations

from typing import ClassVar

import asyncpg
import msgspec


async def json_codecs(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """``jsonb`` columns in and out as Python values, through msgspec (an asyncpg pool's ``init``)."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: msgspec.json.encode(v).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )


class OwnedTable:
    """Base of a store whose table a service owns outside the read models (API keys,
    credentials, webhook subscriptions): created on first use in each process, idempotent and
    serialised across processes by an advisory lock. Subclasses set ``ddl`` and ``lock``."""

    ddl: ClassVar[str]
    lock: ClassVar[tuple[int, int]]
    """The advisory lock (class, id) that serialises the ``CREATE … IF NOT EXISTS``."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self.pool = pool
        self._ready = False

    async def ensure(self) -> None:
        if self._ready:
            return
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *self.lock)
            await conn.execute(self.ddl)
        self._ready = True
