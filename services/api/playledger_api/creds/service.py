"""Stored credentials as the API uses them: validate and encrypt on the way in, decrypt only to
seal for an executor, rewrap on rotation. Raises the API's own errors (RFC 9457 at the edge)."""

from __future__ import annotations

import msgspec

from playledger_api.creds.envelope import Envelope, decrypt, encrypt
from playledger_api.creds.keyring import KeySource
from playledger_api.creds.store import CredentialInfo, CredentialStore, Metadata
from playledger_api.creds.validate import check_secret
from playledger_api.errors import FieldProblem, InvalidRequestError, SecretsKeyError
from playledger_common.credentials import (
    AnySecret,
    SealedSecrets,
    job_scoped_name,
    reference_path,
    role_problem,
    type_of,
)
from playledger_common.kekfile import Keyring, KeyringError

_secret_decoder = msgspec.json.Decoder(AnySecret)


class Credentials:
    def __init__(self, store: CredentialStore, keys: KeySource) -> None:
        self.store = store
        self.keys = keys

    def _ring(self, needs: str | None = None) -> Keyring:
        """The KEKs; read again when ``needs`` (a KEK id) is not among them (another process rotated)."""
        try:
            ring = self.keys.ring()
            if needs is not None and needs not in ring.keys:
                ring = self.keys.reload()
        except KeyringError as exc:
            raise SecretsKeyError(str(exc)) from None
        return ring

    def _encrypt(self, name: str, secret: AnySecret, path: str) -> tuple[Metadata, Envelope]:
        problems, fingerprint = check_secret(secret)
        if problems:
            raise InvalidRequestError.of([FieldProblem(path=f"{path}{f}", message=m) for f, m in problems])
        meta = Metadata(
            type=type_of(secret),
            description=secret.description,
            username=getattr(secret, "username", None),
            vault_id=getattr(secret, "vault_id", None),
            fingerprint=fingerprint,
        )
        plaintext = msgspec.json.encode(msgspec.structs.replace(secret, description=None))
        return meta, encrypt(self._ring(), name, plaintext)

    async def create(self, name: str, secret: AnySecret) -> CredentialInfo | None:
        """``None``: the name is taken."""
        meta, envelope = self._encrypt(name, secret, "$.")
        return await self.store.insert(name, meta, envelope)

    async def replace(self, name: str, secret: AnySecret) -> CredentialInfo | None:
        """``None``: no such credential."""
        meta, envelope = self._encrypt(name, secret, "$.")
        return await self.store.replace(name, meta, envelope)

    async def store_for_job(self, job_id: str, inline: dict[str, AnySecret]) -> None:
        """Store a request's inline secrets as credentials scoped to the job (``job.<id>.<role>``),
        deleted once the job is complete (``sweep_job_scoped``)."""
        for role, secret in inline.items():
            name = job_scoped_name(job_id, role)
            meta, envelope = self._encrypt(name, secret, f"$.credentials.{role}.")
            await self.store.put_job_scoped(job_id, name, meta, envelope)

    async def reference_problems(self, refs: dict[str, tuple[str, str]]) -> list[tuple[str, str]]:
        """``(role, why)`` for each reference that names no credential of the right type."""
        if not refs:
            return []
        types = await self.store.types(sorted({name for name, _ in refs.values()}))
        return [
            (role, why)
            for role, (name, wanted) in refs.items()
            if (why := role_problem(role, name, wanted, types.get(name)))
        ]

    async def job_secrets(self, refs: dict[str, tuple[str, str]]) -> SealedSecrets | str:
        """The decrypted secrets by role, or why not (naming the credential, never a value)."""
        problems = await self.reference_problems(refs)
        if problems:
            return "; ".join(f"{reference_path(role)}: {why}" for role, why in problems)
        rows = await self.store.load(sorted({name for name, _ in refs.values()}))
        by_role: dict[str, AnySecret] = {}
        for role, (name, _) in refs.items():
            if name not in rows:  # deleted between the two reads
                return f"{reference_path(role)}: credential {name!r} does not exist"
            _, envelope = rows[name]
            try:
                plaintext = decrypt(self._ring(needs=envelope.kek_id), name, envelope)
            except (KeyringError, SecretsKeyError) as exc:
                return f"{reference_path(role)}: {exc}"
            by_role[role] = _secret_decoder.decode(plaintext)
        return msgspec.convert(msgspec.to_builtins(by_role), SealedSecrets)

    async def rotate(self) -> tuple[str, int]:
        """Read the KEKs again and rewrap every data key with the current one: (its id, rows rewrapped)."""
        try:
            ring = self.keys.reload()
        except KeyringError as exc:
            raise SecretsKeyError(str(exc)) from None
        try:
            count = await self.store.rewrap_all(ring)
        except KeyringError as exc:
            raise SecretsKeyError(str(exc)) from None
        return ring.current, count
