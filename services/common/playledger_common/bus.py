"""Connecting to NATS with the options every service wants.

nats-py (2.x) closes a client *for good* on any ``-ERR`` the server sends other than a stale
connection, e.g. ``Maximum Payload Violation`` after one oversized publish; every later request
of that process then fails. Our client treats such an error like a lost connection: it reconnects
(resubscribing everything) and the error is logged. ``LinkWatch`` remembers since when the link
is down, so a liveness probe can fail when it does not come back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Any, Final

from nats.aio.client import Client as _NatsClient
from nats.errors import Error as NatsError
from nats.protocol.parser import AUTHORIZATION_VIOLATION, PERMISSIONS_ERR

from playledger_common.errors import ConfigError
from playledger_common.nats_users import inbox_prefix
from playledger_common.settings import CommonSettings

log: Final = logging.getLogger(__name__)


class ReconnectingClient(_NatsClient):
    """A nats-py client that reconnects after a server ``-ERR`` instead of closing."""

    async def _process_err(self, err_msg: str) -> None:
        if AUTHORIZATION_VIOLATION in err_msg or PERMISSIONS_ERR in err_msg:
            await super()._process_err(err_msg)
            return
        error = NatsError(f"nats: {err_msg.strip(chr(39))}")
        self._err = error
        log.warning("nats server closed the connection (%s); reconnecting", error)
        await self._process_op_err(error)


class LinkWatch:
    """Since when a connection is down (``None`` while it is up)."""

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.closed = False

    def down_for(self) -> float:
        if self.closed:
            return float("inf")
        return 0.0 if self.down_since is None else time.monotonic() - self.down_since


def server_urls(url: str) -> list[str]:
    """``PLAYLEDGER_NATS_URL`` as nats-py's server pool: one URL, or every node of a cluster
    comma-separated (``nats://n1:4222,nats://n2:4222``); nats-py itself does not split a string."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(
    url: str, name: str, watch: LinkWatch | None = None, **options: object
) -> ReconnectingClient:
    """Connect with reconnects forever and errors logged, not raised into the loop."""
    link = watch or LinkWatch()

    async def error_cb(exc: Exception) -> None:
        # Permission violations only surface here (the publish itself times out).
        log.warning("nats error: %s", exc)

    async def disconnected_cb() -> None:
        if link.down_since is None:
            link.down_since = time.monotonic()

    async def reconnected_cb() -> None:
        link.down_since = None
        log.info("nats reconnected")

    async def closed_cb() -> None:
        link.closed = True

    settings: dict[str, Any] = {
        "servers": server_urls(url),
        "name": name,
        "error_cb": error_cb,
        "disconnected_cb": disconnected_cb,
        "reconnected_cb": reconnected_cb,
        "closed_cb": closed_cb,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        **options,
    }
    client = ReconnectingClient()
    await client.connect(**settings)
    return client


async def connect_as(
    settings: CommonSettings, name: str, watch: LinkWatch | None = None
) -> ReconnectingClient:
    """Connect as the service's own NATS user when one is configured, with that role's inbox prefix."""
    options: dict[str, object] = {}
    if settings.nats_user:
        options.update(
            user=settings.nats_user,
            password=nats_password(settings),
            inbox_prefix=inbox_prefix(settings.nats_user),
        )
    if settings.nats_tls_ca or settings.nats_tls_cert:
        options["tls"] = client_tls(settings)
    return await connect(settings.nats_url, name, watch, **options)


def nats_password(settings: CommonSettings) -> str:
    """``nats_password``, else the content of ``nats_password_file`` (its path named in any error)."""
    if settings.nats_password is not None or settings.nats_password_file is None:
        return settings.nats_password or ""
    try:
        return settings.nats_password_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        msg = f"PLAYLEDGER_NATS_PASSWORD_FILE {settings.nats_password_file}: {exc.strerror}"
        raise ConfigError(msg) from None


REFUSED_CLOSE_S: Final = 1.0


async def connect_once(**options: Any) -> _NatsClient:
    """``nats.connect`` with one try and no reconnects, that leaves nothing open when it fails.

    nats-py (2.16) raises a refused first connection (``allow_reconnect=False``) without
    closing its socket, which then leaks until the garbage collector finds it.
    """
    client = _NatsClient()
    try:
        await client.connect(allow_reconnect=False, **options)
    except BaseException:
        with contextlib.suppress(Exception):  # after a failed TLS handshake close() never returns
            await asyncio.wait_for(client.close(), timeout=REFUSED_CLOSE_S)
        raise
    return client


def client_tls(settings: CommonSettings) -> ssl.SSLContext:
    """Verify the server against ``nats_tls_ca``; present ``nats_tls_cert`` when given."""
    context = ssl.create_default_context(cafile=str(settings.nats_tls_ca) if settings.nats_tls_ca else None)
    if settings.nats_tls_cert:
        key = str(settings.nats_tls_key) if settings.nats_tls_key else None
        context.load_cert_chain(str(settings.nats_tls_cert), key)
    return context


DRAIN_S: Final = 5.0


async def close_quietly(nc: _NatsClient) -> None:
    """Drain (flush what is pending) if NATS is there; otherwise just close, never a traceback."""
    try:
        await asyncio.wait_for(nc.drain(), timeout=DRAIN_S)
    except Exception as exc:  # noqa: BLE001 - NATS away at shutdown: nothing left to flush to
        log.warning("could not drain the NATS connection (%r); closing it", exc)
        with contextlib.suppress(Exception):
            await nc.close()
