"""docker-compose.yml cannot run here (no Docker); this keeps it consistent with the code."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
import yaml

from playledger_cli.cli import service_commands
from playledger_common.nats_users import ROLES
from playledger_common.settings import ApiSettings, ExecutorSettings, NotifierSettings, ProjectorSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SETTINGS: dict[str, type[msgspec.Struct]] = {
    "api": ApiSettings,
    "executor": ExecutorSettings,
    "projector": ProjectorSettings,
    "notifier": NotifierSettings,
}
SERVICES = COMPOSE["services"]
NATS_NODES = sorted(name for name, spec in SERVICES.items() if spec.get("image", "").startswith("nats:"))
CLUSTER_ENV = dict(
    line.split("=", 1)
    for line in (ROOT / "deploy/compose-cluster.env").read_text(encoding="utf-8").splitlines()
    if line and not line.startswith("#")
)


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_a_service_gets_is_a_setting_it_reads(service: str) -> None:
    fields = {f.name for f in msgspec.structs.fields(SETTINGS[service])}
    environment = SERVICES[service]["environment"]
    for name in environment:
        assert name.startswith("PLAYLEDGER_")
        assert name.removeprefix("PLAYLEDGER_").lower() in fields, f"{service}: {name} is not a setting"
    required = {f.name for f in msgspec.structs.fields(SETTINGS[service]) if f.required}
    given = {name.removeprefix("PLAYLEDGER_").lower() for name in environment}
    assert required <= given, f"{service} misses {required - given}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_runs_its_own_subcommand_of_the_one_image(service: str) -> None:
    spec = COMPOSE["services"][service]
    assert spec["command"] == [service]
    assert service_commands()[service].load().name == service
    assert spec["image"] == "playledger:latest"


def test_least_privilege_the_executor_never_sees_the_database() -> None:
    assert "PLAYLEDGER_DATABASE_URL" not in COMPOSE["services"]["executor"]["environment"]


@pytest.mark.parametrize("node", NATS_NODES)
def test_every_nats_node_is_new_enough_and_runs_the_rendered_config(node: str) -> None:
    """JetStream, users and cluster all come from the file nats-init renders (nats-config server)."""
    spec = SERVICES[node]
    match = re.match(r"nats:(\d+)\.(\d+)", spec["image"])
    assert match
    assert (int(match[1]), int(match[2])) >= (2, 12)
    assert spec["command"] == ["-c", "/config/nats-server.conf", "--server_name", node]
    assert "nats-config:/config:ro" in spec["volumes"]
    assert spec["depends_on"] == {"nats-init": {"condition": "service_completed_successfully"}}
    init = SERVICES["nats-init"]
    assert init["command"][:2] == ["nats-config", "server"]
    assert "--out=/nats-config/nats-server.conf" in init["command"]
    assert "nats-config:/nats-config" in init["volumes"]


def nats_identity(service: str) -> tuple[str, dict[str, object]]:
    """The role a service connects as, and the volume its password file comes from."""
    spec = SERVICES[service]
    user = spec["environment"]["PLAYLEDGER_NATS_USER"]
    password_dir = spec["environment"]["PLAYLEDGER_NATS_PASSWORD_FILE"].rsplit("/", 1)[0]
    [mount] = [v for v in spec["volumes"] if isinstance(v, dict) and v["target"] == password_dir]
    return user, mount


@pytest.mark.parametrize("service", [*sorted(SETTINGS), "streams-init"])
def test_each_service_connects_as_its_own_nats_user_with_only_its_password(service: str) -> None:
    spec = SERVICES[service]
    assert "PLAYLEDGER_NATS_PASSWORD" not in spec["environment"]  # never a password in the file
    user, mount = nats_identity(service)
    assert user in ROLES
    assert user == ("admin" if service == "streams-init" else service)
    # nats-init writes <secrets>/<role>/password; the service sees only its role's directory
    assert mount["source"] == "nats-secrets"
    assert mount["read_only"] is True
    assert mount["volume"] == {"subpath": user}
    assert "nats-secrets:/secrets" in SERVICES["nats-init"]["volumes"]
    assert "--secrets-dir=/secrets" in SERVICES["nats-init"]["command"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_services_start_after_the_streams_exist_and_expect_their_replicas(service: str) -> None:
    """Every service provisions missing streams at start and warns about drift: same replicas."""
    replicas = SERVICES["streams-init"]["environment"]["PLAYLEDGER_EVENTS_REPLICAS"]
    assert SERVICES[service]["environment"]["PLAYLEDGER_EVENTS_REPLICAS"] == replicas
    assert SERVICES[service]["depends_on"]["streams-init"] == {"condition": "service_completed_successfully"}
    assert SERVICES["streams-init"]["command"] == ["streams", "init"]
    assert SERVICES["streams-init"]["depends_on"]["nats"] == {"condition": "service_healthy"}


def test_the_cluster_profile_is_three_routed_nodes_with_r3_streams() -> None:
    cluster = sorted(name for name in NATS_NODES if "cluster" in SERVICES[name].get("profiles", []))
    always = [name for name in NATS_NODES if "profiles" not in SERVICES[name]]
    assert always == ["nats"]  # the services' URL, and node 1 of the cluster
    assert CLUSTER_ENV["COMPOSE_PROFILES"] == "cluster"
    assert CLUSTER_ENV["PLAYLEDGER_NATS_CLUSTER_HOSTS"].split(",") == [*always, *cluster]
    assert len(NATS_NODES) == 3
    assert CLUSTER_ENV["PLAYLEDGER_EVENTS_REPLICAS"] == "3"
    init, streams = SERVICES["nats-init"], SERVICES["streams-init"]
    assert "--cluster-hosts=${PLAYLEDGER_NATS_CLUSTER_HOSTS:-}" in init["command"]
    assert streams["environment"]["PLAYLEDGER_EVENTS_REPLICAS"] == "${PLAYLEDGER_EVENTS_REPLICAS:-1}"
    for node in cluster:  # R3 streams need a quorum before streams-init creates them
        assert streams["depends_on"][node] == {"condition": "service_healthy", "required": False}
    data = {v.split(":")[0] for name in NATS_NODES for v in SERVICES[name]["volumes"] if "/data" in v}
    assert len(data) == 3  # each node its own store


def test_the_image_is_built_from_the_dockerfile_with_the_cli_as_entrypoint() -> None:
    build = SERVICES["nats-init"]["build"]
    dockerfile = (ROOT / build["dockerfile"]).read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["playledger"]' in dockerfile
    assert "USER 10001:10001" in dockerfile  # numeric: Kubernetes' runAsNonRoot can check it
