"""Jobs from git end to end: real repositories (file:// and dulwich's smart HTTP), a real
executor, nats-server and ansible-runner. What ran is recorded in ``job.started``."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from nats.js import JetStreamContext

from playledger_common.settings import ExecutorSettings
from playledger_schemas.commands import (
    GitPlaybookSource,
    GitRoleSource,
    InlineInventory,
    JobOptions,
    JobSpec,
    Source,
)
from playledger_schemas.events import JobError, JobRejected, JobSucceeded
from tests.executor.support import LOCAL, running_executor, submit, wait_terminal
from tests.sources.gitrepos import GitHttpServer, GitRepo
from tests.sources.support import run, started, stdout

pytestmark = pytest.mark.integration

PLAY = """- name: from git
  hosts: all
  gather_facts: false
  tasks:
    - name: say which
      ansible.builtin.debug:
        msg: "version {{ version | default('none') }}"
"""


def git_spec(source: Source, inventory: Any = LOCAL, **options: Any) -> JobSpec:
    return JobSpec(source=source, inventory=inventory, options=JobOptions(**options))


async def test_playbook_at_a_branch_a_tag_and_a_sha(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "plays.git")
    v1 = repo.commit({"deploy/site.yml": PLAY.replace("none", "one")})
    repo.tag("v1.0", v1)
    v2 = repo.commit({"deploy/site.yml": PLAY.replace("none", "two")})
    async with running_executor(settings):
        cases = {"branch": ("main", v2, "two"), "tag": ("v1.0", v1, "one"), "sha": (v1, v1, "one")}
        for job_id, (ref, sha, word) in cases.items():
            terminal, events = await run(
                js, job_id, git_spec(GitPlaybookSource(repo=repo.url, branch=ref, path="deploy/site.yml"))
            )
            assert isinstance(terminal, JobSucceeded), terminal
            start = started(events)
            assert start.data.commit == sha, job_id
            body = PLAY.replace("none", word).encode()
            assert start.data.playbook_sha256 == hashlib.sha256(body).hexdigest()
            assert start.data.playbook == "deploy/site.yml"
            assert start.data.hosts == ["localhost"]
            assert f"version {word}" in stdout(events)


async def test_a_moved_branch_records_two_shas_over_smart_http(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path, git_http: GitHttpServer
) -> None:
    repo = GitRepo(repos / "app.git")
    first = repo.commit({"site.yml": PLAY})
    source = GitPlaybookSource(repo=git_http.url("app.git"), branch="main", path="site.yml")
    async with running_executor(settings):
        _, before = await run(js, "before", git_spec(source))
        second = repo.commit({"site.yml": PLAY + "# moved\n"})
        _, after = await run(js, "after", git_spec(source))
    assert (started(before).data.commit, started(after).data.commit) == (first, second)
    assert first != second


async def test_concurrent_jobs_fetch_a_new_repository_once_and_a_third_fetches_no_pack(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path, git_http: GitHttpServer
) -> None:
    repo = GitRepo(repos / "shared.git")
    sha = repo.commit({"site.yml": PLAY})
    source = GitPlaybookSource(repo=git_http.url("shared.git"), branch="main", path="site.yml")
    git_http.delay_s = 0.5  # the second job asks while the first one's listing is still running
    async with running_executor(settings):
        await submit(js, "c1", git_spec(source))
        await submit(js, "c2", git_spec(source))
        results = [await wait_terminal(js, j, limit_s=120) for j in ("c1", "c2")]
        assert all(isinstance(r, JobSucceeded) for r in results), results
        assert git_http.requests.listings("shared.git") == 1
        assert git_http.requests.packs("shared.git") == 1
        git_http.delay_s = 0.0
        git_http.requests.clear()
        terminal, events = await run(js, "c3", git_spec(source))
    assert isinstance(terminal, JobSucceeded)
    assert started(events).data.commit == sha
    assert git_http.requests.packs("shared.git") == 0
    assert git_http.requests.listings("shared.git") == 1  # where is main now? (one round trip)


async def test_a_role_runs_through_a_generated_play_with_its_vars(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "roles.git")
    sha = repo.commit(
        {
            "roles/greeter/tasks/main.yml": (
                "- name: greet\n  ansible.builtin.debug:\n    msg: 'port {{ nginx_port }} facts "
                "{{ ansible_facts.keys() | list | length > 0 }}'\n"
            ),
            "roles/greeter/defaults/main.yml": "nginx_port: 80\n",
        }
    )
    source = GitRoleSource(repo=repo.url, branch="main", path="roles/greeter", role_vars={"nginx_port": 8080})
    async with running_executor(settings):
        terminal, events = await run(js, "role", git_spec(source, gather_facts=False))
    assert isinstance(terminal, JobSucceeded), terminal
    assert started(events).data.commit == sha
    assert started(events).data.playbook == "playledger-role.yml"
    assert "port 8080 facts False" in stdout(events)  # role_vars win; gather_facts off


async def test_failures_are_precise(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path, git_http: GitHttpServer
) -> None:
    repo = GitRepo(repos / "f.git")
    repo.commit(
        {"site.yml": PLAY, "roles/empty/README": "x"},
        symlinks={"escape.yml": "../../../../../../etc/hostname.yml"},
    )
    cases: dict[str, tuple[Source, str]] = {
        "unknown-ref": (
            GitPlaybookSource(repo=repo.url, branch="nope", path="site.yml"),
            "ref 'nope' is not a branch, tag or commit of file://",
        ),
        "not-found": (
            GitPlaybookSource(repo=git_http.url("missing.git"), branch="main", path="site.yml"),
            f"repository {git_http.url('missing.git')} not found",
        ),
        "no-path": (
            GitPlaybookSource(repo=repo.url, branch="main", path="deploy/missing.yml"),
            "playbook path 'deploy/missing.yml' does not exist in the repository",
        ),
        "symlink": (
            GitPlaybookSource(repo=repo.url, branch="main", path="escape.yml"),
            "playbook path 'escape.yml' resolves outside the repository (symlink)",
        ),
        "not-a-role": (
            GitRoleSource(repo=repo.url, branch="main", path="roles/empty"),
            "role path 'roles/empty' is not a role (it has no tasks/ or meta/ directory)",
        ),
    }
    async with running_executor(settings):
        for job_id, (source, _) in cases.items():
            await submit(js, job_id, git_spec(source))
        for job_id, (_, message) in cases.items():
            terminal = await wait_terminal(js, job_id, limit_s=60)
            assert isinstance(terminal, JobError), (job_id, terminal)
            assert terminal.data.reason is not None
            assert terminal.data.reason.startswith(message), (job_id, terminal.data.reason)


async def test_url_policy_rejects_at_intake(js: JetStreamContext, settings: ExecutorSettings) -> None:
    strict = settings.__class__(
        **{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "source_allow_file": False}
    )
    async with running_executor(strict):
        source = GitPlaybookSource(repo="file:///srv/repo.git", branch="main", path="site.yml")
        terminal, _ = await run(js, "policy", git_spec(source))
    assert isinstance(terminal, JobRejected)
    assert terminal.data.reason == (
        "$.spec.source.repo: repository URL uses file://, which this installation does not allow"
    )


async def test_inline_inventory_records_its_hosts(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "p.git")
    repo.commit({"site.yml": PLAY})
    inventory = InlineInventory(
        hosts=["a", "b"],
        groups={"web": ["c"]},
        vars={"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
    )
    async with running_executor(settings):
        terminal, events = await run(
            js, "inline", git_spec(GitPlaybookSource(repo=repo.url, path="site.yml"), inventory)
        )
    assert isinstance(terminal, JobSucceeded)
    assert started(events).data.hosts == ["a", "b", "c"]
    assert started(events).data.commit is not None  # branch HEAD: the repository's default


async def test_jobs_in_parallel_share_nothing_but_the_mirror(
    js: JetStreamContext, settings: ExecutorSettings, repos: Path
) -> None:
    repo = GitRepo(repos / "par.git")
    repo.commit({"site.yml": PLAY})
    source = GitPlaybookSource(repo=repo.url, path="site.yml")
    async with running_executor(settings):
        await asyncio.gather(*(submit(js, f"p{n}", git_spec(source)) for n in range(3)))
        results = [await wait_terminal(js, f"p{n}", limit_s=120) for n in range(3)]
    assert all(isinstance(r, JobSucceeded) for r in results)
    assert len(list(settings.source_cache_dir.glob("*.git"))) == 1  # type: ignore[union-attr]
    assert not list((settings.work_dir or Path()).glob("playledger-*"))  # private dirs removed
