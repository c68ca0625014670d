"""Serving the app with uvicorn (several worker processes when asked)."""

from __future__ import annotations

from typing import Final

import uvicorn
from litestar import Litestar

from playledger_api.app import create_app
from playledger_common.logs import setup_logging
from playledger_common.settings import ApiSettings, from_env

GRACEFUL_SHUTDOWN_S: Final = 5
"""SSE streams never end on their own: give them this long on shutdown, then close them."""


def app_from_env() -> Litestar:
    """The factory each uvicorn worker calls: settings come from ``PLAYLEDGER_*``."""
    return create_app(from_env(ApiSettings))


def serve(settings: ApiSettings) -> None:
    setup_logging(settings.log_level, "api")
    if settings.api_workers > 1:
        uvicorn.run(
            "playledger_api.server:app_from_env",
            factory=True,
            host=settings.api_host,
            port=settings.api_port,
            workers=settings.api_workers,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            log_config=None,
        )
        return
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        log_config=None,
    )
