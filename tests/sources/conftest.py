"""Source-test fixtures: a directory of real repositories and dulwich's smart-HTTP server on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from playledger_common.settings import ExecutorSettings
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


@pytest.fixture(name="settings")
def fx_settings(nats_url: str, tmp_path: Path) -> ExecutorSettings:
    projects = tmp_path / "projects"
    projects.mkdir()
    return ExecutorSettings(
        nats_url=nats_url,
        projects_dir=projects,
        logs_dir=tmp_path / "logs",
        work_dir=tmp_path / "work",
        source_cache_dir=tmp_path / "executor-cache",
        source_allow_file=True,
        source_allow_http=True,
        source_fetch_timeout_s=20.0,
        executor_id="test-executor",
        concurrency=2,
        cancel_grace_s=0.5,
        shutdown_grace_s=5.0,
        ack_wait_s=5.0,
    )
