"""The pure parts of the client CLI: -e and -i (ansible's own parsers), request bodies, exit codes."""

from __future__ import annotations

from pathlib import Path

import httpx
import msgspec
import pytest

from playledger_cli.ansible_input import AnsibleInputError, inventory_from_arg, load_extra_vars
from playledger_cli.api_client import Api
from playledger_cli.client_cli import build_body
from playledger_cli.endpoints import Endpoint
from playledger_cli.exitcodes import ExitCode, exit_code_for
from playledger_schemas.commands import InlineInventory, JobOptions
from playledger_schemas.status import TerminalStatus

pytestmark = pytest.mark.unit

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_a_comma_list_is_an_inline_inventory() -> None:
    assert inventory_from_arg("web1, web2,") == {"type": "inline", "hosts": ["web1", "web2"]}


def test_host_ranges_expand_as_in_ansible() -> None:
    assert inventory_from_arg("web[1:3],db1")["hosts"] == ["web1", "web2", "web3", "db1"]


def test_ansible_yaml_inventory_becomes_inline_and_validates_against_the_contract() -> None:
    inventory = inventory_from_arg(str(EXAMPLES / "inventory.yml"))
    assert inventory["hosts"] == ["web1", "web2", "db1"]
    assert inventory["groups"]["web"] == {"hosts": ["web1", "web2"], "children": [], "vars": {}}
    assert inventory["vars"] == {"ansible_connection": "local"}
    msgspec.convert(inventory, InlineInventory)


def test_an_ini_inventory_with_ranges_children_and_vars(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "[web]\nweb[1:2] ansible_port=2222\n\n[db]\ndb1\n\n[prod:children]\nweb\ndb\n\n"
        "[prod:vars]\ntier=gold\n\n[all:vars]\nansible_connection=local\n",
        encoding="utf-8",
    )
    inventory = inventory_from_arg(str(hosts))
    assert inventory["hosts"] == ["web1", "web2", "db1"]
    assert inventory["groups"]["prod"] == {"hosts": [], "children": ["web", "db"], "vars": {"tier": "gold"}}
    assert inventory["host_vars"] == {"web1": {"ansible_port": 2222}, "web2": {"ansible_port": 2222}}
    assert inventory["vars"] == {"ansible_connection": "local"}
    assert type(inventory["host_vars"]["web1"]["ansible_port"]) is int  # plain, not ansible's tagged int
    msgspec.json.encode(msgspec.convert(inventory, InlineInventory))


def test_a_malformed_inventory_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("all:\n  hosts:\n    a: {x: 1\n  vars: 2\n", encoding="utf-8")
    with pytest.raises(AnsibleInputError) as caught:
        inventory_from_arg(str(bad))
    message = str(caught.value)
    assert message.startswith(f"inventory {bad}:")
    assert "\n" not in message
    assert "<unicode string>" not in message
    line = int(message.split(":")[1])
    assert 3 <= line <= 5


def test_a_missing_inventory_file_is_a_clear_error() -> None:
    with pytest.raises(AnsibleInputError, match="does not exist"):
        inventory_from_arg("nope/hosts.yml")
    with pytest.raises(AnsibleInputError, match="a list of hosts needs a comma"):
        inventory_from_arg("web1")


def test_extra_vars_are_read_like_ansible_playbook(tmp_path: Path) -> None:
    file = tmp_path / "vars.yml"
    file.write_text("a: 1\nb: [x]\n", encoding="utf-8")
    merged = load_extra_vars(("a=0 c=3", "msg=\"a b\" other='c d'", f"@{file}", '{"c": {"d": true}}'))
    assert merged == {"a": 1, "b": ["x"], "c": {"d": True}, "msg": "a b", "other": "c d"}
    assert load_extra_vars(("{release: 2.0}",)) == {"release": 2.0}  # YAML, as ansible-playbook reads it
    msgspec.json.encode(merged)  # plain values, ready for the wire


def test_bad_extra_vars_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(AnsibleInputError, match="does not exist"):
        load_extra_vars((f"@{tmp_path / 'none.yml'}",))
    with pytest.raises(AnsibleInputError, match="YAML parsing failed"):
        load_extra_vars(('{"a": [1',))
    with pytest.raises(AnsibleInputError, match="prepend extra_vars filename"):
        load_extra_vars(("/etc/vars.yml",))


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
        ("successful", 0, 0),
        ("failed", 2, 2),
        ("failed", 4, 4),
        ("failed", None, 2),
        ("canceled", 254, 99),
        ("timeout", 254, 124),
        ("error", None, 1),
        ("rejected", None, 5),
        (None, None, 1),
    ],
)
def test_exit_codes_follow_ansible_playbook(
    outcome: TerminalStatus | None, rc: int | None, code: int
) -> None:
    assert exit_code_for(outcome, rc) == code


def test_ansible_playbooks_own_codes_are_the_ones_we_use() -> None:
    from ansible.errors import ExitCode as Ansible

    assert ExitCode.HOSTS_FAILED == Ansible.HOST_FAILED
    assert ExitCode.HOSTS_UNREACHABLE == Ansible.HOST_UNREACHABLE
    assert ExitCode.INVALID_OPTIONS == Ansible.INVALID_CLI_OPTION
    assert ExitCode.CANCELED == Ansible.KEYBOARD_INTERRUPT
    assert ExitCode.UNEXPECTED == Ansible.UNKNOWN_ERROR


def test_a_field_problem_is_said_once_with_the_projects_directory_hint() -> None:
    api = Api(Endpoint("http://127.0.0.1:1", "from --api-url"))
    problem = {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "$.source.path: does not exist in the projects directory",
        "errors": [{"path": "$.source.path", "message": "does not exist in the projects directory"}],
    }
    error = api.problem(httpx.Response(422, json=problem))
    message = error.format_message()
    assert message.count("does not exist") == 1
    assert "PLAYLEDGER_PROJECTS_DIR" in message
    assert error.code == ExitCode.INVALID_OPTIONS
    assert api.problem(httpx.Response(404, json={**problem, "errors": []})).code == ExitCode.ERROR


def test_the_readme_documents_every_exit_code() -> None:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("**Exit codes**", 1)[1].split("\n\n", 2)[1]
    documented = {int(row.split("|")[1]) for row in table.splitlines() if row.split("|")[1].strip().isdigit()}
    assert documented == {int(code) for code in ExitCode}
