"""PostgreSQL connections of readers of the read models (the API, the notifier)."""

from __future__ import annotations

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
