"""A playbook's timeline as span descriptions: runner events in, plays / tasks / host results out.

Pure: no IO, no clock. The times are the events' own (``created``; a host result's
``event_data.start`` / ``end``), so the trace shows when ansible did each thing, not when the
executor read it. The events are the redacted ones the executor stores; only names, hosts and
status flags become attributes (never a result's contents). ``Timeline`` folds the events one at
a time and keeps only the spans (a long job's stdout is not held); ``timeline`` is the one-shot
form. The executor's shell turns the descriptions into OpenTelemetry spans under the job's span.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeAlias

from playledger_schemas.events import RunnerEventData

Attribute: TypeAlias = str | bool | int
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
RESULTS: Final = {
    "runner_on_ok": "ok",
    "runner_on_failed": "failed",
    "runner_on_skipped": "skipped",
    "runner_on_unreachable": "unreachable",
}
"""A host's result of a task, by runner event (loop items are folded into their task's result)."""


@dataclass(slots=True)
class SpanPlan:
    """One span to emit: ``parent`` is another plan's ``key``, or ``None`` for the job's span."""

    key: str
    parent: str | None
    name: str
    start_ns: int
    end_ns: int
    attributes: dict[str, Attribute] = field(default_factory=dict)
    failed: bool = False


def to_ns(stamp: object) -> int | None:
    """Nanoseconds since the epoch of an ISO time (runner writes naive UTC), or ``None``."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


class Timeline:
    """Folds runner events, in runner order, into plays, tasks and host results."""

    def __init__(self) -> None:
        self.plans: list[SpanPlan] = []
        self._open_play: SpanPlan | None = None
        self._open_task: SpanPlan | None = None
        self._tasks: dict[str, SpanPlan] = {}
        self._plays: dict[str, SpanPlan] = {}
        self._starts: dict[tuple[str, str], int] = {}
        """(task uuid, host) -> when the host began the task (``runner_on_start``)."""
        self.last_ns: int | None = None

    def add(self, event: RunnerEventData) -> None:
        at = to_ns(event.created)
        if at is not None:
            self.last_ns = at if self.last_ns is None else max(self.last_ns, at)
        data = event.event_data
        kind = event.event
        if kind == "playbook_on_play_start" and at is not None:
            self._close(at, play=True)
            play = SpanPlan(
                key=f"play:{data.get('play_uuid') or event.uuid}",
                parent=None,
                name=f"play: {data.get('play') or data.get('name') or '?'}",
                start_ns=at,
                end_ns=at,
                attributes={"ansible.play": str(data.get("play") or data.get("name") or "")},
            )
            self.plans.append(play)
            self._plays[play.key] = play
            self._open_play = play
        elif kind == "playbook_on_task_start" and at is not None:
            self._close(at, play=False)
            self._start_task(event, data, at)
        elif kind == "runner_on_start" and at is not None:
            self._starts[(str(data.get("task_uuid")), str(data.get("host")))] = at
        elif kind in RESULTS:
            self._result(RESULTS[kind], data, at)
        elif kind == "playbook_on_stats" and at is not None:
            self._close(at, play=True)

    def spans(self) -> list[SpanPlan]:
        """Every plan so far, an unfinished play or task ended at the last event seen."""
        if self.last_ns is not None:
            self._close(self.last_ns, play=True)
        return self.plans

    def _start_task(self, event: RunnerEventData, data: dict[str, Any], at: int) -> None:
        uuid = str(data.get("task_uuid") or event.uuid)
        task = SpanPlan(
            key=f"task:{uuid}",
            parent=None if self._open_play is None else self._open_play.key,
            name=f"task: {data.get('task') or data.get('name') or '?'}",
            start_ns=at,
            end_ns=at,
            attributes={
                "ansible.task": str(data.get("task") or data.get("name") or ""),
                "ansible.action": str(data.get("task_action") or ""),
            },
        )
        self.plans.append(task)
        self._tasks[uuid] = task
        self._open_task = task

    def _result(self, status: str, data: dict[str, Any], at: int | None) -> None:
        uuid, host = str(data.get("task_uuid")), str(data.get("host"))
        task = self._tasks.get(uuid)
        end = to_ns(data.get("end")) or at
        start = to_ns(data.get("start")) or self._starts.pop((uuid, host), None) or end
        if task is None or start is None or end is None:
            return
        res = data.get("res")
        changed = bool(res.get("changed")) if isinstance(res, dict) else False
        ignored = bool(data.get("ignore_errors"))
        failed = status in ("failed", "unreachable")
        self.plans.append(
            SpanPlan(
                key=f"host:{uuid}:{host}",
                parent=task.key,
                name=f"host: {host}",
                start_ns=start,
                end_ns=max(start, end),
                attributes={
                    "ansible.host": host,
                    "ansible.task": task.attributes["ansible.task"],
                    "ansible.status": status,
                    "ansible.changed": changed,
                    "ansible.failed": failed,
                    "ansible.ignore_errors": ignored,
                },
                failed=failed and not ignored,
            )
        )
        task.end_ns = max(task.end_ns, end)
        play = self._plays.get(task.parent or "")
        if play is not None:
            play.end_ns = max(play.end_ns, task.end_ns)
        if failed and not ignored:
            task.failed = True
            if play is not None:
                play.failed = True

    def _close(self, at: int, *, play: bool) -> None:
        """End the open task (and play) at ``at``, or later if a result ended later."""
        if self._open_task is not None:
            self._open_task.end_ns = max(self._open_task.end_ns, at)
            if self._open_play is not None:
                self._open_play.end_ns = max(self._open_play.end_ns, self._open_task.end_ns)
                self._open_play.failed |= self._open_task.failed
            self._open_task = None
        if play and self._open_play is not None:
            self._open_play.end_ns = max(self._open_play.end_ns, at)
            self._open_play = None


def timeline(events: Iterable[RunnerEventData]) -> list[SpanPlan]:
    """The span descriptions of a whole run's events (``Timeline`` in one call)."""
    folded = Timeline()
    for event in events:
        folded.add(event)
    return folded.spans()
