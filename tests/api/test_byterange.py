"""Byte ranges and ANSI stripping for ``GET /logs`` (pure)."""

from __future__ import annotations

import pytest

from playledger_api.byterange import AnsiStripper, UnsatisfiableRangeError, byte_range

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=5-", (5, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=-1000", (0, 100)),
        ("bytes=90-1000", (90, 100)),
        ("bytes=0-1,4-5", None),  # several ranges: served whole
        ("items=0-1", None),
        ("bytes=9-3", None),
        ("bytes=-", None),
    ],
)
def test_byte_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(UnsatisfiableRangeError):
        byte_range(header, 100)


def test_ansi_sequences_are_removed_even_across_chunks() -> None:
    text = b"\x1b[0;32mok: [web1]\x1b[0m\n\x1b]0;title\x07PLAY \x1b[1"
    stripper = AnsiStripper()
    out = (
        stripper.feed(text[:5])
        + stripper.feed(text[5:])
        + stripper.feed(b";31mRECAP\x1b[0m\n")
        + stripper.end()
    )
    assert out == b"ok: [web1]\nPLAY RECAP\n"
