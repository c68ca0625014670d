"""Files only their owner may read (0600): generated secrets, keys and credentials."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` readable by the owner only (0600), replacing the file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    tmp.replace(path)


def ensure_secret(path: Path, nbytes: int = 32) -> Path:
    """A random secret (hex) in ``path``, generated once and kept across restarts."""
    if not path.exists():
        write_private(path, secrets.token_hex(nbytes) + "\n")
    return path
