"""How far the read models are behind the events stream: the last projected stream
sequence (``projection_checkpoint``) against the stream's last sequence.

The API can mirror ``read_checkpoint`` (it reads ``projection_checkpoint`` itself).
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from playledger_common.readmodel import PROJECTION, SCHEMA
from playledger_projector.locks import schema_name
from playledger_schemas.subjects import EVENTS_STREAM


class Lag(msgspec.Struct, frozen=True, kw_only=True):
    projected_seq: int
    """The last stream sequence applied to the read models."""
    stream_last_seq: int
    """The last sequence in ``PLAYLEDGER_EVENTS``."""

    @property
    def lag(self) -> int:
        return max(0, self.stream_last_seq - self.projected_seq)


async def read_checkpoint(conn: asyncpg.Connection, schema: str = SCHEMA) -> int:
    """The last projected stream sequence; 0 before anything was projected."""
    schema = schema_name(schema)
    if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.projection_checkpoint"):
        return 0
    value = await conn.fetchval(
        f"SELECT last_stream_seq FROM {schema}.projection_checkpoint WHERE projection = $1",  # noqa: S608 - schema names are checked by locks.schema_name
        PROJECTION,
    )
    return int(value or 0)


async def stream_last_seq(js: JetStreamContext) -> int:
    info = await js.stream_info(EVENTS_STREAM)
    return int(info.state.last_seq)


async def oldest_unprojected_age(js: JetStreamContext, checkpoint: int) -> float:
    """Seconds since the first event after ``checkpoint`` was stored (0 if there is none)."""
    try:
        message = await js.get_msg(EVENTS_STREAM, checkpoint + 1, next=True)
    except NotFoundError:
        return 0.0
    if message.time is None:
        return 0.0
    return max(0.0, (datetime.now(UTC) - message.time).total_seconds())


async def measure(conn: asyncpg.Connection, js: JetStreamContext, schema: str = SCHEMA) -> Lag:
    stream_last = await stream_last_seq(js)
    return Lag(projected_seq=await read_checkpoint(conn, schema), stream_last_seq=stream_last)
