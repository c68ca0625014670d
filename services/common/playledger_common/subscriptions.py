"""Organisation-wide webhook subscriptions: "every failed job to this chat bot".

Owned by the API (``POST /api/v1/webhooks``), read by the notifier, in PostgreSQL schema
``playledger_webhooks`` (a read-model rebuild never touches it). Not events: a subscription holds
its signing secret, which has no place in a stream auditors replay. The secret leaves the table
only to sign; the API shows it once, at creation.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime
from typing import Annotated, Final

import msgspec
from msgspec import Meta

from playledger_common.pg import OwnedTable
from playledger_schemas.commands import CallbackUrl

SCHEMA: Final = "playledger_webhooks"
_LOCK: Final = (0x504C, 0x5748)
_DDL: Final = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.subscriptions (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    url        text NOT NULL,
    events     text[] NOT NULL,
    secret     text NOT NULL,
    created_by text,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""
_COLUMNS: Final = "id, name, url, events, created_by, created_at"
SUBSCRIPTION_ID_PATTERN: Final = r"^s[0-9a-f]{12}$"

EventPattern = Annotated[
    str,
    Meta(
        pattern=r"^playledger\.evt\.job\.(\*|[A-Za-z0-9_-]+)\.(\*|>|[A-Za-z0-9_.*>-]+)$",
        max_length=256,
        description="A NATS subject pattern over the events' dashboard subjects, e.g. "
        "`playledger.evt.job.*.job.failed` (only terminal, `job.started` and `runner_on_failed` "
        "events trigger webhooks).",
    ),
]


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as listed: never its secret."""

    id: str
    name: str
    url: str
    events: list[str]
    created_by: str | None
    created_at: datetime


class NewSubscription(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    url: CallbackUrl
    events: Annotated[list[EventPattern], Meta(min_length=1, max_length=32)]


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, a final ``>`` one or more."""
    want, have = pattern.split("."), subject.split(".")
    for i, part in enumerate(want):
        if part == ">":
            return len(have) > i
        if i >= len(have) or part not in ("*", have[i]):
            return False
    return len(want) == len(have)


class SubscriptionStore(OwnedTable):
    ddl = _DDL
    lock = _LOCK

    async def insert(self, new: NewSubscription, secret: str, created_by: str | None) -> Subscription:
        await self.ensure()
        row = await self.pool.fetchrow(
            f"INSERT INTO {SCHEMA}.subscriptions (id, name, url, events, secret, created_by) "  # noqa: S608 - constant schema
            f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            "s" + secrets.token_hex(6),
            new.name,
            new.url,
            new.events,
            secret,
            created_by,
        )
        assert row is not None  # noqa: S101 - INSERT … RETURNING returns the row
        return msgspec.convert(dict(row), Subscription)

    async def all(self) -> list[Subscription]:
        await self.ensure()
        rows = await self.pool.fetch(f"SELECT {_COLUMNS} FROM {SCHEMA}.subscriptions ORDER BY created_at, id")  # noqa: S608 - constant schema
        return [msgspec.convert(dict(row), Subscription) for row in rows]

    async def delete(self, subscription_id: str) -> Subscription | None:
        await self.ensure()
        row = await self.pool.fetchrow(
            f"DELETE FROM {SCHEMA}.subscriptions WHERE id = $1 RETURNING {_COLUMNS}",  # noqa: S608 - constant schema
            subscription_id,
        )
        return None if row is None else msgspec.convert(dict(row), Subscription)

    async def signing(self) -> list[tuple[Subscription, str]]:
        """Every subscription with its secret (the notifier's read)."""
        await self.ensure()
        rows = await self.pool.fetch(f"SELECT {_COLUMNS}, secret FROM {SCHEMA}.subscriptions ORDER BY id")  # noqa: S608 - constant schema
        found = []
        for row in rows:
            fields = dict(row)
            secret = fields.pop("secret")
            found.append((msgspec.convert(fields, Subscription), secret))
        return found
