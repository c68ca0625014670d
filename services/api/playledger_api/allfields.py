"""Every invalid field of a body, not only the first: msgspec stops at the first error, so a
body that fails is validated a second time against its exported JSON Schema (``jsonschema``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import msgspec
from jsonschema.validators import Draft202012Validator

from playledger_api.errors import FieldProblem
from playledger_schemas.codec import UNSUPPORTED


@cache
def _validator(model: type[msgspec.Struct]) -> Draft202012Validator:
    (root,), components = msgspec.json.schema_components([model], ref_template="#/$defs/{name}")
    return Draft202012Validator({**root, "$defs": components})


def json_path(parts: Iterable[Any]) -> str:
    path = "$"
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def every_problem(model: type[msgspec.Struct], document: object, first: FieldProblem) -> list[FieldProblem]:
    """``first`` (msgspec's own error), then each other invalid field the schema finds.

    An unknown field is named by its own path with the contract's message, as msgspec's is."""
    problems = [first]
    for error in sorted(
        _validator(model).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    ):
        path = json_path(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            found = [
                FieldProblem(path=f"{path}.{name}", message=UNSUPPORTED)
                for name in error.instance
                if name not in known
            ]
        else:
            found = [FieldProblem(path=path, message=error.message)]
        problems.extend(p for p in found if not any(_covers(p.path, seen.path) for seen in problems))
    return problems


def _covers(path: str, other: str) -> bool:
    """``path`` is ``other`` or one of its parents (the same problem, reported from higher up)."""
    return other == path or other.startswith((path + ".", path + "["))
