"""Webhook deliveries: every attempt to call a job's ``callback_url`` is an event.

The notifier appends them to ``PLAYLEDGER_WEBHOOKS`` on ``playledger.webhook.<job_id>.<delivery>``,
so a job's delivery history is replayable (``GET /api/v1/jobs/{id}/webhooks``). They never carry
the payload, a signature, the secret or the URL's query string (it may hold a token).

A *delivery* is one trigger (a stored job event) sent to one target; its ``delivery_id`` is
stable across attempts and redeliveries, and the receiver sees it as ``webhook-id`` to dedupe.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from playledger_schemas.ids import JobId


class Delivery(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope of every delivery event."""

    event_id: uuid.UUID
    job_id: JobId
    delivery_id: str
    """``<job seq of the trigger>-<target>``; the ``webhook-id`` header is ``<job_id>.<delivery_id>``."""
    trigger: str
    """The type of the job event that triggered it (``job.succeeded.v1``, ``runner.event.v1``, …)."""
    trigger_seq: Annotated[int, Meta(ge=1)]
    """The trigger's ``seq`` within the job."""
    target: str
    """``callback``: the job's own ``options.callback_url``; else the id of the subscription
    (``POST /api/v1/webhooks``) whose pattern matched."""
    url: str
    """Where it went: scheme, host, port and path only."""
    attempt: Annotated[int, Meta(ge=1)]
    time: datetime


class WebhookDelivered(Delivery, frozen=True, tag="webhook.delivered.v1"):
    """The receiver answered 2xx."""

    status_code: int
    duration_ms: int


class WebhookFailed(Delivery, frozen=True, tag="webhook.failed.v1"):
    """This attempt failed; the next one is due at ``retry_at``."""

    reason: str
    retry_at: datetime
    status_code: int | None = None


class WebhookDead(Delivery, frozen=True, tag="webhook.dead.v1"):
    """No further attempt: refused before connecting (SSRF rules, policy) or out of attempts."""

    reason: str
    status_code: int | None = None


class RedeliverWebhook(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="type", tag="webhook.redeliver.v1"
):
    """Deliver a delivered or dead webhook once more (one attempt, with the job's status now).
    Published by the API on ``playledger.redeliver.<job_id>.<delivery_id>``."""

    job_id: JobId
    delivery_id: str
    after_attempt: Annotated[int, Meta(ge=1)]
    """The delivery's last attempt when asked: a request whose attempt was already made is done."""
    requested_by: str | None = None
    """The API key id that asked."""
    issued_at: datetime


DeliveryEvent = WebhookDelivered | WebhookFailed | WebhookDead
"""What ``PLAYLEDGER_WEBHOOKS`` holds on ``playledger.webhook.>`` (with ``RedeliverWebhook``:
``webhooks.json``)."""
WebhookMessage = DeliveryEvent | RedeliverWebhook

DELIVERY_EVENTS: tuple[type[DeliveryEvent], ...] = (WebhookDelivered, WebhookFailed, WebhookDead)
