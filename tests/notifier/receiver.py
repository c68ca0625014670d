"""A webhook receiver on 127.0.0.1 for tests: records every request, answers from a script."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from tests.httpserve import serving


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    """Per path: the status codes to answer, in order (then 200)."""
    delays: dict[str, list[float]] = field(default_factory=dict)
    """Per path: seconds to wait before answering, in order (then none)."""

    def on(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def wait_for(self, path: str, count: int, timeout_s: float = 60) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.on(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.on(path))} of {count} webhooks arrived"
            time.sleep(0.1)
        return self.on(path)


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            path = self.path.split("?")[0]
            delays = receiver.delays.get(path) or []
            if delays:
                time.sleep(delays.pop(0))
            receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.monotonic()))
            answers = receiver.answers.get(path) or []
            code = answers.pop(0) if answers else 200
            self.send_response(code)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            return

    with serving(Handler) as url:
        receiver.url = url
        yield receiver
