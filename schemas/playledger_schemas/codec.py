"""Encoders and decoders, built once per union (msgspec's advice) and reused everywhere.

Commands decode strictly (an unknown field at any depth is a :class:`ContractError` naming
it); events leniently (no event Struct forbids unknown fields; the spec they embed is read
through its lenient twin, ``events.SpecView``). Every reader of events uses :func:`decode_event`.
"""

from __future__ import annotations

import re
from typing import Final

import msgspec

from playledger_schemas.commands import JobCommand
from playledger_schemas.events import FieldError, JobEvent
from playledger_schemas.limits import MAX_COMMAND_DEPTH, MAX_EVENT_DEPTH, too_deep
from playledger_schemas.messages import readable

UNSUPPORTED: Final = "not supported by this executor"
"""Why a field this version does not know is refused: it asks for something it cannot do."""

_encoder: Final = msgspec.json.Encoder()
_command_decoder: Final[msgspec.json.Decoder[JobCommand]] = msgspec.json.Decoder(JobCommand)
_event_decoder: Final[msgspec.json.Decoder[JobEvent]] = msgspec.json.Decoder(JobEvent)
_UNKNOWN_FIELD: Final = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.DOTALL)


class ContractError(ValueError):
    """A message that does not decode into the contract; ``errors`` say where and why."""

    def __init__(self, reason: str, errors: list[FieldError]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def decode_command(payload: bytes) -> JobCommand:
    """Depth is checked before msgspec's recursive decoder runs (see ``limits``)."""
    _refuse_deep(payload, MAX_COMMAND_DEPTH)
    try:
        return _command_decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise contract_error(exc) from None
    except msgspec.DecodeError as exc:
        reason = f"not valid JSON: {exc}"
        raise ContractError(reason, [FieldError(path="$", message=str(exc))]) from None


def decode_event(payload: bytes) -> JobEvent:
    _refuse_deep(payload, MAX_EVENT_DEPTH)
    try:
        return _event_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise contract_error(exc) from None


def _refuse_deep(payload: bytes, limit: int) -> None:
    if why := too_deep(payload, limit):
        reason = f"$: {why}"
        raise ContractError(reason, [FieldError(path="$", message=why)])


def field_error(text: str) -> FieldError:
    """msgspec's ``Expected `int`, got `str` - at `$.spec.options.forks``` as a path and a message.

    An unknown field is named by its own path: ``Object contains unknown field `run_at` - at
    `$.spec``` becomes ``$.spec.run_at`` with :data:`UNSUPPORTED`. The HTTP API reports its
    body's errors with this too, so both doors say the same.
    """
    message, sep, where = text.rpartition(" - at `")
    if not sep:
        return field_error_at("$", text)
    where = where.rstrip("`")
    if where.startswith("key` in `"):  # a mapping's key broke its rule: name the mapping
        error = field_error_at(where.removeprefix("key` in `"), message)
        return FieldError(path=error.path, message=f"a key: {error.message}")
    return field_error_at(where, message)


def field_error_at(path: str, message: str) -> FieldError:
    """msgspec's ``message`` about the object at ``path``; an unknown field gets its own path."""
    unknown = _UNKNOWN_FIELD.match(message)
    if unknown:
        return FieldError(path=f"{path}.{unknown['name']}", message=UNSUPPORTED)
    return FieldError(path=path, message=readable(message))


def contract_error(exc: msgspec.DecodeError) -> ContractError:
    error = field_error(str(exc))
    return ContractError(f"{error.path}: {error.message}", [error])
