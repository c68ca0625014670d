"""What handlers need, opened once per process by the app's lifespan and handed out by DI."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.datastructures import State
from litestar.di import NamedDependency

from playledger_api.auth.guard import Gate
from playledger_api.auth.quota import SubmitQuota
from playledger_api.bus import Bus
from playledger_api.creds.service import Credentials
from playledger_api.fanout import Hub
from playledger_api.metrics import Metrics
from playledger_api.store import ReadModel
from playledger_common.bus import LinkWatch
from playledger_common.logstore import LogStore
from playledger_common.named_store import NamedStore
from playledger_common.settings import ApiSettings
from playledger_common.subscriptions import SubscriptionStore
from playledger_schemas.inventories import StoredInventoryValue
from playledger_schemas.templates import Schedule, Template


@dataclass(frozen=True)
class Services:
    settings: ApiSettings
    bus: Bus
    read_model: ReadModel
    metrics: Metrics
    hub: Hub
    """Shared live consumers for SSE, one per watched job."""
    link: LinkWatch
    """Whether (and since when not) the NATS connection is up."""
    gate: Gate
    """Who may call which route (API keys and scopes)."""
    quota: SubmitQuota
    """Per-key submit limits."""
    logs: LogStore
    """Where the executors keep each job's complete log and artifacts."""
    templates: NamedStore[Template]
    schedules: NamedStore[Schedule]
    inventories: NamedStore[StoredInventoryValue]
    """Stored inventories (every revision kept)."""
    subscriptions: SubscriptionStore
    """Organisation-wide webhook subscriptions."""
    credentials: Credentials
    """Stored credentials (encrypted; answered 503 while no key-encryption key is configured)."""


def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


ServicesDep = NamedDependency[Services]
"""How handlers ask for the services (an explicit, named dependency)."""
