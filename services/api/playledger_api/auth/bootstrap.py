"""Start-up: the server secret, and the first admin key of a fresh system (``playledger dev``)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from playledger_api.auth.keys import (
    MIN_SERVER_SECRET,
    hash_matches,
    key_hash,
    new_key,
    parse_key,
    unusable_reason,
)
from playledger_api.auth.keystore import KeyStore
from playledger_common.errors import ConfigError
from playledger_common.private_file import ensure_secret, write_private

log: Final = logging.getLogger(__name__)
BOOTSTRAP_NAME: Final = "bootstrap-admin"


def read_server_secret(path: Path | None) -> bytes:
    """The server secret in ``path``, generated there (0600) on a first start."""
    if path is None:
        msg = "PLAYLEDGER_AUTH_SECRET_FILE is required when auth is on (or set PLAYLEDGER_AUTH=off)"
        raise ConfigError(msg)
    try:
        secret = ensure_secret(path).read_bytes().strip()
    except OSError as exc:
        msg = f"PLAYLEDGER_AUTH_SECRET_FILE is invalid: cannot read it ({exc.strerror})"
        raise ConfigError(msg) from None
    if len(secret) < MIN_SERVER_SECRET:
        msg = (
            f"PLAYLEDGER_AUTH_SECRET_FILE is invalid: the secret must have at least {MIN_SERVER_SECRET} bytes"
        )
        raise ConfigError(msg)
    return secret


async def ensure_bootstrap_key(store: KeyStore, server_secret: bytes, path: Path) -> None:
    """Create an admin key into ``path`` unless it already holds a usable one (one process at a time)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if await _usable(store, server_secret, _read_key(path), datetime.now(UTC)):
            return
        made = new_key()
        await store.insert(
            key_id=made.key_id,
            hash_=key_hash(server_secret, made.key),
            name=BOOTSTRAP_NAME,
            owner="playledger",
            scopes=["admin"],
            playbooks=[],
            repos=[],
            expires_at=None,
        )
        write_private(path, made.key + "\n")
        log.info("created admin API key %s into %s", made.key_id, path)


def _read_key(path: Path) -> str | None:
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="utf-8").strip()
    return None


async def _usable(store: KeyStore, server_secret: bytes, key: str | None, now: datetime) -> bool:
    key_id = None if key is None else parse_key(key)
    found = None if key_id is None else await store.lookup(key_id)
    if key is None or found is None:
        return False
    record, stored = found
    return hash_matches(server_secret, key, stored) and unusable_reason(record, now) is None
