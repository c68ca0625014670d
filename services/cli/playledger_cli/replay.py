"""``playledger replay``: the auditor's view, straight from the events stream, no database.

Prints every event in stream order: a line ``seq time job type`` each, or with
``--output json`` one JSON object each, ``{"seq", "subject", "event"}``, where ``seq`` is
the stream sequence and ``event`` the event exactly as stored. NATS is tried once: an
unreachable server is one line naming the URL and why it was chosen.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import click
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from playledger_cli.endpoints import Endpoint, connect_nats, nats_endpoint
from playledger_cli.errors import CliError
from playledger_cli.output import emit_json, output_option
from playledger_common import ordered
from playledger_schemas.ids import is_valid_job_id
from playledger_schemas.subjects import EVENTS_STREAM, WHOLE_STREAM, job_events_filter


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
    endpoint: Endpoint, subject: str, config: ConsumerConfig, emit: Callable[[dict[str, Any]], None]
) -> int:
    """Emit every stored event matching ``subject`` from the configured start; return the count.

    A start time after the last message makes nats-server deliver from the beginning, so
    messages stored before ``opt_start_time`` are skipped here too.
    """
    nc = await connect_nats(endpoint, "playledger-replay", role="auditor")
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
        emit({"seq": msg.metadata.sequence.stream, "subject": msg.subject, "event": event})

    try:
        js = nc.jetstream()
        try:
            sub = await ordered.follow(js, subject, on_message, config=config)
        except NotFoundError:
            msg = f"NATS at {endpoint.url} ({endpoint.origin}) has no {EVENTS_STREAM} stream: not playledger's server?"
            raise CliError(msg) from None
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


def _text_line(item: dict[str, Any]) -> str:
    event = item["event"]
    kind = event.get("type", "")
    if kind == "runner.event.v1":  # the ansible event says more than the envelope's type
        kind = f"runner.{event.get('data', {}).get('event', '')}"
    return f"{item['seq']:>8}  {event.get('time', '')}  {event.get('job_id', '')}  {kind}"


@click.command()
@click.option("--job", "job_id", help="Only this job's events (its full id).")
@click.option("--since", help="Start at this stream sequence, or at this time (ISO 8601 with zone).")
@click.option(
    "--nats-url", default=None, help="Default: $PLAYLEDGER_NATS_URL, then the running `playledger dev`'s."
)
@output_option
def replay(job_id: str | None, since: str | None, nats_url: str | None, output: str) -> None:
    """Print events from the stream, in order — no database involved."""
    if job_id is not None and not is_valid_job_id(job_id):
        msg = f"{job_id!r} is not a valid job id"
        raise click.BadParameter(msg, param_hint="--job")
    subject = job_events_filter(job_id) if job_id else WHOLE_STREAM
    config = start_config(since)

    def emit(item: dict[str, Any]) -> None:
        if output == "json":
            emit_json(item)
        else:
            click.echo(_text_line(item))

    count = asyncio.run(replay_events(nats_endpoint(nats_url), subject, config, emit))
    if job_id is not None and count == 0 and since is None:
        msg = f"no events of job {job_id!r} in the stream (replay takes the full id, as `playledger jobs` shows it)"
        raise CliError(msg)
    click.echo(f"{count} events", err=True)
