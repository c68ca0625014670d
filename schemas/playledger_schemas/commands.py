"""Commands: what a client asks playledger to do. Published on ``playledger.cmd.…``.

Evolution: new fields always get defaults; a breaking change gets a new tag (``.v2``)
and an upcast function. Every Struct here derives from :class:`Strict`: a command with a
field this version does not know is rejected naming it (it asked for something this
executor cannot do). Events that embed a ``JobSpec`` read it through its lenient twin
(``playledger_schemas.lenient``), so events keep ignoring unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from playledger_schemas.ids import JobId, Priority

HOST_NAME_PATTERN: Final = r"^[A-Za-z0-9_.:\[\]-]{1,253}$"
GROUP_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
PLAYBOOK_PATH_PATTERN: Final = r"^[^\x00]+\.ya?ml$"

HostName = Annotated[str, Meta(pattern=HOST_NAME_PATTERN, description="An inventory host name or address.")]
GroupName = Annotated[str, Meta(pattern=GROUP_NAME_PATTERN, description="An Ansible group name.")]
PlaybookPath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        pattern=PLAYBOOK_PATH_PATTERN,
        description="Path of a playbook relative to the projects directory, ending in .yml or .yaml.",
    ),
]
Vars = dict[str, Any]


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every command Struct: an unknown field is an error, at every nesting level."""


class Submitter(Strict, frozen=True, kw_only=True):
    """Who submitted a job: the API key's public id and name (never its secret).

    The API sets it from the key that authenticated the request (an HTTP body cannot carry
    it); on the NATS door it is what the publisher states, the publisher's NATS user being
    what the server authenticated.
    """

    key_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    name: Annotated[str, Meta(min_length=1, max_length=128)]


class LocalSource(Strict, frozen=True, kw_only=True, tag_field="type", tag="local"):
    """A playbook inside the executor's projects directory (``PLAYLEDGER_PROJECTS_DIR``)."""

    path: PlaybookPath


RepoUrl = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2048,
        pattern=r"^[^\s\x00]+$",
        description="A git repository: https://… or ssh://… (file:// and http:// only where the operator"
        " enables them).",
    ),
]
GitRef = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=255,
        pattern=r"^[^\s\x00~^:?*\[\\]+$",
        description="A branch, a tag or a full 40-hex commit sha; resolved to a commit when the job starts.",
    ),
]
RepoDir = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00]+$",
        description="A path inside the repository, relative to its root.",
    ),
]


class GitPlaybookSource(Strict, frozen=True, kw_only=True, tag_field="type", tag="playbook"):
    """A playbook from a git repository, checked out at ``branch`` when the job starts."""

    repo: RepoUrl
    branch: GitRef = "HEAD"
    """``HEAD`` is the repository's default branch."""
    path: PlaybookPath
    """The playbook, relative to the repository's root."""


class GitRoleSource(Strict, frozen=True, kw_only=True, tag_field="type", tag="role"):
    """A role directory from a git repository, run on the job's hosts by a generated playbook."""

    repo: RepoUrl
    branch: GitRef = "HEAD"
    path: RepoDir
    """The role's directory (with ``tasks/main.yml``), e.g. ``roles/nginx``."""
    role_vars: Vars = msgspec.field(default_factory=dict)
    """Variables of the role (``roles: [{role: …, vars: …}]``)."""
    hosts: Annotated[str, Meta(min_length=1, max_length=4096)] = "all"
    """The host pattern of the generated play."""


Source = LocalSource | GitPlaybookSource | GitRoleSource
"""What to run, by ``type``."""
GitSource = GitPlaybookSource | GitRoleSource


class InventoryGroup(Strict, frozen=True, kw_only=True):
    """A group with hosts, child groups and group variables."""

    hosts: list[HostName] = msgspec.field(default_factory=list)
    children: list[GroupName] = msgspec.field(default_factory=list)
    vars: Vars = msgspec.field(default_factory=dict)


class InlineInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="inline"):
    """Hosts and groups given in the command itself."""

    hosts: Annotated[list[HostName], Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    groups: dict[GroupName, list[HostName] | InventoryGroup] = msgspec.field(default_factory=dict)
    host_vars: dict[HostName, Vars] = msgspec.field(default_factory=dict)
    vars: Vars = msgspec.field(default_factory=dict)
    """Variables for every host (the ``all`` group)."""


class GitInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="git"):
    """An inventory file, or a directory (with ``group_vars/`` and ``host_vars/``), from git."""

    repo: RepoUrl
    branch: GitRef = "HEAD"
    path: RepoDir


InventoryFormat = Literal["yaml", "json", "ini"]
HeaderName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$")]


class UrlInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="url"):
    """An inventory fetched by the executor when the job starts (TLS verified, time and size limited).

    Header values travel in the command: headers that carry secrets (``Authorization``,
    ``Cookie``, …) are refused until stored credentials can be referenced.
    """

    url: Annotated[str, Meta(min_length=1, max_length=4096, pattern=r"^https?://\S+$")]
    format: InventoryFormat = "yaml"
    headers: Annotated[dict[HeaderName, Annotated[str, Meta(max_length=8192)]], Meta(max_length=64)] = (
        msgspec.field(default_factory=dict)
    )


PluginName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$",
        description="A fully qualified inventory plugin, e.g. ansible.builtin.constructed.",
    ),
]


class DynamicInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="dynamic"):
    """An inventory plugin and its configuration (written as the plugin's YAML file)."""

    plugin: PluginName
    config: Vars = msgspec.field(default_factory=dict)
    """The plugin's options, without ``plugin`` (that is the field above)."""


Inventory = InlineInventory | GitInventory | UrlInventory | DynamicInventory
"""Where the hosts come from, by ``type``."""


class JobOptions(Strict, frozen=True, kw_only=True):
    """How to run the playbook; mirrors ``ansible-playbook`` flags."""

    timeout: Annotated[int, Meta(ge=1, le=7 * 24 * 3600)] | None = None
    """Seconds before the run is stopped as timed out; ``None`` uses the executor's default."""
    limit: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None
    tags: list[Annotated[str, Meta(min_length=1, max_length=256)]] = msgspec.field(default_factory=list)
    skip_tags: list[Annotated[str, Meta(min_length=1, max_length=256)]] = msgspec.field(default_factory=list)
    verbosity: Annotated[int, Meta(ge=0, le=5)] = 0
    check_mode: bool = False
    diff_mode: bool = False
    forks: Annotated[int, Meta(ge=1, le=500)] | None = None
    become: bool = False
    """Run with privilege escalation (``--become``); a role's generated play sets ``become``."""
    gather_facts: bool = True
    """``False``: only plays that ask for it gather facts (``ANSIBLE_GATHERING=explicit``), and a
    role's generated play does not; ``True``: ansible's default."""


CREDENTIAL_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
CredentialName = Annotated[
    str,
    Meta(
        pattern=CREDENTIAL_NAME_PATTERN,
        description="The name of a credential stored in playledger (POST /api/v1/credentials).",
    ),
]


VaultPath = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
        max_length=1024,
        description="<kv v2 mount>/<path>, e.g. secret/ansible/prod-ssh.",
    ),
]


class VaultReference(Strict, frozen=True, kw_only=True, tag_field="type", tag="hashicorp_vault"):
    """A secret read from HashiCorp Vault (or OpenBao), KV version 2, by the executor when the job
    starts, never stored by playledger. ``vault_credential`` names a stored ``hashicorp_vault``
    credential: the server's address and a token or an AppRole."""

    vault_path: VaultPath
    vault_key: Annotated[str, Meta(min_length=1, max_length=256, pattern=r"^[^\x00]+$")]
    """The key inside that secret whose value is used (e.g. ``private_key``)."""
    vault_credential: CredentialName


CredentialRef = CredentialName | VaultReference
"""A stored credential by name, or a value in Vault."""
VAULT_TYPE: Final = "hashicorp_vault"
ROLE_TYPES: Final[dict[str, str]] = {
    "ssh": "ssh_key",
    "become_password": "password",
    "vault_password": "vault_password",
    "secret_vars": "vars",
    "git": "git",
    "cloud": "aws",
    "env": "env",
}
"""The stored credential type each reference takes when it names one directly."""


class JobCredentials(Strict, frozen=True, kw_only=True, omit_defaults=True):
    """Credentials the job uses: names of stored ones, or Vault references. A command carries no
    secret, ever.

    The executor obtains the secrets when the job starts (sealed to it, see
    ``playledger_common.sealing``) and hands them to ansible through ansible-runner's own
    mechanisms; a name that does not exist then ends the job as ``error`` naming it.
    """

    ssh: CredentialRef | None = None
    """An ``ssh_key`` credential (its ``username``, if set, is the remote user), or a Vault
    reference to a private key."""
    become_password: CredentialRef | None = None
    """A ``password`` credential (or a Vault reference): answers ansible's become prompt."""
    vault_password: CredentialRef | None = None
    """A ``vault_password`` credential (or a Vault reference): decrypts Ansible Vault data."""
    secret_vars: CredentialName | None = None
    """A ``vars`` credential: variables given to ansible like ``extra_vars`` but never stored in a
    stream (the HTTP API makes one, scoped to the job, from a request's ``secret_vars``)."""
    git: CredentialName | None = None
    """A ``git`` credential (an HTTPS token or an SSH deploy key): every git repository of the job
    (its source and a ``git`` inventory) is fetched with it."""
    cloud: CredentialName | None = None
    """An ``aws`` credential: its keys are the ``AWS_*`` environment of ansible (inventory plugins
    and modules read them there)."""
    env: CredentialName | None = None
    """An ``env`` credential: secret environment variables of ansible."""

    def references(self) -> dict[str, tuple[str, str]]:
        """``{role: (stored credential name, the type it must have)}`` for each reference set."""
        refs: dict[str, tuple[str, str]] = {}
        for role, wanted in ROLE_TYPES.items():
            ref = getattr(self, role)
            if isinstance(ref, VaultReference):
                refs[role] = (ref.vault_credential, VAULT_TYPE)
            elif ref is not None:
                refs[role] = (ref, wanted)
        return refs

    def vault_references(self) -> dict[str, VaultReference]:
        return {role: ref for role in ROLE_TYPES if isinstance(ref := getattr(self, role), VaultReference)}


class JobSpec(Strict, frozen=True, kw_only=True):
    """Everything needed to run a job: the part of a submit command that the ``job.queued`` event keeps."""

    priority: Priority = "normal"
    source: Source
    inventory: Inventory
    extra_vars: Vars = msgspec.field(default_factory=dict)
    options: JobOptions = msgspec.field(default_factory=JobOptions)
    credentials: JobCredentials = msgspec.field(default_factory=JobCredentials)
    """Stored credentials by name (names only: the ``job.queued`` event keeps this spec)."""


class Command(Strict, frozen=True, kw_only=True, tag_field="type"):
    """Base of every command; ``type`` carries the versioned tag."""

    job_id: JobId
    issued_at: datetime | None = None


class SubmitJob(Command, frozen=True, tag="job.submit.v1"):
    """Run a playbook. Published on ``playledger.cmd.submit.<priority>.<job_id>``.

    Submitting the same ``job_id`` twice never runs the job twice.
    """

    spec: JobSpec
    submitted_by: Submitter | None = None
    """Who asked: set by the API from the authenticating key; carried into ``job.queued``."""


class CancelJob(Command, frozen=True, tag="job.cancel.v1"):
    """Stop a queued or running job. Published on ``playledger.cmd.cancel.<job_id>``."""

    reason: Annotated[str, Meta(max_length=1024)] = "canceled by request"


JobCommand = SubmitJob | CancelJob
