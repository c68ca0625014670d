"""``/health``, ``/ready`` and ``/metrics`` for the services without an HTTP server of their own
(executor, projector, notifier), on ``PLAYLEDGER_METRICS_HOST:PLAYLEDGER_METRICS_PORT``.

Why uvicorn serving a three-route ASGI app: uvicorn is already what serves the API (no new
dependency) and does HTTP/1.1 properly (keep-alive, timeouts, malformed requests), which a
hand-written ``asyncio.start_server`` loop would have to redo. ``/metrics`` is prometheus-client's
own ``make_asgi_app`` (text or OpenMetrics by ``Accept``, gzip), so the exposition is the
library's. prometheus-client's ``start_http_server`` is a thread with no ``/ready``; a Litestar
app would bring routing, DI and OpenAPI for three fixed routes. The server runs in the service's
own event loop, so ``/ready`` reads the service's state without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Final

import msgspec
import uvicorn
from nats.aio.client import Client
from prometheus_client import CollectorRegistry, make_asgi_app

from playledger_common.settings import OpsSettings

log: Final = logging.getLogger(__name__)

READY_RETRY_AFTER_S: Final = 5


class Check(msgspec.Struct, frozen=True, kw_only=True):
    """One readiness condition, as ``/ready`` reports it."""

    name: str
    ok: bool
    detail: str


def nats_check(nc: Client | None) -> Check:
    """The check every service starts with: its NATS connection is up."""
    connected = nc is not None and nc.is_connected
    return Check(name="nats", ok=connected, detail="connected" if connected else "not connected")


Readiness = Callable[[], Sequence[Check]]
"""What ``/ready`` asks: the service's checks right now (all ``ok``: 200, else 503)."""
Refresh = Callable[[], Awaitable[None]]
"""Run before each ``/metrics`` answer: gauges read from NATS at scrape time (queue depth, lag)."""

NOT_STARTED: Final = (Check(name="service", ok=False, detail="starting: not connected yet"),)


def _not_started() -> Sequence[Check]:
    return NOT_STARTED


async def _nothing() -> None:
    return None


class OpsApp:
    """The ASGI app: ``readiness`` and ``refresh`` are set by the service once it exists."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.readiness: Readiness = _not_started
        self.refresh: Refresh = _nothing
        self._metrics = make_asgi_app(registry)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan is off; websockets are not served
        path = scope["path"]
        if path == "/metrics":
            try:
                await self.refresh()
            except Exception as exc:  # noqa: BLE001 - a scrape still answers with what is known
                log.warning("metrics refresh failed (%s); serving the last values", type(exc).__name__)
            await self._metrics(scope, receive, send)
            return
        if path == "/health":
            await _json(send, 200, {"status": "ok"})
        elif path == "/ready":
            checks = list(self.readiness())
            ready = all(check.ok for check in checks)
            headers = [] if ready else [(b"retry-after", str(READY_RETRY_AFTER_S).encode())]
            await _json(send, 200 if ready else 503, {"ready": ready, "checks": checks}, headers)
        else:
            await _json(send, 404, {"detail": "not found: /health, /ready, /metrics"})


async def _json(send: Any, status: int, body: object, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    payload = msgspec.json.encode(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class _InLoopServer(uvicorn.Server):
    """uvicorn without its signal handlers: the service owns SIGTERM (drain) and SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """The running server; ``port`` is the bound one (``PLAYLEDGER_METRICS_PORT=0``: any free port)."""

    def __init__(self, app: OpsApp, server: uvicorn.Server, task: asyncio.Task[None]) -> None:
        self.app = app
        self._server = server
        self._task = task

    @property
    def port(self) -> int:
        (listener,) = self._server.servers
        (sock,) = listener.sockets
        return int(sock.getsockname()[1])

    async def stop(self) -> None:
        self._server.should_exit = True
        await self._task


async def start_ops_server(registry: CollectorRegistry, host: str, port: int) -> OpsServer:
    """Bind and serve until ``stop()``; raises ``OSError`` when the port cannot be bound."""
    app = OpsApp(registry)
    config = uvicorn.Config(
        app, host=host, port=port, lifespan="off", log_config=None, access_log=False, log_level="warning"
    )
    server = _InLoopServer(config)
    task = asyncio.create_task(server.serve(), name="ops-server")
    while not server.started:
        if task.done():  # uvicorn logs and exits when it cannot bind
            task.result()
            msg = f"the ops server could not listen on {host}:{port}"
            raise OSError(msg)
        await asyncio.sleep(0.01)
    ops = OpsServer(app, server, task)
    log.info("serving /health, /ready and /metrics on http://%s:%d", host, ops.port)
    return ops


@contextlib.asynccontextmanager
async def ops_server(settings: OpsSettings, registry: CollectorRegistry) -> AsyncIterator[OpsApp]:
    """The service's ops server while the block runs (not served when ``metrics_port`` is unset:
    the app is then only there to be wired the same way)."""
    if settings.metrics_port is None:
        yield OpsApp(registry)
        return
    server = await start_ops_server(registry, settings.metrics_host, settings.metrics_port)
    try:
        yield server.app
    finally:
        await server.stop()
