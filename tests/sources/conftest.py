"""Source-test fixtures: a directory of real repositories and dulwich's smart-HTTP server on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playledger_executor.gitcache import SourceCache
from tests.sources.gitrepos import GitHttpServer


@pytest.fixture(name="repos")
def fx_repos(tmp_path: Path) -> Path:
    root = tmp_path / "repos"
    root.mkdir()
    return root


@pytest.fixture(name="git_http")
def fx_git_http(repos: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(repos) as server:
        yield server


@pytest.fixture(name="cache")
def fx_cache(tmp_path: Path) -> SourceCache:
    return SourceCache(root=tmp_path / "cache", fetch_timeout_s=20.0)
