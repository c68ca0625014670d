"""Stored inventories: what ``PLAYLEDGER_INVENTORIES`` (a JetStream key-value bucket) holds, one
JSON value per name.

Every change is a message of the bucket's stream (``KV_PLAYLEDGER_INVENTORIES``): a write is a
new revision of its name, a delete a marker. The stream keeps every revision (no per-name
history limit, no deletes, no purges, no roll-ups), so the inventory a job resolved (recorded in
its ``job.queued`` as ``version``) can be read back as long as the installation lives. Strict,
like commands: a field this version does not know is refused when it is written.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from playledger_schemas.commands import ConcreteInventory, Strict


class StoredInventoryValue(Strict, frozen=True, kw_only=True):
    """A pre-configured inventory of any type but ``stored``, and what it is for."""

    description: Annotated[str, Meta(max_length=1024)] = ""
    inventory: ConcreteInventory
    """Where the hosts come from (``inline``, ``git``, ``url`` or ``dynamic``)."""
