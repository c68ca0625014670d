"""The fault suite: the whole system as processes, hurt at seeded random moments."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.fspath):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(name="seed")
def fx_seed() -> int:
    """``PLAYLEDGER_FAULT_SEED`` replays a failed run; otherwise a fresh seed (printed on failure)."""
    configured = os.environ.get("PLAYLEDGER_FAULT_SEED")
    return int(configured) if configured else int.from_bytes(os.urandom(4), "big")


def start_cluster(root: Path, **options: object) -> Iterator[Cluster]:
    cluster = Cluster(root, **options)  # type: ignore[arg-type]
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
