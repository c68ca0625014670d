"""Credential secrets, typed: what the API stores encrypted and seals to the executor of a job.

One tagged union (``type``) shared by both ends, so the API validates a secret at the door with
the same Struct the executor decodes it with. A job names credentials by role
(``JobCredentials``: ``ssh``, ``become_password``, ``vault_password``, ``secret_vars``, ``git``,
``cloud``, ``env``, ``galaxy``), and a ``url`` inventory may name one (role ``inventory``: its
``credential``); each role takes one type (``commands.ROLE_TYPES``, ``INVENTORY_TYPE``, or
``hashicorp_vault`` behind a Vault reference), checked at submit (HTTP) and again when the
executor asks for the secrets (``job_references``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from playledger_schemas.commands import (
    CollectionRoleSource,
    ConcreteInventory,
    DynamicInventory,
    GitPlaybookSource,
    GitRoleSource,
    HeaderName,
    JobSpec,
    StoredInventory,
    UrlInventory,
)

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


class GitSecret(Secret, frozen=True, kw_only=True, tag="git"):
    """How to fetch private git repositories: an HTTPS ``token`` (sent as the password of HTTP
    basic auth, with ``username``), or an SSH deploy key (``private_key``, optional ``passphrase``)
    and optionally the server's ``known_hosts`` lines (else its key is accepted on first use)."""

    token: SecretText | None = None
    username: UserName | None = None
    private_key: SecretText | None = None
    passphrase: SecretText | None = None
    known_hosts: Annotated[str, Meta(min_length=1, max_length=64 * 1024)] | None = None

    def values(self) -> list[str]:
        return [v for v in (self.token, self.private_key, self.passphrase) if v]


EnvName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class EnvSecret(Secret, frozen=True, kw_only=True, tag="env"):
    """Secret environment variables of ansible (inventory plugins and modules read them)."""

    env: Annotated[dict[EnvName, SecretText], Meta(min_length=1, max_length=256)]

    def values(self) -> list[str]:
        return list(self.env.values())


class AwsSecret(Secret, frozen=True, kw_only=True, tag="aws"):
    """An AWS access key: ansible's ``amazon.aws`` modules and inventory read it from ``AWS_*``."""

    access_key_id: Annotated[str, Meta(pattern=r"^[A-Z0-9]{16,128}$")]
    secret_access_key: SecretText
    session_token: SecretText | None = None
    region: Annotated[str, Meta(pattern=r"^[a-z0-9-]{1,64}$")] | None = None

    def values(self) -> list[str]:
        return [v for v in (self.access_key_id, self.secret_access_key, self.session_token) if v]

    def environment(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token is not None:
            env["AWS_SESSION_TOKEN"] = self.session_token
        if self.region is not None:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = self.region
        return env


GALAXY_SERVER: Final = "playledger"
"""The name of a job's Galaxy server in ansible's configuration (``ANSIBLE_GALAXY_SERVER_LIST``)."""


class GalaxyTokenSecret(Secret, frozen=True, kw_only=True, tag="galaxy_token"):
    """A Galaxy server (API v3: galaxy_ng, Automation Hub, Pulp) and its API ``token``; ``auth_url``
    for a server whose tokens are exchanged at an SSO endpoint (Automation Hub's Keycloak)."""

    url: Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://[^\s@]+$")]
    token: SecretText
    auth_url: Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://[^\s@]+$")] | None = None

    def values(self) -> list[str]:
        return [self.token]

    def environment(self) -> dict[str, str]:
        """ansible-galaxy's configuration of this one server, the job's only default one (the way
        ansible documents: ``ANSIBLE_GALAXY_SERVER_<NAME>_*``; never argv, never a file)."""
        prefix = f"ANSIBLE_GALAXY_SERVER_{GALAXY_SERVER.upper()}_"
        env = {
            "ANSIBLE_GALAXY_SERVER_LIST": GALAXY_SERVER,
            f"{prefix}URL": self.url,
            f"{prefix}TOKEN": self.token,
        }
        if self.auth_url is not None:
            env[f"{prefix}AUTH_URL"] = self.auth_url
        return env


class HttpHeadersSecret(Secret, frozen=True, kw_only=True, tag="http_headers"):
    """HTTP headers that carry a secret (``Authorization: Bearer …``, ``X-Api-Key``), sent when the
    executor fetches a ``url`` inventory that names this credential."""

    headers: Annotated[dict[HeaderName, SecretText], Meta(min_length=1, max_length=64)]

    def values(self) -> list[str]:
        """Each value, and the token after an auth scheme (``Bearer <token>``: servers echo either)."""
        found: list[str] = []
        for value in self.headers.values():
            found.append(value)
            scheme, _, token = value.partition(" ")
            if scheme and token.strip():
                found.append(token.strip())
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


AnySecret = (
    SshKeySecret
    | PasswordSecret
    | VaultPasswordSecret
    | HashicorpVaultSecret
    | VarsSecret
    | GitSecret
    | EnvSecret
    | AwsSecret
    | GalaxyTokenSecret
    | HttpHeadersSecret
)
CredentialType = Literal[
    "ssh_key",
    "password",
    "vault_password",
    "hashicorp_vault",
    "vars",
    "git",
    "env",
    "aws",
    "galaxy_token",
    "http_headers",
]
INVENTORY_ROLE: Final = "inventory"
"""The role of a ``url`` inventory's ``credential`` (not a ``JobCredentials`` field: the inventory
names it, so a stored inventory carries its own)."""
INVENTORY_TYPE: Final = "http_headers"


JOB_SCOPED_PREFIX = "job."
"""Names ``job.<job_id>.<role>``: credentials the API made from one request's inline secrets,
deleted once that job is complete; no one else may create a name with this prefix."""


def job_scoped_name(job_id: str, role: str) -> str:
    return f"{JOB_SCOPED_PREFIX}{job_id}.{role}"


def type_of(secret: Secret) -> str:
    return str(secret.__struct_config__.tag)


def reference_path(role: str) -> str:
    """Where a role's reference sits in a spec (the path both doors name in an error)."""
    return "inventory.credential" if role == INVENTORY_ROLE else f"credentials.{role}"


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
    git: GitSecret | None = None
    cloud: AwsSecret | None = None
    env: EnvSecret | None = None
    galaxy: GalaxyTokenSecret | None = None
    inventory: HttpHeadersSecret | None = None

    def checkout_values(self) -> list[str]:
        """Every secret value of what a ``checkout`` answer holds (``checkout_references``)."""
        held = (self.git, self.cloud, self.env, self.galaxy, self.inventory)
        return [v for secret in held if secret is not None for v in secret.values()]

    def environment(self) -> dict[str, str]:
        return secret_environment(self.cloud, self.env)


class JobSecrets(msgspec.Struct, frozen=True, kw_only=True):
    """The secrets a run uses, by role, once every Vault reference is read."""

    ssh: SshKeySecret | None = None
    become_password: PasswordSecret | None = None
    vault_password: VaultPasswordSecret | None = None
    secret_vars: VarsSecret | None = None
    git: GitSecret | None = None
    cloud: AwsSecret | None = None
    env: EnvSecret | None = None
    galaxy: GalaxyTokenSecret | None = None
    inventory: HttpHeadersSecret | None = None
    also_masked: list[str] = msgspec.field(default_factory=list)
    """Other secret values the job's output must never show (Vault tokens, AppRole secret ids)."""

    def values(self) -> list[str]:
        found: list[str] = list(self.also_masked)
        roles = (
            self.ssh,
            self.become_password,
            self.vault_password,
            self.secret_vars,
            self.git,
            self.cloud,
            self.env,
            self.galaxy,
            self.inventory,
        )
        for secret in roles:
            if secret is not None:
                found += secret.values()
        return found

    def environment(self) -> dict[str, str]:
        return secret_environment(self.cloud, self.env)


def secret_environment(cloud: AwsSecret | None, env: EnvSecret | None) -> dict[str, str]:
    """The secret environment of ansible and its tools: the ``cloud`` credential's, then ``env``'s."""
    environment = cloud.environment() if cloud is not None else {}
    return environment | (env.env if env is not None else {})


def concrete_inventory(spec: JobSpec) -> ConcreteInventory | None:
    """The inventory that runs: a stored one's resolved value (``None`` until ``job.queued``)."""
    inventory = spec.inventory
    return inventory.resolved if isinstance(inventory, StoredInventory) else inventory


def job_references(spec: JobSpec) -> dict[str, tuple[str, str]]:
    """Every credential a job uses, ``{role: (name, type)}``: ``spec.credentials`` and a ``url``
    inventory's ``credential`` (a stored one's once resolved)."""
    refs = spec.credentials.references()
    inventory = concrete_inventory(spec)
    if isinstance(inventory, UrlInventory) and inventory.credential is not None:
        refs[INVENTORY_ROLE] = (inventory.credential, INVENTORY_TYPE)
    return refs


def checkout_references(spec: JobSpec) -> dict[str, tuple[str, str]]:
    """The credentials a job needs while it is prepared, before ``job.started`` (a ``checkout``).

    ``git`` fetches its repositories; ``galaxy`` installs a git source's requirements and a
    ``collection_role`` source; a ``url`` inventory's credential fetches it; for a ``dynamic``
    inventory, ``cloud`` and ``env`` are the environment of ``ansible-inventory``, whose plugin
    lists the hosts ``job.started`` records. Every other secret waits for ``job.started``.
    """
    roles = {"git", INVENTORY_ROLE}
    if isinstance(spec.source, GitPlaybookSource | GitRoleSource | CollectionRoleSource):
        roles.add("galaxy")
    if isinstance(concrete_inventory(spec), DynamicInventory):
        roles |= {"cloud", "env"}
    return {role: ref for role, ref in job_references(spec).items() if role in roles}
