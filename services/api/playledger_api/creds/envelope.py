"""Envelope encryption of one secret (pure): a fresh AES-256-GCM data key per secret, wrapped by a
key-encryption key (KEK) named by its id, so the KEK can change without re-encrypting the secrets.
"""

from __future__ import annotations

import os
from typing import Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from playledger_common.kekfile import Keyring, KeyringError

NONCE_BYTES: Final = 12


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """What is stored for one secret: nothing here is readable without the KEK ``kek_id``."""

    kek_id: str
    wrapped_key: bytes
    """nonce (12 bytes) + the data key encrypted by the KEK."""
    nonce: bytes
    ciphertext: bytes


def _wrap_aad(name: str) -> bytes:
    return b"playledger data key\x00" + name.encode()


def _data_aad(name: str) -> bytes:
    return b"playledger secret\x00" + name.encode()


def encrypt(keyring: Keyring, name: str, plaintext: bytes) -> Envelope:
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _data_aad(name))
    return Envelope(
        kek_id=keyring.current, wrapped_key=_wrap(keyring, name, data_key), nonce=nonce, ciphertext=ciphertext
    )


def _wrap(keyring: Keyring, name: str, data_key: bytes) -> bytes:
    wrap_nonce = os.urandom(NONCE_BYTES)
    return wrap_nonce + AESGCM(keyring.keys[keyring.current]).encrypt(wrap_nonce, data_key, _wrap_aad(name))


def _unwrap(keyring: Keyring, name: str, envelope: Envelope) -> bytes:
    kek = keyring.keys.get(envelope.kek_id)
    if kek is None:
        msg = f"credential {name!r} is wrapped by key {envelope.kek_id!r}, which is not configured"
        raise KeyringError(msg)
    try:
        return AESGCM(kek).decrypt(
            envelope.wrapped_key[:NONCE_BYTES], envelope.wrapped_key[NONCE_BYTES:], _wrap_aad(name)
        )
    except InvalidTag:
        msg = f"credential {name!r}: key {envelope.kek_id!r} does not unwrap its data key"
        raise KeyringError(msg) from None


def decrypt(keyring: Keyring, name: str, envelope: Envelope) -> bytes:
    data_key = _unwrap(keyring, name, envelope)
    try:
        return AESGCM(data_key).decrypt(envelope.nonce, envelope.ciphertext, _data_aad(name))
    except InvalidTag:
        msg = f"credential {name!r}: the ciphertext does not match its data key"
        raise KeyringError(msg) from None


def rewrap(keyring: Keyring, name: str, envelope: Envelope) -> Envelope:
    """The same ciphertext with its data key wrapped by the current KEK."""
    data_key = _unwrap(keyring, name, envelope)
    return msgspec.structs.replace(
        envelope, kek_id=keyring.current, wrapped_key=_wrap(keyring, name, data_key)
    )
