"""Connecting to NATS with the options every service wants."""

from __future__ import annotations

import logging
import ssl
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
    if settings.nats_tls_ca or settings.nats_tls_cert:
        options["tls"] = client_tls(settings)
    return await connect(settings.nats_url, name, **options)


def client_tls(settings: CommonSettings) -> ssl.SSLContext:
    """Verify the server against ``nats_tls_ca``; present ``nats_tls_cert`` when given."""
    context = ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)
    if settings.nats_tls_cert:
        key = str(settings.nats_tls_key) if settings.nats_tls_key else None
        context.load_cert_chain(str(settings.nats_tls_cert), key)
    return context
