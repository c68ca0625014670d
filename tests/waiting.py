"""Wait, in a test, for something that happens asynchronously (never a fixed sleep)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout: float = 20) -> None:
    """Poll ``condition`` (plain or async) every 50 ms until it is true; ``TimeoutError`` after ``timeout`` s."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)
