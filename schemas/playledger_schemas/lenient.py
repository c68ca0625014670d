"""The event-side view of command Structs: the same fields, unknown fields ignored.

Commands forbid unknown fields (``commands.Strict``): a publisher that asks for something
this version cannot do is rejected, never silently ignored. Events must not: old readers
have to accept new writers. Events embed a command's ``JobSpec`` (``job.queued``,
``job.started``), so they declare that field with ``lenient(JobSpec)`` (``events.SpecView``),
which gives each Struct that forbids unknown fields, or holds one at any depth, a *twin*:

- a subclass of the declared Struct (``isinstance``, ``match`` and the static types hold),
- with ``forbid_unknown_fields=False`` and its fields' types rewritten the same way,
- named like the declared Struct (the events' JSON Schema keeps its component names),
- equal to (and hashing like) a declared instance with the same field values.

Struct types that need no twin are returned as they are. Writers build events from the
declared Structs (``QueuedData(spec=command.spec)``); decoding gives the twins.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import msgspec
from msgspec.structs import FieldInfo, asdict, astuple

_twins: Final[dict[type[msgspec.Struct], type[msgspec.Struct]]] = {}
_declared: Final[dict[type[msgspec.Struct], type[msgspec.Struct]]] = {}


def lenient(tp: Any) -> Any:
    """``tp`` with every Struct in it replaced by a twin that ignores unknown fields."""
    origin = get_origin(tp)
    if origin is Annotated:
        inner, *metadata = get_args(tp)
        rewritten = lenient(inner)
        return tp if rewritten is inner else Annotated[(rewritten, *metadata)]
    if origin is Literal:
        return tp
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        new_args = tuple(lenient(arg) for arg in args)
        return tp if _same(args, new_args) else Union[new_args]  # noqa: UP007 - built from a tuple
    if origin is not None:
        args = get_args(tp)
        new_args = tuple(lenient(arg) for arg in args)
        return tp if _same(args, new_args) else origin[new_args]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return _twin(tp)
    return tp


def declared(tp: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """The Struct a twin stands for (a declared Struct stands for itself)."""
    return _declared.get(tp, tp)


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    return all(a is b for a, b in zip(old, new, strict=True))


def _twin(cls: type[msgspec.Struct]) -> type[msgspec.Struct]:
    known = _twins.get(cls)
    if known is not None:
        return known
    overrides: list[tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(cls):
        rewritten = lenient(field.type)
        if rewritten is not field.type:
            overrides.append((field.name, rewritten, _default(field)))
    config = cls.__struct_config__
    if not config.forbid_unknown_fields and not overrides:
        _twins[cls] = cls
        return cls
    twin = msgspec.defstruct(
        cls.__name__,
        overrides,
        bases=(cls,),
        module=cls.__module__,
        namespace={"__doc__": cls.__doc__, "__eq__": _eq, "__ne__": _ne, "__hash__": _hash},
        forbid_unknown_fields=False,
        frozen=config.frozen,
        kw_only=True,
    )
    _twins[cls] = twin
    _declared[twin] = cls
    return twin


def _default(field: FieldInfo) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.field(default_factory=field.default_factory)
    return msgspec.NODEFAULT


def _eq(self: msgspec.Struct, other: object) -> object:
    """Twin and declared Struct compare by value, like two instances of one Struct."""
    if not isinstance(other, msgspec.Struct):
        return NotImplemented
    return _same_values(self, other)


def _ne(self: msgspec.Struct, other: object) -> object:
    if not isinstance(other, msgspec.Struct):
        return NotImplemented
    return not _same_values(self, other)


def _same_values(a: msgspec.Struct, b: msgspec.Struct) -> bool:
    return declared(type(a)) is declared(type(b)) and bool(astuple(a) == astuple(b))


def _hash(self: msgspec.Struct) -> int:
    return hash(declared(type(self))(**asdict(self)))
