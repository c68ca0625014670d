"""Masking a job's secret values in everything the executor publishes or writes (pure).

Each value is masked in every form ansible or runner may print it: as is, JSON-escaped (the
worker's event lines are JSON), base64 (``b64encode`` filters, ``debug`` of binary data), each
line of a multi-line value (a private key echoed line by line), and the JSON-escaped form of
those lines. All forms go into one Aho-Corasick automaton (``ahocorasick-rs``, leftmost-longest),
so a line is scanned once whatever the number of secrets, and a line without any (nearly all)
comes back unchanged; a job without secrets pays nothing (``Redactor`` is not even built).
``tests/bench/bench_redact.py`` measures it (a regex alternation cost ~10x more per line).

The worker's lines are masked before they are parsed. A mask inside a JSON string keeps the
line valid JSON; should a secret span JSON syntax (a value like ``", "``), the line is parsed
unmasked and every string in it masked instead (``scrub``), so nothing is lost or leaked.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

from ahocorasick_rs import AhoCorasick, BytesAhoCorasick, MatchKind

MASK: Final = "********"
MIN_LINE: Final = 6
"""Lines of a multi-line secret shorter than this are not masked on their own (``-----``, ``}``):
masking them would garble unrelated output without hiding anything secret."""


def _forms(value: str) -> set[str]:
    forms = {value, json.dumps(value)[1:-1]}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    for line in value.splitlines():
        line = line.strip()
        if len(line) >= MIN_LINE:
            forms.update({line, json.dumps(line)[1:-1]})
    return {form for form in forms if form}


class Redactor:
    """Masks every form of ``values``; built once per job."""

    def __init__(self, values: list[str]) -> None:
        forms = sorted({form for value in values if value for form in _forms(value)}, key=len, reverse=True)
        self.active = bool(forms)
        longest = MatchKind.LeftmostLongest
        self._text = AhoCorasick(forms, matchkind=longest) if forms else None
        self._bytes = BytesAhoCorasick([f.encode() for f in forms], matchkind=longest) if forms else None

    def text(self, value: str) -> str:
        if self._text is None:
            return value
        matches = self._text.find_matches_as_indexes(value)
        if not matches:
            return value
        parts, at = [], 0
        for _, start, end in matches:
            parts += [value[at:start], MASK]
            at = end
        parts.append(value[at:])
        return "".join(parts)

    def line(self, raw: bytes) -> bytes:
        if self._bytes is None:
            return raw
        matches = self._bytes.find_matches_as_indexes(raw)
        if not matches:
            return raw
        parts, at = [], 0
        mask = MASK.encode()
        for _, start, end in matches:
            parts += [raw[at:start], mask]
            at = end
        parts.append(raw[at:])
        return b"".join(parts)

    def scrub(self, data: Any) -> Any:
        """Every string in a decoded JSON value (keys too) masked."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.text(str(k)): self.scrub(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self.scrub(v) for v in data]
        return data


NOTHING: Final = Redactor([])
