"""Limits decided once, at the door, and derived from the real limit behind them.

- **Size.** NATS refuses a message whose headers and payload exceed the server's
  ``max_payload`` (1 MiB by default) and closes the publishing connection. A command may use
  ``max_payload - ENVELOPE_HEADROOM`` bytes, so the events made from it (``job.queued`` and
  ``job.started`` copy its spec, adding an envelope of a few hundred bytes, plus headers) always
  fit. The HTTP body limit and the intake's command limit are both ``command_limit(max_payload)``.
- **Depth.** msgspec decodes recursively; JSON nested ~1,000 levels raises ``RecursionError``.
  ``nesting_depth`` scans the bytes without recursion before any decoder runs; a command nested
  ``MAX_COMMAND_DEPTH`` levels or more (counting the envelope) is rejected, an event
  ``MAX_EVENT_DEPTH`` levels or more is undecodable.
"""

from __future__ import annotations

import re
from typing import Final

ENVELOPE_HEADROOM: Final = 4096
"""Bytes of ``max_payload`` kept for headers and the envelope of the events that copy a command."""
MAX_COMMAND_DEPTH: Final = 64
MAX_EVENT_DEPTH: Final = 256
"""Runner events carry ansible's own ``res``; deeper than this it cannot be decoded safely."""

_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN: Final = frozenset(b"[{")


def command_limit(max_payload: int) -> int:
    """The largest command (payload bytes) playledger accepts on a server with this ``max_payload``."""
    return max_payload - ENVELOPE_HEADROOM


def nesting_depth(payload: bytes, stop_at: int) -> int:
    """How deeply arrays and objects nest in a JSON document (0 for a scalar), or an upper bound
    of it below ``stop_at``. Strings are removed first, so brackets inside them do not count; the
    scan is a loop over the remaining bracket bytes that stops at ``stop_at``, never a recursion."""
    opens = payload.count(b"[") + payload.count(b"{")
    if opens < stop_at:
        return opens  # cannot nest deeper than it has brackets (the common case: no scan at all)
    brackets = _STRING.sub(b"", payload).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest >= stop_at:
                    return deepest
        else:
            depth -= 1
    return deepest


def too_deep(payload: bytes, limit: int) -> str | None:
    """Why ``payload`` is refused before decoding, or ``None``."""
    if nesting_depth(payload, limit) >= limit:
        return f"nested {limit} or more levels deep (the limit is {limit - 1})"
    return None


def too_big(size: int, limit: int) -> str | None:
    if size > limit:
        return f"{size} bytes, more than the limit of {limit} (the server's max_payload minus {ENVELOPE_HEADROOM})"
    return None
