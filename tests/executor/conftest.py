"""Executor fixtures: a projects directory with the test playbooks and executor settings."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from playledger_common.settings import ExecutorSettings
from tests.executor.support import PLAYBOOKS


@pytest.fixture(name="projects_dir")
def fx_projects_dir(tmp_path: Path) -> Path:
    target = tmp_path / "projects"
    shutil.copytree(PLAYBOOKS, target)
    return target


@pytest.fixture(name="settings")
def fx_settings(nats_url: str, projects_dir: Path, tmp_path: Path) -> ExecutorSettings:
    return ExecutorSettings(
        nats_url=nats_url,
        projects_dir=projects_dir,
        logs_dir=tmp_path / "logs",
        work_dir=tmp_path / "work",
        executor_id="test-executor",
        concurrency=2,
        cancel_grace_s=0.5,
        shutdown_grace_s=5.0,
        ack_wait_s=5.0,
    )
