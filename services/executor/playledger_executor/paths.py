"""Path confinement: a playbook path given by a client must stay inside the projects directory.

Rules (kept here so the API can later apply the same ones): the path is relative, has no
``..`` component, and after following every symlink it still lies inside the projects
directory and names a regular file.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from playledger_executor.errors import SourceError


def confine(projects_dir: Path, relative: str) -> Path:
    """The resolved playbook path, or ``SourceError`` saying precisely why it is refused."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("~"):
        msg = f"playbook path {relative!r} must be relative to the projects directory"
        raise SourceError(msg)
    if ".." in pure.parts:
        msg = f"playbook path {relative!r} must not contain '..'"
        raise SourceError(msg)
    root = projects_dir.resolve()
    target = (root / pure).resolve()
    if not target.is_relative_to(root):
        msg = f"playbook path {relative!r} resolves outside the projects directory (symlink)"
        raise SourceError(msg)
    if not target.exists():
        msg = f"playbook {relative!r} does not exist in the projects directory"
        raise SourceError(msg)
    if not target.is_file():
        msg = f"playbook path {relative!r} is not a file"
        raise SourceError(msg)
    return target
