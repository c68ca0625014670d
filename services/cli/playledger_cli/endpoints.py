"""Where the CLI finds playledger, and why there: the one place for connection settings.

Each URL comes from the first of: the command's flag, its ``PLAYLEDGER_*`` variable, the
``playledger dev`` running in ``var/dev`` (below the current directory, or
``$PLAYLEDGER_DEV_DATA_DIR``), the default.
Every connection error names the URL and the reason it was chosen, so a stopped ``dev``
is never mistaken for the server on the default port.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from nats.aio.client import Client

from playledger_cli.devstate import RunningDev, data_dir_in_use, probe
from playledger_cli.errors import CliError
from playledger_common.bus import connect_once, server_urls
from playledger_common.nats_users import Role, inbox_prefix, stored_user

DEFAULT_API_URL: Final = "http://127.0.0.1:8000"
DEFAULT_NATS_URL: Final = "nats://127.0.0.1:4222"
NATS_CONNECT_TIMEOUT_S: Final = 3.0
API: Final = "the API"
NATS: Final = "NATS"


@dataclass(frozen=True)
class Endpoint:
    url: str
    origin: str
    """Why this URL, e.g. ``from --api-url`` or ``the default: no playledger dev is running in var/dev``."""
    dev: RunningDev | None = None
    """The ``playledger dev`` this URL came from, if it did."""

    def unreachable(self, what: str, reason: object) -> CliError:
        return CliError(f"cannot reach {what} at {self.url} ({self.origin}): {reason}")


def api_endpoint(flag: str | None) -> Endpoint:
    return _resolve(flag, "--api-url", "PLAYLEDGER_API_URL", DEFAULT_API_URL, lambda dev: dev.api_url)


def nats_endpoint(flag: str | None) -> Endpoint:
    return _resolve(flag, "--nats-url", "PLAYLEDGER_NATS_URL", DEFAULT_NATS_URL, lambda dev: dev.nats_url)


def _resolve(
    flag: str | None,
    flag_name: str,
    variable: str,
    default: str,
    from_dev: Callable[[RunningDev], str | None],
) -> Endpoint:
    if flag:
        return Endpoint(flag.rstrip("/"), f"from {flag_name}")
    if os.environ.get(variable):
        return Endpoint(os.environ[variable].rstrip("/"), f"from {variable}")
    data_dir = data_dir_in_use()
    dev = probe(data_dir)
    if dev is None:
        why = f"no playledger dev is running in {data_dir}"
    else:
        url = from_dev(dev)
        if url:
            return Endpoint(url.rstrip("/"), f"playledger dev, pid {dev.pid}, in {data_dir}", dev)
        why = f"playledger dev in {data_dir} is still starting"
    return Endpoint(default, f"the default: no {flag_name}, no {variable}, and {why}")


def nats_credentials(endpoint: Endpoint, role: Role) -> dict[str, str]:
    """``PLAYLEDGER_NATS_USER``/``_PASSWORD``, else the ``role`` user of the ``playledger dev`` the URL
    came from (its generated users file), else none (a server without users)."""
    user = os.environ.get("PLAYLEDGER_NATS_USER")
    if user:
        password = os.environ.get("PLAYLEDGER_NATS_PASSWORD", "")
        return {"user": user, "password": password, "inbox_prefix": inbox_prefix(user)}
    stored = stored_user(endpoint.dev.data_dir, role) if endpoint.dev is not None else None
    if stored is None:
        return {}
    return {"user": stored.user, "password": stored.password, "inbox_prefix": inbox_prefix(stored.role)}


async def connect_nats(endpoint: Endpoint, name: str, *, role: Role) -> Client:
    """A short try and no reconnect loop: a command fails in one line when NATS is not there.

    Connects as ``role`` (see ``nats_credentials``). (nats-py drops a server after
    ``max_reconnect_attempts`` failures only when that is > 0.)
    """
    failures: list[BaseException] = []

    async def remember(exc: Exception) -> None:
        failures.append(exc)

    try:
        return await connect_once(
            servers=server_urls(endpoint.url),
            name=name,
            connect_timeout=NATS_CONNECT_TIMEOUT_S,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.1,
            error_cb=remember,
            **nats_credentials(endpoint, role),
        )
    except Exception as exc:  # noqa: BLE001 - nats-py raises OSError, TimeoutError or its own errors
        cause = failures[-1] if failures else exc
        raise endpoint.unreachable(NATS, str(cause) or type(cause).__name__) from None
