"""Commands are strict, events are lenient, at every nesting level (ARCHITECTURE invariant 7).

The cases are generated: every Struct reachable from the command and event unions is found
by walking their types, the samples must hold each of them, and an unknown field is put into
every object of a sample that is a Struct, one at a time and all at once.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

import jsonschema
from playledger_projector.batch import Decoded, decode_message, event_row
from playledger_projector.facts import facts_of
from playledger_schemas import export
from playledger_schemas.codec import UNSUPPORTED, ContractError, decode_command, decode_event, encode
from playledger_schemas.commands import JobCommand
from playledger_schemas.events import FieldError, JobEvent, RunnerEvent, event_tag
from playledger_schemas.lenient import declared
from tests.newer_writer import UNKNOWN, struct_objects, struct_types, with_unknown
from tests.schemas.test_contract import COMMANDS, EVENTS

pytestmark = pytest.mark.unit


def cases(messages: list[Any]) -> list[Any]:
    return [
        pytest.param(message, path, where, id=f"{type(message).__name__}:{path}")
        for message in messages
        for path, where, _ in struct_objects(message)
    ]


@pytest.mark.parametrize(
    ("union", "messages"), [(JobCommand, COMMANDS), (JobEvent, EVENTS)], ids=["commands", "events"]
)
def test_the_samples_hold_every_struct_the_contract_can_reach(union: Any, messages: list[Any]) -> None:
    reachable = {declared(node.cls) for node in struct_types(mi.type_info(union))}
    sampled = {cls for message in messages for _, _, cls in struct_objects(message)}
    assert reachable - sampled == set(), "add a sample that holds these Structs"


def test_every_struct_a_command_reaches_forbids_unknown_fields() -> None:
    lax = [
        node.cls.__name__ for node in struct_types(mi.type_info(JobCommand)) if not node.forbid_unknown_fields
    ]
    assert lax == []


def test_no_struct_an_event_decodes_into_forbids_unknown_fields() -> None:
    strict = [
        node.cls.__name__ for node in struct_types(mi.type_info(JobEvent)) if node.forbid_unknown_fields
    ]
    assert strict == []


def test_the_exported_command_schema_forbids_unknown_properties_on_every_object() -> None:
    document = export.documents()["commands.json"]
    objects = {name: schema for name, schema in document["$defs"].items() if schema.get("type") == "object"}
    assert objects
    assert {name: schema.get("additionalProperties") for name, schema in objects.items()} == dict.fromkeys(
        objects, False
    )
    events = json.dumps(export.documents()["events.json"])
    assert '"additionalProperties": false' not in events


@pytest.mark.parametrize(("message", "path", "where"), cases(COMMANDS))
def test_a_command_with_an_unknown_field_at_any_depth_is_rejected_naming_it(
    message: msgspec.Struct, path: str, where: tuple[str | int, ...]
) -> None:
    document = with_unknown(message, [where])
    with pytest.raises(ContractError) as caught:
        decode_command(json.dumps(document).encode())
    assert caught.value.errors == [FieldError(path=f"{path}.{UNKNOWN}", message=UNSUPPORTED)]
    assert caught.value.reason == f"{path}.{UNKNOWN}: {UNSUPPORTED}"
    schema = {
        "$defs": export.documents()["commands.json"]["$defs"],
        "$ref": f"#/$defs/{type(message).__name__}",
    }
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate(document, schema)
    assert any(  # inside a union (anyOf) the reason is one of the branch errors
        "Additional properties are not allowed" in error.message for error in _all(refused.value)
    ), refused.value.message


def _all(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
    return [error, *(sub for child in error.context or [] for sub in _all(child))]


@pytest.mark.parametrize(("message", "path", "where"), cases(EVENTS))
def test_an_event_with_an_unknown_field_at_any_depth_decodes(
    message: JobEvent, path: str, where: tuple[str | int, ...]
) -> None:
    payload = json.dumps(with_unknown(message, [where])).encode()
    assert decode_event(payload) == message
    item = decode_message(7, "playledger.append.job.job-1.x", payload)
    assert isinstance(item, Decoded)
    if isinstance(message, RunnerEvent):  # the projector reads a runner event's data as its facts
        read, declared = (msgspec.json.encode(f) for f in (item.facts, facts_of(message.data)))
        assert msgspec.json.decode(read) == msgspec.json.decode(declared)
        envelope = (
            item.event.event_id,
            item.event.job_id,
            item.event.attempt,
            item.event.seq,
            item.event.time,
        )
        assert envelope == (message.event_id, message.job_id, message.attempt, message.seq, message.time)
    else:
        assert item.event == message
    assert event_row(item).type == event_tag(
        message
    )  # the projector's row of it, tagged like the declared type


@pytest.mark.parametrize("message", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_with_unknown_fields_at_every_level_at_once_decodes_and_validates(message: JobEvent) -> None:
    document = with_unknown(message, [where for _, where, _ in struct_objects(message)])
    decoded = decode_event(json.dumps(document).encode())
    assert decoded == message
    assert isinstance(decoded, type(message))
    assert encode(decoded) == encode(message)
    jsonschema.validate(document, export.documents()["events.json"])


def test_a_decoded_event_holds_the_declared_types_and_hashes_like_them() -> None:
    queued = EVENTS[0]
    decoded = decode_event(encode(queued))
    spec = decoded.data.spec  # type: ignore[union-attr]
    assert type(decoded) is type(queued)
    assert type(spec) is not type(queued.data.spec)  # type: ignore[union-attr] - the lenient twin
    assert isinstance(spec, type(queued.data.spec))  # type: ignore[union-attr]
    assert hash(spec.source) == hash(queued.data.spec.source)  # type: ignore[union-attr]
    assert copy.copy(spec) == queued.data.spec  # type: ignore[union-attr]
