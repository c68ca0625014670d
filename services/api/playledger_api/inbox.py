"""A bounded inbox for one SSE client's ordered consumer: written once for every such client.

The consumer's callback only ever appends (it never blocks, so nats-py never has a reason to
drop). The first message that does not fit marks the inbox overflowed: later ones are ignored
and, when the inbox knows its subscription, the consumer is unsubscribed at once so the server
stops pushing. The reader drains what was queued, then resumes from its last position.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

CONSUMER_HEARTBEAT_S: Final = 5.0
"""Idle heartbeat of every SSE client's ordered consumer: how soon nats-py notices a gap or a stall."""


async def unsubscribe(subscription: JetStreamContext.PushSubscription) -> None:
    with contextlib.suppress(nats.errors.Error):
        await subscription.unsubscribe()


class Inbox:
    """Messages in arrival order until the first one that does not fit; after that, none."""

    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=size)
        self.overflowed = False
        self.subscription: JetStreamContext.PushSubscription | None = None
        self._closing: asyncio.Task[None] | None = None

    @property
    def drained(self) -> bool:
        """Overflowed and everything queued before that has been read: time to resume elsewhere."""
        return self.overflowed and self.queue.empty()

    async def on_message(self, msg: Msg) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.overflowed = True
            if self.subscription is not None:
                self._closing = asyncio.create_task(unsubscribe(self.subscription))

    async def close(self) -> None:
        if self._closing is not None:
            await self._closing
        elif self.subscription is not None:
            await unsubscribe(self.subscription)
