"""``-e`` and ``-i`` read with ansible-core's own parsers, so they accept what ansible-playbook does.

- ``-e``: ``key=value`` with shell-style quoting (``msg="a b"``), YAML/JSON, ``@file``; later
  ones win (``ansible.utils.vars.load_extra_vars``).
- ``-i``: ``host1,host2``, host ranges (``web[1:3],``), INI, YAML and TOML inventory files
  (``InventoryManager``), or a file in playledger's inline shape (``type: inline``). Dynamic
  inventory scripts are not run: a job carries its inventory as data.

The result is plain JSON-ready data (ansible tags every value it loads). Errors name the
file and, where ansible knows it, the line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from playledger_common.errors import PlayledgerError

# Variables ansible sets on every host it reads from a file; the executor sets its own.
_MAGIC_HOST_VARS: Final = frozenset({"inventory_file", "inventory_dir"})
_YAML_SUFFIXES: Final = (".yml", ".yaml", ".json")


class AnsibleInputError(PlayledgerError):
    """An ``-e`` or ``-i`` value that ansible-playbook would refuse too."""


def load_extra_vars(values: tuple[str, ...]) -> dict[str, Any]:
    from ansible import context
    from ansible.errors import AnsibleError
    from ansible.module_utils.common.collections import ImmutableDict
    from ansible.parsing.dataloader import DataLoader
    from ansible.utils import vars as ansible_vars

    for value in values:
        if value.startswith("@") and not Path(value[1:]).is_file():
            msg = f"-e {value}: extra vars file {value[1:]} does not exist"
            raise AnsibleInputError(msg)
    # ansible reads its command line from a global and caches the result: set both, then restore.
    previous, context.CLIARGS = context.CLIARGS, ImmutableDict(extra_vars=values)
    ansible_vars.load_extra_vars.extra_vars = None
    try:
        return plain(ansible_vars.load_extra_vars(DataLoader()))  # type: ignore[no-any-return]
    except AnsibleError as exc:
        msg = f"-e: {problem(exc)}"
        raise AnsibleInputError(msg) from None
    finally:
        context.CLIARGS = previous
        ansible_vars.load_extra_vars.extra_vars = None


def inventory_from_arg(arg: str) -> dict[str, Any]:
    """playledger's inline inventory for an ``-i`` argument."""
    path = Path(arg)
    if path.is_file():
        return inventory_from_file(path)
    if "," not in arg:
        hint = "" if "/" in arg or path.suffix else f" (a list of hosts needs a comma: -i {arg},)"
        msg = f"inventory file {arg} does not exist{hint}"
        raise AnsibleInputError(msg)
    return _parse(arg, plugins=["advanced_host_list"])


def inventory_from_file(path: Path) -> dict[str, Any]:
    if path.suffix in _YAML_SUFFIXES:
        with contextlib.suppress(yaml.YAMLError, OSError):
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            if isinstance(document, dict) and document.get("type") == "inline":
                return document
        return _parse(str(path), plugins=["yaml"])
    return _parse(str(path), plugins=["toml"] if path.suffix == ".toml" else ["ini"])


def _parse(source: str, *, plugins: list[str]) -> dict[str, Any]:
    from ansible import constants
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    constants.INVENTORY_ENABLED = plugins  # one parser per format: its error is the one to show
    constants.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    with _plugin_failures() as failures:
        try:
            manager = InventoryManager(loader=DataLoader(), sources=[source])
        except AnsibleError as exc:
            cause = failures[0] if failures else exc
            msg = f"inventory {problem(cause, default_path=source)}"
            raise AnsibleInputError(msg) from None
    groups: dict[str, Any] = {}
    all_vars: dict[str, Any] = {}
    for name, group in manager.groups.items():
        if name == "all":
            all_vars = plain(group.vars)
        elif name != "ungrouped":
            groups[str(name)] = {
                "hosts": [str(host.name) for host in group.hosts],
                "children": [str(child.name) for child in group.child_groups],
                "vars": plain(group.vars),
            }
    host_vars = {
        str(name): variables
        for name, host in manager.hosts.items()
        if (variables := plain({k: v for k, v in host.vars.items() if k not in _MAGIC_HOST_VARS}))
    }
    inventory: dict[str, Any] = {"type": "inline", "hosts": plain(list(manager.hosts))}
    if groups:
        inventory["groups"] = groups
    if host_vars:
        inventory["host_vars"] = host_vars
    if all_vars:
        inventory["vars"] = all_vars
    return inventory


@contextlib.contextmanager
def _plugin_failures() -> Iterator[list[BaseException]]:
    """Collect the per-plugin parse errors ansible would print as warnings."""
    from ansible.inventory import manager

    failures: list[BaseException] = []
    original = manager.display.error_as_warning

    def collect(msg: str | None, exception: BaseException, **_: object) -> None:
        del msg
        failures.append(exception)

    manager.display.error_as_warning = collect
    try:
        yield failures
    finally:
        manager.display.error_as_warning = original


def problem(exc: BaseException, default_path: str | None = None) -> str:
    """``file:line:col: message`` from the deepest place ansible recorded, first line only."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    where = default_path
    seen: BaseException | None = exc
    while seen is not None:
        origin = getattr(seen, "obj", None)
        path, line = getattr(origin, "path", None), getattr(origin, "line_num", None)
        if path:
            where = f"{path}:{line}:{getattr(origin, 'col_num', None) or 1}" if line else str(path)
        seen = seen.__cause__ or seen.__context__
    return f"{where}: {message}" if where else message


def plain(value: Any) -> Any:
    """Ansible's tagged values as plain ``dict``/``list``/``str``/… (JSON-ready)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    return value
