"""Render an inline inventory into ansible's YAML/JSON inventory shape (pure)."""

from __future__ import annotations

from typing import Any, Final

from playledger_executor.errors import InventoryError
from playledger_schemas.commands import InlineInventory, InventoryGroup

RESERVED_GROUPS: Final = frozenset({"all", "ungrouped"})


def render_inventory(inventory: InlineInventory) -> dict[str, Any]:
    """``{"all": {"hosts": …, "vars": …, "children": …}}``, loadable by ansible's yaml plugin.

    Every host named in ``hosts`` or ``host_vars`` sits under ``all.hosts`` with its variables;
    groups list their hosts (variables already attached) and child groups.
    """
    hosts: dict[str, dict[str, Any]] = {}
    for host in [*inventory.hosts, *inventory.host_vars]:
        hosts.setdefault(host, dict(inventory.host_vars.get(host, {})))
    children: dict[str, dict[str, Any]] = {}
    for name, value in inventory.groups.items():
        if name in RESERVED_GROUPS:
            msg = (
                f"$.spec.inventory.groups.{name}: {name!r} is a reserved group name (use vars for all hosts)"
            )
            raise InventoryError(msg)
        group = value if isinstance(value, InventoryGroup) else InventoryGroup(hosts=value)
        rendered: dict[str, Any] = {}
        if group.hosts:
            rendered["hosts"] = {host: dict(inventory.host_vars.get(host, {})) for host in group.hosts}
        if group.children:
            rendered["children"] = {child: {} for child in group.children}
        if group.vars:
            rendered["vars"] = dict(group.vars)
        children[name] = rendered
    root: dict[str, Any] = {}
    if hosts:
        root["hosts"] = hosts
    if inventory.vars:
        root["vars"] = dict(inventory.vars)
    if children:
        root["children"] = children
    return {"all": root}
