"""deploy/grafana/playledger.json: every query parses as PromQL and names only metrics the services export."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from playledger_notifier.metrics import NotifierMetrics
from prometheus_client import CollectorRegistry

from playledger_api.metrics import Metrics
from playledger_executor.metrics import ExecutorMetrics
from playledger_projector.metrics import ProjectorMetrics

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "playledger.json"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
    "gauge": ("",),
}


def exposed(registry: CollectorRegistry) -> set[str]:
    """The sample names a registry's families expose (labelled families may have no samples yet)."""
    return {
        family.name + suffix for family in registry.collect() for suffix in SUFFIXES.get(family.type, ("",))
    }


def exported() -> set[str]:
    registries = [ExecutorMetrics().registry, ProjectorMetrics().registry, NotifierMetrics().registry]
    return set().union(*map(exposed, [*registries, Metrics().registry]))


def exprs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("expr"), str):
            yield node["expr"]
        for child in node.values():
            yield from exprs(child)
    elif isinstance(node, list):
        for child in node:
            yield from exprs(child)


def metric_names(node: Any) -> Iterator[str]:
    """Every vector selector's metric name in a parsed PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        yield node.name
        return
    if isinstance(node, promql_parser.MatrixSelector):
        yield from metric_names(node.vector_selector)
        return
    for attr in ("expr", "lhs", "rhs", "param"):
        child = getattr(node, attr, None)
        if child is not None:
            yield from metric_names(child)
    for arg in getattr(node, "args", None) or []:
        yield from metric_names(arg)


QUERIES = list(exprs(json.loads(DASHBOARD.read_text(encoding="utf-8"))))


def test_the_dashboard_has_the_panels_the_issue_asks_for() -> None:
    names = {name for q in QUERIES for name in metric_names(promql_parser.parse(q))}
    for wanted in (
        "playledger_executor_jobs_finished_total",
        "playledger_executor_job_duration_seconds_bucket",
        "playledger_executor_queue_depth",
        "playledger_projector_lag_events",
        "playledger_api_sse_clients",
        "playledger_executor_runner_events_total",
    ):
        assert wanted in names


@pytest.mark.parametrize("query", QUERIES)
def test_every_query_names_an_exported_metric(query: str) -> None:
    names = set(metric_names(promql_parser.parse(query)))
    assert names, f"no metric in {query!r}"
    assert names <= exported(), f"not exported by any service: {sorted(names - exported())}"
