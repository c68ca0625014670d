"""The pure parts of the client CLI: inventories, extra vars, request bodies, exit codes."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from playledger_cli.client_cli import build_body, parse_extra_vars
from playledger_cli.follow import exit_code_for
from playledger_cli.inventory_file import InventoryFileError, inventory_from_arg
from playledger_schemas.commands import InlineInventory, JobOptions

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_comma_list_is_an_inline_inventory() -> None:
    assert inventory_from_arg("web1, web2,") == {"type": "inline", "hosts": ["web1", "web2"]}


def test_ansible_yaml_inventory_becomes_inline_and_validates_against_the_contract() -> None:
    inventory = inventory_from_arg(str(EXAMPLES / "inventory.yml"))
    assert inventory["hosts"] == ["web1", "web2", "db1"]
    assert inventory["groups"]["web"] == {"hosts": ["web1", "web2"], "children": [], "vars": {}}
    assert inventory["vars"] == {"ansible_connection": "local"}
    msgspec.convert(inventory, InlineInventory)


def test_a_missing_inventory_file_is_a_clear_error() -> None:
    with pytest.raises(InventoryFileError, match="does not exist"):
        inventory_from_arg("nope/hosts.yml")


def test_extra_vars_merge_like_ansible_playbook(tmp_path: Path) -> None:
    file = tmp_path / "vars.yml"
    file.write_text("a: 1\nb: [x]\n", encoding="utf-8")
    assert parse_extra_vars(("a=0 c=3", f"@{file}", '{"c": {"d": true}}')) == {
        "a": 1,
        "b": ["x"],
        "c": {"d": True},
    }


def test_the_request_body_carries_every_option() -> None:
    body = build_body(
        "site.yml",
        "h1,h2",
        extra_vars={"x": 1},
        connection="local",
        limit="h1",
        tags=("a,b",),
        check=True,
        forks=3,
        priority="high",
        job_id="my-job",
    )
    assert body["id"] == "my-job"
    assert body["inventory"]["vars"] == {"ansible_connection": "local"}
    options = msgspec.convert(body["options"], JobOptions)
    assert (options.limit, options.tags, options.check_mode, options.forks) == ("h1", ["a", "b"], True, 3)


@pytest.mark.parametrize(
    ("outcome", "rc", "code"),
    [
        ("succeeded", 0, 0),
        ("failed", 2, 2),
        ("failed", 4, 4),
        ("failed", None, 2),
        ("canceled", 254, 99),
        ("timed_out", 254, 124),
        ("error", None, 1),
        ("rejected", None, 5),
        (None, None, 1),
    ],
)
def test_exit_codes_follow_ansible_playbook(outcome: str | None, rc: int | None, code: int) -> None:
    assert exit_code_for(outcome, rc) == code
