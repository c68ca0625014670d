"""What `playledger submit` prints at the end of a job."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from playledger_cli.follow import FollowView
from playledger_schemas.events import JobFailed, JobSucceeded, ResultData

pytestmark = pytest.mark.unit


def finished(
    cls: type[JobFailed] | type[JobSucceeded], reason: str | None, rc: int
) -> JobFailed | JobSucceeded:
    return cls(
        event_id=uuid.uuid4(),
        job_id="j",
        attempt=1,
        seq=9,
        time=datetime.now(UTC),
        data=ResultData(rc=rc, reason=reason, runner_events=40),
    )


@pytest.mark.parametrize(
    ("event", "line"),
    [
        (
            finished(JobFailed, "ansible-playbook exited with rc 2", 2),
            "failed: ansible-playbook exited with rc 2 (40 runner events)",
        ),
        (finished(JobSucceeded, None, 0), "successful (rc 0, 40 runner events)"),
        (finished(JobFailed, "rc 25 was seen", 2), "failed: rc 25 was seen (rc 2, 40 runner events)"),
    ],
)
def test_the_result_line_says_the_rc_once(
    event: JobFailed | JobSucceeded, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    view = FollowView("j")
    view.show(event)
    assert capsys.readouterr().out.strip().splitlines()[-1] == line
    assert view.outcome is not None
