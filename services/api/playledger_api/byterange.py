"""``Range: bytes=…`` (RFC 9110 §14) for one resource of known size, and ANSI stripping (pure).

One range is served (``206``); a header this API does not serve (several ranges, another unit,
bad syntax) is ignored as RFC 9110 allows, and the whole log is sent (``200``). A range that
starts beyond the end is unsatisfiable (``416``).
"""

from __future__ import annotations

import re
from typing import Final

_RANGE: Final = re.compile(r"^bytes=(\d*)-(\d*)$")
_ANSI: Final = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
"""CSI sequences (colours, cursor moves), OSC sequences (titles, links) and two-byte escapes."""


class UnsatisfiableRangeError(ValueError):
    """The range lies entirely outside the resource."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) of a single satisfiable range; ``None``: serve it all."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match[1], match[2]
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise UnsatisfiableRangeError(header)
        return max(0, size - n), size
    start = int(first)
    end = size if not last else min(int(last) + 1, size)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        raise UnsatisfiableRangeError(header)
    return start, end


class AnsiStripper:
    """Feed chunks, get them back without escape sequences (never split across chunks)."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._held + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) < 64 * 1024:
            self._held = data
            return b""
        if cut == 0:
            cut = len(data)
        self._held = data[cut:]
        return _ANSI.sub(b"", data[:cut])

    def end(self) -> bytes:
        rest, self._held = self._held, b""
        return _ANSI.sub(b"", rest)
