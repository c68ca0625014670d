"""Apply batches of stream messages to a ``Store``: decode, fold, write, advance — exactly once.

Messages at or below the checkpoint are dropped (a redelivery or an overlapping replay).
Job views are cached between batches: this writer is the only one (leader lock, and the
checkpoint check in every transaction), so the cache is what the database holds; it is
dropped whenever a write fails. A batch the database refuses because of one event's
content (e.g. a value out of range) is retried event by event, and the offending event
is recorded in ``skipped_events`` instead — never a crash loop.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

import asyncpg

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


class Applier:
    def __init__(self, store: Store, checkpoint: int) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.applied = 0
        """Messages applied (or recorded as skipped) by this applier."""
        self._views: dict[str, JobView] = {}

    async def apply(self, messages: Sequence[Message]) -> int:
        """Apply the messages beyond the checkpoint; return how many were new."""
        items = [
            decode_message(seq, subject, payload)
            for seq, subject, payload in messages
            if seq > self.checkpoint
        ]
        if not items:
            return 0
        try:
            await self._apply(items)
        except CONTENT_ERRORS as exc:
            log.warning(
                "batch %d..%d refused (%s); applying it event by event",
                items[0].stream_seq,
                items[-1].stream_seq,
                exc,
            )
            for item in items:
                await self._apply_one(item)
        return len(items)

    async def _apply(self, items: list[Item]) -> None:
        job_ids = list(dict.fromkeys(i.event.job_id for i in items if isinstance(i, Decoded)))
        views = {j: self._views[j] for j in job_ids if j in self._views}
        missing = [j for j in job_ids if j not in views]
        if missing:
            views.update(await self.store.load_views(missing))
        candidates = duplicate_candidates(views, items)
        known = await self.store.existing_seqs(candidates) if candidates else set()
        changes = fold_batch(views, known, items)
        await self._write(changes)

    async def _apply_one(self, item: Item) -> None:
        try:
            await self._apply([item])
        except CONTENT_ERRORS as exc:
            reason = f"cannot store event: {type(exc).__name__}: {exc}"[:1000]
            log.warning("stream seq %d skipped: %s", item.stream_seq, reason)
            skipped = Undecodable(
                stream_seq=item.stream_seq, subject=item.subject, reason=reason, payload=item.payload
            )
            await self._write(fold_batch({}, set(), [skipped]))

    async def _write(self, changes: BatchChanges) -> None:
        try:
            await self.store.write(changes, self.checkpoint)
        except BaseException:
            self._views.clear()
            raise
        self.checkpoint = changes.last_stream_seq
        self.applied += len(changes.events) + len(changes.skipped)
        if len(self._views) > _CACHE_JOBS:
            self._views.clear()
        for job in changes.jobs:
            self._views[job.job_id] = job
        for row in changes.skipped:
            if not row.reason.startswith("duplicate"):
                log.warning("stream seq %d (%s) skipped: %s", row.stream_seq, row.subject, row.reason)
