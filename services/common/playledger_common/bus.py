"""Connecting to NATS with the options every service wants."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Final

import nats
from nats.aio.client import Client

log: Final = logging.getLogger(__name__)


async def connect(url: str, name: str, **options: object) -> Client:
    """Connect with reconnects forever and errors logged, not raised into the loop."""

    async def error_cb(exc: Exception) -> None:
        # Permission violations only surface here (the publish itself times out).
        log.warning("nats error: %s", exc)

    return await nats.connect(
        servers=[url],
        name=name,
        error_cb=error_cb,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        **options,
    )


DRAIN_S: Final = 5.0


async def close_quietly(nc: Client) -> None:
    """Drain (flush what is pending) if NATS is there; otherwise just close, never a traceback."""
    try:
        await asyncio.wait_for(nc.drain(), timeout=DRAIN_S)
    except Exception as exc:  # noqa: BLE001 - NATS away at shutdown: nothing left to flush to
        log.warning("could not drain the NATS connection (%r); closing it", exc)
        with contextlib.suppress(Exception):
            await nc.close()
