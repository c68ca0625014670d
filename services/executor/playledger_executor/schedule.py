"""``run_at``: a submit held by JetStream's message scheduler until its time (server >= 2.12).

The accepted submit is published once more, as a schedule on ``playledger.sched.at.<job>``
in ``PLAYLEDGER_SCHEDULES`` with ``Nats-Schedule: @at <run_at>``; at that time the server puts
it on ``playledger.sched.due.<job>``, where the executors' ``due`` consumer hands it to one
executor with a free slot, exactly like a run consumer hands a submit (``dispatch``). Nothing
in playledger keeps a timer: a restart of any service (or of nats-server, the schedule being
stored) loses nothing, and the run consumers skip a submit whose time has not come.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from nats.js import JetStreamContext

from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_stream, schedules_stream_config
from playledger_common.tracing import inject
from playledger_schemas.subjects import due_subject, schedule_subject

log: Final = logging.getLogger(__name__)


async def provision(js: JetStreamContext, settings: CommonSettings) -> None:
    """Create the schedules stream if missing (``playledger streams init`` does with NATS auth on)."""
    report = await ensure_stream(js, schedules_stream_config(settings))
    for drift in report.drift:
        log.warning("stream drift (not changed): %s", drift)


def at_header(run_at: datetime) -> str:
    """``@at 2026-12-02T07:00:00.25Z``: RFC 3339 in UTC, as the server parses it."""
    return "@at " + run_at.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def schedule_submit(
    js: JetStreamContext, job_id: str, run_at: datetime, payload: bytes, msg_id: str | None = None
) -> None:
    """Publish the job's schedule (one per job: a newer one replaces it). ``msg_id`` defaults to
    ``sched:<job>`` (the ``run_at`` schedule, idempotent); a re-check names its own."""
    await js.publish(
        schedule_subject(job_id),
        payload,
        headers=inject(  # the job's trace goes on with the due message
            {
                "Nats-Msg-Id": msg_id or f"sched:{job_id}",
                "Nats-Schedule": at_header(run_at),
                "Nats-Schedule-Target": due_subject(job_id),
            }
        ),
    )
