"""Where a job's playbook comes from. ``local`` today; git sources join the ``match`` later."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playledger_executor.paths import confine
from playledger_schemas.commands import LocalSource, Source


@dataclass(frozen=True, slots=True)
class Playbook:
    """What ansible-runner needs: the directory to run in and the playbook relative to it."""

    project_dir: Path
    playbook: str


def resolve_source(source: Source, projects_dir: Path) -> Playbook:
    """Check and locate the playbook; raises ``SourceError`` with a precise reason."""
    match source:
        case LocalSource(path=path):
            target = confine(projects_dir, path)
            root = projects_dir.resolve()
            return Playbook(project_dir=root, playbook=target.relative_to(root).as_posix())
