"""The API's side of NATS: publishing commands and asking the streams what they hold.

Raises ``DependencyUnavailableError`` instead of waiting on a disconnected client, so a
request fails fast with 503 while NATS is down; a submit retries within its deadline first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, RawStreamMsg
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from playledger_api.errors import NATS, DependencyUnavailableError, SubmitUncertainError
from playledger_common.tracing import TRACER, inject
from playledger_schemas.codec import encode
from playledger_schemas.commands import CancelJob, RetryJob, SubmitJob
from playledger_schemas.events import TERMINAL_KINDS
from playledger_schemas.subjects import (
    COMMANDS_STREAM,
    EVENTS_STREAM,
    WEBHOOKS_STREAM,
    any_submit_of,
    cancel_subject,
    dashboard_lifecycle_filter,
    job_events_filter,
    job_webhooks_filter,
    kind_of,
    redeliver_subject,
    submit_subject,
    webhook_subject,
)
from playledger_schemas.webhooks import DeliveryEvent, RedeliverWebhook

MAX_DELIVERY_EVENTS: Final = 1000
"""Most delivery events one history answer holds (10 attempts for each of 100 triggers)."""
_delivery_decoder: Final = msgspec.json.Decoder(DeliveryEvent)
PUBLISH_TIMEOUT_S: Final = 5.0
SUBMIT_TRY_S: Final = 1.0
"""One try of a submit; tries repeat (same ``Nats-Msg-Id``) until ``PUBLISH_TIMEOUT_S`` is spent."""
SUBMIT_PAUSE_S: Final = 0.2


class Bus:
    def __init__(self, nc: Client, js: JetStreamContext) -> None:
        self.nc = nc
        self.js = js

    def require_connected(self) -> None:
        if not self.nc.is_connected:
            raise DependencyUnavailableError(NATS)

    @contextlib.asynccontextmanager
    async def end_of(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        """An ``asyncio.Event`` set once a terminal event of ``job_id`` is stored, while inside.

        A plain subscription to the stream's republish of the job's lifecycle events: one message
        per state change, none per runner event. At most once, like any core subscription (a
        reconnect can miss it): callers still look at the read model now and then.
        """
        ended = asyncio.Event()

        async def seen(msg: Msg) -> None:
            if kind_of(msg.subject, job_id) in TERMINAL_KINDS:
                ended.set()

        try:
            subscription = await self.nc.subscribe(dashboard_lifecycle_filter(job_id), cb=seen)
        except nats.errors.Error:  # NATS away: the caller's look at the read model still answers
            yield ended
            return
        try:
            yield ended
        finally:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()

    async def submit(self, command: SubmitJob) -> bool:
        """Publish a submit command; ``True`` when JetStream already had it (same job id).

        Re-sent with the same ``Nats-Msg-Id`` until it is acknowledged or ``PUBLISH_TIMEOUT_S``
        is spent. A try that timed out may still be stored, so giving up after one raises
        ``SubmitUncertainError`` naming the job (a retry with that id is idempotent); if no try
        ever reached a server, it is the plain ``DependencyUnavailableError``.

        The ``job.submit`` span is the root of the job's trace: its ``traceparent`` rides in the
        command's headers to the executor.
        """
        with TRACER.start_as_current_span(
            "job.submit", kind=SpanKind.PRODUCER, attributes={"playledger.job_id": command.job_id}
        ):
            return await self._submit(command, inject({"Nats-Msg-Id": f"submit:{command.job_id}"}))

    async def _submit(self, command: SubmitJob, headers: dict[str, str]) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_TIMEOUT_S
        subject, payload = submit_subject(command.spec.priority, command.job_id), encode(command)
        maybe_stored = False
        while True:
            left = deadline - loop.time()
            if self.nc.is_connected:
                try:
                    ack = await self.js.publish(
                        subject,
                        payload,
                        timeout=max(0.05, min(SUBMIT_TRY_S, left)),
                        headers=headers,
                    )
                except (nats.errors.TimeoutError, TimeoutError):
                    maybe_stored = True
                except nats.errors.Error:
                    pass  # refused or not sent (no responders, disconnected): not stored
                else:
                    return bool(ack.duplicate)
            if deadline - loop.time() <= SUBMIT_PAUSE_S:
                if maybe_stored:
                    raise SubmitUncertainError(command.job_id)
                raise DependencyUnavailableError(NATS)
            await asyncio.sleep(SUBMIT_PAUSE_S)

    async def cancel(self, command: CancelJob) -> None:
        self.require_connected()
        try:
            await self.js.publish(
                cancel_subject(command.job_id),
                encode(command),
                timeout=PUBLISH_TIMEOUT_S,
                headers={"Nats-Msg-Id": f"cancel:{command.job_id}"},
            )
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None

    async def retry(self, command: RetryJob, attempt: int) -> None:
        """Publish a retry of a dead job whose last attempt is ``attempt`` (one retry per attempt)."""
        self.require_connected()
        attributes: dict[str, str | int] = {
            "playledger.job_id": command.job_id,
            "playledger.attempt": attempt + 1,
        }
        with TRACER.start_as_current_span("job.retry", kind=SpanKind.PRODUCER, attributes=attributes):
            try:
                await self.js.publish(
                    submit_subject(command.priority, command.job_id),
                    encode(command),
                    timeout=PUBLISH_TIMEOUT_S,
                    headers=inject({"Nats-Msg-Id": f"retry:{command.job_id}:{attempt}"}),
                )
            except (nats.errors.Error, TimeoutError):
                raise DependencyUnavailableError(NATS) from None

    async def last_event(self, job_id: str) -> RawStreamMsg | None:
        """The job's latest event in the stream, or ``None`` when it has none yet."""
        self.require_connected()
        try:
            return await self.js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id), direct=True)
        except NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None

    async def was_submitted(self, job_id: str) -> bool:
        """A submit command for this job is in the commands stream (it may not be queued yet)."""
        self.require_connected()
        try:
            await self.js.get_last_msg(COMMANDS_STREAM, any_submit_of(job_id), direct=True)
        except NotFoundError:
            return False
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None
        return True

    async def webhook_history(self, job_id: str) -> list[DeliveryEvent]:
        """The job's delivery events in ``PLAYLEDGER_WEBHOOKS``, oldest first (a short-lived consumer)."""
        self.require_connected()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=30.0
        )
        try:
            sub = await self.js.pull_subscribe(
                job_webhooks_filter(job_id), stream=WEBHOOKS_STREAM, config=config
            )
        except NotFoundError:
            return []
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None
        try:
            pending = min((await sub.consumer_info()).num_pending or 0, MAX_DELIVERY_EVENTS)
            history: list[DeliveryEvent] = []
            while len(history) < pending:
                for msg in await sub.fetch(pending - len(history), timeout=PUBLISH_TIMEOUT_S):
                    history.append(_delivery_decoder.decode(msg.data))
            return history
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None
        finally:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await sub.unsubscribe()

    async def last_delivery(self, job_id: str, delivery_id: str) -> DeliveryEvent | None:
        """The last event of one webhook delivery, if it exists."""
        self.require_connected()
        try:
            raw = await self.js.get_last_msg(
                WEBHOOKS_STREAM, webhook_subject(job_id, delivery_id), direct=True
            )
        except NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None
        return _delivery_decoder.decode(raw.data or b"")

    async def redeliver(self, request: RedeliverWebhook) -> None:
        """Ask the notifier for one more attempt (a repeated request for the same attempt is one)."""
        self.require_connected()
        msg_id = f"{request.job_id}.{request.delivery_id}.redeliver.{request.after_attempt}"
        try:
            await self.js.publish(
                redeliver_subject(request.job_id, request.delivery_id),
                encode(request),
                stream=WEBHOOKS_STREAM,
                timeout=PUBLISH_TIMEOUT_S,
                headers={"Nats-Msg-Id": msg_id},
            )
        except (nats.errors.Error, TimeoutError):
            raise DependencyUnavailableError(NATS) from None

    async def last_event_seq(self) -> int | None:
        """The events stream's last sequence, or ``None`` when NATS does not answer."""
        try:
            info = await self.js.stream_info(EVENTS_STREAM)
        except (nats.errors.Error, TimeoutError):
            return None
        return info.state.last_seq

    async def streams_present(self) -> list[str]:
        """Names of playledger's streams that are missing."""
        missing = []
        for name in (COMMANDS_STREAM, EVENTS_STREAM):
            try:
                await self.js.stream_info(name)
            except NotFoundError:
                missing.append(name)
        return missing
