"""Path confinement: only playbooks inside the projects directory can run."""

from __future__ import annotations

from pathlib import Path

import pytest

from playledger_executor.errors import SourceError
from playledger_executor.paths import confine
from playledger_executor.sources import resolve_source
from playledger_schemas.commands import LocalSource

pytestmark = pytest.mark.unit


@pytest.fixture(name="root")
def fx_root(tmp_path: Path) -> Path:
    root = tmp_path / "projects"
    (root / "site").mkdir(parents=True)
    (root / "site" / "deploy.yml").write_text("- hosts: all\n")
    (tmp_path / "outside.yml").write_text("- hosts: all\n")
    (root / "escape.yml").symlink_to(tmp_path / "outside.yml")
    (root / "inside-link.yml").symlink_to(root / "site" / "deploy.yml")
    (root / "dirlink").symlink_to(tmp_path)
    return root


def test_a_playbook_inside_is_resolved(root: Path) -> None:
    assert confine(root, "site/deploy.yml") == (root / "site" / "deploy.yml").resolve()
    assert confine(root, "inside-link.yml") == (root / "site" / "deploy.yml").resolve()
    playbook = resolve_source(LocalSource(path="site/deploy.yml"), root)
    assert (playbook.project_dir, playbook.playbook) == (root.resolve(), "site/deploy.yml")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd.yml", "must be relative"),
        ("~/x.yml", "must be relative"),
        ("../outside.yml", "must not contain '..'"),
        ("site/../../outside.yml", "must not contain '..'"),
        ("escape.yml", "resolves outside the projects directory"),
        ("dirlink/outside.yml", "resolves outside the projects directory"),
        ("site/missing.yml", "does not exist"),
        ("site", "is not a file"),
    ],
)
def test_escapes_and_missing_files_are_refused(root: Path, path: str, reason: str) -> None:
    with pytest.raises(SourceError, match=reason) as info:
        confine(root, path)
    assert repr(path) in info.value.reason
    assert str(root.parent) not in info.value.reason  # no server paths in the reason
