"""Which repository URLs a job may name: one rule for the API and the executor.

``https`` and ``ssh`` (also ``git@host:path``) always; ``file`` and plain ``http`` only where
the operator enables them (``PLAYLEDGER_SOURCE_ALLOW_FILE`` / ``PLAYLEDGER_SOURCE_ALLOW_HTTP``).
Reasons never echo credentials embedded in a URL.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit

_SCP_LIKE: Final = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9_.-]+:[^/]")


def repo_url_problem(url: str, *, allow_file: bool, allow_http: bool) -> str | None:
    """Why ``url`` may not be fetched, or ``None``."""
    if _SCP_LIKE.match(url):
        return None
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if parts.password is not None or (scheme in ("https", "http") and parts.username is not None):
        return "must not carry credentials (a user name or password in a URL would be stored in the stream)"
    if scheme in ("https", "ssh"):
        return None if parts.hostname else f"has no host: a {scheme} URL names a server"
    if scheme == "file":
        return None if allow_file else "uses file://, which this installation does not allow"
    if scheme == "http":
        return (
            None if allow_http else "uses plain http://, which this installation does not allow (use https)"
        )
    return f"has scheme {scheme or 'none'!r}; allowed: https, ssh"
