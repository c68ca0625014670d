"""A real SSH target for credential tests: Debian's OpenSSH ``sshd`` on a free 127.0.0.1 port.

The fixture generates a host key and a config, creates two throwaway local users (removed
afterwards) and runs ``sshd -D -f <config>``:

- ``pl-login`` logs in with a key only (its authorized keys live in the test's directory);
- ``pl-become`` has a password: ``become_method: su`` from ``pl-login`` to it needs that
  password, so a become test really depends on the stored password (root's is never touched).

Users can only be created as root (CI and this machine run as root); elsewhere the fixture
fails with what it needs rather than skipping.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from playledger_cli.embedded import free_port

SSHD = "/usr/sbin/sshd"
LOGIN_USER = "pl-login"
BECOME_USER = "pl-become"


@dataclass(frozen=True)
class SshTarget:
    port: int
    keys_dir: Path
    become_password: str

    def authorize(self, public_key: str) -> None:
        """Let ``pl-login`` in with this key (in addition to the ones already allowed)."""
        path = self.keys_dir / LOGIN_USER
        with path.open("a", encoding="utf-8") as out:
            out.write(public_key.strip() + "\n")

    def host_vars(self) -> dict[str, object]:
        return {
            "ansible_host": "127.0.0.1",
            "ansible_port": self.port,
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"
            " -o IdentitiesOnly=no -o PasswordAuthentication=no",
            "ansible_pipelining": True,
        }


def keypair(directory: Path, name: str, passphrase: str = "") -> tuple[str, str]:
    """A fresh ed25519 key pair made by ``ssh-keygen``: (private key text, public key line)."""
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", str(path)], check=True
    )
    private, public = path.read_text(encoding="utf-8"), path.with_suffix(".pub").read_text(encoding="utf-8")
    path.unlink()
    path.with_suffix(".pub").unlink()
    return private, public


def _useradd(name: str, password: str) -> None:
    subprocess.run(["userdel", "-f", "-r", name], capture_output=True, check=False)  # left by a killed run
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n".encode(), check=True, capture_output=True)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    msg = f"sshd never listened on {port}: {log.read_text(errors='replace')}"
    raise AssertionError(msg)


@pytest.fixture(name="ssh_target", scope="session")
def fx_ssh_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshTarget]:
    assert Path(SSHD).exists(), "the SSH tests need Debian's openssh-server (./test installs it as root)"
    assert os.geteuid() == 0, "the SSH tests create throwaway users: run them as root (as CI does)"
    assert shutil.which("ssh-agent"), "the SSH tests need ssh-agent (openssh-client)"
    work = tmp_path_factory.mktemp("sshd")
    work.chmod(0o755)
    keys = work / "authorized"
    keys.mkdir(mode=0o755)
    become_password = "become-" + secrets.token_urlsafe(12)
    _useradd(LOGIN_USER, "login-" + secrets.token_urlsafe(16))  # a password only so the account is not locked
    _useradd(BECOME_USER, become_password)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / "host_key")], check=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    port = free_port()
    config = work / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work / 'host_key'}\nPidFile {work / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys}/%u\nStrictModes no\nPubkeyAuthentication yes\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin no\n"
        f"AllowUsers {LOGIN_USER}\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n",
        encoding="utf-8",
    )
    log = work / "sshd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        _wait_listening(port, process, log)
        yield SshTarget(port=port, keys_dir=keys, become_password=become_password)
    finally:
        process.terminate()
        process.wait(timeout=10)
        for user in (LOGIN_USER, BECOME_USER):
            subprocess.run(["userdel", "-f", "-r", user], capture_output=True, check=False)


from tests.api.conftest import fx_db, fx_readmodel_url, fx_settings  # noqa: E402 - the API's fixtures too

__all__ = ["fx_db", "fx_readmodel_url", "fx_settings", "fx_ssh_target"]
