"""The source cache against real repositories: refs, single flight, no refetch, limits, eviction."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from playledger_executor.errors import SourceError
from playledger_executor.gitcache import SourceCache
from tests.sources.gitrepos import GitHttpServer, GitRepo

pytestmark = pytest.mark.integration

PLAY = "- hosts: all\n  gather_facts: false\n  tasks: []\n"


def make_repo(repos: Path, name: str = "app.git") -> tuple[GitRepo, str]:
    repo = GitRepo(repos / name)
    sha = repo.commit({"site.yml": PLAY, "roles/web/tasks/main.yml": "- ansible.builtin.ping:\n"})
    return repo, sha


async def test_branch_tag_and_sha_resolve_to_the_commit_and_check_it_out(
    repos: Path, cache: SourceCache, tmp_path: Path
) -> None:
    repo, first = make_repo(repos)
    repo.tag("v1", first)
    repo.tag("light", first, annotated=False)
    second = repo.commit({"site.yml": PLAY + "# two\n"}, message="two")
    for n, (ref, expected) in enumerate(
        [("main", second), ("HEAD", second), ("v1", first), ("light", first), (first, first)]
    ):
        checkout = await cache.checkout(repo.url, ref, tmp_path / f"co{n}")
        assert checkout.commit == expected, ref
    assert (tmp_path / "co0" / "site.yml").read_text().endswith("# two\n")
    assert (tmp_path / "co2" / "roles/web/tasks/main.yml").is_file()
    assert not (tmp_path / "co0" / "roles").exists()  # the second commit removed it


async def test_unknown_ref_and_missing_repository_are_precise(
    repos: Path, cache: SourceCache, tmp_path: Path, git_http: GitHttpServer
) -> None:
    repo, _ = make_repo(repos)
    with pytest.raises(SourceError, match=r"ref 'nope' is not a branch, tag or commit of file://"):
        await cache.checkout(repo.url, "nope", tmp_path / "a")
    with pytest.raises(SourceError, match=r"ref '0{40}' is not a branch, tag or commit"):
        await cache.checkout(repo.url, "0" * 40, tmp_path / "b")
    with pytest.raises(SourceError, match=r"repository file://.*/missing.git not found"):
        await cache.checkout((repos / "missing.git").as_uri(), "main", tmp_path / "c")
    with pytest.raises(SourceError, match=r"repository http://127.0.0.1:\d+/missing.git not found"):
        await cache.checkout(git_http.url("missing.git"), "main", tmp_path / "d")
    git_http.require_auth = True
    with pytest.raises(
        SourceError, match=r"^authentication failed for http://127.0.0.1:\d+/app.git \(the repo"
    ):
        await cache.checkout(git_http.url("app.git"), "main", tmp_path / "e")


async def test_concurrent_checkouts_fetch_once_and_a_later_one_fetches_no_pack(
    repos: Path, cache: SourceCache, tmp_path: Path, git_http: GitHttpServer
) -> None:
    _, sha = make_repo(repos)
    url = git_http.url("app.git")
    git_http.delay_s = 0.2  # both jobs are surely waiting while the first listing runs
    results = await asyncio.gather(
        cache.checkout(url, "main", tmp_path / "one"), cache.checkout(url, "main", tmp_path / "two")
    )
    git_http.delay_s = 0.0
    assert [r.commit for r in results] == [sha, sha]
    assert git_http.requests.listings("app.git") == 1
    assert git_http.requests.packs("app.git") == 1

    git_http.requests.clear()
    third = await cache.checkout(url, "main", tmp_path / "three")
    assert third.commit == sha
    assert git_http.requests.packs("app.git") == 0  # only the ref listing, to see where main is
    assert git_http.requests.listings("app.git") == 1

    git_http.requests.clear()
    await cache.checkout(url, sha, tmp_path / "four")
    assert git_http.requests.seen == []  # a full sha the mirror has: no network at all
    assert (tmp_path / "four" / "site.yml").read_text() == PLAY


async def test_a_moved_branch_is_fetched_again(
    repos: Path, cache: SourceCache, tmp_path: Path, git_http: GitHttpServer
) -> None:
    repo, first = make_repo(repos)
    url = git_http.url("app.git")
    assert (await cache.checkout(url, "main", tmp_path / "a")).commit == first
    second = repo.commit({"site.yml": PLAY + "# moved\n"})
    assert (await cache.checkout(url, "main", tmp_path / "b")).commit == second
    assert git_http.requests.packs("app.git") == 2


async def test_size_limit_and_unreachable_server(repos: Path, tmp_path: Path) -> None:
    repo, _ = make_repo(repos)
    small = SourceCache(root=tmp_path / "small", max_repo_bytes=100)
    with pytest.raises(SourceError, match="larger than this installation's limit of 100 bytes"):
        await small.checkout(repo.url, "main", tmp_path / "a")
    quick = SourceCache(root=tmp_path / "quick", fetch_timeout_s=1.5)
    with pytest.raises(SourceError, match=r"did not succeed within the fetch timeout \(last error: "):
        await quick.checkout("http://127.0.0.1:9/none.git", "main", tmp_path / "b")  # discard port: refused


async def test_checkout_keeps_symlinks_and_modes(repos: Path, cache: SourceCache, tmp_path: Path) -> None:
    repo = GitRepo(repos / "links.git")
    repo.commit({"site.yml": PLAY}, symlinks={"link.yml": "site.yml", "escape.yml": "../../../etc/passwd"})
    await cache.checkout(repo.url, "main", tmp_path / "co")
    assert (tmp_path / "co" / "link.yml").readlink() == Path("site.yml")
    assert (tmp_path / "co" / "escape.yml").readlink() == Path("../../../etc/passwd")


async def test_eviction_by_size_and_age_spares_nothing_in_use(repos: Path, tmp_path: Path) -> None:
    make_repo(repos, "a.git")
    make_repo(repos, "b.git")
    cache = SourceCache(root=tmp_path / "cache", max_bytes=10**9)
    await cache.checkout((repos / "a.git").as_uri(), "main", tmp_path / "a")
    await cache.checkout((repos / "b.git").as_uri(), "main", tmp_path / "b")
    mirrors = sorted(cache.root.glob("*.git"))
    assert len(mirrors) == 2
    old = time.time() - 3600
    oldest = next(m for m in mirrors if m.name.startswith(_key((repos / "a.git").as_uri())))
    os.utime(oldest / "playledger-last-used", (old, old))
    cache.max_bytes = 1  # everything is over: the least recently used goes first
    cache.evict()
    assert not any(cache.root.glob("*.git"))
    assert cache.stats.evicted == 2


def _key(url: str) -> str:
    from playledger_executor.gitcache import mirror_key

    return mirror_key(url)


async def test_jobs_share_one_read_only_tree_per_commit(
    repos: Path, cache: SourceCache, tmp_path: Path
) -> None:
    repo, _ = make_repo(repos)
    await cache.checkout(repo.url, "main", tmp_path / "one")
    await cache.checkout(repo.url, "main", tmp_path / "two")
    one, two = tmp_path / "one" / "site.yml", tmp_path / "two" / "site.yml"
    assert one.stat().st_ino == two.stat().st_ino  # hard links into the commit's shared tree
    assert one.stat().st_mode & 0o222 == 0  # read-only: a job (not root) cannot change it in place
    (tmp_path / "one" / "roles" / "new.yml").write_text("a job may add files of its own\n")
    assert not (tmp_path / "two" / "roles" / "new.yml").exists()
