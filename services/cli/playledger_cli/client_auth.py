"""Which API key the command-line client sends.

``--api-key``, else ``PLAYLEDGER_API_KEY``, else the admin key ``playledger dev`` wrote into
its data dir (``var/dev/admin-key`` or ``$PLAYLEDGER_DEV_DATA_DIR/admin-key``, 0600), else none
(the API then answers 401).
"""

from __future__ import annotations

import os
from typing import Final

from playledger_cli.devstate import data_dir_in_use

ADMIN_KEY_FILE: Final = "admin-key"


def resolve_api_key(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("PLAYLEDGER_API_KEY"):
        return os.environ["PLAYLEDGER_API_KEY"]
    dev_key = data_dir_in_use() / ADMIN_KEY_FILE
    if dev_key.exists():
        return dev_key.read_text(encoding="utf-8").strip() or None
    return None


def auth_headers(explicit: str | None = None) -> dict[str, str]:
    key = resolve_api_key(explicit)
    return {} if key is None else {"Authorization": f"Bearer {key}"}
