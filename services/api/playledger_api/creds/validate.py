"""What a secret must be before it is stored (pure): an SSH key that parses, a passphrase that
opens it. Problems are ``(field, message)`` and never quote a secret."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from playledger_common.credentials import AnySecret, HashicorpVaultSecret, SshKeySecret

Problem = tuple[str, str]


def check_secret(secret: AnySecret) -> tuple[list[Problem], str | None]:
    """The problems of ``secret`` and, for a key, its public fingerprint (``SHA256:…``)."""
    if isinstance(secret, HashicorpVaultSecret):
        return _vault_problems(secret), None
    if not isinstance(secret, SshKeySecret):
        return [], None
    try:
        key = _load(secret.private_key.encode(), secret.passphrase)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            return [("passphrase", "given, but the private key is not passphrase-protected")], None
        return [("passphrase", "required: the private key is passphrase-protected")], None
    except ValueError:
        if secret.passphrase is not None and _encrypted(secret.private_key):
            return [("passphrase", "does not decrypt the private key")], None
        return [("private_key", "not an OpenSSH or PEM private key")], None
    return [], fingerprint(key)


def _vault_problems(secret: HashicorpVaultSecret) -> list[Problem]:
    approle = (secret.role_id, secret.secret_id)
    if secret.token is not None and any(approle):
        return [("token", "give a token or an AppRole (role_id and secret_id), not both")]
    if secret.token is None and not all(approle):
        missing = "secret_id" if secret.role_id else "role_id"
        return [
            (missing if any(approle) else "token", "required: a token, or an AppRole's role_id and secret_id")
        ]
    return []


def _encrypted(text: str) -> bool:
    """Whether a key that failed to load is an encrypted one (so the passphrase is what is wrong)."""
    try:
        _load(text.encode(), None)
    except TypeError:
        return True  # "password-protected, but password was not provided"
    except ValueError:
        return False
    return False


def _load(data: bytes, passphrase: str | None) -> PrivateKeyTypes:
    password = passphrase.encode() if passphrase is not None else None
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, password)
    return serialization.load_pem_private_key(data, password)


def fingerprint(key: PrivateKeyTypes) -> str:
    """As ``ssh-keygen -l`` shows it: SHA-256 of the public key blob, base64 without padding."""
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    blob = base64.b64decode(public.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
