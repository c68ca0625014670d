"""Client commands that talk to the HTTP API: submit (and follow), jobs, show, logs, cancel.

Where the API is found, and how that is reported, lives in ``endpoints``; exit codes in
``exitcodes``; the ``--output json`` style in ``output``.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final

import click
import httpx
import msgspec
import yaml

from playledger_cli.ansible_input import AnsibleInputError, inventory_from_arg, load_extra_vars
from playledger_cli.api_client import Api
from playledger_cli.endpoints import api_endpoint
from playledger_cli.errors import CliError, LostAnswerError
from playledger_cli.exitcodes import ExitCode, exit_code_for
from playledger_cli.follow import FollowView
from playledger_cli.output import emit_json, output_option
from playledger_schemas.codec import decode_event
from playledger_schemas.ids import PRIORITIES, new_job_id
from playledger_schemas.status import JOB_STATUSES

SUBMIT_RETRY_S: Final = 30.0
SUBMIT_PAUSE_S: Final = 1.0

api_url_option = click.option(
    "--api-url", default=None, help="Default: $PLAYLEDGER_API_URL, then the running `playledger dev`'s."
)
INVENTORY_HINT = "e.g. -i examples/inventory.yml, or -i localhost, -c local"


def build_body(
    playbook: str,
    inventory_arg: str,
    *,
    extra_vars: dict[str, Any],
    connection: str | None = None,
    limit: str | None = None,
    tags: tuple[str, ...] = (),
    skip_tags: tuple[str, ...] = (),
    check: bool = False,
    diff: bool = False,
    verbosity: int = 0,
    forks: int | None = None,
    timeout: int | None = None,
    priority: str = "normal",
    job_id: str | None = None,
) -> dict[str, Any]:
    inventory = inventory_from_arg(inventory_arg)
    if connection:
        inventory["vars"] = {"ansible_connection": connection, **inventory.get("vars", {})}
    options: dict[str, Any] = {"check_mode": check, "diff_mode": diff, "verbosity": verbosity}
    optional = {"limit": limit, "forks": forks, "timeout": timeout}
    options.update({key: value for key, value in optional.items() if value is not None})
    if tags:
        options["tags"] = [t for tag in tags for t in tag.split(",") if t]
    if skip_tags:
        options["skip_tags"] = [t for tag in skip_tags for t in tag.split(",") if t]
    body: dict[str, Any] = {
        "priority": priority,
        "source": {"type": "local", "path": playbook},
        "inventory": inventory,
        "extra_vars": extra_vars,
        "options": options,
    }
    if job_id:
        body["id"] = job_id
    return body


def post_job(api: Api, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    """Submit; the job id is chosen here (unless a key names it), so that a 503 or a dropped
    connection is retried with the same id, within ``SUBMIT_RETRY_S``: never a second job."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    if "id" not in body and not idempotency_key:
        body = {**body, "id": new_job_id()}
    deadline = time.monotonic() + SUBMIT_RETRY_S
    while True:
        try:
            job: dict[str, Any] = api.request("POST", "/api/v1/jobs", json=body, headers=headers).json()
        except LostAnswerError as exc:  # sent, answer lost: the job may exist, the same id is safe
            problem: CliError = exc
        except CliError as exc:
            if exc.status != HTTPStatus.SERVICE_UNAVAILABLE:
                raise
            problem = exc
        else:
            return job
        if time.monotonic() >= deadline:
            raise problem
        time.sleep(SUBMIT_PAUSE_S)


def follow(api: Api, job_id: str, *, as_json: bool = False) -> int:
    """Stream the job's events until its terminal event; return an ansible-playbook-like exit code."""
    view = FollowView(job_id, as_json=as_json)
    after: str | None = None
    with view:
        while not view.finished():
            try:
                with api.events(job_id, after) as source:
                    for message in source.iter_sse():
                        if message.id:
                            after = message.id
                        if message.event in ("end", "") or not message.data:
                            continue
                        view.show(decode_event(message.data.encode()), message.id)
                        if view.finished():
                            break
            except httpx.TransportError:
                continue  # the stream resumes after the last event received (Last-Event-ID)
            if not view.finished() and after is None:
                msg = f"the event stream of {job_id} ended before the job did"
                raise CliError(msg)
    return exit_code_for(view.outcome, view.rc)


def follow_submission(api: Api, playbook: str, *, inventory_arg: str, extra_vars: dict[str, Any]) -> int:
    job = post_job(api, build_body(playbook, inventory_arg, extra_vars=extra_vars))
    click.echo(f"submitted job {job['id']} ({playbook})")
    return follow(api, job["id"])


@click.command()
@click.argument("playbook")
@click.option(
    "-i",
    "--inventory",
    "inventory_arg",
    help="An inventory file (INI, YAML, TOML) or host1,host2, (required).",
)
@click.option(
    "-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, YAML/JSON or @file; repeatable."
)
@click.option("-c", "--connection", help="Sets ansible_connection for every host, e.g. local.")
@click.option("-l", "--limit")
@click.option("-t", "--tags", multiple=True)
@click.option("--skip-tags", multiple=True)
@click.option("-C", "--check", is_flag=True, help="Check mode: change nothing.")
@click.option("-D", "--diff", is_flag=True)
@click.option("-f", "--forks", type=int)
@click.option("-v", "--verbose", "verbosity", count=True)
@click.option("--timeout", type=int, help="Seconds before the job is stopped.")
@click.option("--priority", type=click.Choice(["critical", "high", "normal", "low"]), default="normal")
@click.option("--id", "job_id", help="Choose the job id (submitting it again never runs it twice).")
@click.option("--idempotency-key", help="The same key always names the same job.")
@click.option("--no-wait", is_flag=True, help="Print the job id and return.")
@api_url_option
@output_option
def submit(
    playbook: str,
    inventory_arg: str | None,
    extra_vars: tuple[str, ...],
    connection: str | None,
    limit: str | None,
    tags: tuple[str, ...],
    skip_tags: tuple[str, ...],
    check: bool,
    diff: bool,
    forks: int | None,
    verbosity: int,
    timeout: int | None,
    priority: str,
    job_id: str | None,
    idempotency_key: str | None,
    no_wait: bool,
    api_url: str | None,
    output: str,
) -> None:
    """Run PLAYBOOK (a path inside the projects dir) and follow it like ansible-playbook.

    Exit code: 0 successful, 2 failed hosts, 4 unreachable hosts, 1 error, 5 rejected or
    bad options, 99 canceled, 124 timed out, 130 stopped following (the job goes on).
    """
    if not inventory_arg:
        msg = f"no inventory: give -i ({INVENTORY_HINT})"
        raise click.UsageError(msg)
    api = Api(api_endpoint(api_url))
    try:
        body = build_body(
            playbook,
            inventory_arg,
            extra_vars=load_extra_vars(extra_vars),
            connection=connection,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            check=check,
            diff=diff,
            verbosity=verbosity,
            forks=forks,
            timeout=timeout,
            priority=priority,
            job_id=job_id,
        )
    except AnsibleInputError as exc:
        raise CliError(str(exc), ExitCode.INVALID_OPTIONS) from None
    job = post_job(api, body, idempotency_key)
    if no_wait:
        if output == "json":
            emit_json(job)
        else:
            click.echo(job["id"])
        return
    if output == "text":
        hosts = len(body["inventory"].get("hosts", []))
        click.echo(
            f"job {job['id']} queued ({hosts} hosts from {inventory_arg}) — following; Ctrl-C stops following, not the job"
        )
    try:
        sys.exit(follow(api, job["id"], as_json=output == "json"))
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; the job goes on: playledger show {job['id']}", err=True)
        sys.exit(ExitCode.INTERRUPTED)


@click.command()
@click.option("--status", help=f"Filter by status: {', '.join(JOB_STATUSES)}.")
@click.option("--priority", type=click.Choice(PRIORITIES))
@click.option("--limit", type=int, default=20, show_default=True)
@api_url_option
@output_option
def jobs(status: str | None, priority: str | None, limit: int, api_url: str | None, output: str) -> None:
    """List jobs, newest first (ids in full; any unique start of one will do for the other commands)."""
    params = {k: v for k, v in {"status": status, "priority": priority, "limit": limit}.items() if v}
    page = Api(api_endpoint(api_url)).request("GET", "/api/v1/jobs", params=params).json()
    if output == "json":
        emit_json(page)
        return
    from rich.console import Console
    from rich.table import Column, Table

    items = page["items"]
    id_width = max((len(job["id"]) for job in items), default=2)
    table = Table(
        Column("id", no_wrap=True, min_width=id_width),
        Column("status", no_wrap=True),
        Column("playbook", min_width=9, overflow="fold"),
        Column("created (UTC)", no_wrap=True),
        Column("took", no_wrap=True, justify="right"),
        box=None,
    )
    for job in items:
        table.add_row(
            job["id"],
            job["status"],
            job.get("playbook") or "",
            _short_time(job.get("created_at")),
            _took(job.get("started_at"), job.get("finished_at")),
        )
    Console().print(table)


def _short_time(value: str | None) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value).astimezone(UTC)
    return moment.strftime("%m-%d %H:%M:%S")


def _took(started: str | None, finished: str | None) -> str:
    if not started or not finished:
        return ""
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return f"{seconds:.0f}s" if seconds < 600 else f"{seconds / 60:.0f}m"


@click.command()
@click.argument("job_id")
@api_url_option
@output_option
def show(job_id: str, api_url: str | None, output: str) -> None:
    """Show one job (JOB_ID or a unique start of it): status, progress, result."""
    job = Api(api_endpoint(api_url)).job(job_id)
    if output == "json":
        emit_json(job)
        return
    click.echo(yaml.safe_dump(job, sort_keys=False, allow_unicode=True).rstrip())


@click.command()
@click.argument("job_id")
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing as the job runs.")
@api_url_option
@output_option
def logs(job_id: str, follow_: bool, api_url: str | None, output: str) -> None:
    """Print the job's complete stdout (JOB_ID or a unique start of it), in order."""
    api = Api(api_endpoint(api_url))
    full_id = api.resolve(job_id)
    as_json = output == "json"
    if follow_:
        _follow_stdout(api, full_id, as_json=as_json)
        return
    text = api.request("GET", f"/api/v1/jobs/{full_id}/logs").text
    if as_json:
        for line in text.splitlines():
            emit_json({"line": line})
    else:
        click.echo(text, nl=False)


def _follow_stdout(api: Api, job_id: str, *, as_json: bool) -> None:
    with api.events(job_id) as source:
        for message in source.iter_sse():
            if not message.data or message.event == "end":
                continue
            event = msgspec.json.decode(message.data.encode())
            stdout = event.get("data", {}).get("stdout") if event.get("type") == "runner.event.v1" else None
            if not stdout:
                continue
            if as_json:
                for line in stdout.splitlines():
                    emit_json({"line": line})
            else:
                click.echo(stdout)


@click.command()
@click.argument("job_id")
@api_url_option
@output_option
def cancel(job_id: str, api_url: str | None, output: str) -> None:
    """Cancel a queued or running job (JOB_ID or a unique start of it)."""
    api = Api(api_endpoint(api_url))
    full_id = api.resolve(job_id)
    response = api.request("DELETE", f"/api/v1/jobs/{full_id}")
    if output == "json":
        emit_json(response.json())
    else:
        click.echo(f"cancel requested for {full_id}")
