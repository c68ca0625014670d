"""Client commands that talk to the HTTP API: submit (and follow), jobs, show, logs, cancel.

The API is found at ``--api-url``, else ``PLAYLEDGER_API_URL``, else the URL that
``playledger dev`` wrote into its data dir, else http://127.0.0.1:8000; the key is
``PLAYLEDGER_API_KEY``, else ``playledger dev``'s admin key (``client_auth``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Final, NoReturn

import click
import httpx
import msgspec
import yaml
from httpx_sse import connect_sse

from playledger_cli.client_auth import auth_headers
from playledger_cli.follow import FollowView, exit_code_for
from playledger_cli.inventory_file import inventory_from_arg
from playledger_schemas.codec import decode_event

DEFAULT_API_URL: Final = "http://127.0.0.1:8000"
TIMEOUT: Final = httpx.Timeout(30.0, read=None)


def resolve_api_url(explicit: str | None = None) -> str:
    if explicit:
        return explicit.rstrip("/")
    if os.environ.get("PLAYLEDGER_API_URL"):
        return os.environ["PLAYLEDGER_API_URL"].rstrip("/")
    dev_file = Path("var/dev/api-url")
    if dev_file.exists():
        return dev_file.read_text(encoding="utf-8").strip().rstrip("/")
    return DEFAULT_API_URL


api_url_option = click.option(
    "--api-url", default=None, help="Default: $PLAYLEDGER_API_URL, then `playledger dev`'s."
)
output_option = click.option(
    "--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"playledger: {message}", err=True)
    sys.exit(code)


def _request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        headers = {**auth_headers(), **(kwargs.pop("headers", None) or {})}
        response = httpx.request(method, url, timeout=TIMEOUT, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        fail(f"cannot reach the API at {url}: {exc}")
    if response.status_code >= 400:
        fail(_problem_text(response), 1)
    return response


def _problem_text(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:500]}"
    detail = problem.get("detail") or problem.get("title") or ""
    lines = [f"HTTP {response.status_code}: {detail}"]
    for error in problem.get("errors", problem.get("extra", [])) or []:
        if isinstance(error, dict):
            lines.append(f"  {error.get('path', error.get('key', ''))}: {error.get('message', '')}")
    return "\n".join(lines)


def parse_extra_vars(values: tuple[str, ...]) -> dict[str, Any]:
    """``-e key=value``, ``-e '{"json": 1}'`` and ``-e @vars.yml``, later ones win (as ansible-playbook)."""
    merged: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            loaded = yaml.safe_load(Path(value[1:]).read_text(encoding="utf-8"))
        elif value.lstrip().startswith("{"):
            loaded = json.loads(value)
        else:
            loaded = {}
            for pair in value.split():
                key, sep, item = pair.partition("=")
                if not sep:
                    fail(f"-e {value!r}: expected key=value, JSON or @file")
                loaded[key] = item
        if not isinstance(loaded, dict):
            fail(f"-e {value!r}: extra vars must be a mapping")
        merged.update(loaded)
    return merged


def build_body(
    playbook: str,
    inventory_arg: str | None,
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
    inventory = inventory_from_arg(inventory_arg or "localhost")
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


def post_job(api_url: str, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    job: dict[str, Any] = _request("POST", f"{api_url}/api/v1/jobs", json=body, headers=headers).json()
    return job


def follow(api_url: str, job_id: str, *, as_json: bool = False) -> int:
    """Stream the job's events until its terminal event; return an ansible-playbook-like exit code."""
    view = FollowView(job_id, as_json=as_json)
    after: str | None = None
    with view:
        while not view.finished():
            headers = {"Last-Event-ID": after} if after else {}
            try:
                with (
                    httpx.Client(timeout=TIMEOUT, headers=auth_headers()) as client,
                    connect_sse(
                        client, "GET", f"{api_url}/api/v1/jobs/{job_id}/stream", headers=headers
                    ) as source,
                ):
                    if source.response.status_code >= 400:
                        source.response.read()
                        fail(_problem_text(source.response))
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
                fail(f"the event stream of {job_id} ended before the job did")
    return exit_code_for(view.outcome, view.rc)


def follow_submission(api_url: str, playbook: str, *, inventory_arg: str, extra_vars: dict[str, Any]) -> int:
    job = post_job(api_url, build_body(playbook, inventory_arg, extra_vars=extra_vars))
    click.echo(f"submitted job {job['id']} ({playbook})")
    return follow(api_url, job["id"])


@click.command()
@click.argument("playbook")
@click.option("-i", "--inventory", "inventory_arg", help="An inventory file (YAML/JSON) or host1,host2,…")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, help="key=value, JSON or @file; repeatable.")
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

    Exit code: 0 successful, 2 failed hosts, 4 unreachable hosts, 1 error, 5 rejected,
    99 canceled, 124 timed out.
    """
    url = resolve_api_url(api_url)
    try:
        body = build_body(
            playbook,
            inventory_arg,
            extra_vars=parse_extra_vars(extra_vars),
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
    except (OSError, ValueError) as exc:
        fail(str(exc), 5)
    job = post_job(url, body, idempotency_key)
    if no_wait:
        click.echo(json.dumps(job) if output == "json" else job["id"])
        return
    if output == "text":
        click.echo(f"job {job['id']} queued — following (Ctrl-C stops following, not the job)")
    try:
        sys.exit(follow(url, job["id"], as_json=output == "json"))
    except KeyboardInterrupt:
        click.echo(f"\nstopped following; the job goes on: playledger show {job['id']}", err=True)
        sys.exit(130)


@click.command()
@click.option("--status", help="Filter by status (queued, running, successful, failed, …).")
@click.option("--priority", type=click.Choice(["critical", "high", "normal", "low"]))
@click.option("--limit", type=int, default=20, show_default=True)
@api_url_option
@output_option
def jobs(status: str | None, priority: str | None, limit: int, api_url: str | None, output: str) -> None:
    """List jobs, newest first."""
    params = {k: v for k, v in {"status": status, "priority": priority, "limit": limit}.items() if v}
    page = _request("GET", f"{resolve_api_url(api_url)}/api/v1/jobs", params=params).json()
    items = page.get("items", page) if isinstance(page, dict) else page
    if output == "json":
        click.echo(json.dumps(page, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "status", "priority", "playbook", "created", "finished", box=None)
    for job in items:
        table.add_row(
            job["id"],
            job["status"],
            job.get("priority", ""),
            job.get("playbook") or "",
            str(job.get("created_at", "")),
            str(job.get("finished_at") or ""),
        )
    Console().print(table)


@click.command()
@click.argument("job_id")
@api_url_option
@output_option
def show(job_id: str, api_url: str | None, output: str) -> None:
    """Show one job: status, progress, result."""
    job = _request("GET", f"{resolve_api_url(api_url)}/api/v1/jobs/{job_id}").json()
    if output == "json":
        click.echo(json.dumps(job, indent=2))
        return
    click.echo(yaml.safe_dump(job, sort_keys=False, allow_unicode=True).rstrip())


@click.command()
@click.argument("job_id")
@click.option("--follow", "-f", "follow_", is_flag=True, help="Keep printing as the job runs.")
@api_url_option
def logs(job_id: str, follow_: bool, api_url: str | None) -> None:
    """Print the job's complete stdout, in order."""
    url = resolve_api_url(api_url)
    if follow_:
        sys.exit(_follow_stdout(url, job_id))
    with httpx.stream(
        "GET", f"{url}/api/v1/jobs/{job_id}/logs", timeout=TIMEOUT, headers=auth_headers()
    ) as response:
        if response.status_code >= 400:
            response.read()
            fail(_problem_text(response))
        for chunk in response.iter_text():
            click.echo(chunk, nl=False)


def _follow_stdout(api_url: str, job_id: str) -> int:
    with (
        httpx.Client(timeout=TIMEOUT, headers=auth_headers()) as client,
        connect_sse(client, "GET", f"{api_url}/api/v1/jobs/{job_id}/stream") as source,
    ):
        if source.response.status_code >= 400:
            source.response.read()
            fail(_problem_text(source.response))
        for message in source.iter_sse():
            if not message.data or message.event == "end":
                continue
            event = msgspec.json.decode(message.data.encode())
            data = event.get("data", {})
            if event.get("type") == "runner.event.v1" and data.get("stdout"):
                click.echo(data["stdout"])
    return 0


@click.command()
@click.argument("job_id")
@api_url_option
@output_option
def cancel(job_id: str, api_url: str | None, output: str) -> None:
    """Cancel a queued or running job."""
    response = _request("DELETE", f"{resolve_api_url(api_url)}/api/v1/jobs/{job_id}")
    click.echo(response.text if output == "json" else f"cancel requested for {job_id}")
