"""``playledger api``: serve the HTTP API."""

from __future__ import annotations

import click

from playledger_common.settings import ApiSettings, from_env


@click.command("api")
@click.option("--host", default=None, help="Overrides PLAYLEDGER_API_HOST (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Overrides PLAYLEDGER_API_PORT (default 8000).")
@click.option("--workers", type=int, default=None, help="Overrides PLAYLEDGER_API_WORKERS (default 1).")
def api(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the HTTP API (REST + SSE) with uvicorn."""
    from playledger_api.server import serve

    settings = from_env(ApiSettings, api_host=host, api_port=port, api_workers=workers)
    serve(settings)
