"""Make the OpenAPI document state what the server enforces that Litestar leaves out.

Litestar (2.x) does not render ``forbid_unknown_fields`` as ``additionalProperties: false``, so
the document allowed extra body fields the server answers 422 for.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar

from playledger_api import models


def state_strict_bodies(app: Litestar) -> None:
    """``on_startup``: every request Struct that forbids unknown fields says so in its schema."""
    strict = {
        value.__name__
        for value in vars(models).values()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value.__struct_config__.forbid_unknown_fields
    }
    for name, schema in (app.openapi_schema.components.schemas or {}).items():
        if name in strict:
            schema.additional_properties = False
