"""Git sources: one bare mirror per repository, fetched at most once for concurrent jobs.

The mirror of a repository lives in ``<cache>/<sha256(url)[:32]>.git`` (dulwich, no ``git``
binary). A job names a ref; ``checkout`` resolves it to a commit *when the job starts* and
writes that commit's tree into the job's own directory:

- a full 40-hex sha already in the mirror needs no network at all;
- otherwise the remote's refs are listed and only missing objects are fetched, so a job at a
  commit the mirror has costs one ref listing and no pack;
- a job that asked while another job's fetch of the same repository was running waits for it
  and uses its result (single flight): two concurrent jobs on a new repository fetch it once.
  Its refs are then at most one fetch older than the job's request.

A private repository is fetched with the job's ``git`` credential (``GitAuth``): HTTPS basic auth
held in this process, or an SSH key file (0600, in the job's private dir) named to ``ssh -i``;
never a URL, an argument or an environment variable that carries the secret. Its mirror is
keyed by the URL *and* the credential, so a job without that credential never reads it.

A fetch is bounded by ``fetch_timeout_s`` (transient network errors are retried inside it)
and by ``max_repo_bytes`` of pack data. Mirrors are evicted least recently used first once
the cache is larger than ``max_bytes`` or a mirror is older than ``max_age_s``. A job's tree is
hard links into a read-only tree per commit kept inside the mirror.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import logging
import os
import shlex
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, cast

import urllib3
from dulwich.client import HTTPUnauthorized, get_transport_and_path
from dulwich.client import default_urllib3_manager as urllib3_manager
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.objects import Commit, ObjectID, Tag
from dulwich.refs import Ref
from dulwich.repo import Repo

from playledger_executor.errors import SourceError

log: Final = logging.getLogger(__name__)

FULL_SHA_LEN: Final = 40
STAMP: Final = "playledger-last-used"
TREES: Final = "playledger-trees"
"""Inside a mirror: one read-only tree per commit that jobs used (evicted with the mirror)."""
SPOOL_BYTES: Final = 16 * 1024**2
"""Received packs up to this size stay in memory before they are completed."""
RETRY_BACKOFF_S: Final = (0.2, 0.5, 1.0, 2.0, 4.0)


class FetchError(SourceError):
    """A fetch that failed for a reason that may pass (network, server, timeout): a retry policy's
    ``source_error``. The reason says why and never holds a secret.

    What another attempt cannot change (the repository does not exist, refuses the credential,
    answers with another client error, is larger than the limit) is a plain ``SourceError``:
    the job ends without a retry. One rule for both loops: what ``_fetch_blocking`` does not
    retry within a fetch, no retry policy retries either.
    """


@dataclass
class _Listing:
    """The remote's refs as one fetch saw them, and when that fetch ended (monotonic)."""

    finished: float
    refs: dict[Ref, ObjectID]


@dataclass
class CacheStats:
    """What the cache did (for metrics and tests)."""

    listings: int = 0
    """Ref listings of a remote (each one network round trip)."""
    packs: int = 0
    """Fetches that received objects."""
    evicted: int = 0
    checkouts: int = 0
    """Trees written for jobs (each a hit unless its fetch received a pack)."""


@dataclass(frozen=True, slots=True)
class GitAuth:
    """How to log in to a repository's server: HTTPS basic auth, or an SSH key file."""

    identity: str
    """Keys the mirror with the URL: a digest of the credential, so only its holders share it."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    key_file: Path | None = None
    known_hosts: Path | None = None
    """With an SSH key: the server keys to trust; ``None`` accepts a new server's key on first use."""

    def transport(self, url: str) -> dict[str, str]:
        """``get_transport_and_path`` keyword arguments for ``url``."""
        if self.key_file is None:
            if not url.startswith(("http://", "https://")):
                return {}
            return {"username": self.username or "git", "password": self.password or ""}
        options = ["BatchMode=yes", "IdentitiesOnly=yes", "IdentityAgent=none"]
        if self.known_hosts is not None:
            options += [f"UserKnownHostsFile={self.known_hosts}", "StrictHostKeyChecking=yes"]
        else:
            options += [f"UserKnownHostsFile={self.key_file}.known_hosts", "StrictHostKeyChecking=accept-new"]
        ssh = ["ssh", *(part for option in options for part in ("-o", option))]
        return {"key_filename": str(self.key_file), "ssh_command": shlex.join(ssh)}

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "****") if self.password else text


@dataclass(frozen=True, slots=True)
class Checkout:
    commit: str
    root: Path


@dataclass
class SourceCache:
    root: Path
    fetch_timeout_s: float = 120.0
    max_repo_bytes: int = 1024**3
    max_bytes: int = 2 * 1024**3
    max_age_s: float = 7 * 24 * 3600
    stats: CacheStats = field(default_factory=CacheStats)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _listings: dict[str, _Listing] = field(default_factory=dict)

    async def checkout(self, url: str, ref: str, dest: Path, auth: GitAuth | None = None) -> Checkout:
        """Resolve ``ref`` of ``url`` to a commit and write its tree into ``dest`` (created)."""
        asked = time.monotonic()
        key = mirror_key(url, auth.identity if auth is not None else "")
        mirror = self.root / f"{key}.git"
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock, _FileLock(self.root / f"{key}.lock"):
            if is_full_sha(ref) and await asyncio.to_thread(_has_commit, mirror, ref):
                commit = ref
            else:
                listing = self._listings.get(key)
                if listing is None or listing.finished < asked:
                    listing = await self._fetch(url, mirror, auth)
                    self._listings[key] = listing
                commit = await asyncio.to_thread(_resolve, mirror, listing, ref, url)
            await asyncio.to_thread(_tree_for_job, mirror, commit, mirror / TREES / commit, dest)
            (mirror / STAMP).touch()
            self.stats.checkouts += 1
        await asyncio.to_thread(self.evict)
        return Checkout(commit=commit, root=dest)

    async def _fetch(self, url: str, mirror: Path, auth: GitAuth | None) -> _Listing:
        started = time.monotonic()
        deadline = started + self.fetch_timeout_s
        refs, received = await asyncio.to_thread(
            _fetch_blocking, url, mirror, deadline, self.max_repo_bytes, auth
        )
        self.stats.listings += 1
        if received:
            self.stats.packs += 1
        log.info("fetched %s: %d refs, %d pack bytes", redact(url), len(refs), received)
        return _Listing(finished=time.monotonic(), refs=refs)

    def evict(self) -> None:
        """Drop mirrors older than ``max_age_s``, then the least recently used over ``max_bytes``."""
        if not self.root.is_dir():
            return
        now = time.time()
        entries: list[tuple[float, int, Path]] = []
        for tree in self.root.glob(f"*.git/{TREES}/*"):
            if now - tree.stat().st_mtime > self.max_age_s:
                shutil.rmtree(tree, ignore_errors=True)
        for mirror in self.root.glob("*.git"):
            stamp = mirror / STAMP
            used = stamp.stat().st_mtime if stamp.exists() else 0.0
            entries.append((used, _tree_size(mirror), mirror))
        total = sum(size for _, size, _ in entries)
        for used, size, mirror in sorted(entries):
            if now - used <= self.max_age_s and total <= self.max_bytes:
                break
            key = mirror.name.removesuffix(".git")
            fd = os.open(self.root / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a job is using it right now
            try:
                shutil.rmtree(mirror, ignore_errors=True)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            self._listings.pop(key, None)
            total -= size
            self.stats.evicted += 1
            log.info("evicted source mirror %s (%d bytes)", mirror.name, size)


class _FileLock:
    """``flock`` on a file next to the mirror: executors sharing a cache directory take turns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    async def __aenter__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        await asyncio.to_thread(fcntl.flock, self.fd, fcntl.LOCK_EX)

    async def __aexit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def mirror_key(url: str, identity: str = "") -> str:
    keyed = f"{url}\n{identity}" if identity else url
    return hashlib.sha256(keyed.encode()).hexdigest()[:32]


def is_full_sha(ref: str) -> bool:
    return len(ref) == FULL_SHA_LEN and all(c in "0123456789abcdef" for c in ref)


def redact(url: str) -> str:
    """``https://user@host/x`` -> ``https://host/x`` (a user name may be a token)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://{rest.split('@', 1)[1]}"
    return url


def _has_commit(mirror: Path, sha: str) -> bool:
    if not (mirror / "objects").is_dir():
        return False
    repo = Repo(str(mirror))
    try:
        oid = ObjectID(sha.encode())
        return oid in repo.object_store and isinstance(repo.object_store[oid], Commit)
    finally:
        repo.close()


def _open_mirror(mirror: Path) -> Repo:
    if (mirror / "objects").is_dir():
        return Repo(str(mirror))
    mirror.mkdir(parents=True, exist_ok=True)
    return Repo.init_bare(str(mirror))


class _PackLimit:
    """Counts pack bytes as they arrive; stops a fetch that is too large or too slow."""

    def __init__(self, write: Callable[[bytes], object], limit: int, deadline: float) -> None:
        self._write = write
        self.limit = limit
        self.deadline = deadline
        self.received = 0

    def __call__(self, data: bytes) -> int:
        self.received += len(data)
        if self.received > self.limit:
            msg = f"the repository is larger than this installation's limit of {self.limit} bytes"
            raise SourceError(msg)
        if time.monotonic() > self.deadline:
            raise _DeadlineError
        self._write(data)
        return len(data)


class _DeadlineError(Exception):
    pass


_TRANSIENT: Final = (
    ConnectionError,
    TimeoutError,
    HangupException,
    urllib3.exceptions.HTTPError,
)


def _fetch_blocking(
    url: str, mirror: Path, deadline: float, max_bytes: int, auth: GitAuth | None = None
) -> tuple[dict[Ref, ObjectID], int]:
    """List the remote's refs and fetch every object the mirror lacks; update the mirror's refs."""
    try:
        return _fetch_retried(url, mirror, deadline, max_bytes, auth)
    except FetchError as exc:
        if auth is None:
            raise
        raise FetchError(auth.scrub(exc.reason)) from None


def _fetch_retried(
    url: str, mirror: Path, deadline: float, max_bytes: int, auth: GitAuth | None
) -> tuple[dict[Ref, ObjectID], int]:
    shown = redact(url)
    attempt = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            msg = f"fetching {shown} did not finish within the fetch timeout"
            raise FetchError(msg)
        try:
            return _fetch_once(url, mirror, deadline, max_bytes, remaining, auth)
        except NotGitRepository:
            msg = f"repository {shown} not found (check the URL; a private repository needs a credential)"
            raise SourceError(msg) from None
        except HTTPUnauthorized:
            needs = (
                "its git credential was refused" if auth is not None else "the repository needs a credential"
            )
            msg = f"authentication failed for {shown} ({needs})"
            raise SourceError(msg) from None
        except _DeadlineError:
            msg = f"fetching {shown} did not finish within the fetch timeout"
            raise FetchError(msg) from None
        except GitProtocolError as exc:
            if isinstance(exc.__cause__, _TRANSIENT):
                problem = type(exc.__cause__).__name__
            elif "unexpected http resp 5" in str(exc) or isinstance(exc, HangupException):
                problem = str(exc).split(" for ", 1)[0]
            else:
                msg = f"fetching {shown} failed: {str(exc).replace(url, shown)[:200] or type(exc).__name__}"
                raise SourceError(msg) from None  # not transient: another attempt gets the same answer
        except _TRANSIENT as exc:
            problem = type(exc).__name__
        delay = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
        attempt += 1
        if time.monotonic() + delay >= deadline:
            msg = f"fetching {shown} did not succeed within the fetch timeout (last error: {problem})"
            raise FetchError(msg)
        log.warning("fetching %s: %s; retrying in %.1fs", shown, problem, delay)
        time.sleep(delay)


def _fetch_once(
    url: str, mirror: Path, deadline: float, max_bytes: int, remaining: float, auth: GitAuth | None
) -> tuple[dict[Ref, ObjectID], int]:
    pool = cast("urllib3.PoolManager", urllib3_manager(None, timeout=min(remaining, 30.0)))
    login = auth.transport(url) if auth is not None else {}
    client, path = get_transport_and_path(url, pool_manager=pool, **login)  # type: ignore[arg-type]
    repo = _open_mirror(mirror)
    try:
        pack, commit, abort = _incoming_pack(repo)
        limit = _PackLimit(pack.write, max_bytes, deadline)
        wanted: list[ObjectID] = []

        def wants(refs: Mapping[Ref, ObjectID], depth: int | None = None) -> list[ObjectID]:
            wanted.extend(repo.object_store.determine_wants_all(refs, depth))
            return wanted

        try:
            result = client.fetch_pack(path, wants, repo.get_graph_walker(), limit)
        except BaseException:
            abort()
            raise
        commit()
        refs = {k: v for k, v in result.refs.items() if v is not None and not k.endswith(b"^{}")}
        for name, sha in refs.items():
            if name.startswith((b"refs/heads/", b"refs/tags/")) and sha in repo.object_store:
                repo.refs[name] = sha
        return refs, limit.received if wanted else 0
    finally:
        repo.close()
        client.close()


def _incoming_pack(repo: Repo) -> tuple[IO[bytes], Callable[[], object], Callable[[], object]]:
    """Where a received pack goes: spooled then completed (a thin pack names bases it omits),
    as ``GitClient.fetch`` does — but here every byte passes ``_PackLimit`` first."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, dir=os.fspath(repo.object_store.path))  # noqa: SIM115

    def commit() -> None:
        if spool.tell():
            spool.seek(0)
            repo.object_store.add_thin_pack(spool.read, None)
        spool.close()

    return cast("IO[bytes]", spool), commit, spool.close


def _resolve(mirror: Path, listing: _Listing, ref: str, url: str) -> str:
    """The commit ``ref`` names: a branch, a tag (annotated tags peeled), ``HEAD`` or a full sha."""
    repo = Repo(str(mirror))
    try:
        name = ref.encode()
        candidates = [Ref(b"refs/heads/" + name), Ref(b"refs/tags/" + name)]
        if ref == "HEAD" or name.startswith(b"refs/"):
            candidates.insert(0, Ref(name))
        for candidate in candidates:
            sha = listing.refs.get(candidate)
            if sha is not None:
                return _peel(repo, sha).decode()
        oid = ObjectID(name)
        if is_full_sha(ref) and oid in repo.object_store and isinstance(repo.object_store[oid], Commit):
            return ref
    finally:
        repo.close()
    msg = f"ref {ref!r} is not a branch, tag or commit of {redact(url)}"
    raise SourceError(msg)


def _peel(repo: Repo, sha: ObjectID) -> ObjectID:
    obj = repo.object_store[sha]
    while isinstance(obj, Tag):
        obj = repo.object_store[obj.object[1]]
    if not isinstance(obj, Commit):
        msg = "the ref does not name a commit"
        raise SourceError(msg)
    return obj.id


def _tree_for_job(mirror: Path, commit: str, shared: Path, dest: Path) -> None:
    """``dest`` as a clean tree of ``commit``: hard links into one read-only tree per commit.

    The shared tree is written once (then made read-only, so a job cannot change a file in
    place for the next one); each job gets its own directory of links, cheap to make and its
    own to add or replace files in. Evicting the shared tree leaves running jobs' links intact.
    """
    if not shared.is_dir():
        staging = shared.with_name(f"{shared.name}.tmp-{os.getpid()}-{dest.parent.name}")
        _checkout_tree(mirror, commit, staging)
        _read_only(staging)
        try:
            staging.rename(shared)
        except OSError:  # another executor sharing the cache wrote it first
            shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(shared, dest, symlinks=True, copy_function=os.link, dirs_exist_ok=True)
    os.utime(shared)
    for directory, _, _ in os.walk(dest):
        Path(directory).chmod(0o755)  # the job's own directories: it may add files


def _read_only(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & 0o555)


def _checkout_tree(mirror: Path, commit: str, dest: Path) -> None:
    """Write the commit's files (modes and symlinks kept, submodules left empty) into ``dest``."""
    repo = Repo(str(mirror))
    try:
        store = repo.object_store
        tree = store[ObjectID(commit.encode())]
        assert isinstance(tree, Commit)  # noqa: S101 - _resolve returned a commit
        dest.mkdir(parents=True, exist_ok=True)
        for entry in store.iter_tree_contents(tree.tree):
            assert entry.path is not None  # noqa: S101 - tree entries always carry these
            assert entry.mode is not None  # noqa: S101
            assert entry.sha is not None  # noqa: S101
            parts = entry.path.decode("utf-8", "surrogateescape").split("/")
            if any(p in ("", ".", "..", ".git") for p in parts):
                continue  # a hostile tree entry: never written outside or into git's own dir
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISDIR(entry.mode) or entry.mode == 0o160000:  # submodule: not fetched
                target.mkdir(exist_ok=True)
                continue
            data = store[entry.sha].as_raw_string()
            if stat.S_ISLNK(entry.mode):
                target.symlink_to(os.fsdecode(data))
            else:
                target.write_bytes(data)
                target.chmod(0o755 if entry.mode & 0o100 else 0o644)
    finally:
        repo.close()


def _tree_size(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(dirpath) / name).lstat().st_size
            except OSError:
                continue
    return total
