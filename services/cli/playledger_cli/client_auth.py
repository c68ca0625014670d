"""Which API key the command-line client sends.

``--api-key``, else ``PLAYLEDGER_API_KEY``, else the admin key ``playledger dev`` wrote into
its data dir (``var/dev/admin-key``, 0600), else none (the API then answers 401).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

DEV_DATA_DIR: Final = Path("var/dev")
"""``playledger dev``'s default data dir, where clients look for its URLs and credentials."""
ADMIN_KEY_FILE: Final = "admin-key"
DEV_KEY_PATH: Final = DEV_DATA_DIR / ADMIN_KEY_FILE


def resolve_api_key(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("PLAYLEDGER_API_KEY"):
        return os.environ["PLAYLEDGER_API_KEY"]
    if DEV_KEY_PATH.exists():
        return DEV_KEY_PATH.read_text(encoding="utf-8").strip() or None
    return None


def auth_headers(explicit: str | None = None) -> dict[str, str]:
    key = resolve_api_key(explicit)
    return {} if key is None else {"Authorization": f"Bearer {key}"}
