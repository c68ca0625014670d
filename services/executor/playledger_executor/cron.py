"""The scheduler: every executor launches the due firings of the stored schedules.

It watches the ``PLAYLEDGER_CRON`` bucket (every schedule, kept current) and once a second
asks ``firing.due`` which firing each one should launch. A firing is published as a
``job.launch.v1`` whose job id is derived from the firing time, with that id as its
``Nats-Msg-Id``: two executors (or one restarted) publishing the same firing are stored once by
JetStream, and past the commands stream's dedupe window the intake finds the job exists. So
no leader is elected and nothing is stored about what fired: the events are the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Final

import msgspec
from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE

from playledger_common.firing import due, firing_job_id
from playledger_common.named_store import schedules
from playledger_schemas.codec import encode
from playledger_schemas.commands import LaunchJob
from playledger_schemas.lenient import lenient
from playledger_schemas.subjects import launch_subject
from playledger_schemas.templates import Schedule

log: Final = logging.getLogger(__name__)

TICK_S: Final = 1.0
_decode: Final = msgspec.json.Decoder(lenient(Schedule))


class Scheduler:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.schedules: dict[str, Schedule] = {}
        self.last: dict[str, datetime] = {}
        """The latest firing this process launched, per schedule."""

    async def run(self, stopping: asyncio.Event) -> None:
        watch = asyncio.create_task(self._watch(stopping), name="cron-watch")
        try:
            while not stopping.is_set():
                try:
                    await self.tick(datetime.now(UTC))
                except Exception:  # a disconnect must not end the scheduler: log, go on
                    log.exception("scheduler tick failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), TICK_S)
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _watch(self, stopping: asyncio.Event) -> None:
        """Keep ``schedules`` equal to the bucket (an ordered consumer: it resumes on reconnect)."""
        while not stopping.is_set():
            try:
                kv = await schedules(self.js).kv()
                watcher = await kv.watchall()
                async for entry in watcher:
                    if entry is None:
                        continue
                    if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
                        self.schedules.pop(entry.key, None)
                    else:
                        self.schedules[entry.key] = _decode.decode(entry.value)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching schedules failed; retrying")
                await asyncio.sleep(TICK_S)

    async def tick(self, now: datetime) -> None:
        """Launch each schedule's due firing (at most one per schedule)."""
        for name, schedule in list(self.schedules.items()):
            at = due(schedule, now, self.last.get(name))
            if at is None:
                continue
            job_id = firing_job_id(name, at)
            command = LaunchJob(
                job_id=job_id, issued_at=now, template=schedule.template, overrides=schedule.overrides
            )
            await self.js.publish(
                launch_subject(job_id), encode(command), headers={"Nats-Msg-Id": f"launch:{job_id}"}
            )
            self.last[name] = at
            log.info("schedule %s fired %s: job %s", name, at.isoformat(), job_id)
