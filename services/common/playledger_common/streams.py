"""The JetStream streams (and key-value buckets), provisioned idempotently; drift is reported, never overwritten.

Durability: an acknowledged publish is stored by ``num_replicas`` servers (R1 on one
machine, R3 in a cluster). nats-server fsyncs every ``sync_interval`` (2 minutes by
default): an acked event survives a crash of the nats-server process, but on R1 not a
power loss or OS crash inside that window. ``playledger dev`` can start the embedded
server with ``sync_interval: always`` (``PLAYLEDGER_NATS_SYNC=always``) to close it, at
a throughput cost measured in ``docs/benchmarks.md``. See ``schemas/README.md``.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RePublish, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from playledger_common.named_store import ensure_bucket
from playledger_common.settings import CommonSettings
from playledger_schemas.subjects import (
    COMMAND_SUBJECTS,
    COMMANDS_STREAM,
    CRON_BUCKET,
    DASHBOARD_SUBJECTS,
    EVENT_SUBJECTS,
    EVENTS_STREAM,
    INVENTORIES_BUCKET,
    LEASE_SUBJECTS,
    LEASES_STREAM,
    REDELIVER_SUBJECTS,
    SCHEDULE_SUBJECTS,
    SCHEDULES_STREAM,
    TEMPLATES_BUCKET,
    WEBHOOK_SUBJECTS,
    WEBHOOKS_STREAM,
    bucket_stream,
    bucket_subjects,
)

MAX_MESSAGE_BYTES: Final = 1024 * 1024
log: Final = logging.getLogger(__name__)

# Fields whose value on the server must equal ours; anything else the server may default.
_CHECKED_FIELDS: Final = (
    "subjects",
    "retention",
    "storage",
    "discard",
    "max_age",
    "max_msgs",
    "max_bytes",
    "max_msg_size",
    "duplicate_window",
    "num_replicas",
    "deny_delete",
    "deny_purge",
    "allow_rollup_hdrs",
    "allow_direct",
    "allow_msg_schedules",
    "subject_delete_marker_ttl",
    "allow_atomic",
    "republish",
)


class Drift(msgspec.Struct, frozen=True, kw_only=True):
    """One field of an existing stream (or durable consumer) that differs from what playledger expects."""

    stream: str
    field: str
    expected: Any
    actual: Any

    def __str__(self) -> str:
        return f"{self.stream}.{self.field}: expected {self.expected!r}, found {self.actual!r}"


class StreamReport(msgspec.Struct, frozen=True, kw_only=True):
    stream: str
    """A stream's name, or ``<stream>/<consumer>`` for a durable consumer."""
    created: bool
    drift: list[Drift]


def _kept_forever(settings: CommonSettings) -> dict[str, Any]:
    """What makes a stream a record that is never lost or rewritten: no age, count or size limit
    (a full stream refuses new messages rather than drop old ones), and no message delete, purge
    or roll-up. The events stream and the stored inventories' history are such records."""
    return {
        "retention": RetentionPolicy.LIMITS,
        "storage": StorageType.FILE,
        "discard": DiscardPolicy.NEW,
        "max_age": 0,
        "max_msgs": -1,
        "max_bytes": -1,
        "max_msg_size": MAX_MESSAGE_BYTES,
        "duplicate_window": 120.0,
        "num_replicas": settings.events_replicas,
        "deny_delete": True,
        "deny_purge": True,
        "allow_rollup_hdrs": False,
        "allow_direct": True,
    }


def events_stream_config(settings: CommonSettings) -> StreamConfig:
    """The immutable log: no limits, no deletes, no purges, no rollups, no schedules.

    Writers append on ``playledger.append.>``; the stream republishes each stored message to
    ``playledger.evt.>``, the subjects dashboards subscribe to (invariant 11).
    """
    return StreamConfig(
        name=EVENTS_STREAM,
        description="playledger job events: the source of truth (immutable)",
        subjects=[EVENT_SUBJECTS],
        **_kept_forever(settings),
        allow_msg_schedules=False,
        subject_delete_marker_ttl=None,
        allow_atomic=True,
        republish=RePublish(src=EVENT_SUBJECTS, dest=DASHBOARD_SUBJECTS, headers_only=False),
    )


def commands_stream_config(settings: CommonSettings) -> StreamConfig:
    """Job commands, kept for a while so auditors can see what was asked."""
    return StreamConfig(
        name=COMMANDS_STREAM,
        description="playledger job commands",
        subjects=[COMMAND_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(settings.commands_max_age_s),
        max_msgs=-1,
        max_bytes=-1,
        max_msg_size=MAX_MESSAGE_BYTES,
        duplicate_window=600.0,
        num_replicas=settings.events_replicas,
        deny_delete=False,
        deny_purge=False,
        allow_rollup_hdrs=False,
        allow_direct=True,
        allow_msg_schedules=False,
        subject_delete_marker_ttl=None,
    )


def leases_stream_config(settings: CommonSettings) -> StreamConfig:
    """Executor leases: the last renewal per executor, gone when its per-message TTL ends."""
    return StreamConfig(
        name=LEASES_STREAM,
        description="playledger executor leases (liveness)",
        subjects=[LEASE_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_msgs=-1,
        max_bytes=-1,
        max_msgs_per_subject=1,
        duplicate_window=120.0,
        num_replicas=settings.events_replicas,
        allow_msg_ttl=True,
        allow_direct=True,
    )


def schedules_stream_config(settings: CommonSettings) -> StreamConfig:
    """Delayed submits: one ``@at`` schedule per job, fired into ``playledger.sched.due.<job>``.

    ``allow_msg_schedules`` makes the server allow roll-ups and purges here (ADR-51), which is
    why it is a stream of its own: the events stream must never have it."""
    return StreamConfig(
        name=SCHEDULES_STREAM,
        description="playledger delayed submits (run_at)",
        subjects=[SCHEDULE_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(settings.commands_max_age_s),
        max_msgs=-1,
        max_bytes=-1,
        max_msg_size=MAX_MESSAGE_BYTES,
        duplicate_window=600.0,
        num_replicas=settings.events_replicas,
        allow_direct=True,
        allow_msg_schedules=True,
        allow_rollup_hdrs=True,  # what the server sets with schedules anyway (stated: no false drift)
    )


def webhooks_stream_config(settings: CommonSettings) -> StreamConfig:
    """Webhook delivery events: each job's delivery history, kept ``webhooks_max_age_s``."""
    return StreamConfig(
        name=WEBHOOKS_STREAM,
        description="playledger webhook deliveries",
        subjects=[WEBHOOK_SUBJECTS, REDELIVER_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=float(settings.webhooks_max_age_s),
        max_msgs=-1,
        max_bytes=-1,
        max_msg_size=64 * 1024,
        duplicate_window=600.0,
        num_replicas=settings.events_replicas,
        deny_delete=True,
        allow_direct=True,
    )


INVENTORY_REVISIONS: Final = 2**31 - 1
"""Revisions kept per stored inventory: all of them in practice (a client's key-value bucket
allows 64 at most, and 0 would not be read as a bucket)."""


def inventories_stream_config(settings: CommonSettings) -> StreamConfig:
    """The stored inventories' bucket, made as a stream so that it keeps every change.

    A key-value bucket as nats-py reads and writes it (``$KV.<bucket>.<name>``, last value per
    subject, revisions as stream sequences), but with no limit on a name's history, and no
    message deletes, purges or roll-ups (which a ``purge`` of a key would need): every revision a
    job resolved stays readable, and a delete is one more message (a marker)."""
    return StreamConfig(
        name=bucket_stream(INVENTORIES_BUCKET),
        description="playledger inventories (every revision kept)",
        subjects=[bucket_subjects(INVENTORIES_BUCKET)],
        max_msgs_per_subject=INVENTORY_REVISIONS,
        **_kept_forever(settings),
    )


def diff(expected: StreamConfig, actual: StreamConfig) -> list[Drift]:
    assert expected.name is not None  # noqa: S101 - our configs always carry a name
    return differences(expected.name, expected, actual, _CHECKED_FIELDS)


def differences(where: str, expected: object, actual: object, fields: tuple[str, ...]) -> list[Drift]:
    """The ``fields`` of a stream or consumer config on the server that differ from ours."""
    drift = []
    for field in fields:
        want, have = _normalise(getattr(expected, field)), _normalise(getattr(actual, field))
        if want != have:
            drift.append(Drift(stream=where, field=field, expected=want, actual=have))
    return drift


def _normalise(value: Any) -> Any:
    """Servers omit false/empty fields; treat ``None``, ``False`` and ``0`` alike."""
    if value in (None, False, 0, 0.0):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, RePublish):
        return {"src": value.src, "dest": value.dest, "headers_only": bool(value.headers_only)}
    return getattr(value, "value", value)


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> StreamReport:
    assert config.name is not None  # noqa: S101 - our configs always carry a name
    try:
        info = await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        return StreamReport(stream=config.name, created=True, drift=[])
    return StreamReport(stream=config.name, created=False, drift=diff(config, info.config))


async def ensure_streams(
    js: JetStreamContext, settings: CommonSettings, *, leases: bool = True
) -> list[StreamReport]:
    """Create missing streams; report (never change) existing ones that drifted.

    ``playledger streams init`` (the admin) provisions all of them; a service at start checks the
    others it reads (``leases=False``): the executor alone uses the leases and schedules streams
    (``lease.py``, ``schedule.py``); the API and the executor ensure the buckets too.
    """
    configs = [
        commands_stream_config(settings),
        events_stream_config(settings),
        webhooks_stream_config(settings),
    ]
    if leases:
        configs += [leases_stream_config(settings), schedules_stream_config(settings)]
    reports = [await ensure_stream(js, config) for config in configs]
    if leases:
        reports += await ensure_buckets(js, settings)
    return reports


async def ensure_buckets(js: JetStreamContext, settings: CommonSettings) -> list[StreamReport]:
    """The templates, schedules and inventories buckets: the API writes them, the executor reads
    them (each ensures them at start; the projector never touches them)."""
    reports = []
    for bucket in (TEMPLATES_BUCKET, CRON_BUCKET):
        created = await ensure_bucket(js, bucket, settings.events_replicas)
        reports.append(StreamReport(stream=bucket_stream(bucket), created=created, drift=[]))
    reports.append(await ensure_stream(js, inventories_stream_config(settings)))
    return reports


async def migrate_events_stream(js: JetStreamContext, settings: CommonSettings) -> bool:
    """Bring an events stream made by an earlier version to today's config; ``True`` when it changed.

    From the legacy layout (stored on ``playledger.evt.>``) to ``playledger.append.>`` with
    republish, and ``allow_atomic`` on (writers batch their appends). Stored messages stay.
    """
    info = await js.stream_info(EVENTS_STREAM)
    current = info.config
    if current.subjects == [EVENT_SUBJECTS] and current.republish is not None and current.allow_atomic:
        return False
    await js.update_stream(events_stream_config(settings))
    return True


async def allows_atomic_batches(js: JetStreamContext) -> bool:
    """Whether the events stream takes atomic batch publishes (``allow_atomic``, NATS >= 2.12)."""
    info = await js.stream_info(EVENTS_STREAM)
    return bool(info.config.allow_atomic)


async def provision_at_start(js: JetStreamContext, settings: CommonSettings) -> None:
    """What every service does when it starts: create missing streams, warn about drift."""
    for report in await ensure_streams(js, settings, leases=False):
        for drift in report.drift:
            log.warning("stream drift (not changed): %s", drift)
