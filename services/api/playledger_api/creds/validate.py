"""What a secret must be before it is stored (pure): an SSH key that parses, a passphrase that
opens it, one way to log in, no environment variable that would change how ansible itself runs.
Problems are ``(field, message)`` and never quote a secret."""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from playledger_common.credentials import AnySecret, EnvSecret, GitSecret, HashicorpVaultSecret, SshKeySecret

Problem = tuple[str, str]
RESERVED_ENV: Final = ("ANSIBLE_", "RUNNER_", "LD_", "PYTHON", "SSH_", "PATH", "HOME")
"""Prefixes of variables an ``env`` credential may not set: ansible, ansible-runner, the loader,
Python and ssh read them to decide how the job itself runs (its options say that)."""


def check_secret(secret: AnySecret) -> tuple[list[Problem], str | None]:
    """The problems of ``secret`` and, for a key, its public fingerprint (``SHA256:…``)."""
    if isinstance(secret, HashicorpVaultSecret):
        return _vault_problems(secret), None
    if isinstance(secret, EnvSecret):
        return [
            (f"env.{name}", _RESERVED) for name in secret.env if name.upper().startswith(RESERVED_ENV)
        ], None
    if isinstance(secret, GitSecret):
        return _git_problems(secret)
    if not isinstance(secret, SshKeySecret):
        return [], None
    return _key_problems(secret.private_key, secret.passphrase)


_RESERVED: Final = f"may not be set by a credential (names starting with {', '.join(RESERVED_ENV)})"


def _git_problems(secret: GitSecret) -> tuple[list[Problem], str | None]:
    if (secret.token is None) == (secret.private_key is None):
        return [("token", "give a token (HTTPS) or a private_key (SSH), one of them")], None
    if secret.token is not None:
        extra = [f for f in ("passphrase", "known_hosts") if getattr(secret, f) is not None]
        return [(f, "only for an SSH private_key") for f in extra], None
    return _key_problems(secret.private_key or "", secret.passphrase)


def _key_problems(private_key: str, passphrase: str | None) -> tuple[list[Problem], str | None]:
    try:
        key = _load(private_key.encode(), passphrase)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            return [("passphrase", "given, but the private key is not passphrase-protected")], None
        return [("passphrase", "required: the private key is passphrase-protected")], None
    except ValueError:
        if passphrase is not None and _encrypted(private_key):
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
