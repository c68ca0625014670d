"""Template chains, the shell: a job's terminal event launches its template's links (``chain``).

The durable consumer ``chains`` hands each terminal event that may launch links (``successful``,
``failed``, ``error``, ``timeout``, ``dead``) to one executor. For a job launched from a template,
the version it was launched from is read from the templates bucket's history, ``decide_links``
says which launches its end makes, and each is published as a ``job.launch.v1`` with
``Nats-Msg-Id: launch:<child>``; the event is acknowledged only after that. A redelivery, a
restart or a second executor publishes the same child ids: JetStream stores each once within
its dedupe window, and past it the intake finds the child exists (``launcher``). So each link is
launched once, and one missed by a crash is launched when the event is delivered again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_common.chain import decide_links
from playledger_common.consumers import CHAINS, MAX_DELIVER
from playledger_common.named_store import templates
from playledger_common.outcome import Ack, Outcome, handle
from playledger_executor.consumers import pull_batches
from playledger_executor.journal import Journal
from playledger_schemas.codec import ContractError, decode_event, encode
from playledger_schemas.commands import MAX_CHAIN_DEPTH
from playledger_schemas.events import terminal_status
from playledger_schemas.subjects import EVENTS_STREAM, launch_subject

log: Final = logging.getLogger(__name__)

BATCH: Final = 64


class Chains:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.journal = Journal(js)
        self.templates = templates(js)

    async def run(self, stopping: asyncio.Event) -> None:
        await pull_batches(self.js, EVENTS_STREAM, CHAINS, stopping, self._handle_batch, batch=BATCH)

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        for msg in msgs:
            await handle(msg, self.handle, max_deliver=MAX_DELIVER, on_poison=self._poison)

    async def handle(self, msg: Msg) -> Outcome:
        """Publish the launches the job's end makes (none for a job not launched from a template)."""
        try:
            event = decode_event(msg.data)
        except ContractError:
            log.warning("undecodable terminal event at %s; no links", msg.subject)
            return Ack()
        outcome = terminal_status(event)
        queued = await self.journal.queued(event.job_id)
        if outcome is None or queued is None or queued.data.template is None:
            return Ack()
        ref = queued.data.template
        template = await self.templates.at(ref.name, ref.version)
        if template is None:
            log.warning(
                "job %s: template %s v%d is no longer stored; no links", event.job_id, ref.name, ref.version
            )
            return Ack()
        parent = queued.data.parent
        if (
            parent is not None
            and parent.depth >= MAX_CHAIN_DEPTH
            and (template.on_success or template.on_failure)
        ):
            log.warning(
                "job %s is at chain depth %d, the deepest: its links are not launched",
                event.job_id,
                parent.depth,
            )
        now = datetime.now(UTC)
        for launch in decide_links(
            event.job_id, outcome, template, queued.data.parent, queued.data.submitted_by, now
        ):
            await self.js.publish(
                launch_subject(launch.job_id),
                encode(launch),
                headers={"Nats-Msg-Id": f"launch:{launch.job_id}"},
            )
            assert launch.parent is not None  # noqa: S101 - decide_links sets it
            log.info(
                "job %s %s: %s launches %s (%s)",
                event.job_id,
                outcome,
                launch.parent.link,
                launch.job_id,
                launch.template,
            )
        return Ack()

    async def _poison(self, msg: Msg, reason: str) -> None:
        log.error("the links of the terminal event on %s were not launched: %s", msg.subject, reason)
