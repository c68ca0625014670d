"""How ansible-runner writes ``artifacts/<ident>/stdout``, so ``GET /logs`` can rebuild it from events.

Verified against ansible-runner 2.4.3 (``OutputEventFilter.write``) and a real run in
``tests/api/test_logs_rule.py``: an event emitted from a callback marker writes its
``stdout`` plus ``"\\n"`` when that text is neither empty nor ``"{}"``; a line printed outside
any marker becomes a synthetic ``verbose`` event (no ``pid``) and the file keeps the raw
line, which the pty ended with ``"\\r\\n"``.

One case cannot be rebuilt exactly: when text outside any callback reaches runner in the
same pty read as the next event marker, runner writes only the last such line, stripped,
plus ``"\\n"`` (its events still carry every line). That depends on read timing (seen with
ansible warnings printed by forked workers, e.g. interpreter discovery); the executor's own
log file keeps runner's bytes.
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
