"""The ops server itself over real HTTP: probes before and after a service attaches, and /metrics."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from playledger_common.opsserver import Check, start_ops_server
from playledger_common.settings import ProjectorSettings
from playledger_projector.service import Projector

pytestmark = pytest.mark.unit


async def test_probes_and_metrics_before_and_after_a_service_attaches() -> None:
    registry = CollectorRegistry()
    served = Counter("playledger_test_things", "Things.", registry=registry)
    served.inc(3)
    server = await start_ops_server(registry, "127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            before = await http.get("/ready")  # the state before the service has connected
            assert before.status_code == 503
            assert before.headers["retry-after"] == "5"
            assert before.json()["checks"] == [
                {"name": "service", "ok": False, "detail": "starting: not connected yet"}
            ]

            scrapes = 0

            async def refresh() -> None:
                nonlocal scrapes
                scrapes += 1
                served.inc()

            server.app.refresh = refresh
            server.app.readiness = lambda: [Check(name="nats", ok=True, detail="connected")]
            assert (await http.get("/ready")).status_code == 200
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "playledger_test_things_total 4.0" in metrics.text  # refreshed before rendering
            assert scrapes == 1

            async def broken() -> None:
                raise TimeoutError

            server.app.refresh = broken
            assert "playledger_test_things_total 4.0" in (await http.get("/metrics")).text
            assert (await http.get("/nothing")).status_code == 404
    finally:
        await server.stop()


async def test_a_projector_that_has_not_connected_is_not_ready() -> None:
    projector = Projector(ProjectorSettings(database_url="postgresql://nobody@127.0.0.1:1/none"))
    checks = projector.readiness()
    assert [(c.name, c.ok) for c in checks] == [("nats", False), ("projection", False)]
    await projector.refresh_metrics()  # nothing to read yet: no error
    assert projector.metrics.registry.get_sample_value("playledger_projector_active") == 0
