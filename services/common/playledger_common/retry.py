"""The one retry policy: exponential backoff with jitter, from stamina (on tenacity).

Every place that retries one operation that may fail for a while (a re-publish, a
subscribe while NATS is busy) does it with :func:`retrying`, so waits, caps and retry
metrics (stamina counts retries in ``stamina_retries_total`` when prometheus-client is
installed) are one thing. Loops that supervise a whole session and stop on a signal are not
retries of one operation and keep their own stop-aware wait.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final, TypeVar

import stamina
from stamina import Attempt

WAIT_INITIAL_S: Final = 0.2
WAIT_MAX_S: Final = 5.0

T = TypeVar("T")

RetryOn = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool | float]
"""Exception types to retry, or a hook that says whether (``True``) or after how long (seconds)."""


def retrying(
    on: RetryOn,
    *,
    attempts: int | None,
    timeout_s: float | None = None,
    wait_initial_s: float = WAIT_INITIAL_S,
    wait_max_s: float = WAIT_MAX_S,
) -> AsyncIterator[Attempt]:
    """``async for attempt in retrying(...): with attempt: ...`` - the last failure propagates.

    ``attempts=None`` retries until ``timeout_s`` (``None``: for as long as it takes).
    """
    return stamina.retry_context(
        on=on,
        attempts=attempts,
        timeout=timeout_s,
        wait_initial=wait_initial_s,
        wait_max=wait_max_s,
        wait_jitter=wait_initial_s,
    )


async def retried(
    operation: Callable[[], Awaitable[T]],
    on: RetryOn,
    *,
    attempts: int | None,
    timeout_s: float | None = None,
    wait_initial_s: float = WAIT_INITIAL_S,
    wait_max_s: float = WAIT_MAX_S,
) -> T:
    """``await operation()`` until it succeeds, under :func:`retrying`'s policy; the last failure propagates."""
    async for attempt in retrying(
        on, attempts=attempts, timeout_s=timeout_s, wait_initial_s=wait_initial_s, wait_max_s=wait_max_s
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable: retrying() re-raises the last failure")  # noqa: EM101
