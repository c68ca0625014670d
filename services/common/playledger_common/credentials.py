"""Credential secrets, typed: what the API stores encrypted and seals to the executor of a job.

One tagged union (``type``) shared by both ends, so the API validates a secret at the door with
the same Struct the executor decodes it with. A job names credentials by role
(``JobCredentials``: ``ssh``, ``become_password``, ``vault_password``); each role takes one type
(``commands.ROLE_TYPES``, or ``hashicorp_vault`` behind a Vault reference), checked at submit
(HTTP) and again when the executor asks for the secrets.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

Description = Annotated[str, Meta(max_length=1024)]
UserName = Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[^\s\x00:/@]+$")]
SecretText = Annotated[str, Meta(min_length=1, max_length=64 * 1024)]
VaultId = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


class Secret(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    """Base of every credential type; ``description`` is metadata, kept out of the ciphertext."""

    description: Description | None = None

    def values(self) -> list[str]:
        """Every secret value in it (what the executor masks in the job's output)."""
        raise NotImplementedError


class SshKeySecret(Secret, frozen=True, kw_only=True, tag="ssh_key"):
    """An SSH private key (OpenSSH or PEM), optionally passphrase-protected, and the remote user."""

    private_key: SecretText
    passphrase: SecretText | None = None
    username: UserName | None = None

    def values(self) -> list[str]:
        return [v for v in (self.private_key, self.passphrase) if v]


class PasswordSecret(Secret, frozen=True, kw_only=True, tag="password"):
    """A password: for ``become`` (privilege escalation), optionally with its user."""

    password: SecretText
    username: UserName | None = None

    def values(self) -> list[str]:
        return [self.password]


class VaultPasswordSecret(Secret, frozen=True, kw_only=True, tag="vault_password"):
    """An Ansible Vault password, optionally for one vault id (``--vault-id <id>@prompt``)."""

    password: SecretText
    vault_id: VaultId | None = None

    def values(self) -> list[str]:
        return [self.password]


VaultAddress = Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://[^\s@]+$")]
MountName = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")]


class HashicorpVaultSecret(Secret, frozen=True, kw_only=True, tag="hashicorp_vault"):
    """How to reach a HashiCorp Vault / OpenBao server: a token, or an AppRole (``role_id`` and
    ``secret_id``). Jobs reference values in it (``VaultReference``); those are never stored."""

    address: VaultAddress
    token: SecretText | None = None
    role_id: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    secret_id: SecretText | None = None
    approle_mount: MountName = "approle"
    namespace: Annotated[str, Meta(min_length=1, max_length=256)] | None = None

    def values(self) -> list[str]:
        return [v for v in (self.token, self.secret_id) if v]


class VarsSecret(Secret, frozen=True, kw_only=True, tag="vars"):
    """Secret variables for ansible (``-e @file``): every string in them is masked in the output."""

    vars: Annotated[
        dict[Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], Any],
        Meta(min_length=1, max_length=256),
    ]

    def values(self) -> list[str]:
        found: list[str] = []
        _strings(self.vars, found)
        return found


def _strings(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        found.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, found)
    elif isinstance(value, list):
        for item in value:
            _strings(item, found)


AnySecret = SshKeySecret | PasswordSecret | VaultPasswordSecret | HashicorpVaultSecret | VarsSecret
CredentialType = Literal["ssh_key", "password", "vault_password", "hashicorp_vault", "vars"]


JOB_SCOPED_PREFIX = "job."
"""Names ``job.<job_id>.<role>``: credentials the API made from one request's inline secrets,
deleted once that job is complete; no one else may create a name with this prefix."""


def job_scoped_name(job_id: str, role: str) -> str:
    return f"{JOB_SCOPED_PREFIX}{job_id}.{role}"


def type_of(secret: Secret) -> str:
    return str(secret.__struct_config__.tag)


def role_problem(role: str, name: str, wanted: str, stored_type: str | None) -> str | None:
    """Why credential ``name`` cannot serve as ``role`` (``None``: it can); same words at both doors."""
    if stored_type is None:
        return f"credential {name!r} does not exist"
    if stored_type != wanted:
        return f"credential {name!r} is a {stored_type!r} credential; {role} needs a {wanted!r} one"
    return None


class SealedSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """What the API seals to a job's executor, by role: the stored secret, or for a role that
    references Vault, the Vault credential (the executor reads the value itself)."""

    ssh: SshKeySecret | HashicorpVaultSecret | None = None
    become_password: PasswordSecret | HashicorpVaultSecret | None = None
    vault_password: VaultPasswordSecret | HashicorpVaultSecret | None = None
    secret_vars: VarsSecret | None = None


class JobSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """The secrets a run uses, by role, once every Vault reference is read."""

    ssh: SshKeySecret | None = None
    become_password: PasswordSecret | None = None
    vault_password: VaultPasswordSecret | None = None
    secret_vars: VarsSecret | None = None
    also_masked: list[str] = msgspec.field(default_factory=list)
    """Other secret values the job's output must never show (Vault tokens, AppRole secret ids)."""

    def values(self) -> list[str]:
        found: list[str] = list(self.also_masked)
        for secret in (self.ssh, self.become_password, self.vault_password, self.secret_vars):
            if secret is not None:
                found += secret.values()
        return found
