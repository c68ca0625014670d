"""Serving the app with uvicorn (several worker processes when asked)."""

from __future__ import annotations

import contextlib
import os
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import uvicorn
from litestar import Litestar

from playledger_api.app import create_app
from playledger_api.metrics import MULTIPROC_DIR
from playledger_common.observability import setup_observability
from playledger_common.settings import ApiSettings, from_env

GRACEFUL_SHUTDOWN_S: Final = 5
"""SSE streams never end on their own: give them this long on shutdown, then close them."""


def app_from_env() -> Litestar:
    """The factory each uvicorn worker calls: settings come from ``PLAYLEDGER_*``."""
    settings = from_env(ApiSettings)
    setup_observability(settings, "api")  # a spawned worker starts with neither
    return create_app(settings)


def tls_options(settings: ApiSettings) -> dict[str, Any]:
    """uvicorn's TLS keywords: HTTPS when a certificate is set, client certificates when a CA is."""
    if settings.api_tls_cert is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": str(settings.api_tls_cert),
        "ssl_keyfile": str(settings.api_tls_key) if settings.api_tls_key else None,
    }
    if settings.api_tls_ca is not None:
        options.update(ssl_ca_certs=str(settings.api_tls_ca), ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


@contextlib.contextmanager
def shared_metrics_dir() -> Iterator[Path]:
    """prometheus-client's multiprocess mode for the workers about to be spawned (they import it
    afresh and read ``PROMETHEUS_MULTIPROC_DIR``): an empty directory, the operator's or a new one."""
    given = os.environ.get(MULTIPROC_DIR)
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="playledger-api-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's values would be summed in
        stale.unlink()
    os.environ[MULTIPROC_DIR] = str(directory)
    try:
        yield directory
    finally:
        if not given:
            shutil.rmtree(directory, ignore_errors=True)
            os.environ.pop(MULTIPROC_DIR, None)


def serve(settings: ApiSettings) -> None:
    setup_observability(settings, "api")
    common: dict[str, Any] = {
        "host": settings.api_host,
        "port": settings.api_port,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "log_config": None,
        **tls_options(settings),
    }
    if settings.api_workers > 1:
        with shared_metrics_dir():
            uvicorn.run(
                "playledger_api.server:app_from_env", factory=True, workers=settings.api_workers, **common
            )
        return
    uvicorn.run(create_app(settings), **common)
