"""A real S3 API over HTTP for the tests: moto's standalone server on a free 127.0.0.1 port.

aioboto3 speaks to it exactly as it would to AWS (signed requests, multipart uploads, presigned
URLs); no in-process mock is involved. Each test gets a bucket of its own.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from moto.server import ThreadedMotoServer

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "playledger-test-key",
    "AWS_SECRET_ACCESS_KEY": "playledger-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    server: ThreadedMotoServer

    def bucket_env(self, bucket: str) -> dict[str, str]:
        """The ``PLAYLEDGER_STORAGE_*`` and AWS variables of a service storing into ``bucket``."""
        return {
            **CREDENTIALS,
            "PLAYLEDGER_STORAGE_URL": f"s3://{bucket}/logs",
            "PLAYLEDGER_STORAGE_ENDPOINT_URL": self.endpoint_url,
            "PLAYLEDGER_STORAGE_REGION": "us-east-1",
            "PLAYLEDGER_STORAGE_PATH_STYLE": "true",
        }


def start_s3() -> S3Server:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return S3Server(endpoint_url=f"http://127.0.0.1:{port}", server=server)


@pytest.fixture(name="s3_server", scope="session")
def fx_s3_server() -> Iterator[S3Server]:
    s3 = start_s3()
    yield s3
    s3.server.stop()


@pytest.fixture(name="s3_bucket")
def fx_s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket name, with the AWS credentials the server accepts in this process's environment."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    return f"pl-{uuid.uuid4().hex[:16]}"
