"""Real git repositories for tests, made with dulwich, and dulwich's own smart-HTTP server.

``GitRepo`` writes files and commits them (branches, tags, moves); ``GitHttpServer`` serves
a directory of repositories over ``dulwich.web`` on a free port and records every request,
so a test can count ref listings (``GET …/info/refs``) and pack fetches
(``POST …/git-upload-pack``).
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from dulwich.objects import Blob, Commit, Tag, Tree
from dulwich.repo import Repo
from dulwich.server import FileSystemBackend
from dulwich.web import make_wsgi_chain

AUTHOR = b"Test <test@example.com>"


class GitRepo:
    """A bare repository on disk; every ``commit`` writes a full tree (files not given are gone)."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.repo = Repo.init_bare(str(path))
        self._time = 1_700_000_000

    @property
    def url(self) -> str:
        return self.path.as_uri()

    def commit(
        self,
        files: Mapping[str, str | bytes],
        *,
        branch: str = "main",
        message: str = "change",
        symlinks: Mapping[str, str] | None = None,
    ) -> str:
        """Commit ``files`` (path -> content) as the whole tree on ``branch``; the new sha."""
        store = self.repo.object_store
        root = _build_tree(store, files, symlinks or {})
        commit = Commit()
        commit.tree = root
        parent = self.repo.refs.as_dict().get(f"refs/heads/{branch}".encode())
        commit.parents = [parent] if parent else []
        commit.author = commit.committer = AUTHOR
        self._time += 60
        commit.author_time = commit.commit_time = self._time
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = message.encode()
        store.add_object(commit)
        self.repo.refs[f"refs/heads/{branch}".encode()] = commit.id
        if b"HEAD" not in self.repo.refs.as_dict() or branch == "main":
            self.repo.refs.set_symbolic_ref(b"HEAD", f"refs/heads/{branch}".encode())
        return commit.id.decode()

    def tag(self, name: str, sha: str, *, annotated: bool = True) -> None:
        if not annotated:
            self.repo.refs[f"refs/tags/{name}".encode()] = sha.encode()
            return
        tag = Tag()
        tag.tagger = AUTHOR
        tag.message = f"release {name}".encode()
        tag.name = name.encode()
        tag.object = (Commit, sha.encode())
        tag.tag_time = self._time
        tag.tag_timezone = 0
        self.repo.object_store.add_object(tag)
        self.repo.refs[f"refs/tags/{name}".encode()] = tag.id


def _build_tree(store: Any, files: Mapping[str, str | bytes], symlinks: Mapping[str, str]) -> bytes:
    entries: dict[str, Any] = {}
    for path, content in files.items():
        _insert(
            entries, path.split("/"), (0o100644, content.encode() if isinstance(content, str) else content)
        )
    for path, target in symlinks.items():
        _insert(entries, path.split("/"), (0o120000, target.encode()))
    return _write_tree(store, entries)


def _insert(node: dict[str, Any], parts: list[str], leaf: tuple[int, bytes]) -> None:
    if len(parts) == 1:
        node[parts[0]] = leaf
        return
    _insert(node.setdefault(parts[0], {}), parts[1:], leaf)


def _write_tree(store: Any, node: dict[str, Any]) -> bytes:
    tree = Tree()
    for name, value in node.items():
        if isinstance(value, dict):
            tree.add(name.encode(), 0o040000, _write_tree(store, value))
        else:
            mode, data = value
            blob = Blob.from_string(data)
            store.add_object(blob)
            tree.add(name.encode(), mode, blob.id)
    store.add_object(tree)
    return tree.id


def many_files_repo(path: Path, files: int, commits: int, playbook: str) -> GitRepo:
    """``files`` files under ``files/`` and ``commits`` commits, each changing one file.

    Built incrementally (one blob and two trees per commit) into a single pack."""
    repo = GitRepo(path)
    store = repo.repo.object_store
    blobs = [Blob.from_string(f"file {i}\n".encode()) for i in range(files)]
    play = Blob.from_string(playbook.encode())
    objects: list[Any] = [*blobs, play]
    parent: bytes | None = None
    for n in range(commits):
        changed = Blob.from_string(f"file {n % files} version {n}\n".encode())
        blobs[n % files] = changed
        sub = Tree()
        for i, blob in enumerate(blobs):
            sub.add(f"f{i:04d}.txt".encode(), 0o100644, blob.id)
        root = Tree()
        root.add(b"files", 0o040000, sub.id)
        root.add(b"site.yml", 0o100644, play.id)
        commit = Commit()
        commit.tree = root.id
        commit.parents = [parent] if parent else []
        commit.author = commit.committer = AUTHOR
        commit.author_time = commit.commit_time = 1_700_000_000 + n
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = f"commit {n}".encode()
        objects += [changed, sub, root, commit]
        parent = commit.id
    store.add_objects([(obj, None) for obj in objects])  # one pack
    assert parent is not None
    repo.repo.refs[b"refs/heads/main"] = parent
    repo.repo.refs.set_symbolic_ref(b"HEAD", b"refs/heads/main")
    return repo


@dataclass
class Requests:
    """Every request the server answered: ``(method, path)``."""

    seen: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, method: str, path: str) -> None:
        with self.lock:
            self.seen.append((method, path))

    def listings(self, repo: str) -> int:
        return sum(1 for m, p in self.seen if m == "GET" and p == f"/{repo}/info/refs")

    def packs(self, repo: str) -> int:
        return sum(1 for m, p in self.seen if m == "POST" and p == f"/{repo}/git-upload-pack")

    def clear(self) -> None:
        with self.lock:
            self.seen.clear()


class _Backend(FileSystemBackend):
    """dulwich.web passes ``/name``; joined to the root as is, it would name ``/name`` itself."""

    def open_repository(self, path: str | bytes) -> Any:
        return super().open_repository(os.fsdecode(path).lstrip("/"))


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return


class GitHttpServer:
    """``dulwich.web`` serving ``root`` (``/<name>`` is ``root/<name>``) on 127.0.0.1:<free port>."""

    def __init__(self, root: Path, *, delay_s: float = 0.0) -> None:
        self.root = root
        self.requests = Requests()
        self.delay_s = delay_s
        self.require_auth = False
        """Answer every request 401, as a private repository does without a credential."""
        self.token: str | None = None
        """Serve only requests whose HTTP basic auth password is this token (401 otherwise)."""
        app = make_wsgi_chain(_Backend(str(root)))

        def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            self.requests.add(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""))
            if self.require_auth or (self.token is not None and not self._authorized(environ)):
                start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
                return [b""]
            if self.delay_s:
                time.sleep(self.delay_s)
            return app(environ, start_response)

        self.server = make_server(
            "127.0.0.1", 0, counting, server_class=_ThreadingServer, handler_class=_QuietHandler
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _authorized(self, environ: dict[str, Any]) -> bool:
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        _, _, password = base64.b64decode(value).decode().partition(":")
        return password == self.token

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def __enter__(self) -> GitHttpServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(root: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(root) as server:
        yield server
