"""One NATS user per role, least privilege, enforced by nats-server (issue 16).

Every permission is derived here from the subject and stream names of
``playledger_schemas.subjects``; nothing else lists a subject. Each role gets its own
inbox prefix (``_INBOX_<role>``) so that no user can read replies meant for another
(a plain ``_INBOX.>`` grant would let a dashboard read the API's consumer deliveries).

JetStream's API is plain subjects: a role may call exactly the ``$JS.API.…`` subjects its
service uses. No role but ``admin`` can create, update, delete or purge a stream, or delete
a message; only ``executor`` may publish events (on the append subjects; nobody may publish on
the dashboards' subjects, which only the events stream's RePublish feeds).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from playledger_common.consumers import CHAINS
from playledger_common.private_file import write_private
from playledger_schemas.subjects import (
    COMMAND_SUBJECTS,
    COMMANDS_STREAM,
    CRON_BUCKET,
    DASHBOARD_LIFECYCLE_EVENTS,
    DASHBOARD_SUBJECTS,
    EVENT_SUBJECTS,
    EVENTS_STREAM,
    INVENTORIES_BUCKET,
    LAUNCH_SUBJECTS,
    LEASE_SUBJECTS,
    LEASES_STREAM,
    REDELIVER_SUBJECTS,
    SCHEDULE_SUBJECTS,
    SCHEDULES_STREAM,
    SECRETS_REQUESTS,
    SUBMIT_SUBJECTS,
    TEMPLATES_BUCKET,
    WEBHOOK_SUBJECTS,
    WEBHOOKS_STREAM,
    bucket_stream,
    bucket_subjects,
)

Role = Literal["api", "executor", "projector", "notifier", "publisher", "dashboard", "auditor", "admin"]
ROLES: Final[tuple[Role, ...]] = (
    "api",
    "executor",
    "projector",
    "notifier",
    "publisher",
    "dashboard",
    "auditor",
    "admin",
)
NATS_USERS_FILE: Final = "nats-users.json"
"""Where ``playledger dev`` keeps the generated passwords (0600), in its data dir."""
SUBMIT_COMMANDS: Final = SUBMIT_SUBJECTS
"""What the executor's idle dispatcher listens to (a nudge; the commands themselves come from JetStream)."""

_API: Final = "$JS.API"
NEVER: Final = (
    f"{_API}.STREAM.CREATE.>",
    f"{_API}.STREAM.UPDATE.>",
    f"{_API}.STREAM.DELETE.>",
    f"{_API}.STREAM.PURGE.>",
    f"{_API}.STREAM.MSG.DELETE.>",
    f"{_API}.STREAM.RESTORE.>",
)
"""Refused to every application role, whatever else it is granted."""


def inbox_prefix(role: str) -> str:
    return f"_INBOX_{role}"


def _stream_info(*streams: str) -> list[str]:
    return [f"{_API}.INFO", f"{_API}.STREAM.NAMES", *(f"{_API}.STREAM.INFO.{s}" for s in streams)]


def _read_messages(*streams: str) -> list[str]:
    """Get one message (``get_last_msg``), direct or through the stream leader."""
    grants = []
    for s in streams:
        grants += [f"{_API}.STREAM.MSG.GET.{s}", f"{_API}.DIRECT.GET.{s}", f"{_API}.DIRECT.GET.{s}.>"]
    return grants


def _ephemeral_consumers(*streams: str) -> list[str]:
    """Ordered push consumers: create, look at, delete (on reset) and answer flow control."""
    grants = []
    for s in streams:
        grants += [
            f"{_API}.CONSUMER.CREATE.{s}",
            f"{_API}.CONSUMER.CREATE.{s}.>",
            f"{_API}.CONSUMER.INFO.{s}.*",
            f"{_API}.CONSUMER.DELETE.{s}.*",
            f"$JS.FC.{s}.>",
        ]
    return grants


def _durable_consumers(*streams: str) -> list[str]:
    """Durable pull consumers: create or bind, fetch, acknowledge."""
    grants = []
    for s in streams:
        grants += [
            f"{_API}.CONSUMER.DURABLE.CREATE.{s}.*",
            f"{_API}.CONSUMER.MSG.NEXT.{s}.*",
            f"$JS.ACK.{s}.>",
        ]
    return grants


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    publish_deny: tuple[str, ...] = field(default=NEVER)
    allow_responses: bool = False
    """May answer one reply to each request it received (nats-server ``allow_responses``), and
    publish on no reply subject otherwise."""


def permissions(role: Role) -> Permissions:
    inbox = f"{inbox_prefix(role)}.>"
    c, e, w = COMMANDS_STREAM, EVENTS_STREAM, WEBHOOKS_STREAM
    t, k = bucket_stream(TEMPLATES_BUCKET), bucket_stream(CRON_BUCKET)
    i = bucket_stream(INVENTORIES_BUCKET)
    match role:
        case "api":
            # commands; templates, schedules and inventories: written, read, listed and their
            # history read (an ordered consumer)
            publish = [
                COMMAND_SUBJECTS,
                REDELIVER_SUBJECTS,
                bucket_subjects(TEMPLATES_BUCKET),
                bucket_subjects(CRON_BUCKET),
                bucket_subjects(INVENTORIES_BUCKET),
                *_stream_info(c, e, w, t, k, i),
                *_read_messages(c, e, w, LEASES_STREAM, t, k, i),
                *_ephemeral_consumers(e, w, t, k, i),
                f"{_API}.CONSUMER.MSG.NEXT.{w}.*",  # a job's delivery history (a short pull)
            ]
            # answers executors' secrets requests (only with a reply, sealed to the asker); a
            # job's lifecycle events as republished (``?wait`` learns of the end)
            return Permissions(
                publish=tuple(publish),
                subscribe=(inbox, SECRETS_REQUESTS, DASHBOARD_LIFECYCLE_EVENTS),
                allow_responses=True,
            )
        case "executor":
            # events on the append subjects; its lease, and reading other executors' leases;
            # run_at schedules, and taking the submits they fire; a launch made into a submit,
            # a schedule's firing made into a launch (reading templates and schedules); a stored
            # inventory resolved when a job is queued (reading inventories); requests for the
            # secrets of the jobs it runs
            publish = [
                EVENT_SUBJECTS,
                LEASE_SUBJECTS,
                SCHEDULE_SUBJECTS,
                SUBMIT_SUBJECTS,
                LAUNCH_SUBJECTS,
                SECRETS_REQUESTS,
                *_stream_info(c, e, w, LEASES_STREAM, SCHEDULES_STREAM, t, k, i),
                *_read_messages(c, e, LEASES_STREAM, t, k, i),
                *_durable_consumers(c, SCHEDULES_STREAM, e),
                f"{_API}.CONSUMER.INFO.{SCHEDULES_STREAM}.*",
                f"{_API}.CONSUMER.CREATE.{SCHEDULES_STREAM}.>",  # the ``due`` consumer, when missing
                f"{_API}.CONSUMER.INFO.{e}.{CHAINS}",
                f"{_API}.CONSUMER.CREATE.{e}.{CHAINS}",  # the ``chains`` consumer, when missing
                *_ephemeral_consumers(c, k),
            ]
            return Permissions(publish=tuple(publish), subscribe=(inbox, SUBMIT_COMMANDS))
        case "projector":
            publish = [
                *_stream_info(c, e, w),
                *_read_messages(e),
                *_ephemeral_consumers(c, e),
                *_durable_consumers(c, e),
            ]
            return Permissions(publish=tuple(publish), subscribe=(inbox,))
        case "notifier":
            # reads every job event and the read models; writes only its delivery events
            publish = [
                WEBHOOK_SUBJECTS,
                *_stream_info(c, e, w),
                *_read_messages(e, w),
                *_durable_consumers(e, w),
            ]
            return Permissions(publish=tuple(publish), subscribe=(inbox,))
        case "publisher":
            return Permissions(publish=(COMMAND_SUBJECTS,), subscribe=(inbox,))
        case "dashboard":
            # what the stream stored, as it republishes it; never the writers' append subjects
            return Permissions(publish=(), subscribe=(DASHBOARD_SUBJECTS,))
        case "auditor":
            publish = [*_stream_info(e), *_read_messages(e), *_ephemeral_consumers(e)]
            return Permissions(publish=tuple(publish), subscribe=(inbox,))
        case "admin":
            return Permissions(publish=(f"{_API}.>",), subscribe=(inbox,), publish_deny=())


@dataclass(frozen=True)
class NatsUser:
    role: Role
    password: str

    @property
    def user(self) -> str:
        return self.role


def generate_users(path: Path) -> dict[Role, NatsUser]:
    """A password per role, generated once into ``path`` (0600) and kept across restarts."""
    if path.exists():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if set(stored) == set(ROLES):
            return {role: NatsUser(role=role, password=stored[role]) for role in ROLES}
    users = {role: NatsUser(role=role, password=secrets.token_urlsafe(24)) for role in ROLES}
    write_private(path, json.dumps({role: u.password for role, u in users.items()}, indent=2) + "\n")
    return users


def user_entries(passwords: Mapping[Role, str]) -> list[dict[str, object]]:
    """One nats-server ``users`` entry per role: its password (or a ``$VARIABLE``) and permissions."""
    entries: list[dict[str, object]] = []
    for role, password in passwords.items():
        perms = permissions(role)
        publish = {"allow": list(perms.publish) or ["_NOTHING_"], "deny": list(perms.publish_deny)}
        if not perms.publish:
            publish = {"deny": [">"]}
        granted: dict[str, object] = {"publish": publish, "subscribe": {"allow": list(perms.subscribe)}}
        if perms.allow_responses:
            granted["allow_responses"] = {"max": 1}
        entries.append({"user": role, "password": password, "permissions": granted})
    return entries


def authorization_block(users: Mapping[Role, NatsUser]) -> str:
    """The ``authorization { users = [...] }`` section of a nats-server config."""
    entries = [json.dumps(e) for e in user_entries({role: u.password for role, u in users.items()})]
    return "authorization {\n  users = [\n    " + ",\n    ".join(entries) + "\n  ]\n}\n"


PASSWORD_FILE: Final = "password"  # noqa: S105 - a file name


def password_file(path: Path) -> str:
    """The password in ``path``, generated there (0600) when missing and kept across restarts."""
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def role_password_files(secrets_dir: Path) -> dict[Role, NatsUser]:
    """A password per role in ``<secrets_dir>/<role>/password``: one directory per role, so that a
    container mounts only its own (a compose volume ``subpath``, a Kubernetes Secret item)."""
    return {
        role: NatsUser(role=role, password=password_file(secrets_dir / role / PASSWORD_FILE))
        for role in ROLES
    }


def stored_user(data_dir: Path, role: Role) -> NatsUser | None:
    """The role's credentials ``playledger dev`` generated into ``data_dir``, if any."""
    path = data_dir / NATS_USERS_FILE
    if not path.exists():
        return None
    stored = json.loads(path.read_text(encoding="utf-8"))
    return NatsUser(role=role, password=stored[role]) if role in stored else None
