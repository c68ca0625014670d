"""Operations: ``/health`` (alive), ``/ready`` (dependencies usable), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import Final

from litestar import Controller, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from playledger_api.auth.guard import open_route, requires
from playledger_api.controllers.params import problems
from playledger_api.errors import RETRY_AFTER_S, DependencyUnavailableError, unavailable_dependency
from playledger_api.models import Check, Health, Readiness
from playledger_api.services import Services, ServicesDep
from playledger_common.readmodel import READ_MODEL_VERSION

log: Final = logging.getLogger(__name__)


class OpsController(Controller):
    tags = ["operations"]  # noqa: RUF012 - Litestar's declared class attribute

    @get(
        "/health",
        operation_id="health",
        **open_route(),
        responses={
            503: ResponseSpec(
                data_container=Health,
                description="Failing: NATS has been unreachable longer than PLAYLEDGER_NATS_RECOVER_S; restart it.",
            )
        },
    )
    async def health(self, services: ServicesDep) -> Response[Health]:
        """Liveness: the process serves requests and its NATS connection is up or coming back."""
        down_for = services.link.down_for()
        if down_for > services.settings.nats_recover_s:
            detail = f"NATS unreachable for more than {services.settings.nats_recover_s:g} s"
            return Response(Health(status="failing", detail=detail), status_code=503)
        return Response(Health(status="ok"), status_code=200)

    @get(
        "/ready",
        operation_id="ready",
        **open_route(),
        responses={
            503: ResponseSpec(
                data_container=Readiness, description="Not ready: the failing checks; see Retry-After."
            )
        },
    )
    async def ready(self, services: ServicesDep) -> Response[Readiness]:
        """Readiness: NATS connected, both streams present, PostgreSQL reachable and migrated."""
        checks = [_nats(services), await _streams(services), await _postgres(services)]
        ready = all(check.ok for check in checks)
        headers = {} if ready else {"Retry-After": str(RETRY_AFTER_S)}
        return Response(
            Readiness(ready=ready, checks=checks), status_code=200 if ready else 503, headers=headers
        )


def metrics_handler(*, keyed: bool) -> HTTPRouteHandler:
    """``/metrics`` as this server serves it (``PLAYLEDGER_METRICS_AUTH``): open, or with ``metrics:read``.

    Built per app, so the OpenAPI document declares a key exactly when the server asks for one.
    """
    access = {"responses": problems(401, 403), **requires("metrics:read")} if keyed else open_route()

    @get(
        "/metrics",
        operation_id="metrics",
        media_type="text/plain; version=0.0.4",
        tags=["operations"],
        **access,
    )
    async def metrics(services: ServicesDep) -> bytes:
        """Prometheus metrics of this process."""
        return services.metrics.render()

    return metrics


def _nats(services: Services) -> Check:
    connected = services.bus.nc.is_connected
    return Check(name="nats", ok=connected, detail="connected" if connected else "not connected")


async def _streams(services: Services) -> Check:
    if not services.bus.nc.is_connected:
        return Check(name="streams", ok=False, detail="unknown: NATS is not connected")
    try:
        missing = await services.bus.streams_present()
    except Exception as exc:
        if unavailable_dependency(exc) is None:
            raise
        return Check(name="streams", ok=False, detail="unknown: NATS did not answer")
    if missing:
        return Check(name="streams", ok=False, detail="missing: " + ", ".join(missing))
    return Check(name="streams", ok=True, detail="present")


async def _postgres(services: Services) -> Check:
    try:
        version = await services.read_model.migration_version()
    except DependencyUnavailableError:
        return Check(name="postgresql", ok=False, detail="unreachable or read models not migrated")
    except Exception as exc:
        dependency = unavailable_dependency(exc)
        if dependency is None:
            raise
        log.warning("readiness: PostgreSQL check failed (%s)", type(exc).__name__)
        return Check(name="postgresql", ok=False, detail="unreachable or read models not migrated")
    if version is None or version < READ_MODEL_VERSION:
        return Check(
            name="postgresql",
            ok=False,
            detail=f"read models at version {version or 0}, need {READ_MODEL_VERSION}",
        )
    return Check(name="postgresql", ok=True, detail=f"read models at version {version}")
