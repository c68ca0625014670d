"""Read ``PLAYLEDGER_EVENTS`` from a stream sequence on, in order, in batches.

An ordered push consumer (ephemeral, no acks, flow control; the client recreates it from
the last sequence on a gap) with a callback that feeds a bounded asyncio queue: when the
projector falls behind, the callback waits, flow control stalls the server, and nothing
piles up in memory. Batches are whatever is queued, up to ``batch_size``, waiting at most
``linger`` seconds for more after the first message.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_projector.applier import Message
from playledger_schemas.subjects import EVENT_SUBJECTS, EVENTS_STREAM

_V1_TOKENS: Final = 9


def stream_seq_of(reply: str) -> int:
    """The stream sequence in a JetStream ``$JS.ACK…`` reply subject (v1 or v2 layout)."""
    tokens = reply.split(".")
    # v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
    # v2: $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>]
    return int(tokens[5] if len(tokens) == _V1_TOKENS else tokens[7])


class StreamReader:
    """An ordered consumer on the events stream starting after ``after`` (a stream sequence)."""

    def __init__(self, js: JetStreamContext, after: int, *, batch_size: int, linger: float = 0.05) -> None:
        self.js = js
        self.after = after
        self.batch_size = batch_size
        self.linger = linger
        self.queue: asyncio.Queue[Message] = asyncio.Queue(maxsize=max(4 * batch_size, 1000))
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self) -> None:
        if self.after > 0:
            config = ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self.after + 1
            )
        else:
            config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
        queue = self.queue

        async def on_message(msg: Msg) -> None:
            await queue.put((stream_seq_of(msg.reply), msg.subject, msg.data))

        self._sub = await self.js.subscribe(
            EVENT_SUBJECTS, stream=EVENTS_STREAM, cb=on_message, ordered_consumer=True, config=config
        )

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):  # the connection may already be gone
                await self._sub.unsubscribe()
            self._sub = None

    async def next_batch(self, wait: float) -> list[Message]:
        """Up to ``batch_size`` messages; empty if none arrived within ``wait`` seconds."""
        queue = self.queue
        try:
            first = await asyncio.wait_for(queue.get(), wait)
        except TimeoutError:
            return []
        batch = [first]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.linger
        while len(batch) < self.batch_size:
            if queue.empty():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except TimeoutError:
                    break
            else:
                batch.append(queue.get_nowait())
        return batch
