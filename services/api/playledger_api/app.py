"""The Litestar app factory: ``create_app(settings)``.

The lifespan opens one NATS connection (and makes sure the streams exist), one lazy
asyncpg pool and the SSE hub per process, and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

import asyncpg
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, Contact, SecurityScheme

from playledger_api.allow import allow_every_method
from playledger_api.auth.authenticate import Authenticator
from playledger_api.auth.bootstrap import ensure_bootstrap_key, read_server_secret
from playledger_api.auth.controller import KeyController
from playledger_api.auth.guard import BEARER, HEADER, Gate, authorize
from playledger_api.auth.keystore import KeyStore
from playledger_api.auth.quota import SubmitQuota
from playledger_api.bus import Bus
from playledger_api.controllers.inventories import InventoryController
from playledger_api.controllers.jobs import JobController
from playledger_api.controllers.ops import OpsController, metrics_handler
from playledger_api.controllers.schedules import ScheduleController
from playledger_api.controllers.stats import StatsController
from playledger_api.controllers.stream import LifecycleStreamController, StreamController
from playledger_api.controllers.templates import TemplateController
from playledger_api.controllers.webhooks import WebhookController
from playledger_api.creds.controller import CredentialController
from playledger_api.creds.keyring import KeySource
from playledger_api.creds.responder import SecretsResponder
from playledger_api.creds.service import Credentials
from playledger_api.creds.store import CredentialStore, sweep_job_secrets
from playledger_api.errors import EXCEPTION_HANDLERS
from playledger_api.fanout import Hub
from playledger_api.metrics import Metrics
from playledger_api.openapi import state_strict_bodies
from playledger_api.services import Services, provide_services
from playledger_api.store import ReadModel, create_pool
from playledger_api.tracecontext import continue_client_trace
from playledger_api.ui import ui_router
from playledger_common import named_store
from playledger_common.bus import LinkWatch, connect_as
from playledger_common.kekfile import ensure_key_file
from playledger_common.logstore import open_store
from playledger_common.settings import ApiSettings
from playledger_common.streams import ensure_buckets, provision_at_start
from playledger_common.subscriptions import SubscriptionStore

log: Final = logging.getLogger(__name__)
API_VERSION: Final = "1.0.0"
STARTUP_CONNECT_S: Final = 20
"""The API does not start without NATS; it fails (and is restarted) instead of hanging."""
SHARED_RING_FACTOR: Final = 16
"""A job's shared SSE ring holds this many per-client buffers: it is paid once per job, not per client,
and a client (or a whole busy process) must lag that far behind before catching up on its own consumer."""


OPENAPI_PATH: Final = "/schema"


def create_app(settings: ApiSettings) -> Litestar:
    metrics = Metrics()
    link = LinkWatch()
    auth_on = settings.auth == "on"
    server_secret = read_server_secret(settings.auth_secret_file) if auth_on else b""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(STARTUP_CONNECT_S):
                nc = await connect_as(settings, "playledger-api", link)
        except TimeoutError:
            log.error("cannot reach NATS within %ss; not starting", STARTUP_CONNECT_S)
            raise
        pool = None
        hub: Hub | None = None
        logs = open_store(settings)
        responder: SecretsResponder | None = None
        sweeper: asyncio.Task[None] | None = None
        try:
            js = nc.jetstream()
            await provision_at_start(js, settings)
            await ensure_buckets(js, settings)
            pool = await create_pool(settings.database_url, settings.db_pool_size)
            gate = await _gate(settings, pool, server_secret)
            if settings.secrets_key is None and settings.secrets_key_file is not None:
                ensure_key_file(settings.secrets_key_file)  # first start: a fresh KEK (0600)
            credentials = Credentials(CredentialStore(pool), KeySource(settings))
            responder = SecretsResponder(nc, js, credentials)
            await responder.start()
            sweeper = asyncio.create_task(sweep_job_secrets(credentials.store, settings), name="job-secrets")
            hub = Hub(
                js,
                capacity=settings.sse_buffer_events * SHARED_RING_FACTOR,
                heartbeat_s=settings.sse_heartbeat_s,
                metrics=metrics,
            )
            app.state.services = Services(
                settings=settings,
                bus=Bus(nc, js),
                read_model=ReadModel(pool),
                metrics=metrics,
                hub=hub,
                link=link,
                gate=gate,
                quota=SubmitQuota(settings, pool),
                logs=logs,
                templates=named_store.templates(js),
                schedules=named_store.schedules(js),
                inventories=named_store.inventories(js),
                subscriptions=SubscriptionStore(pool),
                credentials=credentials,
            )
            yield
        finally:
            if sweeper is not None:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            if responder is not None:
                await responder.stop()
            if hub is not None:
                await hub.close()
            if pool is not None:
                await pool.close()
            await logs.close()
            await nc.close()
            metrics.process_ended()

    return Litestar(
        route_handlers=[
            JobController,
            StreamController,
            LifecycleStreamController,
            StatsController,
            TemplateController,
            InventoryController,
            ScheduleController,
            OpsController,
            metrics_handler(keyed=auth_on and settings.metrics_auth == "key"),
            CredentialController,
            ui_router(),
            WebhookController,
            *([KeyController] if auth_on else []),
        ],
        guards=[authorize],
        lifespan=[lifespan],
        on_startup=[state_strict_bodies],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        middleware=[metrics.middleware, allow_every_method, continue_client_trace],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="playledger",
            version=API_VERSION,
            description=(
                "Run Ansible playbooks as jobs. Errors are RFC 9457 problem details "
                "(application/problem+json); SSE ids are event stream sequences."
            ),
            contact=Contact(name="playledger"),
            path=OPENAPI_PATH,
            render_plugins=[ScalarRenderPlugin()],
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        description="An API key `pl_<id>_<secret>` as a bearer token; each operation names its scope.",
                    ),
                    HEADER: SecurityScheme(
                        type="apiKey",
                        name="X-API-Key",
                        security_scheme_in="header",
                        description="The same API key in the X-API-Key header.",
                    ),
                }
            ),
        ),
        debug=False,
    )


async def _gate(settings: ApiSettings, pool: asyncpg.Pool[asyncpg.Record], server_secret: bytes) -> Gate:
    if settings.auth == "off":
        log.warning("PLAYLEDGER_AUTH=off: every route is served without an API key")
        return Gate(authenticator=None, open_prefixes=())
    store = KeyStore(pool)
    if settings.auth_bootstrap_key_file is not None:
        await ensure_bootstrap_key(store, server_secret, settings.auth_bootstrap_key_file)
    return Gate(
        authenticator=Authenticator(store, server_secret, settings.auth_cache_s),
        open_prefixes=(OPENAPI_PATH,),
    )
