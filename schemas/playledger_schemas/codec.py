"""Encoders and decoders, built once per union (msgspec's advice) and reused everywhere."""

from __future__ import annotations

from typing import Final

import msgspec

from playledger_schemas.commands import JobCommand
from playledger_schemas.events import FieldError, JobEvent
from playledger_schemas.messages import readable

_encoder: Final = msgspec.json.Encoder()
_command_decoder: Final[msgspec.json.Decoder[JobCommand]] = msgspec.json.Decoder(JobCommand)
_event_decoder: Final[msgspec.json.Decoder[JobEvent]] = msgspec.json.Decoder(JobEvent)


class ContractError(ValueError):
    """A message that does not decode into the contract; ``errors`` say where and why."""

    def __init__(self, reason: str, errors: list[FieldError]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


def encode(message: msgspec.Struct) -> bytes:
    return _encoder.encode(message)


def decode_command(payload: bytes) -> JobCommand:
    try:
        return _command_decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise contract_error(exc) from None
    except msgspec.DecodeError as exc:
        reason = f"not valid JSON: {exc}"
        raise ContractError(reason, [FieldError(path="$", message=str(exc))]) from None


def decode_event(payload: bytes) -> JobEvent:
    try:
        return _event_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise contract_error(exc) from None


def contract_error(exc: msgspec.DecodeError) -> ContractError:
    """Turn msgspec's ``Expected `int`, got `str` - at `$.spec.options.forks``` into a field error."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    if sep:
        path = where.rstrip("`")
        message = readable(message)
        return ContractError(f"{path}: {message}", [FieldError(path=path, message=message)])
    return ContractError(text, [FieldError(path="$", message=text)])
