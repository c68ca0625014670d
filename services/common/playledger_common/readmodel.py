"""The read models: where they live and one typed row per table, shared by the projector and the API.

The tables are created by the projector's migrations; each row Struct here names the columns
a service reads or writes (in table order), and everything else is derived from it: column
lists (``columns``), PostgreSQL types (``sql_types``), COPY records (``record``) and typed
reads (``from_record``). A test compares each row with the migrated table.

``JobRow`` is mutable because the projector folds events into its own copy of it; every
other reader treats rows as values.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Annotated, Any, Final, Protocol, TypeVar

import msgspec
from msgspec import Meta, inspect

from playledger_schemas.ids import Priority
from playledger_schemas.status import JobStatus

SCHEMA: Final = "playledger"
"""The PostgreSQL schema holding the live read models (rebuild swaps a fresh one in)."""

READ_MODEL_VERSION: Final = 5
"""The latest migration; the API's /ready requires ``schema_migrations`` to have reached it."""

MIGRATIONS_TABLE: Final = "schema_migrations"
"""``<SCHEMA>.schema_migrations(version integer primary key, applied_at timestamptz)``."""

PROJECTION: Final = "jobs"
"""The name of the projection in ``projection_checkpoint``."""

INT4_MAX: Final = 2**31 - 1
BigInt = Annotated[int, Meta(ge=0, le=2**63 - 1)]
"""A ``bigint`` column (stream sequences); a plain ``int`` field is an ``integer`` column."""
Json = dict[str, Any]
"""A ``jsonb`` column holding an object (builtins: dict, list, str, …)."""
JsonText = Annotated[str, Meta(extra={"sql_type": "jsonb"})]
"""A ``jsonb`` column written as JSON text (as published: no decode and re-encode on the hot path)."""


class JobRow(msgspec.Struct, kw_only=True):
    """One ``jobs`` row: a job as projected from its events."""

    job_id: str
    status: JobStatus
    priority: Priority = "normal"
    source: Json | None = None
    """e.g. ``{"type": "local", "path": "site.yml"}``."""
    inventory_summary: Json | None = None
    """``{"type": "inline", "hosts": 3, "groups": ["web"]}``."""
    options: Json | None = None
    """``JobOptions`` as resolved (started) or as submitted (queued)."""
    extra_vars: Json | None = None
    created_at: datetime
    """Time of seq 1 (queued / rejected)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempt: int = 0
    executor_id: str | None = None
    rc: int | None = None
    runner_status: str | None = None
    failure_reason: str | None = None
    """Rejection reason, error reason, or the failed/unreachable hosts."""
    rejection_errors: list[Json] | None = None
    """``[{"path": "$.spec…", "message": "…"}]`` for a rejected job."""
    cancel_requested: bool = False
    current_play: str | None = None
    current_task: str | None = None
    hosts_total: int = 0
    """Hosts seen in runner events."""
    hosts_ok: int = 0
    """Hosts with no failure and no unreachable so far."""
    hosts_changed: int = 0
    hosts_failed: int = 0
    """Hosts with at least one failure that was not ignored."""
    hosts_unreachable: int = 0
    hosts_skipped: int = 0
    """Hosts whose every result so far was skipped."""
    event_count: int = 0
    runner_event_count: int = 0
    last_seq: int = 0
    """The last per-job seq projected."""
    last_stream_seq: BigInt = 0
    """The stream sequence of that event."""
    terminal_seq: int | None = None
    """The seq of the terminal event, once projected."""
    submitted_by: Json | None = None
    """``{"key_id", "name"}`` of the API key that submitted the job (from ``job.queued``)."""
    log_object: Json | None = None
    """``{"name", "key", "size", "sha256"}`` of the complete log in log storage (terminal event)."""
    artifacts: list[Json] | None = None
    """The stored artifacts, each ``{"name", "key", "size", "sha256"}``."""
    missing_objects: list[Json] | None = None
    """``[{"name", "reason"}]``: objects log storage did not take before the job ended."""
    max_attempts: int = 1
    """The job's retry policy: how many attempts it may have (from ``job.queued``)."""
    attempts: list[Json] | None = None
    """Every ended attempt: ``{"attempt", "status", "cause", "reason", "rc", "ended_at"}``."""
    run_at: datetime | None = None
    """Status ``scheduled``: when the job starts (``job.queued``'s ``run_at``, or its next
    attempt's ``retry_at`` from ``job.retry_scheduled``)."""
    dead_letter: bool = False
    """Dead (every allowed attempt failed) or ended by the poison path."""
    depends_on: list[str] | None = None
    """The jobs it waits for (``job.queued``'s ``depends_on``); status ``waiting`` until they end."""
    template: str | None = None
    """The template it was launched from (``job.queued``'s ``template.name``)."""
    template_version: int | None = None
    """That template's version (its revision in the templates bucket)."""
    parent: Json | None = None
    """``{"job_id", "link", "index", "depth"}``: the job whose end launched this one through its
    template's chain (``job.queued``'s ``parent``)."""


class HostCounts(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """The counters of one ``job_hosts`` row: how many results of each kind a host had."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


class HostRow(HostCounts, frozen=True, kw_only=True, gc=False):
    """One ``job_hosts`` row."""

    job_id: str
    host: str


class EventRow(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One ``job_events`` row."""

    job_id: str
    seq: int
    stream_seq: BigInt
    type: str
    """The tag, e.g. ``runner.event.v1``."""
    event: str
    """The kind: ``job.started``, ``runner_on_ok``, …"""
    attempt: int
    counter: int | None = None
    host: str | None = None
    play: str | None = None
    task: str | None = None
    time: datetime
    stdout: str = ""
    truncated: bool = False
    data: JsonText
    """The event's ``data`` object as published."""


class SkippedRow(msgspec.Struct, frozen=True, kw_only=True):
    """One ``skipped_events`` row: a message the projector did not apply (unknown, invalid, duplicate)."""

    stream_seq: BigInt
    subject: str
    reason: str
    payload: bytes


Row = TypeVar("Row", bound=msgspec.Struct)


@functools.cache
def columns(row: type[msgspec.Struct]) -> tuple[str, ...]:
    """The row's columns, in declaration order."""
    return tuple(f.name for f in msgspec.structs.fields(row))


@functools.cache
def sql_types(row: type[msgspec.Struct]) -> dict[str, str]:
    """Column -> PostgreSQL type, from each field's type (``text``, ``integer``, ``jsonb``, …)."""
    info = inspect.type_info(row)
    assert isinstance(info, inspect.StructType)  # noqa: S101 - a Struct type's info is a StructType
    return {f.name: _sql_type(f.type) for f in info.fields}


def _sql_type(t: inspect.Type) -> str:
    if isinstance(t, inspect.Metadata):
        declared = (t.extra or {}).get("sql_type")
        return declared if isinstance(declared, str) else _sql_type(t.type)
    if isinstance(t, inspect.UnionType):
        kinds = {_sql_type(m) for m in t.types if not isinstance(m, inspect.NoneType)}
        return kinds.pop() if len(kinds) == 1 else "jsonb"
    if isinstance(t, inspect.StrType | inspect.LiteralType):
        return "text"
    if isinstance(t, inspect.BoolType):
        return "boolean"
    if isinstance(t, inspect.IntType):
        return "bigint" if t.le is not None and t.le > INT4_MAX else "integer"
    if isinstance(t, inspect.DateTimeType):
        return "timestamptz"
    if isinstance(t, inspect.BytesType):
        return "bytea"
    return "jsonb"


@functools.cache
def json_columns(row: type[msgspec.Struct]) -> frozenset[str]:
    return frozenset(name for name, kind in sql_types(row).items() if kind == "jsonb")


record: Final = msgspec.structs.astuple
"""The row's values in ``columns`` order, as ``COPY`` takes them."""


class RecordLike(Protocol):
    """What a row is read from: an ``asyncpg.Record``, a dict, …"""

    def __getitem__(self, key: str, /) -> Any: ...


def from_record(row: type[Row], values: RecordLike) -> Row:
    """A row from a database record (or any mapping) that has at least the row's columns."""
    return row(**{name: values[name] for name in columns(row)})


JOB_SQL: Final = (
    f"SELECT {', '.join(columns(JobRow))}, "  # noqa: S608 - row columns, values are parameters
    "(SELECT last_stream_seq FROM projection_checkpoint WHERE projection = $2) AS projection_seq, "
    "(SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.job_id, 'link', c.parent->'link', "
    "'index', c.parent->'index', 'status', c.status) ORDER BY c.created_at, c.job_id), '[]') "
    "FROM jobs c WHERE c.parent->>'job_id' = $1) AS children "
    "FROM jobs WHERE job_id = $1"
)
"""One ``jobs`` row (``$1``: the job id), the projector's checkpoint as ``projection_seq``
(``$2``: ``PROJECTION``) and the jobs its end launched as ``children`` (``[{"id", "link",
"index", "status"}]``, the rows whose ``parent`` names it): what a job status document is built from."""
