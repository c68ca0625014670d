"""The one guard every route passes: which scope a route needs, and whether the key has it.

Routes declare their scope with ``**requires("jobs:read")`` (the guard's ``opt`` and the
OpenAPI security requirement, from one value); a route that declares none needs ``admin``,
so a new route is closed until someone opens it on purpose. ``/health``, ``/ready`` and the
OpenAPI document are open; ``/metrics`` is open or keyed (``PLAYLEDGER_METRICS_AUTH``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from playledger_api.auth.authenticate import Authenticator
from playledger_api.auth.keys import KeyRecord, Scope, has_scope
from playledger_api.errors import ForbiddenError

SCOPE_OPT: Final = "scope"
OPEN: Final = "open"
"""``opt["scope"]`` of a route anyone may call."""
BEARER: Final = "apiKeyBearer"
HEADER: Final = "apiKeyHeader"
_KEY_STATE: Final = "api_key"


def requires(scope: Scope) -> dict[str, Any]:
    """Route keywords: the scope the guard enforces and the OpenAPI security requirement naming it."""
    return {"opt": {SCOPE_OPT: scope}, "security": [{BEARER: [scope]}, {HEADER: [scope]}]}


def open_route() -> dict[str, Any]:
    return {"opt": {SCOPE_OPT: OPEN}}


ANY_KEY: Final = "any valid key"
"""``opt["scope"]`` of a route every valid key may call, whatever its scopes."""


def any_key() -> dict[str, Any]:
    return {"opt": {SCOPE_OPT: ANY_KEY}, "security": [{BEARER: []}, {HEADER: []}]}


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """``Authorization: Bearer <key>``, else ``X-API-Key: <key>``; ``None`` when neither is sent."""
    authorization = connection.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return value.strip()
    header = connection.headers.get("x-api-key")
    return None if header is None else header.strip()


@dataclass(frozen=True)
class Gate:
    authenticator: Authenticator | None
    """``None`` when auth is off (``PLAYLEDGER_AUTH=off``)."""
    open_prefixes: tuple[str, ...]
    """Paths served open whatever their handler says (the OpenAPI document and its UI)."""

    async def check(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        if self.authenticator is None:
            return
        scope = handler.opt.get(SCOPE_OPT, "admin")
        if scope == OPEN:
            return
        if connection.scope["path"].startswith(self.open_prefixes):
            return
        record = await self.authenticator.verify(presented_key(connection))
        if scope != ANY_KEY and not has_scope(record, scope):
            msg = f"the API key {record.id!r} lacks the scope {scope!r}"
            raise ForbiddenError(msg)
        connection.state[_KEY_STATE] = record


def current_key(connection: ASGIConnection[Any, Any, Any, Any]) -> KeyRecord | None:
    """The key the guard accepted for this request; ``None`` when auth is off."""
    record: KeyRecord | None = connection.state.get(_KEY_STATE)
    return record


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    gate: Gate = connection.app.state.services.gate
    await gate.check(connection, handler)
