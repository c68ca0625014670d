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
from playledger_executor.requirements import install_requirements
from playledger_schemas.commands import GitPlaybookSource, GitRoleSource, JobOptions, LocalSource, Source

ROLE_PLAYBOOK: Final = "playledger-role.yml"
"""The generated playbook of a role source, written next to the checkout (not inside it)."""


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
        case GitPlaybookSource() | GitRoleSource():
            msg = f"a {source.__struct_config__.tag!r} source is checked out when the job starts"
            raise SourceError(msg)


async def prepare_source(
    source: Source,
    options: JobOptions,
    projects_dir: Path,
    cache: SourceCache,
    work: Path,
    auth: GitAuth | None = None,
) -> Playbook:
    """The playbook as it will run; a git source is checked out into ``work / "project"``."""
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
                envvars=await install_requirements(root, work, cache.root),
            )
        case GitRoleSource(repo=repo, branch=branch, path=path):
            checkout = await cache.checkout(repo, branch, work / "project", auth)
            role_dir = confine(checkout.root, path, REPOSITORY, what="role path", directory=True)
            if not any((role_dir / sub).is_dir() for sub in ("tasks", "meta")):
                msg = f"role path {path!r} is not a role (it has no tasks/ or meta/ directory)"
                raise SourceError(msg)
            text = role_playbook(role_dir, source, options)
            playbook = work / ROLE_PLAYBOOK
            playbook.write_text(text, encoding="utf-8")
            return Playbook(
                project_dir=await asyncio.to_thread(work.resolve),
                playbook=ROLE_PLAYBOOK,
                commit=checkout.commit,
                sha256=hashlib.sha256(text.encode()).hexdigest(),
                envvars=await install_requirements(checkout.root, work, cache.root),
            )


def role_playbook(role_dir: Path, source: GitRoleSource, options: JobOptions) -> str:
    """One play running the role on ``source.hosts`` (JSON, which ansible reads as YAML)."""
    role: dict[str, object] = {"role": str(role_dir)}
    if source.role_vars:
        role["vars"] = source.role_vars
    play = {
        "name": f"role {source.path}",
        "hosts": source.hosts,
        "become": options.become,
        "gather_facts": options.gather_facts,
        "roles": [role],
    }
    return json.dumps([play], indent=2) + "\n"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
