"""``playledger replay``: the auditor's view, straight from the events stream, no database.

Prints one JSON object per event, in stream order: ``{"seq", "subject", "event"}``,
where ``seq`` is the stream sequence and ``event`` the event exactly as stored.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime

import click
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from playledger_cli.client_auth import DEV_DATA_DIR
from playledger_common import ordered
from playledger_common.bus import connect_as
from playledger_common.nats_users import NatsUser, stored_user
from playledger_common.settings import CommonSettings, from_env
from playledger_schemas.ids import is_valid_job_id
from playledger_schemas.subjects import WHOLE_STREAM, job_events_filter


def start_config(since: str | None) -> ConsumerConfig:
    """Where to start: every event, a stream sequence (``--since 1200``) or a time (ISO 8601)."""
    if since is None:
        return ordered.after(0)
    if since.isdigit():
        return ordered.after(int(since) - 1)
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        msg = f"--since {since!r}: expected a stream sequence or an ISO 8601 time"
        raise click.BadParameter(msg) from None
    if moment.tzinfo is None:
        msg = f"--since {since!r}: give a time zone, e.g. {since}Z or {since}+00:00"
        raise click.BadParameter(msg)
    return ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_TIME, opt_start_time=moment)


async def replay_events(
    settings: CommonSettings, subject: str, config: ConsumerConfig, emit: Callable[[str], None]
) -> int:
    """Emit every stored event matching ``subject`` from the configured start; return the count.

    A start time after the last message makes nats-server deliver from the beginning, so
    messages stored before ``opt_start_time`` are skipped here too.
    """
    nc = await connect_as(settings, "playledger-replay")
    done = asyncio.Event()
    count = 0
    received = 0

    async def on_message(msg: Msg) -> None:
        nonlocal count, received
        received += 1
        if msg.metadata.num_pending == 0:
            done.set()
        if config.opt_start_time is not None and msg.metadata.timestamp < config.opt_start_time:
            return
        count += 1
        event = json.loads(msg.data)
        emit(json.dumps({"seq": msg.metadata.sequence.stream, "subject": msg.subject, "event": event}))

    try:
        js = nc.jetstream()
        sub = await ordered.follow(js, subject, on_message, config=config)
        info = await sub.consumer_info()
        # Everything the consumer delivered has arrived and nothing is pending: the end.
        delivered = info.delivered.consumer_seq if info.delivered else 0
        all_arrived = info.num_pending == 0 and delivered == received
        if not all_arrived:
            await done.wait()
        await sub.unsubscribe()
    finally:
        await nc.close()
    return count


def _default_nats_url() -> str | None:
    dev_file = DEV_DATA_DIR / "nats-url"
    return dev_file.read_text(encoding="utf-8").strip() if dev_file.exists() else None


def _default_auditor() -> NatsUser | None:
    """Without ``PLAYLEDGER_NATS_USER``, ``playledger dev``'s auditor: read-only replay."""
    if os.environ.get("PLAYLEDGER_NATS_USER"):
        return None
    return stored_user(DEV_DATA_DIR, "auditor")


@click.command()
@click.option("--job", "job_id", help="Only this job's events.")
@click.option("--since", help="Start at this stream sequence, or at this time (ISO 8601 with zone).")
@click.option("--nats-url", envvar="PLAYLEDGER_NATS_URL", default=None)
def replay(job_id: str | None, since: str | None, nats_url: str | None) -> None:
    """Print events from the stream as JSON lines, in order — no database involved."""
    if job_id is not None and not is_valid_job_id(job_id):
        msg = f"{job_id!r} is not a valid job id"
        raise click.BadParameter(msg, param_hint="--job")
    auditor = _default_auditor()
    settings = from_env(
        CommonSettings,
        nats_url=nats_url or _default_nats_url(),
        nats_user=auditor.user if auditor else None,
        nats_password=auditor.password if auditor else None,
    )
    subject = job_events_filter(job_id) if job_id else WHOLE_STREAM
    config = start_config(since)

    def emit(line: str) -> None:
        sys.stdout.write(line + "\n")

    count = asyncio.run(replay_events(settings, subject, config, emit))
    click.echo(f"{count} events", err=True)
