"""Connecting to NATS with the options every service wants."""

from __future__ import annotations

import logging
from typing import Final

import nats
from nats.aio.client import Client

from playledger_common.nats_users import inbox_prefix
from playledger_common.settings import CommonSettings

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


async def connect_as(settings: CommonSettings, name: str) -> Client:
    """Connect as the service's own NATS user when one is configured, with that role's inbox prefix."""
    options: dict[str, object] = {}
    if settings.nats_user:
        options.update(
            user=settings.nats_user,
            password=settings.nats_password or "",
            inbox_prefix=inbox_prefix(settings.nats_user),
        )
    return await connect(settings.nats_url, name, **options)
