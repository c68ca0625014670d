"""Cancel of running jobs: every executor watches ``playledger.cmd.cancel.*`` from boot.

A cancel for a job running here stops it (``RunningJob.cancel``). A cancel published
before this executor watched for it is found by ``pending_cancel`` right after the start.
Cancels of queued jobs are the intake's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError

from playledger_common.retry import retried
from playledger_executor.writer import BACKOFF_MAX_S, retriable
from playledger_schemas.codec import ContractError, decode_command
from playledger_schemas.commands import CancelJob
from playledger_schemas.subjects import CANCEL_FILTER, COMMANDS_STREAM, cancel_subject

log: Final = logging.getLogger(__name__)


def cancel_reason(payload: bytes | None, job_id: str) -> str | None:
    """The reason of a valid cancel command for ``job_id`` (malformed ones are the intake's)."""
    try:
        command = decode_command(payload or b"")
    except ContractError:
        return None
    if isinstance(command, CancelJob) and command.job_id == job_id:
        return command.reason
    return None


async def pending_cancel(js: JetStreamContext, job_id: str, after_seq: int) -> str | None:
    """A cancel of ``job_id`` published after the command at ``after_seq``, if any.

    Asked once the job has started: a transient failure (the commands stream electing a leader
    in a cluster) is retried, else the started attempt would end "executor lost"."""
    try:
        raw = await retried(
            lambda: js.get_last_msg(COMMANDS_STREAM, cancel_subject(job_id)),
            retriable,
            attempts=None,
            wait_max_s=BACKOFF_MAX_S,
        )
    except NotFoundError:
        return None
    if (raw.seq or 0) <= after_seq:
        return None
    return cancel_reason(raw.data, job_id)


async def watch_cancels(
    js: JetStreamContext, on_cancel: Callable[[str, str], None]
) -> JetStreamContext.PushSubscription:
    """Ordered push consumer (new messages only); ``on_cancel(job_id, reason)`` per valid cancel."""

    async def handle(msg: Msg) -> None:
        job_id = msg.subject.rsplit(".", 1)[-1]
        reason = cancel_reason(msg.data, job_id)
        if reason is not None:
            on_cancel(job_id, reason)

    return await js.subscribe(
        CANCEL_FILTER,
        cb=handle,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
        stream=COMMANDS_STREAM,
    )
