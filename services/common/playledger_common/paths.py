"""Path confinement: one rule for every door that accepts a playbook path.

The API checks it before queueing a job (lexically, and on disk when it can see the
projects directory); the executor checks it again, on disk, before running. A path is
relative, uses ``/``, has no ``..``, and after following every symlink it still names a
regular file inside the projects directory. Reasons never reveal server paths.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

PROJECTS = "the projects directory"
REPOSITORY = "the repository"


def lexical_problem(relative: str, where: str = PROJECTS) -> str | None:
    """Why ``relative`` could escape ``where``, judged without the filesystem."""
    if "\\" in relative:
        return "must use '/' as separator"
    if PurePosixPath(relative).is_absolute() or relative.startswith("~"):
        return f"must be relative to {where}, not absolute"
    if ".." in PurePosixPath(relative).parts:
        return "must not contain '..'"
    return None


def confinement_problem(
    projects_dir: Path, relative: str, where: str = PROJECTS, *, directory: bool = False
) -> str | None:
    """Why ``relative`` is not a file (or ``directory``) inside ``projects_dir``, or ``None``."""
    if problem := lexical_problem(relative, where):
        return problem
    root = projects_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        return f"resolves outside {where} (symlink)"
    if not target.exists():
        return f"does not exist in {where}"
    if directory and not target.is_dir():
        return "is not a directory"
    if not directory and not target.is_file():
        return "is not a file"
    return None
