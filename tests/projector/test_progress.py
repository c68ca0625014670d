"""The projector's periodic progress line: an idle projector says it once, not every period."""

from __future__ import annotations

import pytest

from playledger_projector.service import Progress

pytestmark = pytest.mark.unit


def test_progress_is_logged_only_when_it_moved() -> None:
    idle = Progress(projected=50, stream_last=50)
    assert idle.worth_logging_after(None)
    assert not idle.worth_logging_after(Progress(projected=50, stream_last=50))
    assert Progress(projected=50, stream_last=60).worth_logging_after(idle)  # new events arrived
    assert Progress(projected=60, stream_last=60).worth_logging_after(Progress(projected=50, stream_last=60))
    assert Progress(projected=50, stream_last=60).lag == 10
    assert Progress(projected=60, stream_last=0).lag == 0  # NATS could not tell
