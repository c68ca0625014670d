"""Where a webhook may go (SSRF): every address a host resolves to must be public, unless the
operator allow-listed it (``PLAYLEDGER_WEBHOOK_ALLOW``). The request then goes to the checked
address itself, so a second DNS answer cannot point it elsewhere."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CLASSES: Final = (
    ("is_unspecified", "the unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address (cloud metadata services live there)"),
    ("is_private", "a private address"),
    ("is_multicast", "a multicast address"),
    ("is_reserved", "a reserved address"),
)


class RefusedError(Exception):
    """The URL may not be called; ``reason`` says why (no connection was attempted)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_allow(value: str) -> list[IPNetwork]:
    """``127.0.0.1/32, 10.1.0.0/16`` -> networks (a bare address is a /32 or /128)."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in value.split(",") if part.strip()]


def refusal(address: IPAddress, allow: Sequence[IPNetwork]) -> str | None:
    """Why ``address`` may not be called, or ``None`` when it may."""
    if any(address in network for network in allow):
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    checked = mapped or address
    if mapped is not None and any(mapped in network for network in allow):
        return None
    for attribute, words in _CLASSES:
        if getattr(checked, attribute):
            return f"{address} is {words}; allow it with PLAYLEDGER_WEBHOOK_ALLOW"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        why = f"host {host!r} does not resolve ({exc.strerror})"
        raise RefusedError(why) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address not in found:
            found.append(address)
    return found


async def checked_address(host: str, port: int, allow: Sequence[IPNetwork]) -> IPAddress:
    """The address to connect to; ``RefusedError`` when any address of ``host`` is not allowed."""
    addresses = await resolve(host, port)
    for address in addresses:
        if why := refusal(address, allow):
            why = f"{host} resolves to {why}" if str(address) != host.strip("[]") else why
            raise RefusedError(why)
    if not addresses:
        why = f"host {host!r} has no address"
        raise RefusedError(why)
    return addresses[0]
