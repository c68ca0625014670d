"""API keys, pure: the ``pl_<id>_<secret>`` format, the keyed hash, scopes, playbook and repository patterns.

Why a keyed HMAC-SHA256 and not argon2: the secret is 256 random bits, so there is nothing
to slow down a guess against (argon2 protects low-entropy passwords) and every request would
pay argon2's tens of milliseconds; keyed with the server secret, a leaked table alone cannot
even confirm a guessed key. The id is public (it names the key in lists, logs and
``submitted_by``); only the hash of the whole key is stored.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Annotated, Final, Literal, get_args

import msgspec
from msgspec import Meta

from playledger_schemas.commands import GitInventory, GitPlaybookSource, GitRoleSource, JobSpec, Submitter

Scope = Literal[
    "jobs:submit",
    "jobs:read",
    "jobs:cancel",
    "templates:write",
    "credentials:write",
    "credentials:read",
    "inventories:write",
    "metrics:read",
    "admin",
]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)
"""``admin`` implies every other scope."""

PREFIX: Final = "pl"
KEY_ID_PATTERN: Final = r"^[0-9a-f]{12}$"
_KEY: Final = re.compile(r"^pl_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
MIN_SERVER_SECRET: Final = 32
"""Bytes of the server secret, at least."""

KEY_NAME_PATTERN: Final = r"^[^\x00-\x1f]+$"
KeyName = Annotated[str, Meta(min_length=1, max_length=128, pattern=KEY_NAME_PATTERN)]
PlaybookPattern = Annotated[str, Meta(min_length=1, max_length=1024)]
RepoPattern = Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^[^\s\x00]+$")]


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored key without its hash: what lists show and what a request is authorised as."""

    id: str
    name: str
    owner: str
    scopes: list[Scope]
    playbooks: list[str] = msgspec.field(default_factory=list)
    """Glob patterns (``deploy/*.yml``) a submitted playbook path must match; empty: any."""
    repos: list[str] = msgspec.field(default_factory=list)
    """Glob patterns (``https://git.example.com/ci/*``) every git repository of a job (its source
    and a ``git`` inventory) must match; empty: any."""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    @property
    def submitter(self) -> Submitter:
        return Submitter(key_id=self.id, name=self.name)


class NewKey(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    key: str
    """The whole key, shown once."""


def new_key() -> NewKey:
    key_id = secrets.token_hex(6)
    return NewKey(key_id=key_id, key=f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}")


def parse_key(text: str) -> str | None:
    """The key id of a well-formed key, else ``None``."""
    match = _KEY.match(text)
    return match[1] if match else None


def key_hash(server_secret: bytes, key: str) -> str:
    return hmac.new(server_secret, key.encode(), hashlib.sha256).hexdigest()


def hash_matches(server_secret: bytes, key: str, stored: str) -> bool:
    return hmac.compare_digest(key_hash(server_secret, key), stored)


def unusable_reason(record: KeyRecord, now: datetime) -> str | None:
    """Why a stored key cannot be used now (revoked, expired), else ``None``."""
    if record.revoked_at is not None:
        return "the API key was revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "the API key has expired"
    return None


def has_scope(record: KeyRecord, scope: Scope) -> bool:
    return scope in record.scopes or "admin" in record.scopes


def _matches(value: str, patterns: list[str]) -> bool:
    """No patterns: anything; else ``value`` matches one of them (``*`` also crosses ``/``)."""
    return not patterns or any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


Repository = tuple[str, str]
"""``(what, url)``: which part of a job (``source``, ``inventory``) fetches which git repository."""


def repositories(spec: JobSpec) -> list[Repository]:
    """The git repositories a job fetches: its source's, its inventory's."""
    found = []
    if isinstance(spec.source, GitPlaybookSource | GitRoleSource):
        found.append(("source", spec.source.repo))
    if isinstance(spec.inventory, GitInventory):
        found.append(("inventory", spec.inventory.repo))
    return found


def refusal(record: KeyRecord, playbook: str, repos: list[Repository]) -> str | None:
    """Why this key may not run ``playbook`` from (or with) these repositories, else ``None``:
    the one check of a key's limits, for submits, launches and retries alike."""
    if not _matches(playbook, record.playbooks):
        return f"the API key {record.id!r} may not run playbook {playbook!r}"
    for what, url in repos:
        if not _matches(url, record.repos):
            allowed = ", ".join(record.repos)
            return f"the API key {record.id!r} may not use repository {url!r} (the job's {what}; it may use: {allowed})"
    return None


def spec_refusal(record: KeyRecord, spec: JobSpec) -> str | None:
    """``refusal`` for the job a submit or a launch makes."""
    return refusal(record, spec.source.path, repositories(spec))
