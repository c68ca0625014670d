"""What the projector reads of a runner event, decoded once, typed, and nothing more.

A runner event's ``event_data`` is ansible's own dict (often kilobytes of ``res``). Decoding
it into dicts was the largest cost of projecting an event; the fold and the event rows read
only a handful of its keys. ``RunnerFacts`` is the contract's ``RunnerEventData`` (same fields,
same constraints: it is derived from it) with ``event_data`` read as ``EventFacts``: the keys
the projector uses, every other key skipped unparsed, ``res`` kept as raw JSON until a result
needs its ``changed``. Every value ``RunnerEventData`` accepts, ``RunnerFacts`` accepts.
"""

from __future__ import annotations

from typing import Any, Final, Protocol, cast

import msgspec

from playledger_schemas.events import Event, RunnerEvent, RunnerEventData, TruncatedField, event_tag

_NULL: Final = msgspec.Raw(b"null")


class EventFacts(msgspec.Struct, frozen=True, gc=False):
    """The keys of ansible's ``event_data`` the projector reads (any JSON value each)."""

    host: object = None
    play: object = None
    task: object = None
    name: object = None
    ignore_errors: object = None
    res: msgspec.Raw = _NULL
    # ansible's stats, in playbook_on_stats
    ok: object = None
    changed: object = None
    failures: object = None
    dark: object = None
    skipped: object = None
    rescued: object = None
    ignored: object = None
    processed: object = None

    def text(self, key: str) -> str | None:
        value = getattr(self, key)
        return value if isinstance(value, str) else None

    def changed_result(self) -> bool:
        """``res.changed is True`` (``res`` parsed only here, and only its ``changed``)."""
        res = bytes(self.res)
        return res.startswith(b"{") and _res.decode(res).changed is True

    def stats(self) -> dict[str, object]:
        """ansible's stats keys as a mapping, for ``fold.reconcile``."""
        return {key: getattr(self, key) for key in _STATS_KEYS}


class RawRunnerEvent(Event, frozen=True, tag=event_tag(RunnerEvent)):
    """A runner event's envelope, validated, with its ``data`` as published (JSON text, unparsed)."""

    data: msgspec.Raw


class _Res(msgspec.Struct, gc=False):
    changed: object = None


_STATS_KEYS: Final = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored", "processed")
_res: Final = msgspec.json.Decoder(_Res)


class RunnerFacts(Protocol):
    """The typed view of ``_RunnerFacts`` (a Struct made from ``RunnerEventData``'s fields)."""

    @property
    def event(self) -> str: ...
    @property
    def counter(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def truncated(self) -> list[TruncatedField]: ...
    @property
    def event_data(self) -> EventFacts: ...


def _field(info: msgspec.structs.FieldInfo) -> tuple[str, Any, Any]:
    if info.name == "event_data":
        return (info.name, EventFacts, msgspec.field(default_factory=EventFacts))
    if info.default_factory is not msgspec.NODEFAULT:
        return (info.name, info.type, msgspec.field(default_factory=info.default_factory))
    return (info.name, info.type, info.default)


def _derive() -> type[msgspec.Struct]:
    fields = [_field(f) for f in msgspec.structs.fields(RunnerEventData)]
    required = [(n, t) for n, t, d in fields if d is msgspec.NODEFAULT]
    optional = [f for f in fields if f[2] is not msgspec.NODEFAULT]
    return msgspec.defstruct("RunnerFacts", [*required, *optional], frozen=True, kw_only=True, gc=False)


_RunnerFacts: Final = _derive()
_decoder: Final = msgspec.json.Decoder(_RunnerFacts)


def decode_facts(data: bytes) -> RunnerFacts:
    """A runner event's ``data`` (JSON) as ``RunnerFacts``; ``msgspec.ValidationError`` /
    ``DecodeError`` where ``RunnerEventData`` would refuse it too."""
    return cast("RunnerFacts", _decoder.decode(data))


def facts_of(data: RunnerEventData) -> RunnerFacts:
    """The same facts from an already decoded event (the one-event ``fold.evolve`` and tests)."""
    return decode_facts(msgspec.json.encode(data))


def event_facts(event_data: dict[str, Any]) -> EventFacts:
    """``EventFacts`` of an ``event_data`` mapping."""
    return msgspec.json.decode(msgspec.json.encode(event_data), type=EventFacts)
