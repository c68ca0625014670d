"""Each read-model row Struct is its table: same columns, same PostgreSQL types as the migrations make.

A column added to a migration but not to its row (or the other way round), a renamed one or a
changed type fails here, before the projector or the API would meet it at run time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from playledger_api.models import EventItem, HostSummary
from playledger_common.readmodel import (
    SCHEMA,
    EventRow,
    HostCounts,
    HostRow,
    JobRow,
    SkippedRow,
    columns,
    from_record,
    json_columns,
    sql_types,
)
from playledger_projector import migrations
from playledger_projector.batch import decode_message, fold_batch
from playledger_projector.fold import evolve
from playledger_projector.store import Store
from playledger_schemas.codec import encode
from playledger_schemas.events import JobFailed
from tests.projector.factory import JobBuilder

pytestmark = pytest.mark.integration

ROWS: dict[str, type[msgspec.Struct]] = {
    "jobs": JobRow,
    "job_hosts": HostRow,
    "job_events": EventRow,
    "skipped_events": SkippedRow,
}
_PG_NAMES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "boolean": "boolean",
    "jsonb": "jsonb",
    "bytea": "bytea",
    "timestamp with time zone": "timestamptz",
}


@pytest.fixture(name="db")
async def fx_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    await migrations.apply(conn)
    yield conn
    await conn.close()


async def test_every_row_struct_has_exactly_its_tables_columns_and_types(db: asyncpg.Connection) -> None:
    for table, row in ROWS.items():
        found = await db.fetch(
            "SELECT column_name, data_type, column_default IS NOT NULL AS has_default "
            "FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
            "ORDER BY ordinal_position",
            SCHEMA,
            table,
        )
        declared = sql_types(row)
        table_types = {r["column_name"]: _PG_NAMES[r["data_type"]] for r in found}
        assert {name: table_types.get(name) for name in declared} == declared, table
        only_in_table = {r["column_name"] for r in found if r["column_name"] not in declared}
        defaulted = {r["column_name"] for r in found if r["has_default"]}
        assert only_in_table <= defaulted, f"{table}: columns no row writes must have a default"
    assert set(columns(HostRow)) == {"job_id", "host", *columns(HostCounts)}


async def test_rows_written_by_the_store_read_back_as_the_same_typed_rows(db: asyncpg.Connection) -> None:
    b = JobBuilder("j1").queued(["web1", "web2"]).started(["web1", "web2"])
    b.runner("runner_on_failed", "boom", host="web1", res={"msg": "boom"})
    b.result(JobFailed, runner_status="failed", rc=2)
    items = [decode_message(n, f"playledger.evt.job.j1.{n}", encode(e)) for n, e in enumerate(b.events, 1)]
    changes = fold_batch({}, set(), items)
    store = Store(db, SCHEMA)
    await store.write(changes, await store.checkpoint())

    (view,) = changes.jobs
    assert view.status == "failed"
    assert (view.hosts_total, view.hosts_failed, view.hosts_ok) == (1, 1, 0)
    record = await db.fetchrow(f"SELECT * FROM {SCHEMA}.jobs")  # noqa: S608 - a constant schema
    assert record is not None
    stored = dict(record)
    for name in json_columns(JobRow):
        stored[name] = None if stored[name] is None else msgspec.json.decode(stored[name])
    assert from_record(JobRow, stored) == from_record(JobRow, msgspec.structs.asdict(view))

    one_by_one = None
    for n, event in enumerate(b.events, 1):
        one_by_one = evolve(one_by_one, event, n)
    assert await store.load_views(["j1"]) == {"j1": view} == {"j1": one_by_one}

    events = await db.fetch(f"SELECT * FROM {SCHEMA}.job_events ORDER BY seq")  # noqa: S608 - a constant schema
    assert [r["event"] for r in events] == ["job.queued", "job.started", "runner_on_failed", "job.failed"]
    assert events[2]["host"] == "web1"
    assert events[2]["stdout"] == "boom"
    assert [r["time"] for r in events] == [e.time for e in b.events]
    hosts = await db.fetch(f"SELECT * FROM {SCHEMA}.job_hosts")  # noqa: S608 - a constant schema
    assert [from_record(HostRow, r) for r in hosts] == [HostRow(job_id="j1", host="web1", failures=1)]


def test_the_apis_event_and_host_items_are_columns_of_their_tables() -> None:
    """The API selects its response fields by name; each must be a column the projector writes."""
    assert set(columns(EventItem)) <= set(columns(EventRow))
    assert set(columns(HostSummary)) <= set(columns(HostRow))
