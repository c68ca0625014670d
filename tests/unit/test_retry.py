"""The one retry policy: retries what it is told to, as often as it is told, then lets go."""

from __future__ import annotations

import pytest

from playledger_common.retry import retrying

pytestmark = pytest.mark.unit


async def test_it_retries_the_named_failure_until_it_succeeds() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError
        return "stored"

    result = None
    async for attempt in retrying(ConnectionError, attempts=5, wait_initial_s=0.001, wait_max_s=0.001):
        with attempt:
            result = await flaky()
    assert (result, calls) == ("stored", 3)


async def test_the_last_failure_propagates_and_other_failures_are_not_retried() -> None:
    calls = 0

    async def attempts_of(exc: Exception) -> None:
        nonlocal calls
        async for attempt in retrying(ConnectionError, attempts=3, wait_initial_s=0.001, wait_max_s=0.001):
            with attempt:
                calls += 1
                raise exc

    with pytest.raises(ConnectionError):
        await attempts_of(ConnectionError())
    assert calls == 3
    with pytest.raises(KeyError):
        await attempts_of(KeyError("not a connection problem"))
    assert calls == 4


async def test_a_hook_decides_and_sets_the_wait() -> None:
    seen: list[str] = []

    def hook(exc: Exception) -> bool | float:
        seen.append(type(exc).__name__)
        return 0.001 if isinstance(exc, TimeoutError) else False

    calls = 0
    async for attempt in retrying(hook, attempts=None, timeout_s=None):
        with attempt:
            calls += 1
            if calls == 1:
                raise TimeoutError
    assert (calls, seen) == (2, ["TimeoutError"])
