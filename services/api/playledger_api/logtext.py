"""How ansible-runner writes ``artifacts/<ident>/stdout``, so ``GET /logs`` can rebuild it from events.

Verified against ansible-runner 2.4.3 (``OutputEventFilter.write``) and a real run in
``tests/api/test_logs_rule.py``: an event emitted from a callback marker writes its
``stdout`` plus ``"\\n"`` when that text is neither empty nor ``"{}"``; a line printed outside
any marker becomes a synthetic ``verbose`` event (no ``pid``) and the file keeps the raw
line, which the pty ended with ``"\\r\\n"``.
"""

from __future__ import annotations

from typing import Any


def log_piece(event: str, stdout: str, data: dict[str, Any]) -> str:
    """The text one runner event contributes to the runner's stdout file."""
    if event == "verbose" and data.get("pid") is None:
        return stdout + "\r\n"
    if stdout in ("", "{}"):
        return ""
    return stdout + "\n"


LOG_PIECE_SQL = """
CASE
    WHEN event = 'verbose' AND (data ->> 'pid') IS NULL THEN stdout || E'\\r\\n'
    WHEN stdout IN ('', '{}') THEN ''
    ELSE stdout || E'\\n'
END
"""
"""The same rule as :func:`log_piece`, computed by PostgreSQL while streaming."""
