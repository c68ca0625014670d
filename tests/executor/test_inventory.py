"""Inline inventories render to what ansible itself reads back (checked with ansible-inventory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from playledger_executor.errors import InventoryError
from playledger_executor.inventory import render_inventory
from playledger_schemas.commands import InlineInventory, InventoryGroup

INVENTORY = InlineInventory(
    hosts=["h1"],
    groups={
        "web": ["h2", "h3"],
        "db": InventoryGroup(hosts=["h4"], vars={"port": 5432}),
        "prod": InventoryGroup(children=["web", "db"], vars={"env": "prod"}),
    },
    host_vars={"h2": {"weight": 2}, "h4": {"primary": True}},
    vars={"ansible_connection": "local"},
)


@pytest.mark.unit
def test_render_shape() -> None:
    rendered = render_inventory(INVENTORY)
    root = rendered["all"]
    assert root["vars"] == {"ansible_connection": "local"}
    assert root["hosts"] == {"h1": {}, "h2": {"weight": 2}, "h4": {"primary": True}}
    assert root["children"]["web"] == {"hosts": {"h2": {"weight": 2}, "h3": {}}}
    assert root["children"]["db"] == {"hosts": {"h4": {"primary": True}}, "vars": {"port": 5432}}
    assert root["children"]["prod"] == {"children": {"web": {}, "db": {}}, "vars": {"env": "prod"}}


@pytest.mark.unit
@pytest.mark.parametrize("name", ["all", "ungrouped"])
def test_reserved_group_names_are_refused(name: str) -> None:
    with pytest.raises(InventoryError, match="reserved group name"):
        render_inventory(InlineInventory(groups={name: ["h1"]}))


@pytest.mark.integration
def test_ansible_reads_the_rendered_inventory(tmp_path: Path) -> None:
    path = tmp_path / "hosts.json"
    path.write_text(json.dumps(render_inventory(INVENTORY)))
    out = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    listing = json.loads(out.stdout)
    hostvars = listing["_meta"]["hostvars"]
    assert hostvars["h2"] == {"ansible_connection": "local", "env": "prod", "weight": 2}
    assert hostvars["h4"] == {"ansible_connection": "local", "env": "prod", "port": 5432, "primary": True}
    assert hostvars["h1"] == {"ansible_connection": "local"}
    assert sorted(listing["web"]["hosts"]) == ["h2", "h3"]
    assert sorted(listing["prod"]["children"]) == ["db", "web"]
    assert listing["ungrouped"]["hosts"] == ["h1"]
