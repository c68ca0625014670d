"""Where a job's playbook comes from: the projects directory (``local``) or a git checkout.

``resolve_source`` locates a local playbook (also the intake's check); ``prepare_source``
runs when the job starts and returns what ran: for git, the commit the ref resolved to, and
for every source the sha256 of the playbook file.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from playledger_common.paths import REPOSITORY
from playledger_executor.errors import SourceError
from playledger_executor.gitcache import GitAuth, SourceCache
from playledger_executor.paths import confine
from playledger_executor.requirements import GalaxyAuth, install_file, install_requirements, search_paths
from playledger_schemas.commands import (
    CollectionRoleSource,
    GitPlaybookSource,
    GitRoleSource,
    JobOptions,
    LocalSource,
    Source,
)

ROLE_PLAYBOOK: Final = "playledger-role.yml"
"""The generated playbook of a role source, written next to the checkout (not inside it)."""
COLLECTION_REQUIREMENTS: Final = "collection-requirements.yml"
"""The requirements file a ``collection_role`` source is installed from (in the private dir)."""


@dataclass(frozen=True, slots=True)
class Playbook:
    """What ansible-runner needs: the directory to run in and the playbook relative to it."""

    project_dir: Path
    playbook: str
    commit: str | None = None
    sha256: str | None = None
    envvars: dict[str, str] = field(default_factory=dict)
    """For the run: where the checkout's installed requirements are."""


def resolve_source(source: Source, projects_dir: Path) -> Playbook:
    """Check and locate a local playbook; raises ``SourceError`` with a precise reason.

    A git source is located only when the job starts (``prepare_source``)."""
    match source:
        case LocalSource(path=path):
            target = confine(projects_dir, path)
            root = projects_dir.resolve()
            return Playbook(project_dir=root, playbook=target.relative_to(root).as_posix())
        case GitPlaybookSource() | GitRoleSource() | CollectionRoleSource():
            msg = f"a {source.__struct_config__.tag!r} source is fetched when the job starts"
            raise SourceError(msg)


async def prepare_source(
    source: Source,
    options: JobOptions,
    projects_dir: Path,
    cache: SourceCache,
    work: Path,
    auth: GitAuth | None = None,
    galaxy: GalaxyAuth | None = None,
) -> Playbook:
    """The playbook as it will run; a git source is checked out into ``work / "project"``; its
    requirements and a collection are installed with the job's ``galaxy`` credential, if any."""
    match source:
        case LocalSource():
            local = resolve_source(source, projects_dir)
            return Playbook(
                project_dir=local.project_dir,
                playbook=local.playbook,
                sha256=_sha256(local.project_dir / local.playbook),
            )
        case GitPlaybookSource(repo=repo, branch=branch, path=path):
            checkout = await cache.checkout(repo, branch, work / "project", auth)
            target = confine(checkout.root, path, REPOSITORY)
            root = checkout.root.resolve()
            return Playbook(
                project_dir=root,
                playbook=target.relative_to(root).as_posix(),
                commit=checkout.commit,
                sha256=_sha256(target),
                envvars=await install_requirements(root, work, cache.root, galaxy),
            )
        case GitRoleSource(repo=repo, branch=branch, path=path):
            checkout = await cache.checkout(repo, branch, work / "project", auth)
            role_dir = confine(checkout.root, path, REPOSITORY, what="role path", directory=True)
            if not any((role_dir / sub).is_dir() for sub in ("tasks", "meta")):
                msg = f"role path {path!r} is not a role (it has no tasks/ or meta/ directory)"
                raise SourceError(msg)
            text = role_playbook(str(role_dir), f"role {path}", source, options)
            return _generated(
                work,
                text,
                checkout.commit,
                await install_requirements(checkout.root, work, cache.root, galaxy),
            )
        case CollectionRoleSource():
            installed = await install_collection(source, work, cache.root, galaxy)
            version = await asyncio.to_thread(installed_version, installed, source.collection)
            name = f"role {source.path} ({source.collection} {version})"
            text = role_playbook(source.path, name, source, options)
            return _generated(work, text, None, search_paths([installed]))


def _generated(work: Path, text: str, commit: str | None, envvars: dict[str, str]) -> Playbook:
    playbook = work / ROLE_PLAYBOOK
    playbook.write_text(text, encoding="utf-8")
    return Playbook(
        project_dir=work.resolve(),
        playbook=ROLE_PLAYBOOK,
        commit=commit,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        envvars=envvars,
    )


def role_playbook(
    role: str, name: str, source: GitRoleSource | CollectionRoleSource, options: JobOptions
) -> str:
    """One play named ``name`` running ``role`` (a directory or a collection's role) on
    ``source.hosts`` (JSON, which ansible reads as YAML)."""
    entry: dict[str, object] = {"role": role}
    if source.role_vars:
        entry["vars"] = source.role_vars
    play = {
        "name": name,
        "hosts": source.hosts,
        "become": options.become,
        "gather_facts": options.gather_facts,
        "roles": [entry],
    }
    return json.dumps([play], indent=2) + "\n"


async def install_collection(
    source: CollectionRoleSource, work: Path, cache_root: Path, galaxy: GalaxyAuth | None = None
) -> Path:
    """The collection installed for the job (cached by collection, version range, server and
    credential). Without ``galaxy_server`` it comes from the credential's server, if any."""
    wanted: dict[str, str] = {"name": source.collection, "version": source.version}
    if source.galaxy_server is not None:
        wanted["source"] = source.galaxy_server
    body = (json.dumps({"collections": [wanted]}, sort_keys=True) + "\n").encode()
    (work / COLLECTION_REQUIREMENTS).write_bytes(body)
    server = source.galaxy_server or ("the galaxy credential's server" if galaxy is not None else "Galaxy")
    shown = f"collection {source.collection}:{source.version} from {server}"
    return await install_file(COLLECTION_REQUIREMENTS, body, work, work, cache_root, shown, galaxy)


def installed_version(installed: Path, collection: str) -> str:
    """The version ansible-galaxy installed (its ``MANIFEST.json``)."""
    namespace, name = collection.split(".")
    manifest = installed / "collections" / "ansible_collections" / namespace / name / "MANIFEST.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8"))["collection_info"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        msg = f"collection {collection} was not installed (no MANIFEST.json)"
        raise SourceError(msg) from None
    return str(version)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
