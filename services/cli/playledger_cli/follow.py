"""The live view of ``playledger submit``: plays, tasks and host results as they happen.

A status line with a spinner and counters stays at the bottom (rich); the recap and an
ansible-playbook-like exit code come at the end.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Final

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from playledger_schemas.codec import encode
from playledger_schemas.events import (
    OUTCOME_EVENTS,
    JobCanceled,
    JobCancelRequested,
    JobError,
    JobEvent,
    JobFailed,
    JobQueued,
    JobRejected,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    ResultData,
    RunnerEvent,
)

EXIT_CODES: Final = {"succeeded": 0, "failed": 2, "error": 1, "rejected": 5, "canceled": 99, "timed_out": 124}
"""ansible-playbook's codes where they exist (2 host failed, 4 unreachable, 99 interrupted)."""

_OUTCOMES: Final[dict[type, str]] = {cls: name for name, cls in OUTCOME_EVENTS.items()}

_RESULT_STYLE: Final = {
    "runner_on_ok": ("ok", "green"),
    "runner_on_failed": ("failed", "red"),
    "runner_on_skipped": ("skipping", "cyan"),
    "runner_on_unreachable": ("unreachable", "red"),
    "runner_item_on_ok": ("ok", "green"),
    "runner_item_on_failed": ("failed", "red"),
    "runner_item_on_skipped": ("skipping", "cyan"),
}


def exit_code_for(outcome: str | None, rc: int | None) -> int:
    if outcome == "failed" and rc:
        return rc
    return EXIT_CODES.get(outcome or "error", 1)


class FollowView:
    """Renders a job's events; ``outcome`` is set once the terminal event arrived."""

    def __init__(self, job_id: str, *, as_json: bool = False) -> None:
        self.job_id = job_id
        self.as_json = as_json
        self.outcome: str | None = None
        self.rc: int | None = None
        self.counts = {"ok": 0, "changed": 0, "failed": 0, "skipped": 0, "unreachable": 0}
        self.console = Console(stderr=False, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            disable=as_json or not self.console.is_terminal,
        )
        self._bar = self.progress.add_task(f"{job_id}: queued", total=None)
        self._task_name = ""

    def __enter__(self) -> FollowView:
        self.progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.progress.stop()

    def finished(self) -> bool:
        return self.outcome is not None

    def show(self, event: JobEvent, stream_seq: str | None = None) -> None:
        if self.as_json:
            sys.stdout.write(encode(event).decode() + "\n")
            sys.stdout.flush()
        else:
            self._render(event)
        self._track(event)
        self.progress.update(self._bar, description=self._status_line(event))

    def _status_line(self, event: JobEvent) -> str:
        counts = " ".join(f"{name}={count}" for name, count in self.counts.items() if count)
        task = f" · {self._task_name}" if self._task_name else ""
        return f"{self.job_id} seq {event.seq}{task} · {counts or 'waiting for results'}"

    def _track(self, event: JobEvent) -> None:
        match event:
            case RunnerEvent(data=data):
                name = data.event
                if name == "playbook_on_task_start":
                    self._task_name = str(data.event_data.get("name") or data.event_data.get("task", ""))
                elif name == "runner_on_ok":
                    res = data.event_data.get("res") or {}
                    self.counts["changed" if isinstance(res, dict) and res.get("changed") else "ok"] += 1
                elif name in ("runner_on_failed", "runner_on_skipped", "runner_on_unreachable"):
                    key = name.removeprefix("runner_on_")
                    self.counts["skipped" if key == "skipped" else key] += 1
            case JobRejected():
                self.outcome = "rejected"
            case (
                JobSucceeded(data=data)
                | JobFailed(data=data)
                | JobCanceled(data=data)
                | JobTimedOut(data=data)
                | JobError(data=data)
            ):
                self.outcome = _OUTCOMES[type(event)]
                self.rc = data.rc
            case _:
                pass

    def _render(self, event: JobEvent) -> None:
        out = self.console
        match event:
            case JobQueued(data=data):
                out.print(f"[bold]queued[/] {data.spec.source.path} (priority {data.spec.priority})")
            case JobStarted(data=data):
                out.print(f"[bold]started[/] on {data.executor_id}, attempt {event.attempt}")
            case JobCancelRequested(data=data):
                out.print(f"[yellow]cancel requested:[/] {data.reason}")
            case RunnerEvent(data=data):
                self._render_runner(data.event, data.event_data, data.stdout)
            case JobRejected(data=data):
                out.print(f"[bold red]rejected:[/] {data.reason}")
                for error in data.errors:
                    out.print(f"  {error.path}: {error.message}")
            case _:
                self._render_result(event)

    def _render_runner(self, name: str, event_data: dict[str, object], stdout: str) -> None:
        out = self.console
        if name == "playbook_on_play_start":
            out.print(Text(f"\nPLAY [{event_data.get('name', '')}]", style="bold"))
        elif name == "playbook_on_task_start":
            out.print(Text(f"TASK [{event_data.get('name', '')}]", style="bold"))
        elif name in _RESULT_STYLE:
            word, style = _RESULT_STYLE[name]
            res = event_data.get("res")
            if word == "ok" and isinstance(res, dict) and res.get("changed"):
                word, style = "changed", "yellow"
            item = res.get("item") if isinstance(res, dict) and name.startswith("runner_item") else None
            suffix = f" => (item={item})" if item is not None else ""
            line = Text(f"  {word}: [{event_data.get('host', '')}]{suffix}", style=style)
            if word in ("failed", "unreachable") and isinstance(res, dict) and res.get("msg"):
                line.append(f" {res['msg']}", style=style)
            out.print(line)
        elif name == "playbook_on_stats":
            out.print(Text(stdout.replace("\r", "")), soft_wrap=True)
        elif name in ("warning", "deprecated", "error") and stdout:
            out.print(Text(stdout.replace("\r", ""), style="magenta"), soft_wrap=True)

    def _render_result(self, event: JobEvent) -> None:
        data = getattr(event, "data", None)
        if not isinstance(data, ResultData):
            return
        style = "green" if isinstance(event, JobSucceeded) else "red"
        reason = f": {data.reason}" if data.reason else ""
        summary = f"{_OUTCOMES[type(event)]}{reason} (rc {data.rc}, {data.runner_events} runner events)"
        self.console.print(Text(f"\n{summary}", style=f"bold {style}"))
