"""Every invalid field of a body, not only the first: msgspec stops at the first error, so a
body that fails is validated a second time against its exported JSON Schema (``jsonschema``)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

import msgspec
from jsonschema.validators import Draft202012Validator

from playledger_api.errors import FieldProblem


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
    """``first`` (msgspec's own error), then each other invalid field the schema finds."""
    problems = [first]
    for error in sorted(
        _validator(model).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    ):
        path = json_path(error.absolute_path)
        if any(
            path == p.path or p.path.startswith(path + ".") or p.path.startswith(path + "[") for p in problems
        ):
            continue
        problems.append(FieldProblem(path=path, message=error.message))
    return problems
