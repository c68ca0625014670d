"""``playledger stats``: ``GET /api/v1/stats`` as tables (or JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from playledger_cli.api_client import Api
from playledger_cli.client_cli import api_url_option
from playledger_cli.endpoints import api_endpoint
from playledger_cli.output import emit_json, output_option


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}s" if value < 600 else f"{value / 60:.1f}m"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def summary_row(key: str, summary: dict[str, Any]) -> list[str]:
    """One row: jobs, success rate, duration and queue wait p50 / p95."""
    duration, wait = summary["duration_s"], summary["queue_wait_s"]
    return [
        key,
        str(summary["jobs"]),
        _rate(summary["success_rate"]),
        _seconds(duration["p50"]),
        _seconds(duration["p95"]),
        _seconds(wait["p50"]),
        _seconds(wait["p95"]),
    ]


@click.command()
@click.option("--since", help="RFC 3339 with a time zone (default: 24 hours before --until).")
@click.option("--until", help="RFC 3339 with a time zone (default: now).")
@click.option("--bucket", type=click.Choice(["hour", "day"]), default="hour", show_default=True)
@click.option(
    "--group-by", type=click.Choice(["playbook", "status", "priority"]), default="playbook", show_default=True
)
@api_url_option
@output_option
def stats(
    since: str | None, until: str | None, bucket: str, group_by: str, api_url: str | None, output: str
) -> None:
    """Job statistics over a window: counts by status, success rate, duration and queue wait."""
    params = {"since": since, "until": until, "bucket": bucket, "group_by": group_by}
    body = (
        Api(api_endpoint(api_url))
        .request("GET", "/api/v1/stats", params={k: v for k, v in params.items() if v})
        .json()
    )
    if output == "json":
        emit_json(body)
        return
    from rich.console import Console
    from rich.table import Column, Table

    heads = ["jobs", "success", "p50", "p95", "wait p50", "wait p95"]
    table = Table(
        Column(group_by, overflow="fold"),
        *(Column(h, justify="right", no_wrap=True) for h in heads),
        box=None,
        title=f"{body['since']} .. {body['until']}",
    )
    for group in body["groups"]:
        table.add_row(*summary_row(group["key"] or "-", group))
    table.add_row(*summary_row("all", body["totals"]), style="bold")
    console = Console()
    console.print(table)
    statuses = sorted({s for b in body["buckets"] for s in b["by_status"]})
    if statuses:
        per_bucket = Table(
            Column(bucket, no_wrap=True), *(Column(s, justify="right") for s in statuses), box=None
        )
        for b in body["buckets"]:
            start = datetime.fromisoformat(b["start"]).strftime("%Y-%m-%d %H:%M")
            per_bucket.add_row(start, *(str(b["by_status"].get(s, 0)) for s in statuses))
        console.print(per_bucket)
    now = body["now"]
    console.print("now: " + ", ".join(f"{n} {status}" for status, n in now.items()))
