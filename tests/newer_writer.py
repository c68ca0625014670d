"""Walk the contract's Structs and write messages the way a newer writer would (unknown fields)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi

from playledger_schemas.codec import encode
from playledger_schemas.lenient import declared

UNKNOWN = "zz_from_a_newer_writer"


def struct_types(info: mi.Type) -> Iterator[mi.StructType]:
    """Every Struct type reachable from ``info``, depth first (a Struct may recur)."""
    seen: set[type] = set()
    stack = [info]
    while stack:
        node = stack.pop()
        if isinstance(node, mi.StructType):
            if node.cls in seen:
                continue
            seen.add(node.cls)
            yield node
            stack.extend(field.type for field in node.fields)
        elif isinstance(node, mi.UnionType):
            stack.extend(node.types)
        elif isinstance(node, mi.Metadata):
            stack.append(node.type)
        elif isinstance(node, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
            stack.append(node.item_type)
        elif isinstance(node, mi.TupleType):
            stack.extend(node.item_types)
        elif isinstance(node, mi.DictType):
            stack.extend((node.key_type, node.value_type))


def struct_objects(
    value: Any, path: str = "$", where: tuple[str | int, ...] = ()
) -> Iterator[tuple[str, tuple[str | int, ...], type]]:
    """Every Struct in a message: its path as msgspec names it, its place in the JSON, its type."""
    if isinstance(value, msgspec.Struct):
        yield path, where, declared(type(value))
        for field in msgspec.structs.fields(value):
            name = field.encode_name
            yield from struct_objects(getattr(value, field.name), f"{path}.{name}", (*where, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from struct_objects(item, f"{path}[{index}]", (*where, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from struct_objects(item, f"{path}[...]", (*where, key))


def with_unknown(message: msgspec.Struct, places: list[tuple[str | int, ...]]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode(message))
    for where in places:
        node: Any = document
        for step in where:
            node = node[step]
        node[UNKNOWN] = {"nested": [1, {"deeper": True}]}
    return document


def newer(message: msgspec.Struct) -> bytes:
    """``message`` with an unknown field in every object that is a Struct, at every depth."""
    return json.dumps(with_unknown(message, [where for _, where, _ in struct_objects(message)])).encode()
