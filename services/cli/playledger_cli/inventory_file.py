"""Turn a ``-i`` argument into playledger's inline inventory.

Accepts ``host1,host2`` (as ansible-playbook does), a file in playledger's inline shape
(``{"type": "inline", ...}``), or a file in Ansible's YAML/JSON inventory format
(``all: {hosts, vars, children}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class InventoryFileError(ValueError):
    """The inventory argument or file cannot be read as an inventory."""


def inventory_from_arg(arg: str) -> dict[str, Any]:
    path = Path(arg)
    if path.is_file():
        return inventory_from_file(path)
    if "/" in arg or arg.endswith((".yml", ".yaml", ".json")):
        msg = f"inventory file {arg} does not exist"
        raise InventoryFileError(msg)
    hosts = [host.strip() for host in arg.split(",") if host.strip()]
    if not hosts:
        msg = f"no hosts in inventory {arg!r}"
        raise InventoryFileError(msg)
    return {"type": "inline", "hosts": hosts}


def inventory_from_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        msg = f"{path}: not YAML or JSON: {exc}"
        raise InventoryFileError(msg) from None
    if not isinstance(document, dict):
        msg = f"{path}: an inventory must be a mapping"
        raise InventoryFileError(msg)
    if document.get("type") == "inline":
        return document
    return from_ansible_yaml(document)


def from_ansible_yaml(document: dict[str, Any]) -> dict[str, Any]:
    """Ansible's YAML inventory (groups with hosts/vars/children) as an inline inventory."""
    hosts: list[str] = []
    host_vars: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    all_vars: dict[str, Any] = {}

    def visit(name: str, group: dict[str, Any] | None) -> None:
        group = group or {}
        members = []
        for host, variables in (group.get("hosts") or {}).items():
            if host not in hosts:
                hosts.append(host)
            members.append(host)
            if variables:
                host_vars.setdefault(host, {}).update(variables)
        children = list((group.get("children") or {}).keys())
        if name == "all":
            all_vars.update(group.get("vars") or {})
        elif name != "ungrouped":
            groups[name] = {"hosts": members, "children": children, "vars": group.get("vars") or {}}
        for child, child_group in (group.get("children") or {}).items():
            visit(child, child_group)

    for name, group in document.items():
        visit(name, group)
    inventory: dict[str, Any] = {"type": "inline", "hosts": hosts, "groups": groups}
    if host_vars:
        inventory["host_vars"] = host_vars
    if all_vars:
        inventory["vars"] = all_vars
    return inventory
