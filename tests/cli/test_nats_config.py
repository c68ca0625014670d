"""``playledger nats-config server``'s file, run by a real nats-server: the compose services' users work.

docker-compose.yml's ``nats-init`` runs this command; here its output is started on free ports
and every role a compose service connects as logs in with its generated password file (through
``PLAYLEDGER_NATS_PASSWORD_FILE``), while an anonymous client and a wrong password are refused.
"""

from __future__ import annotations

import asyncio
import json
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest
import yaml
from click.testing import CliRunner

from playledger_cli.cli import cli
from playledger_cli.embedded import free_port, nats_server_binary, wait_for_port
from playledger_common.bus import connect_as, connect_once
from playledger_common.errors import ConfigError
from playledger_common.nats_config import password_variable
from playledger_common.nats_users import PASSWORD_FILE, ROLES
from playledger_common.settings import CommonSettings
from playledger_common.streams import ensure_streams
from tests.cli.test_compose_config import CLUSTER_ENV, SERVICES

pytestmark = pytest.mark.integration

COMPOSE_USERS = {
    name: spec["environment"]["PLAYLEDGER_NATS_USER"]
    for name, spec in SERVICES.items()
    if "PLAYLEDGER_NATS_USER" in spec.get("environment", {})
}


def render(tmp_path: Path, *options: str) -> tuple[Path, Path]:
    secrets, conf = tmp_path / "secrets", tmp_path / "nats-server.conf"
    args = ["nats-config", "server", f"--secrets-dir={secrets}", f"--out={conf}", *options]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    for role in ROLES:
        assert role in result.output
        assert (secrets / role / PASSWORD_FILE).read_text(encoding="utf-8").strip() not in result.output
    return secrets, conf


@pytest.fixture(name="server")
def fx_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    secrets, conf = render(
        tmp_path, f"--store-dir={tmp_path / 'js'}", f"--port={port}", f"--http-port={free_port()}"
    )
    log = (tmp_path / "nats.log").open("wb")
    process = subprocess.Popen([str(nats_server_binary()), "-c", str(conf)], stdout=log, stderr=log)
    log.close()
    try:
        wait_for_port("127.0.0.1", port)
        yield f"nats://127.0.0.1:{port}", secrets
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_passwords_and_config_are_private_and_kept_across_runs(tmp_path: Path) -> None:
    secrets, conf = render(tmp_path)
    first = {role: (secrets / role / PASSWORD_FILE).read_text() for role in ROLES}
    for role in ROLES:
        assert stat.S_IMODE((secrets / role / PASSWORD_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    render(tmp_path)
    assert {role: (secrets / role / PASSWORD_FILE).read_text() for role in ROLES} == first
    assert len(set(first.values())) == len(ROLES)


async def test_each_compose_service_connects_as_its_own_user(server: tuple[str, Path]) -> None:
    url, secrets = server
    assert set(COMPOSE_USERS.values()) == {"admin", "api", "executor", "projector", "notifier"}
    admin = CommonSettings(
        nats_url=url, nats_user="admin", nats_password_file=secrets / "admin" / PASSWORD_FILE
    )
    nc = await connect_as(admin, "streams-init")
    try:
        await ensure_streams(nc.jetstream(), admin)  # what the streams-init service does
    finally:
        await nc.close()
    for service, role in COMPOSE_USERS.items():
        settings = CommonSettings(
            nats_url=url, nats_user=role, nats_password_file=secrets / role / PASSWORD_FILE
        )
        nc = await connect_as(settings, service)
        try:
            info = await nc.jetstream().stream_info("PLAYLEDGER_EVENTS") if role != "admin" else None
            assert info is None or info.config.num_replicas == 1
        finally:
            await nc.close()


async def test_anonymous_and_wrong_passwords_are_refused(server: tuple[str, Path]) -> None:
    url, _ = server
    with pytest.raises(nats.errors.Error):
        await connect_once(servers=[url], connect_timeout=2)
    with pytest.raises(nats.errors.Error):
        await connect_once(servers=[url], user="executor", password="not-it", connect_timeout=2)


async def test_a_missing_password_file_is_named_without_connecting(tmp_path: Path) -> None:
    settings = CommonSettings(nats_user="api", nats_password_file=tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"PLAYLEDGER_NATS_PASSWORD_FILE .*absent"):
        await connect_as(settings, "api")


def test_the_cluster_config_is_one_nats_server_accepts(tmp_path: Path) -> None:
    """Every node of the compose cluster reads the same file; the routes authenticate."""
    hosts = CLUSTER_ENV["PLAYLEDGER_NATS_CLUSTER_HOSTS"]
    secrets, conf = render(tmp_path, f"--store-dir={tmp_path / 'js'}", f"--cluster-hosts={hosts}")
    text = conf.read_text(encoding="utf-8")
    route = (secrets / "cluster-route" / PASSWORD_FILE).read_text(encoding="utf-8").strip()
    for host in hosts.split(","):
        assert f"nats://route:{route}@{host}:6222" in text
    checked = subprocess.run(
        [str(nats_server_binary()), "-c", str(conf), "--server_name", "nats-2", "-t"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_helm_values_users_log_in_with_passwords_from_the_environment(tmp_path: Path) -> None:
    """The chart turns ``<< $VAR >>`` into an unquoted ``$VAR``, which nats-server reads from its
    environment (there: the Secret); the same substitution here, on a real server."""
    values = yaml.safe_load(CliRunner().invoke(cli, ["nats-config", "helm-values"]).output)
    users = json.dumps(values["config"]["merge"]["authorization"]["users"])
    users = re.sub(r'"<< (\$[A-Z_]+) >>"', r"\1", users)
    port = free_port()
    conf = tmp_path / "nats.conf"
    conf.write_text(f"port: {port}\nauthorization {{ users = {users} }}\n", encoding="utf-8")
    environment = {password_variable(role): f"pw-{role}-{port}" for role in ROLES}
    log = (tmp_path / "nats.log").open("wb")
    process = subprocess.Popen(
        [str(nats_server_binary()), "-c", str(conf)], stdout=log, stderr=log, env=environment
    )
    log.close()

    async def logins() -> None:
        url = f"nats://127.0.0.1:{port}"
        nc = await connect_once(
            servers=[url], user="auditor", password=f"pw-auditor-{port}", connect_timeout=2
        )
        await nc.close()
        with pytest.raises(nats.errors.Error):
            await connect_once(servers=[url], user="auditor", password=f"pw-admin-{port}", connect_timeout=2)

    try:
        wait_for_port("127.0.0.1", port)
        asyncio.run(logins())
    finally:
        process.terminate()
        process.wait(timeout=10)
