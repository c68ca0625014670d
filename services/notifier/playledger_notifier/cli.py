"""``playledger notifier``: run the webhook notifier."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import click

from playledger_common.bus import close_quietly, connect_as
from playledger_common.errors import ConfigError
from playledger_common.observability import setup_observability
from playledger_common.opsserver import ops_server
from playledger_common.pg import json_codecs
from playledger_common.private_file import ensure_secret
from playledger_common.readmodel import SCHEMA
from playledger_common.settings import NotifierSettings, from_env
from playledger_common.streams import provision_at_start
from playledger_notifier.metrics import NotifierMetrics
from playledger_notifier.service import Notifier


def signing_secret(settings: NotifierSettings) -> str:
    """The Standard Webhooks secret, from ``webhook_secret`` or its file (generated there when
    missing, 0600); never logged."""
    secret = settings.webhook_secret
    if secret is None and settings.webhook_secret_file is not None:
        try:
            secret = ensure_secret(settings.webhook_secret_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            msg = f"PLAYLEDGER_WEBHOOK_SECRET_FILE cannot be read: {exc.strerror}"
            raise ConfigError(msg) from None
    if not secret:
        msg = "PLAYLEDGER_WEBHOOK_SECRET or PLAYLEDGER_WEBHOOK_SECRET_FILE is required (whsec_ + base64)"
        raise ConfigError(msg)
    return secret


@click.command()
@click.option("--nats-url", default=None, help="Overrides PLAYLEDGER_NATS_URL.")
@click.option("--database-url", default=None, help="Overrides PLAYLEDGER_DATABASE_URL.")
def notifier(nats_url: str | None, database_url: str | None) -> None:
    """Deliver job webhooks (``options.callback_url``), signed per Standard Webhooks.

    Run several for availability: they share one durable consumer.
    """
    settings = from_env(NotifierSettings, nats_url=nats_url, database_url=database_url)
    setup_observability(settings, "notifier")
    asyncio.run(_serve(settings, signing_secret(settings)))


async def _serve(settings: NotifierSettings, secret: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    metrics = NotifierMetrics()
    async with ops_server(settings, metrics.registry) as ops:  # /ready: 503 until consumers are bound
        nc = await connect_as(settings, "playledger-notifier")
        pool = await asyncpg.create_pool(
            settings.database_url,
            min_size=0,
            max_size=4,
            init=json_codecs,
            server_settings={"search_path": SCHEMA, "application_name": "playledger-notifier"},
            command_timeout=30,
        )
        try:
            await provision_at_start(nc.jetstream(), settings)
            notifier = Notifier(nc, pool, settings, secret, metrics)
            ops.readiness = notifier.readiness
            await notifier.run(stop)
        finally:
            await pool.close()
            await close_quietly(nc)
