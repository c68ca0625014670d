"""The notifier's loop: a durable pull consumer on the events stream, filtered to the events that
can trigger a callback, one delivery attempt per message.

At-least-once: a message is acknowledged only after its delivery event is stored; a notifier
killed mid-delivery leaves it unacknowledged, and JetStream hands it out again after
``webhook_ack_wait_s`` (the receiver sees the same ``webhook-id``). The wait between attempts is
JetStream's (a negative acknowledgement with a delay), the attempt count is the delivery's own
history in ``PLAYLEDGER_WEBHOOKS``, so neither is lost with the process. Each job's deliveries
run one at a time, in stream order; while one waits for its retry the job's later ones wait too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import httpx
import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry.trace import SpanKind
from standardwebhooks import Webhook

from playledger_common.observability import about_job
from playledger_common.opsserver import Check, nats_check
from playledger_common.readmodel import JOB_SQL, PROJECTION, JobRow, from_record
from playledger_common.settings import NotifierSettings
from playledger_common.statusdoc import JobStatusResponse, job_status
from playledger_common.subscriptions import SubscriptionStore, subject_matches
from playledger_common.tracing import TRACER, inject
from playledger_notifier.decide import (
    after_failure,
    backoff_s,
    delivery_id,
    trigger_filters,
    wants,
    webhook_id,
)
from playledger_notifier.guard import RefusedError, parse_allow
from playledger_notifier.metrics import NotifierMetrics
from playledger_notifier.sender import Answer, post, shown_url
from playledger_schemas.codec import ContractError, decode_event, encode
from playledger_schemas.subjects import (
    EVENTS_STREAM,
    REDELIVER_SUBJECTS,
    WEBHOOKS_STREAM,
    dashboard_subject,
    job_id_of_subject,
    kind_of,
    webhook_subject,
)
from playledger_schemas.webhooks import (
    Delivery,
    DeliveryEvent,
    RedeliverWebhook,
    WebhookDead,
    WebhookDelivered,
    WebhookFailed,
)

log: Final = logging.getLogger(__name__)
RESULT_OF: Final[dict[type[DeliveryEvent], str]] = {
    WebhookDelivered: "delivered",
    WebhookFailed: "failed",
    WebhookDead: "dead",
}
"""The ``result`` label of each recorded attempt."""
CONSUMER: Final = "notifier"
REDELIVER_CONSUMER: Final = "notifier-redeliver"
NOT_PROJECTED_DELAY_S: Final = 0.5
"""How soon a trigger whose job the projector has not caught up with is looked at again."""
_history_decoder: Final = msgspec.json.Decoder(DeliveryEvent)
_redeliver_decoder: Final = msgspec.json.Decoder(RedeliverWebhook)


def redeliver_consumer_config(settings: NotifierSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=REDELIVER_CONSUMER,
        description="playledger notifier: redelivery requests",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.webhook_ack_wait_s,
        max_deliver=-1,
        filter_subject=REDELIVER_SUBJECTS,
    )


def consumer_config(settings: NotifierSettings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONSUMER,
        description="playledger notifier: job webhooks",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=settings.webhook_ack_wait_s,
        max_deliver=-1,
        max_ack_pending=10_000,
        filter_subjects=trigger_filters(),
    )


@dataclass(frozen=True)
class Target:
    """Where one trigger goes: the job's callback, or a subscription (its id, URL and secret)."""

    name: str
    url: str
    signer: Webhook


@dataclass(frozen=True)
class Trigger:
    job_id: str
    kind: str
    """Its subject kind (``job.succeeded``, ``runner.runner_on_failed``): the payload's ``type``."""
    seq: int
    document: JobStatusResponse


def redelivery_job(subject: str) -> str:
    """The job id of ``playledger.redeliver.<job_id>.<delivery_id>``."""
    parts = subject.split(".")
    return parts[2] if len(parts) == 4 else ""


class Notifier:
    def __init__(
        self,
        nc: Client,
        pool: asyncpg.Pool[asyncpg.Record],
        settings: NotifierSettings,
        secret: str,
        metrics: NotifierMetrics | None = None,
    ) -> None:
        self.nc = nc
        self.metrics = metrics or NotifierMetrics()
        self.bound = False
        """Both durable consumers exist and are subscribed."""
        self.js: JetStreamContext = nc.jetstream()
        self.pool = pool
        self.settings = settings
        self.signer = Webhook(secret)
        self.allow = parse_allow(settings.webhook_allow)
        self.http = httpx.AsyncClient(
            timeout=settings.webhook_timeout_s,
            follow_redirects=False,
            trust_env=False,  # never through a proxy: the checked address is the one connected to
            headers={"user-agent": "playledger-notifier"},
        )
        self.job_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.in_flight: defaultdict[str, int] = defaultdict(int)
        """Messages of each job taken and not yet handled (its lock is dropped at zero)."""
        self.waiting: dict[str, tuple[int, float]] = {}
        """job id -> (trigger seq of its delivery waiting for a retry, monotonic time it is due)."""
        self.slots = asyncio.Semaphore(settings.webhook_concurrency)
        self.subscriptions = SubscriptionStore(pool)

    async def run(self, stop: asyncio.Event) -> None:
        consumers = (
            (EVENTS_STREAM, consumer_config(self.settings), self._handle),
            (WEBHOOKS_STREAM, redeliver_consumer_config(self.settings), self._redeliver),
        )
        pumps = []
        for stream, config, handler in consumers:
            try:
                await self.js.add_consumer(stream, config)
            except BadRequestError as exc:
                log.warning(
                    "consumer %s exists with another config (kept): %s", config.durable_name, exc.description
                )
            sub = await self.js.pull_subscribe_bind(config.durable_name, stream=stream)
            pumps.append(asyncio.create_task(self._pump(sub, handler, stop)))
        self.bound = True
        log.info("notifier delivering webhooks")
        try:
            await asyncio.gather(*pumps)
        finally:
            self.bound = False
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            await self.http.aclose()

    async def _pump(
        self,
        sub: JetStreamContext.PullSubscription,
        handler: Callable[[Msg, str], Awaitable[None]],
        stop: asyncio.Event,
    ) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while not stop.is_set():
                await self.slots.acquire()
                self.slots.release()
                try:
                    msgs = await sub.fetch(self.settings.webhook_concurrency, timeout=1.0)
                except TimeoutError:
                    continue
                except Exception as exc:  # noqa: BLE001 - NATS away: the client reconnects; try again
                    log.warning("notifier fetch failed: %s", type(exc).__name__)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    task = asyncio.create_task(self._one(msg, handler))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, msg: Msg, handler: Callable[[Msg, str], Awaitable[None]]) -> None:
        job_id = job_id_of_subject(msg.subject) or redelivery_job(msg.subject)
        self.in_flight[job_id] += 1
        try:
            async with self.slots, self.job_locks[job_id]:
                try:
                    with about_job(job_id, msg.headers):  # the event's trace: the job's
                        await handler(msg, job_id)
                except Exception:
                    log.exception("job %s: webhook delivery failed inside the notifier; retried", job_id)
                    await msg.nak(delay=self.settings.webhook_backoff_s)
        finally:
            self.in_flight[job_id] -= 1
            if not self.in_flight[job_id]:
                del self.in_flight[job_id]
                self.job_locks.pop(job_id, None)

    async def _handle(self, msg: Msg, job_id: str) -> None:
        kind = kind_of(msg.subject, job_id)
        try:
            event = decode_event(msg.data)
        except ContractError:
            log.warning("job %s: undecodable %s event at %s; no webhook", job_id, kind, msg.subject)
            await msg.ack()
            return
        stream_seq = msg.metadata.sequence.stream
        row, projection_seq, children = await self._projected(job_id)
        if row is None or row.last_stream_seq < stream_seq:
            await msg.nak(delay=NOT_PROJECTED_DELAY_S)  # the document must include the trigger
            return
        options = row.options or {}
        targets = [
            Target(name, url, self.signer)
            for name, url in (("callback", options.get("callback_url")),)
            if isinstance(url, str) and wants(kind, url, options.get("callback_events") or ["terminal"])
        ]
        dashboard = dashboard_subject(msg.subject)
        for subscription, secret in await self.subscriptions.signing():
            if any(subject_matches(pattern, dashboard) for pattern in subscription.events):
                targets.append(Target(subscription.id, subscription.url, Webhook(secret)))
        document = job_status(row, projection_seq, children)
        trigger = Trigger(job_id=job_id, kind=kind, seq=event.seq, document=document)
        waits = [wait for target in targets if (wait := await self._deliver(trigger, target)) is not None]
        if waits:
            delay = min(waits)
            self.waiting[job_id] = (event.seq, time.monotonic() + delay)
            await msg.nak(delay=delay)
        else:
            self.waiting.pop(job_id, None)
            await msg.ack()

    async def _projected(self, job_id: str) -> tuple[JobRow | None, int, list[Any]]:
        """The job's read-model row, the projector's checkpoint and the job's chained children."""
        async with self.pool.acquire() as conn:
            record = await conn.fetchrow(JOB_SQL, job_id, PROJECTION)
        if record is None:
            return None, 0, []
        return from_record(JobRow, record), int(record["projection_seq"] or 0), record["children"]

    async def _redeliver(self, msg: Msg, job_id: str) -> None:
        """One more attempt of a delivered or dead delivery, with the job's status now."""
        try:
            ask = _redeliver_decoder.decode(msg.data)
        except msgspec.DecodeError:
            log.warning("undecodable redelivery request at %s; dropped", msg.subject)
            await msg.ack()
            return
        last = await self._last_attempt(job_id, ask.delivery_id)
        row, projection_seq, children = await self._projected(job_id)
        if last is None or isinstance(last, WebhookFailed) or last.attempt > ask.after_attempt or row is None:
            await msg.ack()  # nothing to redeliver, still retrying, or already redelivered
            return
        seq, target_name = ask.delivery_id.split("-", 1)
        trigger = Trigger(
            job_id=job_id, kind=last.trigger, seq=int(seq), document=job_status(row, projection_seq, children)
        )
        target = await self._target(target_name, row)
        if target is None:
            envelope = Delivery(
                event_id=uuid.uuid4(),
                job_id=job_id,
                delivery_id=ask.delivery_id,
                trigger=last.trigger,
                trigger_seq=trigger.seq,
                target=target_name,
                url=last.url,
                attempt=last.attempt + 1,
                time=datetime.now(UTC),
            )
            await self._record(WebhookDead, envelope, reason="redelivery: the target no longer exists")
        else:
            await self._attempt(trigger, target, last.attempt + 1, limit=last.attempt + 1)
        await msg.ack()

    async def _target(self, name: str, row: JobRow) -> Target | None:
        if name == "callback":
            url = (row.options or {}).get("callback_url")
            return Target(name, url, self.signer) if isinstance(url, str) else None
        for subscription, secret in await self.subscriptions.signing():
            if subscription.id == name:
                return Target(name, subscription.url, Webhook(secret))
        return None

    async def _deliver(self, trigger: Trigger, target: Target) -> float | None:
        """One attempt of this trigger's delivery to ``target`` unless it is done or not due yet;
        ``None`` once it is done (delivered or dead), else the seconds until it is due."""
        job_id = trigger.job_id
        delivery = delivery_id(trigger.seq, target.name)
        last = await self._last_attempt(job_id, delivery)
        if isinstance(last, WebhookDelivered | WebhookDead):
            return None
        if wait := self._wait_s(job_id, trigger.seq, last):
            return wait
        attempt = 1 if last is None else last.attempt + 1
        attributes: dict[str, str | int] = {
            "playledger.job_id": job_id,
            "playledger.webhook.target": target.name,
            "playledger.webhook.trigger": trigger.kind,
            "playledger.webhook.attempt": attempt,
        }
        with TRACER.start_as_current_span("webhook.deliver", kind=SpanKind.CLIENT, attributes=attributes):
            return await self._attempt(trigger, target, attempt, self.settings.webhook_max_attempts)

    async def _attempt(self, trigger: Trigger, target: Target, attempt: int, limit: int) -> float | None:
        """POST once and record the outcome; the wait before the next attempt, or ``None``."""
        job_id = trigger.job_id
        delivery = delivery_id(trigger.seq, target.name)
        now = datetime.now(UTC)
        body = msgspec.json.encode({"type": trigger.kind, "timestamp": now, "data": trigger.document})
        envelope = Delivery(
            event_id=uuid.uuid4(),
            job_id=job_id,
            delivery_id=delivery,
            trigger=trigger.kind,
            trigger_seq=trigger.seq,
            target=target.name,
            url=shown_url(target.url),
            attempt=attempt,
            time=now,
        )
        wid = webhook_id(job_id, delivery)
        headers = inject(  # the receiver may continue the job's trace
            {
                "webhook-id": wid,
                "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": target.signer.sign(wid, now, body.decode()),
            }
        )
        started = time.perf_counter()
        try:
            answer = await post(
                self.http,
                target.url,
                body,
                headers,
                allow=self.allow,
                allow_http=self.settings.webhook_allow_http,
                max_response_bytes=self.settings.webhook_max_response_bytes,
            )
        except RefusedError as refused:
            await self._record(WebhookDead, envelope, reason=f"refused: {refused.reason}")
            return None
        self.metrics.attempt_duration.observe(time.perf_counter() - started)
        return await self._after(envelope, answer, limit)

    def readiness(self) -> list[Check]:
        """``/ready``: NATS connected and both consumers bound."""
        return [
            nats_check(self.nc),
            Check(name="consumers", ok=self.bound, detail="bound" if self.bound else "not bound yet"),
        ]

    async def _after(self, envelope: Delivery, answer: Answer, limit: int) -> float | None:
        """Record the attempt; the wait before the next one, or ``None`` when there is none."""
        job_id, attempt = envelope.job_id, envelope.attempt
        if answer.delivered:
            await self._record(
                WebhookDelivered, envelope, status_code=answer.status_code, duration_ms=answer.duration_ms
            )
            log.info("job %s: webhook %s delivered (attempt %d)", job_id, envelope.delivery_id, attempt)
            return None
        reason = answer.reason or "failed"
        if after_failure(attempt, limit) == "dead":
            await self._record(
                WebhookDead,
                envelope,
                reason=f"{reason}; gave up after {attempt} attempts",
                status_code=answer.status_code,
            )
            log.warning("job %s: webhook %s dead after %d attempts", job_id, envelope.delivery_id, attempt)
            return None
        delay = backoff_s(
            attempt,
            first_s=self.settings.webhook_backoff_s,
            cap_s=self.settings.webhook_backoff_max_s,
            jitter=random.uniform(0.5, 1.0),  # noqa: S311 - spreading retries, not a secret
        )
        await self._record(
            WebhookFailed,
            envelope,
            reason=reason,
            status_code=answer.status_code,
            retry_at=envelope.time + timedelta(seconds=delay),
        )
        return delay

    def _wait_s(self, job_id: str, seq: int, last: DeliveryEvent | None) -> float:
        """How long this delivery must still wait: its own retry time, or an earlier delivery's
        of the same job (so a job's webhooks arrive in order)."""
        remaining = 0.0
        if isinstance(last, WebhookFailed):
            remaining = (last.retry_at - datetime.now(UTC)).total_seconds()
        waiting = self.waiting.get(job_id)
        if waiting is not None and waiting[0] != seq:
            remaining = max(remaining, waiting[1] - time.monotonic() + 0.05)
        return max(0.0, remaining)

    async def _last_attempt(self, job_id: str, delivery: str) -> DeliveryEvent | None:
        try:
            raw = await self.js.get_last_msg(WEBHOOKS_STREAM, webhook_subject(job_id, delivery))
        except NotFoundError:
            return None
        return _history_decoder.decode(raw.data or b"")

    async def _record(self, kind: type[DeliveryEvent], envelope: Delivery, **fields: object) -> None:
        """Store the attempt's outcome (same Msg-Id if a retry of this store repeats it)."""
        event = kind(**msgspec.structs.asdict(envelope), **fields)  # type: ignore[arg-type]
        self.metrics.deliveries.labels(RESULT_OF[kind]).inc()
        await self.js.publish(
            webhook_subject(envelope.job_id, envelope.delivery_id),
            encode(event),
            stream=WEBHOOKS_STREAM,
            headers={
                "Nats-Msg-Id": f"{webhook_id(envelope.job_id, envelope.delivery_id)}.{envelope.attempt}"
            },
        )
