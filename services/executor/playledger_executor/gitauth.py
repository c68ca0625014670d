"""A job's ``git`` credential as the source cache uses it (``gitcache.GitAuth``).

An HTTPS token stays in this process's memory (dulwich sends it as HTTP basic auth). An SSH key
is written to a 0600 file in the job's private dir (decrypted first when it has a passphrase:
``ssh`` here runs without a terminal to ask), removed with that dir; ``ssh -i`` gets its path.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from playledger_common.credentials import GitSecret
from playledger_common.private_file import write_private
from playledger_executor.gitcache import GitAuth

KEY_FILE: Final = "env/git_ssh_key"
KNOWN_HOSTS_FILE: Final = "env/git_known_hosts"


def identity(secret: GitSecret) -> str:
    """A digest of what logs in: a mirror fetched with it is shared only with jobs holding it."""
    material = "\0".join(v or "" for v in (secret.username, secret.token, secret.private_key))
    return hashlib.sha256(f"playledger git credential\0{material}".encode()).hexdigest()[:32]


def git_auth(secret: GitSecret, private_dir: Path) -> GitAuth:
    if secret.private_key is None:
        return GitAuth(identity=identity(secret), username=secret.username, password=secret.token)
    key_file = private_dir / KEY_FILE
    write_private(key_file, _unlocked(secret.private_key, secret.passphrase))
    known_hosts = None
    if secret.known_hosts is not None:
        known_hosts = private_dir / KNOWN_HOSTS_FILE
        write_private(known_hosts, secret.known_hosts.rstrip("\n") + "\n")
    return GitAuth(identity=identity(secret), key_file=key_file, known_hosts=known_hosts)


def _unlocked(private_key: str, passphrase: str | None) -> str:
    """The key as ``ssh`` can read it without asking (the API checked it parses with that passphrase)."""
    text = private_key if private_key.endswith("\n") else private_key + "\n"
    if passphrase is None:
        return text
    data, password = text.encode(), passphrase.encode()
    key: PrivateKeyTypes
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        key = serialization.load_ssh_private_key(data, password)
    else:
        key = serialization.load_pem_private_key(data, password)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
