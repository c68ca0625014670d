from __future__ import annotations

from pathlib import Path

import pytest

from playledger_common.bus import server_urls
from playledger_common.errors import ConfigError
from playledger_common.settings import ExecutorSettings, ProjectorSettings, from_env

pytestmark = pytest.mark.unit


def test_settings_come_from_prefixed_variables_with_conversion() -> None:
    settings = from_env(
        ExecutorSettings,
        {"PLAYLEDGER_PROJECTS_DIR": "/srv/p", "PLAYLEDGER_CONCURRENCY": "8", "OTHER": "x"},
    )
    assert settings.projects_dir == Path("/srv/p")
    assert settings.concurrency == 8


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^PLAYLEDGER_DATABASE_URL is required but not set$"):
        from_env(ProjectorSettings, {})


def test_an_invalid_variable_is_named_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"^PLAYLEDGER_CONCURRENCY is invalid: Expected `int`"):
        from_env(ExecutorSettings, {"PLAYLEDGER_PROJECTS_DIR": "/p", "PLAYLEDGER_CONCURRENCY": "many"})
    with pytest.raises(ConfigError, match=r"^PLAYLEDGER_NATS_URL is invalid"):
        from_env(
            ProjectorSettings,
            {"PLAYLEDGER_DATABASE_URL": "postgresql://x/y", "PLAYLEDGER_NATS_URL": "http://x"},
        )


def test_overrides_win_over_the_environment() -> None:
    settings = from_env(
        ProjectorSettings, {"PLAYLEDGER_DATABASE_URL": "postgresql://a/b"}, nats_url="nats://h:1"
    )
    assert settings.nats_url == "nats://h:1"


def test_settings_are_frozen() -> None:
    settings = from_env(ProjectorSettings, {"PLAYLEDGER_DATABASE_URL": "postgresql://a/b"})
    with pytest.raises(AttributeError):
        settings.batch_size = 1  # type: ignore[misc]


def test_a_clusters_nodes_are_one_comma_separated_nats_url() -> None:
    nodes = "nats://n1:4222,nats://n2:4222,tls://n3:4222"
    settings = from_env(
        ProjectorSettings, {"PLAYLEDGER_DATABASE_URL": "postgresql://a/b", "PLAYLEDGER_NATS_URL": nodes}
    )
    assert server_urls(settings.nats_url) == ["nats://n1:4222", "nats://n2:4222", "tls://n3:4222"]
    assert server_urls("nats://one:4222") == ["nats://one:4222"]
    for bad in ("nats://n1:4222, nats://n2:4222", "nats://n1:4222,", "nats://n1:4222,http://n2"):
        with pytest.raises(ConfigError, match=r"^PLAYLEDGER_NATS_URL is invalid"):
            from_env(
                ProjectorSettings, {"PLAYLEDGER_DATABASE_URL": "postgresql://a/b", "PLAYLEDGER_NATS_URL": bad}
            )
