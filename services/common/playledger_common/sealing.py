"""Secrets sealed to one recipient: X25519 key agreement, HKDF-SHA256, AES-256-GCM.

The executor makes a fresh X25519 key pair for each request and sends only the public half; the
API seals its reply to it with its own fresh key pair. Only the requesting process can open the
reply: whoever else reads the bus (a NATS operator, a subscriber with wide permissions, a packet
capture without TLS) sees the ciphertext. The associated data binds a reply to its job and
attempt, so a reply replayed into another request does not open.

Also the wire format of that request/reply (``SecretsRequest`` / ``SecretsReply``).
"""

from __future__ import annotations

import base64
import os
from typing import Annotated, Final

import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from msgspec import Meta

_INFO: Final = b"playledger job secrets v1"
B64Key = Annotated[str, Meta(min_length=40, max_length=64, pattern=r"^[A-Za-z0-9+/=]+$")]


class SecretsRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an executor sends on ``playledger.secrets.<job_id>``."""

    job_id: str
    attempt: int
    executor_id: str
    public_key: B64Key
    """The executor's one-time X25519 public key (raw, base64)."""
    checkout: bool = False
    """Asked before ``job.started``, to prepare the job: only its ``git`` credential, to fetch its
    repositories (the commit they resolve to is recorded in ``job.started``)."""


class Sealed(msgspec.Struct, frozen=True, kw_only=True):
    public_key: str
    nonce: str
    ciphertext: str


class SecretsReply(msgspec.Struct, frozen=True, kw_only=True):
    """Either ``sealed`` secrets or an ``error`` a user can act on (never a secret in it)."""

    sealed: Sealed | None = None
    error: str | None = None


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key(own: X25519PrivateKey, peer: X25519PublicKey, aad: bytes) -> bytes:
    shared = own.exchange(peer)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=aad, info=_INFO).derive(shared)


class Recipient:
    """A one-time key pair: ``public_key`` goes into the request, ``open`` reads the reply."""

    def __init__(self) -> None:
        self._private = X25519PrivateKey.generate()
        self.public_key = base64.b64encode(_raw(self._private.public_key())).decode()

    def open(self, sealed: Sealed, aad: bytes) -> bytes:
        peer = X25519PublicKey.from_public_bytes(base64.b64decode(sealed.public_key))
        key = _key(self._private, peer, aad)
        return AESGCM(key).decrypt(base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext), aad)


def seal(plaintext: bytes, recipient_public_key: str, aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` so that only the holder of ``recipient_public_key``'s private half reads it."""
    peer = X25519PublicKey.from_public_bytes(base64.b64decode(recipient_public_key))
    own = X25519PrivateKey.generate()
    nonce = os.urandom(12)
    ciphertext = AESGCM(_key(own, peer, aad)).encrypt(nonce, plaintext, aad)
    return Sealed(
        public_key=base64.b64encode(_raw(own.public_key())).decode(),
        nonce=base64.b64encode(nonce).decode(),
        ciphertext=base64.b64encode(ciphertext).decode(),
    )


def job_aad(job_id: str, attempt: int) -> bytes:
    return f"{job_id}/{attempt}".encode()
