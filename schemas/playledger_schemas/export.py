"""Write the JSON Schema of every command, event and stored template, schedule or inventory into ``schemas/jsonschema/``.

Run ``playledger schemas export``; a test fails when the committed files drift. Commands
forbid unknown fields (``additionalProperties: false`` at every object level); events do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import msgspec

from playledger_schemas.commands import JobCommand
from playledger_schemas.events import StoredEvent
from playledger_schemas.inventories import StoredInventoryValue
from playledger_schemas.templates import Schedule, Template
from playledger_schemas.webhooks import WebhookMessage

SCHEMA_DIR: Final = Path(__file__).resolve().parent.parent / "jsonschema"


def _document(title: str, union: Any) -> dict[str, Any]:
    (root,), components = msgspec.json.schema_components([union], ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **root,
        "$defs": components,
    }


def documents() -> dict[str, dict[str, Any]]:
    return {
        "commands.json": _document("playledger command", JobCommand),
        "events.json": _document("playledger event", StoredEvent),
        "template.json": _document("playledger template (a value of PLAYLEDGER_TEMPLATES)", Template),
        "inventory.json": _document(
            "playledger stored inventory (a value of PLAYLEDGER_INVENTORIES)", StoredInventoryValue
        ),
        "schedule.json": _document("playledger schedule (a value of PLAYLEDGER_CRON)", Schedule),
        "webhooks.json": _document("playledger webhook delivery event or redelivery request", WebhookMessage),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def export(target: Path = SCHEMA_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in documents().items():
        path = target / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written
