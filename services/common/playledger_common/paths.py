"""Path confinement: one rule for every door that accepts a playbook path.

The API checks it before queueing a job (lexically, and on disk when it can see the
projects directory); the executor checks it again, on disk, before running. A path is
relative, uses ``/``, has no ``..``, and after following every symlink it still names a
regular file inside the projects directory. Reasons never reveal server paths.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def lexical_problem(relative: str) -> str | None:
    """Why ``relative`` could escape the projects directory, judged without the filesystem."""
    if "\\" in relative:
        return "must use '/' as separator"
    if PurePosixPath(relative).is_absolute() or relative.startswith("~"):
        return "must be relative to the projects directory, not absolute"
    if ".." in PurePosixPath(relative).parts:
        return "must not contain '..'"
    return None


def confinement_problem(projects_dir: Path, relative: str) -> str | None:
    """Why ``relative`` is not a playbook inside ``projects_dir``, or ``None`` when it is."""
    if problem := lexical_problem(relative):
        return problem
    root = projects_dir.resolve()
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        return "resolves outside the projects directory (symlink)"
    if not target.exists():
        return "does not exist in the projects directory"
    if not target.is_file():
        return "is not a file"
    return None
