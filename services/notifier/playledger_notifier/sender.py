"""One delivery attempt: an HTTP POST to a checked address, bounded in time and size."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from playledger_notifier.guard import IPNetwork, RefusedError, checked_address


@dataclass(frozen=True)
class Answer:
    """What one attempt got: a status code, or why there is none."""

    status_code: int | None
    reason: str | None
    """``None`` when delivered (2xx)."""
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.reason is None


def shown_url(url: str) -> str:
    """Scheme, host, port and path: what delivery events may keep (a query may hold a token)."""
    parts = httpx.URL(url)
    return str(parts.copy_with(query=None, fragment=None))


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow: Sequence[IPNetwork],
    allow_http: bool,
    max_response_bytes: int,
) -> Answer:
    """POST ``body``; raises ``RefusedError`` (before any connection) when the URL may not be called."""
    parts = httpx.URL(url)
    if parts.scheme == "http" and not allow_http:
        why = "plain http:// is not allowed by this installation (PLAYLEDGER_WEBHOOK_ALLOW_HTTP)"
        raise RefusedError(why)
    if parts.scheme not in ("http", "https"):
        why = f"scheme {parts.scheme!r} is not http(s)"
        raise RefusedError(why)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = await checked_address(parts.host, port, allow)
    pinned = parts.copy_with(host=str(address))
    extensions = {"sni_hostname": parts.host} if parts.scheme == "https" else {}
    started = time.monotonic()
    try:
        request = client.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "host": parts.netloc.decode("ascii"), "content-type": "application/json"},
            extensions=extensions,
        )
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            read = 0
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read > max_response_bytes:
                    break
        finally:
            await response.aclose()
    except httpx.TimeoutException:
        return Answer(None, "timed out", _ms(started))
    except httpx.HTTPError as exc:
        return Answer(None, f"could not deliver: {type(exc).__name__}", _ms(started))
    code = response.status_code
    if 200 <= code < 300:
        return Answer(code, None, _ms(started))
    if 300 <= code < 400:
        return Answer(code, f"answered {code}; redirects are not followed", _ms(started))
    return Answer(code, f"answered {code}", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
