"""What happens to a message a durable consumer delivered: one explicit outcome, applied here.

A handler returns :class:`Ack` (done), :class:`Retry` (deliver again after a while) or
:class:`Poison` (it can never be handled: record why, then ``term()`` it so the server stops
redelivering). :func:`handle` runs a handler and applies its outcome; it is the only place that
acks, naks or terminates. A handler that raises is retried; once the message has been
delivered ``max_deliver`` times (the consumer's own limit, so the server would not deliver it
again) a retry becomes poison, so nothing loops forever and nothing is left unrecorded.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from nats.aio.msg import Msg

log: Final = logging.getLogger(__name__)

RETRY_AFTER_S: Final = 0.5
"""How long a message whose handler raised waits before its second delivery; doubled for each next one."""
MAX_RETRY_AFTER_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class Ack:
    """Handled (including: recorded as rejected); never deliver it again."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Not handled now; deliver it again after ``after_s`` seconds."""

    after_s: float = RETRY_AFTER_S
    why: str = "retry requested"


@dataclass(frozen=True, slots=True)
class Poison:
    """Can never be handled: record ``reason``, then terminate the message."""

    reason: str


Outcome = Ack | Retry | Poison
Handler = Callable[[Msg], Awaitable[Outcome]]
PoisonRecorder = Callable[[Msg, str], Awaitable[None]]


def backoff_s(delivered: int) -> float:
    """Wait before the next delivery after ``delivered`` failed ones: 0.5, 1, 2, 4 … 30 s. Pure."""
    return min(RETRY_AFTER_S * 2.0 ** max(delivered - 1, 0), MAX_RETRY_AFTER_S)


def settled(outcome: Outcome, delivered: int, max_deliver: int) -> Outcome:
    """A retry on the last delivery the consumer allows is poison. Pure."""
    if isinstance(outcome, Retry) and delivered >= max_deliver:
        return Poison(f"gave up after {delivered} deliveries: {outcome.why}")
    return outcome


async def handle(msg: Msg, handler: Handler, *, max_deliver: int, on_poison: PoisonRecorder) -> Outcome:
    """Run ``handler`` on ``msg`` and carry out its outcome; never raises."""
    try:
        outcome = await handler(msg)
    except Exception as exc:
        # The exception's text may quote the message (and so, some day, a secret): log it here only.
        log.exception("message on %s could not be handled", msg.subject)
        why = f"the handler raised {type(exc).__name__}"
        outcome = Retry(after_s=backoff_s(msg.metadata.num_delivered), why=why)
    outcome = settled(outcome, msg.metadata.num_delivered, max_deliver)
    try:
        await _apply(msg, outcome, on_poison)
    except Exception:
        log.exception("outcome %s of the message on %s could not be applied", outcome, msg.subject)
    return outcome


async def _apply(msg: Msg, outcome: Outcome, on_poison: PoisonRecorder) -> None:
    match outcome:
        case Ack():
            await msg.ack()
        case Retry(after_s=after_s):
            await msg.nak(delay=after_s)
        case Poison(reason=reason):
            log.error("message on %s is poison: %s", msg.subject, reason)
            try:
                await on_poison(msg, reason)
            except Exception:
                log.exception("poison message on %s could not be recorded; retrying", msg.subject)
                await msg.nak(delay=RETRY_AFTER_S)
                return
            await msg.term()
