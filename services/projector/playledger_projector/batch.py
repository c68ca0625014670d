"""Decode stream messages and fold a batch of them into row changes. Pure, no IO.

A message becomes ``Decoded`` (a lifecycle event, or a runner event's envelope and its
``RunnerFacts`` — see ``facts`` — plus its ``data`` as published, all from one decode) or
``Undecodable`` (unknown type from a newer writer, or invalid): the latter is recorded in
``skipped_events`` and never stops the projector. An event whose ``(job_id, seq)`` is
already projected (a re-publish outside the dedup window) is recorded as a duplicate and
changes nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import Any, Final, Union

import msgspec

from playledger_common.readmodel import EventRow, HostCounts, HostRow, SkippedRow
from playledger_projector.facts import RawRunnerEvent, RunnerFacts, decode_facts, facts_of
from playledger_projector.fold import finish, start, step
from playledger_projector.views import BatchChanges, JobView
from playledger_schemas.codec import ContractError, decode_event
from playledger_schemas.events import JobEvent, RunnerEvent, event_kind, event_tag
from playledger_schemas.limits import MAX_EVENT_DEPTH, too_deep
from playledger_schemas.rules import JobTrack, writer_rule_broken
from playledger_schemas.status import is_terminal_status
from playledger_schemas.subjects import is_command_rejection


class Decoded(msgspec.Struct, frozen=True, kw_only=True):
    stream_seq: int
    subject: str
    event: JobEvent | RawRunnerEvent
    """A lifecycle event fully typed; a runner event as its envelope, its data read into ``facts``."""
    tag: str
    facts: RunnerFacts | None
    """What the projector reads of a runner event (``None`` for a lifecycle event)."""
    data: str
    """The event's ``data`` object as published (JSON text), for ``job_events.data``."""
    payload: bytes


class Undecodable(msgspec.Struct, frozen=True, kw_only=True):
    stream_seq: int
    subject: str
    reason: str
    payload: bytes


class NotAJobEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A stored message that belongs to no job (a ``command.rejected`` record): read past."""

    stream_seq: int
    subject: str
    payload: bytes


Item = Decoded | Undecodable | NotAJobEvent


class _Envelope(msgspec.Struct):
    data: msgspec.Raw = msgspec.Raw(b"null")


class _Tagged(msgspec.Struct):
    type: object = None


_LIFECYCLE: Final = tuple(t for t in JobEvent.__args__ if t is not RunnerEvent)
_projected: Final[msgspec.json.Decoder[Any]] = msgspec.json.Decoder(Union[(*_LIFECYCLE, RawRunnerEvent)])
_envelope: Final = msgspec.json.Decoder(_Envelope)
_tagged: Final = msgspec.json.Decoder(_Tagged)
_KNOWN_TAGS: Final[frozenset[str]] = frozenset(str(t.__struct_config__.tag) for t in JobEvent.__args__)
_RUNNER_TAG: Final = event_tag(RunnerEvent)
_MAX_REASON: Final = 1000
_ESCAPE: Final = re.compile(rb"\\(?:u0000|.)", re.DOTALL)
"""One JSON string escape (scanned left to right, so ``\\\\u0000`` is a backslash, then text)."""


def decode_message(stream_seq: int, subject: str, payload: bytes) -> Item:
    """Decode once: the envelope and a lifecycle event typed, a runner event's data into ``RunnerFacts``.

    Where that refuses the payload, the contract's own decoder says why (same reasons as
    every other reader), and the rare payload it accepts anyway is projected from it.
    """
    if is_command_rejection(subject):
        return NotAJobEvent(stream_seq=stream_seq, subject=subject, payload=payload)
    decoded = _decode(payload)
    if decoded is None:
        try:
            contract = decode_event(payload)
        except ContractError as exc:
            return Undecodable(
                stream_seq=stream_seq, subject=subject, reason=_reason(payload, exc), payload=payload
            )
        runner = facts_of(contract.data) if isinstance(contract, RunnerEvent) else None
        decoded = (contract, runner, bytes(_envelope.decode(payload).data))
    event, facts, data = decoded
    if b"\\u0000" in data:
        data = _ESCAPE.sub(_without_nul, data)
    return Decoded(
        stream_seq=stream_seq,
        subject=subject,
        event=event,
        tag=_RUNNER_TAG if facts is not None else event_tag(event),  # type: ignore[arg-type]
        facts=facts,
        data=data.decode("utf-8"),
        payload=payload,
    )


def _decode(payload: bytes) -> tuple[JobEvent | RawRunnerEvent, RunnerFacts | None, bytes] | None:
    if too_deep(payload, MAX_EVENT_DEPTH):
        return None
    try:
        event = _projected.decode(payload)
        if isinstance(event, RawRunnerEvent):
            data = bytes(event.data)
            return event, decode_facts(data), data
        return event, None, bytes(_envelope.decode(payload).data)
    except msgspec.DecodeError:  # ValidationError included
        return None


def _without_nul(escape: re.Match[bytes]) -> bytes:
    """PostgreSQL text and jsonb cannot hold U+0000; ansible output occasionally does."""
    return b"\\ufffd" if escape[0] == b"\\u0000" else escape[0]


def _reason(payload: bytes, exc: ContractError) -> str:
    try:
        tag = _tagged.decode(payload).type
    except msgspec.DecodeError:
        tag = None
    if isinstance(tag, str) and tag not in _KNOWN_TAGS:
        reason = f"unknown event type {tag!r} (written by a newer version?)"
    else:
        reason = f"invalid event: {exc.reason}"
    return reason[:_MAX_REASON]


def _clean(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def event_row(item: Decoded) -> EventRow:
    event = item.event
    facts = item.facts
    if facts is not None:
        ed = facts.event_data
        return EventRow(
            job_id=event.job_id,
            seq=event.seq,
            stream_seq=item.stream_seq,
            type=_RUNNER_TAG,
            event=facts.event,
            attempt=event.attempt,
            counter=facts.counter,
            host=_clean(ed.text("host")),
            play=_clean(ed.text("play")),
            task=_clean(ed.text("task")),
            time=event.time,
            stdout=_clean(facts.stdout) or "",
            truncated=bool(facts.truncated),
            data=item.data,
        )
    assert not isinstance(event, RawRunnerEvent | RunnerEvent)  # noqa: S101 - a runner event always has facts
    return EventRow(
        job_id=event.job_id,
        seq=event.seq,
        stream_seq=item.stream_seq,
        type=item.tag,
        event=event_kind(event),
        attempt=event.attempt,
        time=event.time,
        data=item.data,
    )


def duplicate_candidates(views: Mapping[str, JobView], items: Iterable[Item]) -> set[tuple[str, int]]:
    """Events that may already be projected: at or below their job's last projected seq.

    Normally empty (a job's events arrive in seq order); the shell asks the database which
    of these exist, so ``fold_batch`` can tell a late event from a duplicate.
    """
    candidates = set()
    for item in items:
        if isinstance(item, Decoded):
            view = views.get(item.event.job_id)
            if view is not None and item.event.seq <= view.last_seq:
                candidates.add((item.event.job_id, item.event.seq))
    return candidates


def fold_batch(
    views: Mapping[str, JobView], known: Set[tuple[str, int]], items: Sequence[Item]
) -> BatchChanges:
    """Fold ``items`` (in stream order, all beyond the checkpoint) into the rows to write.

    ``views`` holds the projected state of every job the batch touches that exists;
    ``known`` the ``(job_id, seq)`` pairs among ``duplicate_candidates`` already projected.
    """
    work: dict[str, JobView] = {}
    seen: set[tuple[str, int]] = set()
    events: list[EventRow] = []
    skipped: list[SkippedRow] = []
    for item in items:
        if isinstance(item, NotAJobEvent):
            continue
        if isinstance(item, Undecodable):
            skipped.append(
                SkippedRow(
                    stream_seq=item.stream_seq, subject=item.subject, reason=item.reason, payload=item.payload
                )
            )
            continue
        event = item.event
        key = (event.job_id, event.seq)
        if key in known or key in seen:
            reason = f"duplicate: job {event.job_id} seq {event.seq} is already projected"
            skipped.append(
                SkippedRow(
                    stream_seq=item.stream_seq, subject=item.subject, reason=reason, payload=item.payload
                )
            )
            continue
        job = work.get(event.job_id)
        if job is None:
            job = start(views.get(event.job_id), event)
        track = JobTrack(
            last_seq=job.last_seq, terminal=is_terminal_status(job.status), dead=job.status == "dead"
        )
        broken = writer_rule_broken(track, event.seq, item.tag)
        if broken is not None:
            skipped.append(
                SkippedRow(
                    stream_seq=item.stream_seq,
                    subject=item.subject,
                    reason=f"writer rule broken: {broken}",
                    payload=item.payload,
                )
            )
            continue
        seen.add(key)
        work[event.job_id] = job
        step(job, event, item.stream_seq, item.facts)
        events.append(event_row(item))
    jobs = [finish(job) for job in work.values()]
    upserts: list[HostRow] = []
    deletes: list[tuple[str, str]] = []
    for after in jobs:
        before = views.get(after.job_id)
        old = before.hosts if before is not None else {}
        upserts.extend(
            host_row(after.job_id, host, counts)
            for host, counts in after.hosts.items()
            if old.get(host) != counts
        )
        deletes.extend((after.job_id, host) for host in old if host not in after.hosts)
    return BatchChanges(
        jobs=jobs,
        host_upserts=upserts,
        host_deletes=deletes,
        events=events,
        skipped=skipped,
        first_stream_seq=items[0].stream_seq if items else 0,
        last_stream_seq=items[-1].stream_seq if items else 0,
    )


def host_row(job_id: str, host: str, counts: HostCounts) -> HostRow:
    return HostRow(job_id=job_id, host=host, **msgspec.structs.asdict(counts))
