"""Read ``PLAYLEDGER_EVENTS`` from a stream sequence on, in order, in batches.

An ordered push consumer (ephemeral, no acks, flow control; the client recreates it from
the last sequence on a gap) with a callback that feeds a bounded buffer: when the
projector falls behind, the callback waits, flow control stalls the server, and nothing
piles up in memory. Batches are whatever is buffered, up to ``batch_size``: under load a
batch fills while the previous one is written, and a lone event is written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Final

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from playledger_common import ordered
from playledger_projector.applier import Message
from playledger_schemas.subjects import WHOLE_STREAM

_V1_TOKENS: Final = 9


def stream_seq_of(reply: str) -> int:
    """The stream sequence in a JetStream ``$JS.ACK…`` reply subject (v1 or v2 layout)."""
    tokens = reply.split(".")
    # v1: $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>
    # v2: $JS.ACK.<domain>.<acchash>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>[.<token>]
    return int(tokens[5] if len(tokens) == _V1_TOKENS else tokens[7])


class StreamReader:
    """An ordered consumer on the events stream starting after ``after`` (a stream sequence).

    Messages go into a bounded buffer (a deque: cheaper per message than an asyncio.Queue);
    when it is full the callback waits until a batch is taken out.
    """

    def __init__(self, js: JetStreamContext, after: int, *, batch_size: int, linger: float = 0.0) -> None:
        self.js = js
        self.after = after
        self.batch_size = batch_size
        self.linger = linger
        self.limit = max(4 * batch_size, 1000)
        self._buffer: deque[Message] = deque()
        self._arrived = asyncio.Event()
        self._drained = asyncio.Event()
        self._sub: JetStreamContext.PushSubscription | None = None

    async def start(self) -> None:
        config = ordered.after(self.after)
        buffer, arrived, drained, limit = self._buffer, self._arrived, self._drained, self.limit

        async def on_message(msg: Msg) -> None:
            buffer.append((stream_seq_of(msg.reply), msg.subject, msg.data))
            arrived.set()
            if len(buffer) >= limit:
                drained.clear()
                await drained.wait()

        self._sub = await ordered.follow(self.js, WHOLE_STREAM, on_message, config=config)

    async def stop(self) -> None:
        if self._sub is not None:
            self._drained.set()
            with contextlib.suppress(Exception):  # the connection may already be gone
                await self._sub.unsubscribe()
            self._sub = None

    async def next_batch(self, wait: float) -> list[Message]:
        """Up to ``batch_size`` messages; empty if none arrived within ``wait`` seconds.

        Takes what is buffered (under load that is a full batch); with ``linger`` it first
        waits that long for more when the batch is not full.
        """
        buffer = self._buffer
        if not buffer:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), wait)
            except TimeoutError:
                return []
        if self.linger > 0 and len(buffer) < self.batch_size:
            await asyncio.sleep(self.linger)
        n = min(self.batch_size, len(buffer))
        batch = [buffer.popleft() for _ in range(n)]
        if len(buffer) < self.limit:
            self._drained.set()
        return batch
