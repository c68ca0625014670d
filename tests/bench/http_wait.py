"""Waiting for an HTTP server the benchmarks started (raw asyncio: no client library in the way)."""

from __future__ import annotations

import asyncio


async def wait_http_ok(port: int, path: str, attempts: int = 600) -> None:
    """Poll ``GET path`` on 127.0.0.1:``port`` every 0.1 s until it answers 200."""
    for _ in range(attempts):
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        await writer.drain()
        ok = b" 200 " in await reader.readline()
        writer.close()
        if ok:
            return
        await asyncio.sleep(0.1)
    msg = f"GET {path} on port {port} never answered 200"
    raise RuntimeError(msg)
