"""``Allow`` lists every method of a path.

Litestar (2.x) builds the automatic ``OPTIONS`` answer of a path from the first handler
registered for it, so a controller with ``GET /`` and ``POST /`` answered ``Allow: GET, OPTIONS``.
This middleware rewrites the header from the app's merged routes.
"""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def allow_every_method(app: ASGIApp) -> ASGIApp:
    methods: dict[str, str] = {}

    async def with_allow(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "OPTIONS":
            await app(scope, receive, send)
            return
        if not methods:
            routes: Any = scope["litestar_app"].routes
            methods.update({route.path_format: ", ".join(sorted(route.methods)) for route in routes})

        async def send_allow(message: Message) -> None:
            allow = methods.get(scope.get("path_template") or "")
            if message["type"] == "http.response.start" and allow is not None:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await app(scope, receive, send_allow)

    return with_allow
