"""Versioned read-model migrations: ``NNNN_name.sql`` files applied in order, once each.

``apply(conn, schema)`` creates the schema and ``<schema>.schema_migrations`` if missing and
applies every newer file inside the schema (``search_path``), each in the same transaction
as its ``schema_migrations`` row. Concurrent callers are serialised by an advisory lock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

import asyncpg

from playledger_common.readmodel import MIGRATIONS_TABLE, SCHEMA
from playledger_projector.locks import LOCK_CLASS, MIGRATE, schema_name

_FILE: Final = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    for entry in resources.files(__name__).iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        msg = f"migrations must be numbered 1, 2, 3, … without gaps, found {versions}"
        raise RuntimeError(msg)
    return found


def latest_version() -> int:
    return migrations()[-1].version


async def apply(conn: asyncpg.Connection, schema: str = SCHEMA) -> list[int]:
    """Apply pending migrations to ``schema``; return the versions applied now."""
    schema = schema_name(schema)
    applied_now = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_CLASS, MIGRATE)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.{MIGRATIONS_TABLE} ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in await conn.fetch(f"SELECT version FROM {schema}.{MIGRATIONS_TABLE}")}  # noqa: S608 - schema names are checked by locks.schema_name
        for migration in migrations():
            if migration.version in done:
                continue
            await conn.execute(f"SET LOCAL search_path TO {schema}")
            await conn.execute(migration.sql)
            await conn.execute(
                f"INSERT INTO {schema}.{MIGRATIONS_TABLE} (version) VALUES ($1)",  # noqa: S608 - schema names are checked by locks.schema_name
                migration.version,
            )
            applied_now.append(migration.version)
    return applied_now


async def current_version(conn: asyncpg.Connection, schema: str = SCHEMA) -> int:
    """The highest applied version, 0 when the schema has none."""
    schema = schema_name(schema)
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"{schema}.{MIGRATIONS_TABLE}")
    if not exists:
        return 0
    version = await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {schema}.{MIGRATIONS_TABLE}")  # noqa: S608 - schema names are checked by locks.schema_name
    return int(version)
