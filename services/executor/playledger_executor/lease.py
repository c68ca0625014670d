"""This executor's lease: evidence for others that it lives (and writes its jobs).

A message on ``playledger.lease.executor.<id>`` with a per-message TTL, renewed every third of
it. Another executor that finds a started, unended attempt asks ``alive(writer)``: only when
the writer's lease has expired is the attempt declared lost. A NATS outage longer than the TTL
can expire a live executor's lease; then the writer is fenced (``writer.FencedError``) and stops,
so even a wrong verdict never gives a job two writers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_stream, leases_stream_config
from playledger_schemas.subjects import LEASES_STREAM, lease_subject

log: Final = logging.getLogger(__name__)

MIN_TTL_S: Final = 1.0
"""nats-server's smallest per-message TTL."""


class Lease:
    def __init__(self, js: JetStreamContext, executor_id: str, ttl_s: float) -> None:
        self.js = js
        self.executor_id = executor_id
        self.ttl_s = max(MIN_TTL_S, ttl_s)

    async def provision(self, settings: CommonSettings) -> None:
        report = await ensure_stream(self.js, leases_stream_config(settings))
        for drift in report.drift:
            log.warning("stream drift (not changed): %s", drift)

    async def renew(self) -> None:
        await self.js.publish(
            lease_subject(self.executor_id),
            self.executor_id.encode(),
            stream=LEASES_STREAM,
            msg_ttl=self.ttl_s,
        )

    async def keep(self, stopping: asyncio.Event) -> None:
        """Renew every third of the TTL until ``stopping``; a failed renewal is retried at once."""
        while not stopping.is_set():
            try:
                await self.renew()
                wait_s = self.ttl_s / 3
            except Exception as exc:  # noqa: BLE001 - NATS away: keep trying, never stop the executor
                log.debug("lease renewal failed: %r", exc)
                wait_s = min(1.0, self.ttl_s / 3)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=wait_s)
            except TimeoutError:
                continue

    async def alive(self, executor_id: str) -> bool:
        """Whether ``executor_id`` renewed its lease within its TTL."""
        try:
            await self.js.get_last_msg(LEASES_STREAM, lease_subject(executor_id))
        except NotFoundError:
            return False
        return True
