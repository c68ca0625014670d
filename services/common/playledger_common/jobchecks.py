"""Checks of a job spec that need no filesystem or network: the same rule, and the same words,
at both doors (the API before it publishes, the executor's intake before it queues).

Each problem is ``(path, message)`` with ``path`` relative to the spec (``source.repo``); a door
prefixes its own root (``$.`` for an HTTP body, ``$.spec.`` for a command).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from playledger_common.paths import REPOSITORY, lexical_problem
from playledger_common.repo_urls import repo_url_problem
from playledger_schemas.commands import (
    CollectionRoleSource,
    GitInventory,
    GitPlaybookSource,
    GitRoleSource,
    Inventory,
    JobSpec,
    LocalSource,
    StoredInventory,
    UrlInventory,
)

SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
"""Headers whose value is a secret: never carried in a command (they would sit in the stream)."""

Problem = tuple[str, str]
SET_WHEN_QUEUED: Final = (
    "set by playledger when the job is queued: a submit names a stored inventory by its name only"
)


def unknown_dependency(job_id: str) -> str:
    """The words for a ``depends_on`` entry that names no job (both doors)."""
    return f"no job {job_id!r}: a job may depend only on jobs submitted before it"


def run_at_problem(run_at: datetime | None, now: datetime, horizon_s: int) -> str | None:
    """Why a submit's ``run_at`` cannot be scheduled (the schedules stream keeps a schedule
    ``commands_max_age_s``); a time in the past is fine: the job runs at once."""
    if run_at is not None and (run_at - now).total_seconds() > horizon_s:
        return f"must be at most {horizon_s} seconds ahead (this installation's commands_max_age_s)"
    return None


def spec_problems(
    spec: JobSpec, *, allow_file: bool, allow_http: bool, allow_http_callback: bool
) -> list[Problem]:
    """Problems of the retry policy, the callback, and the git and URL parts (a local source is
    checked on disk by each door)."""
    problems = callback_problems(spec.options.callback_url, allow_http=allow_http_callback)
    if spec.retry is not None and spec.retry.backoff_max_s < spec.retry.backoff_s:
        problems.append(("retry.backoff_max_s", "must be >= retry.backoff_s"))
    source = spec.source
    match source:
        case GitPlaybookSource() | GitRoleSource():
            if why := repo_url_problem(source.repo, allow_file=allow_file, allow_http=allow_http):
                problems.append(("source.repo", f"repository URL {why}"))
            if why := lexical_problem(source.path, REPOSITORY):
                problems.append(("source.path", why))
        case CollectionRoleSource(galaxy_server=server) if server is not None:
            if why := webhook_url_problem(server, allow_http=allow_http):
                problems.append(("source.galaxy_server", why))
    if spec.credentials.galaxy is not None and isinstance(source, LocalSource):
        problems.append(
            (
                "credentials.galaxy",
                "only for a git or collection_role source (ansible-galaxy installs nothing for a local one)",
            )
        )
    problems += inventory_problems(spec.inventory, allow_file=allow_file, allow_http=allow_http)
    return problems


def unknown_inventory(name: str) -> str:
    """The words for a stored inventory that does not exist (both doors)."""
    return f"no stored inventory named {name!r}"


def inventory_problems(inventory: Inventory, *, allow_file: bool, allow_http: bool) -> list[Problem]:
    """Problems of an inventory's git and URL parts; a ``stored`` one gives its name only."""
    problems: list[Problem] = []
    match inventory:
        case GitInventory():
            if why := repo_url_problem(inventory.repo, allow_file=allow_file, allow_http=allow_http):
                problems.append(("inventory.repo", f"repository URL {why}"))
            if why := lexical_problem(inventory.path, REPOSITORY):
                problems.append(("inventory.path", why))
        case UrlInventory():
            if "@" in inventory.url.split("://", 1)[1].split("/", 1)[0]:
                problems.append(
                    ("inventory.url", "must not carry credentials (they would be stored in the stream)")
                )
            if inventory.url.startswith("http://") and not allow_http:
                problems.append(
                    (
                        "inventory.url",
                        "uses plain http://, which this installation does not allow (use https)",
                    )
                )
            for name in inventory.headers:
                if name.lower() in SECRET_HEADERS:
                    problems.append(
                        (
                            f"inventory.headers.{name}",
                            "carries a secret, which a command must never hold (it would be stored in"
                            " the stream); name a stored http_headers credential in inventory.credential",
                        )
                    )
        case StoredInventory():
            for name in ("version", "resolved"):
                if getattr(inventory, name) is not None:
                    problems.append((f"inventory.{name}", SET_WHEN_QUEUED))
    return problems


def callback_problems(url: str | None, *, allow_http: bool) -> list[Problem]:
    why = None if url is None else webhook_url_problem(url, allow_http=allow_http)
    return [] if why is None else [("options.callback_url", why)]


def webhook_url_problem(url: str, *, allow_http: bool) -> str | None:
    """An http(s) URL's rules the schema's pattern cannot say, for webhooks and Galaxy servers
    (where a webhook may point is the notifier's check at delivery time: DNS can change)."""
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:
        return "must not carry credentials (they would be stored in the stream)"
    if url.startswith("http://") and not allow_http:
        return "uses plain http://, which this installation does not allow (use https)"
    return None
