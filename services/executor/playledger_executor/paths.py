"""The executor's side of path confinement (the rule itself is ``playledger_common.paths``)."""

from __future__ import annotations

from pathlib import Path

from playledger_common.paths import PROJECTS, confinement_problem
from playledger_executor.errors import SourceError


def confine(
    projects_dir: Path,
    relative: str,
    where: str = PROJECTS,
    *,
    what: str = "playbook path",
    directory: bool = False,
) -> Path:
    """The resolved path, or ``SourceError`` saying precisely why it is refused."""
    if problem := confinement_problem(projects_dir, relative, where, directory=directory):
        msg = f"{what} {relative!r} {problem}"
        raise SourceError(msg)
    return (projects_dir.resolve() / relative).resolve()
