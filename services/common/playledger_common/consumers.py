"""The durable consumers on the commands stream: declared once, created if missing, drift reported.

``intake`` sees every command once (for all executors); ``run-<priority>`` hands each submit
to one executor with a free slot; ``due`` (on the schedules stream) hands each submit whose
``run_at`` schedule fired to one executor, like a run consumer; ``chains`` (on the events stream)
hands each terminal event that may launch a template chain's links to one executor. Every one
has ``max_deliver``: a message whose handler keeps failing is delivered at most that many times,
then recorded as poison (``outcome``).
"""

from __future__ import annotations

from typing import Final

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from playledger_common.chain import LINK_OF
from playledger_common.streams import Drift, StreamReport, differences
from playledger_schemas.events import TERMINAL_EVENTS, lifecycle_kind
from playledger_schemas.ids import PRIORITIES, Priority
from playledger_schemas.subjects import (
    COMMAND_SUBJECTS,
    COMMANDS_STREAM,
    DUE_FILTER,
    EVENTS_STREAM,
    SCHEDULES_STREAM,
    event_subject,
    submit_filter,
)

INTAKE: Final = "intake"
DUE: Final = "due"
CHAINS: Final = "chains"
INTAKE_ACK_WAIT_S: Final = 30.0
DEFAULT_RUN_ACK_WAIT_S: Final = 30.0
MAX_ACK_PENDING: Final = 100_000
MAX_DELIVER: Final = 5
"""Deliveries of one command before it is poison. With ``outcome.backoff_s`` a command whose
handler keeps raising is recorded about 7.5 s after its first delivery: a bug ends it quickly,
a JetStream hiccup shorter than that is ridden out."""

# Fields whose value on the server must equal ours. ``ack_wait`` of the run consumers follows
# the executor's own setting, which ``playledger streams init`` does not read.
_CHECKED_FIELDS: Final = (
    "filter_subject",
    "filter_subjects",
    "ack_policy",
    "deliver_policy",
    "max_deliver",
    "max_ack_pending",
)


def run_consumer(priority: Priority) -> str:
    return f"run-{priority}"


def _pull(name: str, subject: str | list[str], ack_wait: float) -> ConsumerConfig:
    """A durable pull consumer of one subject filter, or of several."""
    return ConsumerConfig(
        name=name,
        durable_name=name,
        filter_subject=subject if isinstance(subject, str) else None,
        filter_subjects=None if isinstance(subject, str) else subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait,
        max_ack_pending=MAX_ACK_PENDING,
        max_deliver=MAX_DELIVER,
    )


def durable_consumers(run_ack_wait_s: float = DEFAULT_RUN_ACK_WAIT_S) -> list[ConsumerConfig]:
    """The consumers of ``PLAYLEDGER_COMMANDS``."""
    return [
        _pull(INTAKE, COMMAND_SUBJECTS, INTAKE_ACK_WAIT_S),
        *(_pull(run_consumer(p), submit_filter(p), run_ack_wait_s) for p in PRIORITIES),
    ]


def due_consumer(run_ack_wait_s: float = DEFAULT_RUN_ACK_WAIT_S) -> ConsumerConfig:
    """The run consumer of ``PLAYLEDGER_SCHEDULES``: fired ``run_at`` schedules."""
    return _pull(DUE, DUE_FILTER, run_ack_wait_s)


def chains_consumer() -> ConsumerConfig:
    """The consumer of ``PLAYLEDGER_EVENTS`` for template chains: every job's terminal events
    that launch a link (``chain.LINK_OF``); from the first one stored, so none is missed."""
    kinds = [lifecycle_kind(TERMINAL_EVENTS[status]) for status in LINK_OF]
    return _pull(CHAINS, [event_subject("*", kind) for kind in kinds], INTAKE_ACK_WAIT_S)


async def ensure_consumers(
    js: JetStreamContext, run_ack_wait_s: float = DEFAULT_RUN_ACK_WAIT_S
) -> list[StreamReport]:
    """Create missing consumers; report (never change) existing ones that drifted."""
    reports = []
    declared = [(COMMANDS_STREAM, c) for c in durable_consumers(run_ack_wait_s)]
    declared += [(SCHEDULES_STREAM, due_consumer(run_ack_wait_s)), (EVENTS_STREAM, chains_consumer())]
    for stream, config in declared:
        assert config.durable_name is not None  # noqa: S101 - set above
        where = f"{stream}/{config.durable_name}"
        try:
            info = await js.consumer_info(stream, config.durable_name)
        except NotFoundError:
            await js.add_consumer(stream, config)
            reports.append(StreamReport(stream=where, created=True, drift=[]))
            continue
        drift: list[Drift] = differences(where, config, info.config, _CHECKED_FIELDS)
        reports.append(StreamReport(stream=where, created=False, drift=drift))
    return reports
