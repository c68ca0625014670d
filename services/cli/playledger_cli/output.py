"""``--output``: text for people, or JSON Lines for scripts — one style for every command.

With ``--output json`` a command prints one compact JSON document per line: one line for a
single answer (``show``, ``cancel``, a ``jobs`` page, ``submit --no-wait``), one line per
item for a stream (``submit``'s and ``replay``'s events, ``logs``' lines).
"""

from __future__ import annotations

import sys
from typing import Any, Final

import click
import msgspec

_encoder: Final = msgspec.json.Encoder()

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one compact JSON document per line (JSON Lines).",
)


def emit_json(value: Any) -> None:
    sys.stdout.write(_encoder.encode(value).decode() + "\n")
    sys.stdout.flush()
