"""Every inventory type, made ready in the job's private dir when the job starts.

``inline`` is rendered (pure); ``git`` is checked out from the source cache (a file, or a
directory with ``group_vars/`` and ``host_vars/``); ``url`` is fetched (TLS verified, time
and size limited); ``dynamic`` writes the plugin's config file; ``stored`` is the inventory its
``job.queued`` resolved. For every type but
``inline`` the host list comes from ``ansible-inventory --list``, which also refuses an
inventory ansible cannot parse before the job is recorded as started.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from playledger_common.paths import REPOSITORY, lexical_problem
from playledger_executor.errors import InventoryError
from playledger_executor.gitcache import GitAuth, SourceCache
from playledger_executor.inventory import render_inventory
from playledger_executor.tools import last_error, run_tool
from playledger_schemas.commands import (
    DynamicInventory,
    GitInventory,
    InlineInventory,
    Inventory,
    StoredInventory,
    UrlInventory,
)

INVENTORY_DIR: Final = "inventory"
INLINE_FILE: Final = "inventory/hosts.json"
URL_SUFFIX: Final = {"yaml": "yml", "json": "json", "ini": "ini"}
LIST_TIMEOUT_S: Final = 120.0


@dataclass(frozen=True, slots=True)
class PreparedInventory:
    """What the run uses: ``source`` relative to the private dir, and what it resolved to."""

    source: str
    hosts: list[str]
    sha256: str | None = None
    commit: str | None = None


@dataclass(frozen=True, slots=True)
class UrlLimits:
    timeout_s: float
    max_bytes: int


async def prepare_inventory(
    inventory: Inventory,
    private_dir: Path,
    cache: SourceCache,
    limits: UrlLimits,
    auth: GitAuth | None = None,
    env: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> PreparedInventory:
    """``env``: the job's secret environment (``cloud``, ``env``), which a dynamic inventory's
    plugin reads when ``ansible-inventory`` runs it; ``headers``: a url inventory's credential's."""
    (private_dir / INVENTORY_DIR).mkdir(parents=True, exist_ok=True)
    match inventory:
        case InlineInventory():
            rendered = render_inventory(inventory)
            body = json.dumps(rendered).encode()
            (private_dir / INLINE_FILE).write_bytes(body)
            return PreparedInventory(source=INLINE_FILE, hosts=inline_hosts(rendered), sha256=_sha(body))
        case GitInventory(repo=repo, branch=branch, path=path):
            checkout = await cache.checkout(repo, branch, private_dir / "inventory-repo", auth)
            rel = await asyncio.to_thread(_confined_inventory, checkout.root, path, private_dir)
            hosts = await list_hosts(private_dir, rel)
            return PreparedInventory(source=rel, hosts=hosts, commit=checkout.commit)
        case UrlInventory():
            body = await fetch_url_inventory(inventory, limits, headers)
            rel = f"{INVENTORY_DIR}/hosts.{URL_SUFFIX[inventory.format]}"
            (private_dir / rel).write_bytes(body)
            hosts = await list_hosts(private_dir, rel)
            return PreparedInventory(source=rel, hosts=hosts, sha256=_sha(body))
        case DynamicInventory(plugin=plugin, config=config):
            if "plugin" in config:
                msg = "$.spec.inventory.config: must not contain 'plugin' (it is the inventory's own field)"
                raise InventoryError(msg)
            body = json.dumps({"plugin": plugin, **config}, indent=2).encode()
            # Plugins check the file name (aws_ec2 wants ``*aws_ec2.yml``): name it after the plugin.
            rel = f"{INVENTORY_DIR}/{plugin.rsplit('.', 1)[1]}.yml"
            (private_dir / rel).write_bytes(body)
            hosts = await list_hosts(private_dir, rel, env)
            return PreparedInventory(source=rel, hosts=hosts, sha256=_sha(body))
        case StoredInventory(name=name, resolved=resolved):
            if resolved is None:  # accept() resolves every stored inventory before job.queued
                msg = f"stored inventory {name!r} was not resolved when the job was queued"
                raise InventoryError(msg)
            return await prepare_inventory(resolved, private_dir, cache, limits, auth, env, headers)


def inline_hosts(rendered: dict[str, Any]) -> list[str]:
    """Every host of a rendered inline inventory, sorted (pure)."""
    root = rendered["all"]
    hosts = set(root.get("hosts", {}))
    for group in root.get("children", {}).values():
        hosts.update(group.get("hosts", {}))
    return sorted(hosts)


def _confined_inventory(root: Path, path: str, private_dir: Path) -> str:
    """``path`` of the checkout at ``root``, relative to the private dir; symlinks may not leave."""
    if problem := lexical_problem(path, REPOSITORY):
        msg = f"inventory path {path!r} {problem}"
        raise InventoryError(msg)
    base = root.resolve()
    target = (base / path).resolve()
    if not target.is_relative_to(base):
        msg = f"inventory path {path!r} resolves outside the repository (symlink)"
        raise InventoryError(msg)
    if not target.exists():
        msg = f"inventory path {path!r} does not exist in the repository"
        raise InventoryError(msg)
    return target.relative_to(private_dir.resolve()).as_posix()


def request_headers(given: Mapping[str, str], secret: Mapping[str, str] | None) -> dict[str, str]:
    """The command's headers with the credential's over them (names compared case-insensitively)."""
    secret = secret or {}
    overridden = {name.lower() for name in secret}
    return {name: value for name, value in given.items() if name.lower() not in overridden} | dict(secret)


async def fetch_url_inventory(
    inventory: UrlInventory, limits: UrlLimits, secret_headers: Mapping[str, str] | None = None
) -> bytes:
    """The body at ``inventory.url``; TLS verified, no redirects followed, time and size bounded."""
    shown = inventory.url.split("?", 1)[0]
    headers = request_headers(inventory.headers, secret_headers)
    try:
        async with (
            httpx.AsyncClient(verify=True, timeout=limits.timeout_s, follow_redirects=False) as client,
            client.stream("GET", inventory.url, headers=headers) as response,
        ):
            if response.status_code != httpx.codes.OK:
                msg = f"inventory URL {shown} answered HTTP {response.status_code}"
                raise InventoryError(msg)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limits.max_bytes:
                    msg = f"inventory at {shown} is larger than the limit of {limits.max_bytes} bytes"
                    raise InventoryError(msg)
            return bytes(body)
    except httpx.TimeoutException:
        msg = f"inventory URL {shown} did not answer within {limits.timeout_s:g}s"
        raise InventoryError(msg) from None
    except httpx.HTTPError as exc:
        msg = f"inventory URL {shown} could not be fetched: {type(exc).__name__}"
        raise InventoryError(msg) from None


async def list_hosts(private_dir: Path, source: str, env: Mapping[str, str] | None = None) -> list[str]:
    """Every host ansible sees in ``source`` (``ansible-inventory --list``), sorted."""
    result = await run_tool(
        "ansible-inventory",
        "-i",
        source,
        "--list",
        private_dir=private_dir,
        cwd=private_dir,
        timeout_s=LIST_TIMEOUT_S,
        env={
            **(env or {}),
            "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
            "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        },
    )
    if result.rc is None:
        msg = f"the inventory was not read within {LIST_TIMEOUT_S:g}s"
        raise InventoryError(msg)
    if result.rc != 0:
        real = await asyncio.to_thread(_real, private_dir)
        shown = last_error(result.stderr).replace(f"{real}/", "").replace(f"{private_dir}/", "")
        msg = f"ansible could not read the inventory: {shown}"
        raise InventoryError(msg)
    return listed_hosts(json.loads(result.stdout))


def listed_hosts(listing: dict[str, Any]) -> list[str]:
    """Hosts of ``ansible-inventory --list`` output (pure)."""
    hosts = set(listing.get("_meta", {}).get("hostvars", {}))
    for name, group in listing.items():
        if name != "_meta" and isinstance(group, dict):
            hosts.update(group.get("hosts", []))
    return sorted(hosts)


def _real(path: Path) -> str:
    return str(path.resolve())


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
