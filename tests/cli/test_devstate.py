"""The data-dir lock of `playledger dev` and how the CLI picks its URLs (real files and flock)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from playledger_cli.devstate import API_URL_FILE, DevAlreadyRunningError, DevLock, probe
from playledger_cli.endpoints import api_endpoint, nats_endpoint

pytestmark = pytest.mark.unit


def test_one_data_dir_one_dev(tmp_path: Path) -> None:
    first = DevLock.acquire(tmp_path)
    first.publish(api_url="http://127.0.0.1:9", nats_url="nats://127.0.0.1:10", projects_dir=tmp_path)
    with pytest.raises(DevAlreadyRunningError) as caught:
        DevLock.acquire(tmp_path)
    assert str(caught.value).startswith("playledger dev is already running here (pid ")
    assert str(caught.value).endswith(", API http://127.0.0.1:9); stop it or use --data-dir")
    running = probe(tmp_path)
    assert running is not None
    assert (running.api_url, running.nats_url, running.projects_dir) == (
        "http://127.0.0.1:9",
        "nats://127.0.0.1:10",
        tmp_path,
    )
    first.release()
    assert probe(tmp_path) is None
    assert not (tmp_path / API_URL_FILE).exists()
    DevLock.acquire(tmp_path).release()  # free again


def test_files_left_by_a_killed_dev_are_not_believed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = (
        "import sys, pathlib; from playledger_cli.devstate import DevLock; "
        "lock = DevLock.acquire(pathlib.Path(sys.argv[1])); "
        "lock.publish(api_url='http://127.0.0.1:9', nats_url='nats://127.0.0.1:10', projects_dir=pathlib.Path('.'))"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=60)  # exits holding it
    assert (tmp_path / API_URL_FILE).exists()  # never cleaned up, as after kill -9
    assert probe(tmp_path) is None
    for name in ("PLAYLEDGER_API_URL", "PLAYLEDGER_NATS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PLAYLEDGER_DEV_DATA_DIR", str(tmp_path))
    endpoint = api_endpoint(None)
    assert endpoint.url == "http://127.0.0.1:8000"
    assert endpoint.origin == (
        f"the default: no --api-url, no PLAYLEDGER_API_URL, and no playledger dev is running in {tmp_path}"
    )


def test_the_url_comes_from_the_flag_the_variable_or_the_running_dev(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAYLEDGER_DEV_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLAYLEDGER_NATS_URL", "nats://10.0.0.1:4222")
    assert nats_endpoint("nats://h:1").origin == "from --nats-url"
    assert nats_endpoint(None).origin == "from PLAYLEDGER_NATS_URL"
    monkeypatch.delenv("PLAYLEDGER_NATS_URL")
    lock = DevLock.acquire(tmp_path)
    try:
        assert nats_endpoint(None).origin.endswith("is still starting")
        lock.publish(api_url="http://127.0.0.1:9", nats_url="nats://127.0.0.1:10", projects_dir=tmp_path)
        endpoint = nats_endpoint(None)
        assert endpoint.url == "nats://127.0.0.1:10"
        assert endpoint.origin.startswith("playledger dev, pid ")
    finally:
        lock.release()
