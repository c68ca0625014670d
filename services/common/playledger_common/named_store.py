"""Named values in a JetStream key-value bucket: templates, schedules and stored inventories
(one JSON value a name).

Each write is a new revision of its key (the bucket keeps ``HISTORY`` of them; the inventories
bucket keeps all, see ``streams.inventories_stream_config``): a template's or an inventory's
revision is the version a job records. Values are written from the strict Structs
and read through their lenient twins (a newer writer's extra field is ignored, as in events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

import msgspec
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import (
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue

from playledger_schemas.codec import encode
from playledger_schemas.inventories import StoredInventoryValue
from playledger_schemas.lenient import lenient
from playledger_schemas.subjects import CRON_BUCKET, INVENTORIES_BUCKET, TEMPLATES_BUCKET
from playledger_schemas.templates import Schedule, Template

HISTORY: Final = 64
"""Revisions kept per name (a job's template version stays readable for its last 64 changes)."""
V = TypeVar("V", bound=msgspec.Struct)


class RevisionConflictError(Exception):
    """The value changed since the revision the writer expected."""


@dataclass(frozen=True, slots=True)
class Stored(Generic[V]):
    name: str
    value: V
    revision: int


@dataclass(frozen=True, slots=True)
class Revision(Generic[V]):
    """One change of a name: its new value, or ``None`` for a delete."""

    revision: int
    time: datetime | None
    value: V | None


def bucket_config(bucket: str, replicas: int) -> KeyValueConfig:
    return KeyValueConfig(
        bucket=bucket,
        description=f"playledger {bucket.removeprefix('PLAYLEDGER_').lower()}",
        history=HISTORY,
        storage=StorageType.FILE,
        replicas=replicas,
        direct=True,
    )


async def ensure_bucket(js: JetStreamContext, bucket: str, replicas: int) -> bool:
    """Create the bucket if it is missing; ``True`` when it was created."""
    try:
        await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        await js.create_key_value(bucket_config(bucket, replicas))
        return True
    return False


class NamedStore(Generic[V]):
    def __init__(self, js: JetStreamContext, bucket: str, tp: type[V]) -> None:
        self.js = js
        self.bucket = bucket
        self._decoder: msgspec.json.Decoder[V] = msgspec.json.Decoder(lenient(tp))
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(self.bucket)
        return self._kv

    async def get(self, name: str) -> Stored[V] | None:
        """The current value, or ``None`` when there is none (never written, or deleted)."""
        kv = await self.kv()
        try:
            entry = await kv.get(name)
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.operation in (KV_DEL, KV_PURGE):
            return None
        return Stored(name=name, value=self._decoder.decode(entry.value), revision=entry.revision or 0)

    async def at(self, name: str, revision: int) -> V | None:
        """The value as revision ``revision`` wrote it (``None``: not that name's, or beyond ``HISTORY``)."""
        kv = await self.kv()
        try:
            entry = await kv.get(name, revision=revision)
        except (KeyNotFoundError, NotFoundError):
            return None
        if entry.value is None or entry.operation in (KV_DEL, KV_PURGE) or entry.key != name:
            return None
        return self._decoder.decode(entry.value)

    async def put(self, name: str, value: V, *, expect: int | None = None) -> int:
        """Write a new revision; ``expect``: only if the current revision is that (0: a new name)."""
        kv = await self.kv()
        if expect is None:
            return await kv.put(name, encode(value))
        try:
            if expect == 0:
                return await kv.create(name, encode(value))
            return await kv.update(name, encode(value), last=expect)
        except KeyWrongLastSequenceError:
            raise RevisionConflictError(name) from None

    async def delete(self, name: str) -> bool:
        """Delete the name (its history stays); ``False`` when it had no value."""
        if await self.get(name) is None:
            return False
        await (await self.kv()).delete(name)
        return True

    async def history(self, name: str) -> list[Revision[V]]:
        """Every change of ``name`` the bucket keeps, oldest first; empty if it never had a value.

        Read from the bucket's stream by subject, one message after another: nats-py's
        ``KeyValue.history`` watcher can signal "no more" before the first entry under load
        (its initial marker races the delivery), which would show a long history as empty."""
        stream, subject = f"KV_{self.bucket}", f"$KV.{self.bucket}.{name}"
        found: list[Revision[V]] = []
        seq = 1
        while True:
            try:
                message = await self.js.get_msg(stream, seq, subject=subject, next=True)
            except NotFoundError:
                return found
            seq = message.seq or seq
            operation = (message.headers or {}).get(KV_OP)
            found.append(
                Revision(
                    revision=seq,
                    time=message.time if isinstance(message.time, datetime) else None,
                    value=None
                    if operation in (KV_DEL, KV_PURGE) or not message.data
                    else self._decoder.decode(message.data),
                )
            )
            seq += 1

    async def all(self) -> list[Stored[V]]:
        """Every current value, by name."""
        watcher = await (await self.kv()).watchall(ignore_deletes=True)
        found: dict[str, Stored[V]] = {}
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value:
                    found[entry.key] = Stored(
                        name=entry.key, value=self._decoder.decode(entry.value), revision=entry.revision or 0
                    )
                if entry.delta == 0:
                    break
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]
        return [found[name] for name in sorted(found)]


def templates(js: JetStreamContext) -> NamedStore[Template]:
    return NamedStore(js, TEMPLATES_BUCKET, Template)


def schedules(js: JetStreamContext) -> NamedStore[Schedule]:
    return NamedStore(js, CRON_BUCKET, Schedule)


def inventories(js: JetStreamContext) -> NamedStore[StoredInventoryValue]:
    return NamedStore(js, INVENTORIES_BUCKET, StoredInventoryValue)
