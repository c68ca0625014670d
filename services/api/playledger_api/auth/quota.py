"""Per-key submit limits: submits per time window (the ``limits`` library) and unfinished jobs at once.

Submits (``PLAYLEDGER_RATE_SUBMITS``, e.g. ``60/minute``) are counted in this process's memory (a moving window): with several API
processes each keeps its own count, so a key may submit up to N times the limit across N
processes; a shared count would need a shared store (``limits`` supports Redis/Memcached).
Unfinished jobs (queued or running) are counted in the read model, which every process
shares; jobs submitted but not yet projected are not counted yet (projection lag).
"""

from __future__ import annotations

import math
import time
from typing import Final

import asyncpg
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from playledger_api.auth.keys import KeyRecord
from playledger_api.errors import RETRY_AFTER_S, TooManyRequestsError
from playledger_common.settings import ApiSettings

UNFINISHED: Final = ("queued", "running")


class SubmitQuota:
    def __init__(self, settings: ApiSettings, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._rate = parse(settings.rate_submits) if settings.rate_submits else None
        self._max_unfinished = settings.max_unfinished_jobs_per_key
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._pool = pool

    async def admit(self, key: KeyRecord) -> None:
        """Count one submit of ``key``, or raise a 429 saying when to retry."""
        if self._max_unfinished:
            unfinished = await self._pool.fetchval(
                "SELECT count(*) FROM jobs WHERE submitted_by ->> 'key_id' = $1 AND status = ANY($2::text[])",
                key.id,
                list(UNFINISHED),
            )
            if unfinished >= self._max_unfinished:
                msg = f"the API key {key.id!r} has {unfinished} unfinished jobs (at most {self._max_unfinished})"
                raise TooManyRequestsError(msg, RETRY_AFTER_S)
        if self._rate is not None and not await self._limiter.hit(self._rate, key.id):
            stats = await self._limiter.get_window_stats(self._rate, key.id)
            wait = math.ceil(stats.reset_time - time.time())
            msg = f"the API key {key.id!r} may submit {self._rate.amount} jobs per {self._rate.GRANULARITY.name}"
            raise TooManyRequestsError(msg, wait)
