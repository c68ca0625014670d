"""A checkout's ``requirements.yml`` files, installed with ``ansible-galaxy`` for one job.

``requirements.yml`` and ``collections/requirements.yml`` install collections (and the roles
a top-level file lists), ``roles/requirements.yml`` installs roles. Each file is installed once
into ``<cache>/galaxy/<sha256 of the file>/`` and copied into the job's private dir, whose
paths the run gets in ``ANSIBLE_COLLECTIONS_PATH`` / ``ANSIBLE_ROLES_PATH``. ``ansible-galaxy``
runs in the checkout (so ``type: file`` entries may name paths inside the repository).

A job with a ``galaxy`` credential installs from that server, configured in ``ansible-galaxy``'s
environment only (``GalaxyAuth``); its installs are cached apart, keyed by the credential's name
too, so a job that does not name it never gets what it fetched.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from playledger_executor.errors import SourceError
from playledger_executor.tools import last_error, run_tool

FILES: Final = ("requirements.yml", "collections/requirements.yml", "roles/requirements.yml")
INSTALL_TIMEOUT_S: Final = 600.0


class RequirementsError(SourceError):
    """``ansible-galaxy`` could not install a requirements file."""


@dataclass(frozen=True, slots=True)
class GalaxyAuth:
    """The job's ``galaxy`` credential: its stored name (part of the cache key) and the
    environment that configures its server (``GalaxyTokenSecret.environment``)."""

    name: str
    env: dict[str, str] = field(repr=False)


async def install_requirements(
    checkout: Path, private_dir: Path, cache_root: Path, galaxy: GalaxyAuth | None = None
) -> dict[str, str]:
    """Install every requirements file of ``checkout``; the variables that make the run use them."""
    targets = []
    for name in FILES:
        file = checkout / name
        if await asyncio.to_thread(_inside, file, checkout):
            body = file.read_bytes()
            targets.append(await install_file(name, body, checkout, private_dir, cache_root, galaxy=galaxy))
    return search_paths(targets)


def cache_key(body: bytes, galaxy: GalaxyAuth | None) -> str:
    """A requirements file's cache entry: its sha256, with the credential's name when it has one."""
    digest = hashlib.sha256(body)
    if galaxy is not None:
        digest.update(b"\0credential:" + galaxy.name.encode())
    return digest.hexdigest()


async def install_file(
    name: str,
    body: bytes,
    cwd: Path,
    private_dir: Path,
    cache_root: Path,
    shown: str | None = None,
    galaxy: GalaxyAuth | None = None,
) -> Path:
    """The requirements file ``cwd / name`` (``body``; ``shown`` in errors, else ``name``), installed
    once into the cache (``cache_key``) and copied into the job's private dir; that copy, with
    ``collections/`` and ``roles/``."""
    cached = cache_root / "galaxy" / cache_key(body, galaxy)
    if not cached.is_dir():
        env = galaxy.env if galaxy is not None else {}
        await _install(shown or name, body, cwd / name, cwd, private_dir, cached, env)
    target = private_dir / "requirements" / name.replace("/", "-").removesuffix(".yml")
    await asyncio.to_thread(shutil.copytree, cached, target, symlinks=True)
    return target


def search_paths(targets: list[Path]) -> dict[str, str]:
    """The variables that make a run use installed requirements (none: no variables)."""
    if not targets:
        return {}
    return {
        "ANSIBLE_COLLECTIONS_PATH": ":".join(str(t / "collections") for t in targets),
        "ANSIBLE_ROLES_PATH": ":".join(str(t / "roles") for t in targets),
    }


def _inside(file: Path, checkout: Path) -> bool:
    """A regular file that, symlinks followed, stays inside the checkout."""
    return file.is_file() and file.resolve().is_relative_to(checkout.resolve())


async def _install(
    name: str, body: bytes, file: Path, cwd: Path, private_dir: Path, cached: Path, env: dict[str, str]
) -> None:
    try:
        parsed: Any = yaml.safe_load(body)
    except yaml.YAMLError:
        msg = f"{name} is not valid YAML"
        raise RequirementsError(msg) from None
    kinds = _kinds(name, parsed)
    staging = cached.with_name(f"{cached.name}.tmp-{private_dir.name}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for kind in kinds:
            dest = staging / ("collections" if kind == "collection" else "roles")
            dest.mkdir(parents=True, exist_ok=True)
            await _galaxy(name, kind, file, dest, cwd, private_dir, env)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for sub in ("collections", "roles"):
        (staging / sub).mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(cached)
    except OSError:  # another job installed the same file first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)


def _kinds(name: str, parsed: Any) -> list[str]:
    if name == "roles/requirements.yml" or isinstance(parsed, list):
        return ["role"]
    if not isinstance(parsed, dict):
        msg = f"{name} must be a mapping with 'collections' and/or 'roles', or a list of roles"
        raise RequirementsError(msg)
    return [kind for key, kind in (("collections", "collection"), ("roles", "role")) if parsed.get(key)]


async def _galaxy(
    name: str, kind: str, file: Path, dest: Path, checkout: Path, private_dir: Path, env: dict[str, str]
) -> None:
    result = await run_tool(
        "ansible-galaxy",
        kind,
        "install",
        "-r",
        str(file),
        "-p",
        str(dest),
        private_dir=private_dir,
        cwd=checkout,
        timeout_s=INSTALL_TIMEOUT_S,
        env=env,
    )
    if result.rc is None:
        msg = f"installing {name} did not finish within {INSTALL_TIMEOUT_S:g}s"
        raise RequirementsError(msg)
    if result.rc != 0:
        msg = f"installing {name} with ansible-galaxy failed: {last_error(result.stdout + result.stderr)}"
        raise RequirementsError(msg)
