"""API keys, pure: the ``pl_<id>_<secret>`` format, the keyed hash, scopes and playbook patterns.

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

from playledger_schemas.commands import Submitter

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


class KeyRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A stored key without its hash: what lists show and what a request is authorised as."""

    id: str
    name: str
    owner: str
    scopes: list[Scope]
    playbooks: list[str] = msgspec.field(default_factory=list)
    """Glob patterns (``deploy/*.yml``) a submitted playbook path must match; empty: any."""
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


def playbook_allowed(record: KeyRecord, path: str) -> bool:
    """A key limited to playbook patterns may submit only paths matching one of them."""
    if not record.playbooks:
        return True
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in record.playbooks)
