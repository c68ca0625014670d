"""docker-compose.yml cannot run here (no Docker); this keeps it consistent with the code."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
import yaml

from playledger_cli.cli import LAZY_COMMANDS
from playledger_common.settings import ApiSettings, ExecutorSettings, ProjectorSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SETTINGS = {"api": ApiSettings, "executor": ExecutorSettings, "projector": ProjectorSettings}


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_variable_a_service_gets_is_a_setting_it_reads(service: str) -> None:
    fields = {f.name for f in msgspec.structs.fields(SETTINGS[service])}
    environment = COMPOSE["services"][service]["environment"]
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
    assert service in LAZY_COMMANDS
    assert spec["image"] == "playledger:latest"


def test_least_privilege_the_executor_never_sees_the_database() -> None:
    assert "PLAYLEDGER_DATABASE_URL" not in COMPOSE["services"]["executor"]["environment"]


def test_nats_is_new_enough_and_has_jetstream() -> None:
    nats = COMPOSE["services"]["nats"]
    match = re.match(r"nats:(\d+)\.(\d+)", nats["image"])
    assert match
    assert (int(match[1]), int(match[2])) >= (2, 12)
    assert "-js" in nats["command"]


def test_the_image_is_built_from_the_dockerfile_with_the_cli_as_entrypoint() -> None:
    build = COMPOSE["services"]["projector"]["build"]
    dockerfile = (ROOT / build["dockerfile"]).read_text(encoding="utf-8")
    assert 'ENTRYPOINT ["playledger"]' in dockerfile
    assert "USER playledger" in dockerfile
