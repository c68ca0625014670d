"""The door's limits as pure functions: nesting is measured without recursion, strings do not count."""

from __future__ import annotations

import pytest

from playledger_schemas.limits import ENVELOPE_HEADROOM, command_limit, nesting_depth, too_big, too_deep

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("payload", "depth"),
    [
        (b"1", 0),
        (b"{}", 1),
        (b'{"a":[1,{"b":[]}]}', 4),
        (b'{"a":"[[[[{{{{"}', 1),
        (b'{"a":"\\"[[[[\\"","b":[{}]}', 3),
        (b"[" * 200 + b"]" * 200, 200),
        (b"[]" * 500, 1),
    ],
)
def test_nesting_depth_counts_containers_not_brackets_in_strings(payload: bytes, depth: int) -> None:
    assert too_deep(payload, depth + 1) is None
    if depth:
        assert too_deep(payload, depth) is not None
    assert nesting_depth(payload, stop_at=10_000) >= depth  # the bracket-count shortcut never under-counts


def test_the_limit_is_exclusive_and_a_truncated_document_does_not_crash_the_scan() -> None:
    assert too_deep(b"[" * 63 + b"]" * 63, 64) is None
    assert too_deep(b"[" * 64 + b"]" * 64, 64) == "nested 64 or more levels deep (the limit is 63)"
    assert too_deep(b"[" * 100_000, 64) is not None
    assert (
        too_deep(b'"unterminated [[[[', 3) is not None
    )  # over-counting is safe: the decoder refuses it anyway


def test_the_command_limit_leaves_headroom_under_max_payload() -> None:
    assert command_limit(1024 * 1024) == 1024 * 1024 - ENVELOPE_HEADROOM
    assert too_big(10, 10) is None
    assert too_big(11, 10) == "11 bytes, more than the limit of 10 (the server's max_payload minus 4096)"
