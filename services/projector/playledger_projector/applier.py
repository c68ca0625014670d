"""Apply batches of stream messages to a ``Store``: decode, fold, write, advance — exactly once.

Messages at or below the checkpoint are dropped (a redelivery or an overlapping replay).
Job views are cached between batches: this writer is the only one (leader lock, and the
checkpoint check in every transaction), so the cache is what the database holds; it is
dropped whenever a write fails. A batch the database refuses because of one event's
content (e.g. a value out of range) is retried event by event, and the offending event
is recorded in ``skipped_events`` instead — never a crash loop.

Writes are pipelined one deep: ``apply`` starts the transaction of a batch and returns,
so the next batch is decoded while PostgreSQL works. The next ``apply`` (or ``settle``)
waits for it first; ``checkpoint`` only moves once a transaction has committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

import asyncpg
import msgspec

from playledger_common.errors import PlayledgerError
from playledger_projector.batch import (
    Decoded,
    Item,
    Undecodable,
    decode_message,
    duplicate_candidates,
    fold_batch,
)
from playledger_projector.store import Store
from playledger_projector.views import BatchChanges, JobView

log: Final = logging.getLogger(__name__)

Message = tuple[int, str, bytes]
"""``(stream_seq, subject, payload)`` as delivered by the consumer."""

_CACHE_JOBS: Final = 50_000
CONTENT_ERRORS: Final = (asyncpg.DataError, OverflowError, ValueError)
"""What the database or the COPY encoder raise for a value it cannot store (not transient)."""


OnCommit = Callable[[BatchChanges, float], object]
"""Told of each committed batch and how long its write took (seconds): the projector's metrics."""


class Applier:
    def __init__(self, store: Store, checkpoint: int, on_commit: OnCommit | None = None) -> None:
        self.store = store
        self.on_commit = on_commit
        self.checkpoint = checkpoint
        """The last stream sequence committed by this applier (or found at start)."""
        self.applied = 0
        """Messages committed (applied or recorded as skipped) by this applier."""
        self._views: dict[str, JobView] = {}
        self._accepted = checkpoint
        self._pending: tuple[list[Item], BatchChanges, asyncio.Task[float]] | None = None

    @property
    def accepted(self) -> int:
        """The last stream sequence handed to a write (committed or in flight)."""
        return self._accepted

    @property
    def writing(self) -> bool:
        """A batch's transaction is in flight (``settle`` will wait for it and count it)."""
        return self._pending is not None

    async def apply(self, messages: Sequence[Message]) -> int:
        """Start applying the messages beyond what was accepted so far; return how many were new."""
        items = [
            decode_message(seq, subject, payload)
            for seq, subject, payload in messages
            if seq > self._accepted
        ]
        await self.settle()
        if not items:
            return 0
        changes = await self._fold(items)
        self._pending = (items, changes, asyncio.create_task(self._timed_write(changes, self.checkpoint)))
        self._accepted = items[-1].stream_seq
        return len(items)

    async def settle(self) -> None:
        """Wait for the batch in flight to commit (or handle its failure)."""
        if self._pending is None:
            return
        items, changes, task = self._pending
        self._pending = None
        try:
            seconds = await task
        except CONTENT_ERRORS as exc:
            self._views.clear()
            log.warning(
                "batch %d..%d refused (%s); applying it event by event",
                items[0].stream_seq,
                items[-1].stream_seq,
                exc,
            )
            for item in items:
                await self._apply_one(item)
            return
        except BaseException:
            self._views.clear()
            self._accepted = self.checkpoint
            raise
        self._committed(changes, seconds)

    async def _timed_write(self, changes: BatchChanges, checkpoint: int) -> float:
        started = time.perf_counter()
        await self.store.write(changes, checkpoint)
        return time.perf_counter() - started

    async def close(self) -> None:
        """Settle the batch in flight; a failure is logged (the next start resumes from the database)."""
        try:
            await self.settle()
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, PlayledgerError) as exc:
            log.warning("the last batch was not committed: %s", exc)
        finally:
            if self._pending is not None:
                self._pending[2].cancel()
                self._pending = None

    async def _fold(self, items: list[Item]) -> BatchChanges:
        job_ids = list(dict.fromkeys(i.event.job_id for i in items if isinstance(i, Decoded)))
        views = {j: self._views[j] for j in job_ids if j in self._views}
        missing = [j for j in job_ids if j not in views]
        if missing:
            views.update(await self.store.load_views(missing))
        candidates = duplicate_candidates(views, items)
        known = await self.store.existing_seqs(candidates) if candidates else set()
        return fold_batch(views, known, items)

    async def _apply_one(self, item: Item) -> None:
        try:
            changes = await self._fold([item])
            await self._write(changes)
        except CONTENT_ERRORS as exc:
            self._views.clear()
            reason = f"cannot store event: {type(exc).__name__}: {exc}"[:1000]
            log.warning("stream seq %d skipped: %s", item.stream_seq, reason)
            skipped = Undecodable(
                stream_seq=item.stream_seq, subject=item.subject, reason=reason, payload=item.payload
            )
            await self._write(await self._past(item, fold_batch({}, set(), [skipped])))

    async def _past(self, item: Item, changes: BatchChanges) -> BatchChanges:
        """An event that keeps the writer rules but cannot be stored still moves its job's seq on,
        so the job's next event does not look like a gap."""
        if not isinstance(item, Decoded):
            return changes
        event = item.event
        view = (await self.store.load_views([event.job_id])).get(event.job_id)
        if view is None or event.seq <= view.last_seq:
            return changes
        moved = msgspec.structs.replace(view, last_seq=event.seq, last_stream_seq=item.stream_seq)
        return msgspec.structs.replace(changes, jobs=[moved])

    async def _write(self, changes: BatchChanges) -> None:
        try:
            seconds = await self._timed_write(changes, self.checkpoint)
        except BaseException:
            self._views.clear()
            self._accepted = self.checkpoint
            raise
        self._committed(changes, seconds)

    def _committed(self, changes: BatchChanges, seconds: float) -> None:
        if self.on_commit is not None:
            self.on_commit(changes, seconds)
        self.checkpoint = changes.last_stream_seq
        self.applied += len(changes.events) + len(changes.skipped)
        if len(self._views) > _CACHE_JOBS:
            self._views.clear()
        for job in changes.jobs:
            self._views[job.job_id] = job
        for row in changes.skipped:
            if not row.reason.startswith("duplicate"):
                log.warning("stream seq %d (%s) skipped: %s", row.stream_seq, row.subject, row.reason)
