"""The API with two uvicorn workers: every scrape, whichever worker answers, counts the whole pod."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.stack import running_stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REQUESTS = 30
SCRAPES = 6


def health_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "playledger_api_requests_total" and sample.labels.get("route") == "/health"
    )


def per_worker_health(shared: Path, tmp: Path) -> dict[str, float]:
    """Each worker's own count, read from its value file alone."""
    counts = {}
    for file in shared.glob("counter_*.db"):
        alone = tmp / file.stem
        alone.mkdir()
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        counts[file.stem] = sum(
            sample.value
            for family in registry.collect()
            for sample in family.samples
            if sample.name == "playledger_api_requests_total" and sample.labels.get("route") == "/health"
        )
    return counts


def test_two_workers_report_the_sum_of_both(nats_url: str, database_url: str, tmp_path: Path) -> None:
    shared = tmp_path / "metrics"
    with running_stack(nats_url, database_url, tmp_path / "stack", {}, auth=False) as stack:
        stack.stop_api()
        stack.env = {**stack.env, "PLAYLEDGER_API_WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(shared)}
        stack.start_api()
        for _ in range(REQUESTS):  # a new connection each time: the workers take turns accepting
            assert httpx.get(f"{stack.url}/health").status_code == 200
        for _ in range(SCRAPES):
            assert health_count(httpx.get(f"{stack.url}/metrics").text) == REQUESTS
        workers = per_worker_health(shared, tmp_path)
        assert len(workers) == 2, workers  # both workers write their values to the shared directory
        assert sum(workers.values()) == REQUESTS
