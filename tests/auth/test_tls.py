"""TLS on both doors, with certificates made at test time: a client without the CA is refused."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import nats.errors
import pytest

from playledger_cli.embedded import NatsServer, ServerTls, free_port
from playledger_common.bus import connect_as, connect_once
from playledger_common.settings import CommonSettings
from tests.api.conftest import auth_env, key_headers
from tests.auth.certs import Pki, make_pki
from tests.processes import service

pytestmark = pytest.mark.integration


@pytest.fixture(name="pki")
def fx_pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture(name="tls_nats")
def fx_tls_nats(tmp_path: Path, pki: Pki) -> Iterator[NatsServer]:
    """Clients must trust the CA and present a certificate it signed."""
    server = NatsServer(
        store_dir=tmp_path / "nats", tls=ServerTls(cert=pki.server_cert, key=pki.server_key, ca=pki.ca)
    ).start()
    yield server
    server.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # refused sockets
async def test_nats_over_tls_needs_the_ca_and_a_client_certificate(tls_nats: NatsServer, pki: Pki) -> None:
    assert tls_nats.url.startswith("tls://")
    good = CommonSettings(
        nats_url=tls_nats.url, nats_tls_ca=pki.ca, nats_tls_cert=pki.client_cert, nats_tls_key=pki.client_key
    )
    nc = await connect_as(good, "tls-test")
    try:
        js = nc.jetstream()
        await js.add_stream(name="TLS_CHECK", subjects=["tls.check"])
        assert (await js.publish("tls.check", b"over tls")).seq == 1
    finally:
        await nc.close()

    without_ca = ssl.create_default_context()
    without_cert = ssl.create_default_context(cafile=str(pki.ca))
    for context in (without_ca, without_cert):
        with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):
            await connect_once(servers=[tls_nats.url], tls=context, max_reconnect_attempts=0)
    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):  # plain text to a TLS-only server
        await connect_once(servers=[tls_nats.url.replace("tls://", "nats://")], max_reconnect_attempts=0)


def test_the_api_over_https_needs_the_ca_and_a_client_certificate(
    nats_url: str, readmodel_url: str, pki: Pki, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        "PLAYLEDGER_NATS_URL": nats_url,
        "PLAYLEDGER_DATABASE_URL": readmodel_url,
        "PLAYLEDGER_API_TLS_CERT": str(pki.server_cert),
        "PLAYLEDGER_API_TLS_KEY": str(pki.server_key),
        "PLAYLEDGER_API_TLS_CA": str(pki.ca),
        **auth_env(tmp_path),
    }
    url = f"https://127.0.0.1:{port}"
    with service("api", {**os.environ, **env}, tmp_path / "api.log", "--port", str(port)) as process:
        trusted = ssl.create_default_context(cafile=str(pki.ca))
        trusted.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "api.log").read_text(errors="replace")
            try:
                health = httpx.get(f"{url}/health", verify=trusted, timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API never answered over HTTPS"
                time.sleep(0.3)
        assert health.status_code == 200
        jobs = httpx.get(f"{url}/api/v1/jobs", verify=trusted, headers=key_headers(tmp_path / "admin-key"))
        assert jobs.status_code == 200
        with pytest.raises(httpx.ConnectError):  # the server's certificate is not trusted
            httpx.get(f"{url}/health", timeout=5)
        no_client_cert = ssl.create_default_context(cafile=str(pki.ca))
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"{url}/health", verify=no_client_cert, timeout=5)
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)  # plain HTTP is not served
