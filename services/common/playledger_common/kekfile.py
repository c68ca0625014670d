"""The key-encryption-key file of stored credentials: its format, read by the API and written by
``playledger dev`` / ``playledger credentials rotate-key``.

One ``<id> <base64 of 32 random bytes>`` per line (``#`` comments allowed); the first key is the
current one (new data keys are wrapped with it), the others are still accepted for unwrapping.
Rotation: put a new key first, let the API rewrap every data key, then retire the old lines.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from playledger_common.private_file import write_private

KEY_BYTES: Final = 32
KEK_ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HEADER: Final = "# playledger key-encryption keys: the first one is current\n"


class KeyringError(Exception):
    """The configured KEKs are unusable (the message never carries key material)."""


@dataclass(frozen=True)
class Keyring:
    """The current KEK (new data keys are wrapped with it) and every KEK still accepted to unwrap."""

    current: str
    keys: dict[str, bytes]


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        msg = f"{where}: not base64"
        raise KeyringError(msg) from None
    if len(key) != KEY_BYTES:
        msg = f"{where}: a key must be {KEY_BYTES} bytes, this one has {len(key)}"
        raise KeyringError(msg)
    return key


def single_key(text: str) -> Keyring:
    """``PLAYLEDGER_SECRETS_KEY``: one KEK; its id is derived from it (a hash prefix, not the key)."""
    key = _decode_key(text, "PLAYLEDGER_SECRETS_KEY")
    kek_id = "env-" + hashlib.sha256(b"playledger kek id" + key).hexdigest()[:12]
    return Keyring(current=kek_id, keys={kek_id: key})


def parse_key_file(text: str, where: str) -> Keyring:
    keys: dict[str, bytes] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kek_id, _, encoded = line.partition(" ")
        if not KEK_ID_PATTERN.match(kek_id) or not encoded.strip():
            msg = f"{where} line {number}: expected '<id> <base64 key>'"
            raise KeyringError(msg)
        if kek_id in keys:
            msg = f"{where} line {number}: key id {kek_id!r} appears twice"
            raise KeyringError(msg)
        keys[kek_id] = _decode_key(encoded, f"{where} line {number}")
        current = current or kek_id
    if current is None:
        msg = f"{where}: no key in it"
        raise KeyringError(msg)
    return Keyring(current=current, keys=keys)


def _line(kek_id: str, key: bytes) -> str:
    return f"{kek_id} {base64.b64encode(key).decode()}\n"


def ensure_key_file(path: Path) -> Path:
    """A key file with one fresh KEK (0600), unless ``path`` exists (``playledger dev``)."""
    if not path.exists():
        write_private(path, HEADER + _line(f"k-{secrets.token_hex(4)}", os.urandom(KEY_BYTES)))
    return path


def add_current_key(path: Path) -> str:
    """Put a fresh KEK first in ``path`` (the others stay, for unwrapping); its id."""
    ring = parse_key_file(path.read_text(encoding="utf-8"), str(path))
    kek_id = f"k-{secrets.token_hex(4)}"
    lines = [_line(kek_id, os.urandom(KEY_BYTES))] + [_line(i, k) for i, k in ring.keys.items()]
    write_private(path, HEADER + "".join(lines))
    return kek_id


def retire_old_keys(path: Path) -> list[str]:
    """Keep only the current KEK in ``path``; the ids removed (data keys they wrapped become unreadable)."""
    ring = parse_key_file(path.read_text(encoding="utf-8"), str(path))
    write_private(path, HEADER + _line(ring.current, ring.keys[ring.current]))
    return [kek_id for kek_id in ring.keys if kek_id != ring.current]
