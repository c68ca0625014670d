"""The web dashboard at ``/ui/``: static pages that talk to the public API, nothing else.

Why static pages and no server-side rendering: every page uses the same JSON and SSE endpoints,
the same API keys and the same errors as any other client, so the dashboard can never show more
than the API allows, and nothing needs building at run time — plain ES modules and one vendored
library (``ansi_up`` for ansible's colours, refreshed by ``scripts/vendor-ui``). The API serves the
files itself with a strict Content-Security-Policy: no inline script or style, nothing loaded from
another origin, no framing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from litestar import Response, Router
from litestar.static_files import create_static_files_router

from playledger_api.auth.guard import open_route

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _secure(response: Response[Any]) -> Response[Any]:
    response.headers.update(SECURITY_HEADERS)
    return response


def ui_router() -> Router:
    """``/ui/`` (the job list), ``/ui/job.html?id=…``, ``/ui/launch.html`` and their assets."""
    return create_static_files_router(
        path="/ui",
        directories=[STATIC_DIR],
        html_mode=True,
        name="ui",
        after_request=_secure,
        opt=open_route()["opt"],  # static assets only: the data they show needs a key (jobs:read)
    )
