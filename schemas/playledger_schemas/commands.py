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


class CollectionRoleSource(Strict, frozen=True, kw_only=True, tag_field="type", tag="collection_role"):
    """A role of an Ansible collection, installed from a Galaxy server (API v3) with
    ``ansible-galaxy`` into the job's own collections path, run by a generated playbook.

    An installation is cached per executor by collection, version range and server: pin an exact
    ``version`` for a run that is reproducible. The version that ran is named in the generated
    play (``role acme.tools.hello (acme.tools 1.2.0)``), whose sha256 ``job.started`` records.
    """

    collection: Annotated[
        str,
        Meta(pattern=r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", description="namespace.name, e.g. acme.tools."),
    ]
    role: Annotated[str, Meta(pattern=r"^[a-z_][a-z0-9_]*$", max_length=128)]
    version: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=128,
            pattern=r"^[0-9A-Za-z.*<>=!,+-]+$",
            description="A version or range as ansible-galaxy reads it: 1.2.0, >=6.0.0, >=1.0,<2.0, *.",
        ),
    ] = "*"
    galaxy_server: Annotated[str, Meta(min_length=1, max_length=2048, pattern=r"^https?://\S+$")] | None = (
        None
    )
    """The Galaxy server (``https``; ``http`` only where the operator allows it); ``None``: ansible's
    default (galaxy.ansible.com)."""
    role_vars: Vars = msgspec.field(default_factory=dict)
    hosts: Annotated[str, Meta(min_length=1, max_length=4096)] = "all"

    @property
    def path(self) -> str:
        """The role's fully qualified name: what an API key's playbook globs are matched against."""
        return f"{self.collection}.{self.role}"


Source = LocalSource | GitPlaybookSource | GitRoleSource | CollectionRoleSource
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


CREDENTIAL_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
CredentialName = Annotated[
    str,
    Meta(
        pattern=CREDENTIAL_NAME_PATTERN,
        description="The name of a credential stored in playledger (POST /api/v1/credentials).",
    ),
]


InventoryFormat = Literal["yaml", "json", "ini"]
HeaderName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$")]


class UrlInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="url"):
    """An inventory fetched by the executor when the job starts (TLS verified, time and size limited).

    Header values travel in the command, so headers that carry secrets (``Authorization``,
    ``Cookie``, …) are refused there: name a stored ``http_headers`` credential in ``credential``
    instead, whose headers the executor adds when it fetches the URL (and masks in every error).
    """

    url: Annotated[str, Meta(min_length=1, max_length=4096, pattern=r"^https?://\S+$")]
    format: InventoryFormat = "yaml"
    headers: Annotated[dict[HeaderName, Annotated[str, Meta(max_length=8192)]], Meta(max_length=64)] = (
        msgspec.field(default_factory=dict)
    )
    credential: CredentialName | None = None
    """A stored ``http_headers`` credential: its headers (e.g. ``Authorization: Bearer …``) are sent
    with the request, over those of ``headers``; the secret is fetched at run time, never stored."""


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


ConcreteInventory = InlineInventory | GitInventory | UrlInventory | DynamicInventory
"""An inventory that says where its hosts come from (what a stored inventory holds)."""

STORED_NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
InventoryName = Annotated[
    str,
    Meta(
        pattern=STORED_NAME_PATTERN,
        description="A stored inventory's name (PUT /api/v1/inventories/{name}): 1-64 characters of"
        " A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]


class StoredInventory(Strict, frozen=True, kw_only=True, tag_field="type", tag="stored"):
    """A pre-configured inventory, by name (``/api/v1/inventories``).

    A client gives ``name`` only. The executor's intake resolves it when it queues the job (for
    both doors: the API publishes the submit as given) and ``job.queued`` records the result:
    ``version`` (the stored inventory's revision) and ``resolved`` (its inventory then). Every
    attempt runs that recorded inventory; a later edit changes only later jobs.
    """

    name: InventoryName
    version: Annotated[int, Meta(ge=1)] | None = None
    """Set by playledger in ``job.queued``: the revision that was resolved (a command may not set it)."""
    resolved: ConcreteInventory | None = None
    """Set by playledger in ``job.queued``: the inventory that revision held (a command may not set it)."""


Inventory = ConcreteInventory | StoredInventory
"""Where the hosts come from, by ``type``."""


CallbackEvent = Literal["terminal", "job.started", "runner_on_failed"]
"""What may trigger a job's callback; ``terminal`` is the job's one terminal event."""
CallbackUrl = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=2048,
        pattern=r"^https?://[^\s/?#]+([/?#][^\s]*)?$",
        description="An absolute http(s) URL without credentials (they would be stored in the stream).",
    ),
]


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
    callback_url: CallbackUrl | None = None
    """Where the notifier POSTs the job status document (a signed Standard Webhook) when one of
    ``callback_events`` happens; ``https`` unless the operator allows ``http``."""
    callback_events: Annotated[list[CallbackEvent], Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: ["terminal"]
    )
    """What triggers a callback: ``terminal`` (the job ended), ``job.started`` (each attempt
    started), ``runner_on_failed`` (each failed task on a host)."""


RetryCause = Literal["executor_lost", "source_error", "unreachable", "failed", "timeout", "error"]
"""Why an attempt ended without success, as a retry policy names it: ``executor_lost`` (its
executor died), ``source_error`` (the repository could not be fetched), ``unreachable`` (every
failing host was unreachable), ``failed`` (the playbook failed), ``timeout``, ``error`` (the run
could not be carried out: runner crash, bad playbook at run time)."""

DependsPolicy = Literal["success", "completion"]
MAX_DEPENDENCIES: Final = 32

MAX_ATTEMPTS: Final = 4
"""Attempts of one job at most: each attempt is one delivery of its submit command, and the run
consumers deliver a command ``MAX_DELIVER`` (5) times; one delivery is kept for an executor loss."""

INFRA_CAUSES: Final[tuple[RetryCause, ...]] = ("executor_lost", "source_error")
"""What a job retries without asking: failures of playledger's infrastructure, not the playbook's."""


class RetryPolicy(Strict, frozen=True, kw_only=True):
    """When an attempt that did not succeed is followed by another (exponential backoff, jitter).

    The wait before attempt ``n + 1`` is ``min(backoff_max_s, backoff_s * 2 ** (n - 1))``, less a
    random part of up to half of it. A job without a policy retries infrastructure failures
    (``executor_lost``, ``source_error``) with the defaults below; ``max_attempts: 1`` never retries.
    """

    max_attempts: Annotated[int, Meta(ge=1, le=MAX_ATTEMPTS)] = 3
    backoff_s: Annotated[float, Meta(ge=0, le=24 * 3600)] = 10.0
    backoff_max_s: Annotated[float, Meta(ge=0, le=24 * 3600)] = 600.0
    on: Annotated[list[RetryCause], Meta(max_length=6)] = msgspec.field(
        default_factory=lambda: list(INFRA_CAUSES)
    )
    """The causes that are retried."""


DEFAULT_RETRY: Final = RetryPolicy()


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
    "galaxy": "galaxy_token",
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
    galaxy: CredentialName | None = None
    """A ``galaxy_token`` credential (a Galaxy server's URL and token): ``ansible-galaxy`` installs the
    job's ``collection_role`` source and its repository's ``requirements.yml`` from that server
    with it (the issue's ``galaxy_credential``). Only for a git or ``collection_role`` source."""

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
    retry: RetryPolicy | None = None
    """``None``: the default policy (``DEFAULT_RETRY``: infrastructure failures, 3 attempts)."""
    credentials: JobCredentials = msgspec.field(default_factory=JobCredentials)
    """Stored credentials by name (names only: the ``job.queued`` event keeps this spec)."""


def retry_policy(spec: JobSpec) -> RetryPolicy:
    """The policy a job runs under."""
    return spec.retry if spec.retry is not None else DEFAULT_RETRY


TEMPLATE_NAME_PATTERN: Final = STORED_NAME_PATTERN
"""Templates, schedules and stored inventories share one name rule (a key and a URL segment)."""
TemplateName = Annotated[
    str,
    Meta(
        pattern=TEMPLATE_NAME_PATTERN,
        description="A template or schedule name: 1-64 characters of A-Z a-z 0-9 _ -, starting with a"
        " letter or digit.",
    ),
]


class TemplateRef(Strict, frozen=True, kw_only=True):
    """The template a job was launched from, and which version of it (its store's revision)."""

    name: TemplateName
    version: Annotated[int, Meta(ge=1)]


ChainLinkName = Literal["on_success", "on_failure"]
"""Which list of a template's chain launched a job: ``on_success`` after ``successful``;
``on_failure`` after ``failed``, ``error``, ``timeout`` or ``dead`` (``canceled`` and ``rejected``
launch nothing)."""
MAX_LINKS: Final = 8
"""Templates one of a template's lists may chain."""
MAX_CHAIN_DEPTH: Final = 8
"""Jobs of one chain at most below its first job: a job at this depth launches no further link."""


class ChainParent(Strict, frozen=True, kw_only=True):
    """The job whose end launched this one, through which link of its template (set by the
    executor's chain reactor; its job id is ``chain.child_job_id`` of these)."""

    job_id: JobId
    link: ChainLinkName
    index: Annotated[int, Meta(ge=0, lt=MAX_LINKS)]
    """The position of the link in its list."""
    depth: Annotated[int, Meta(ge=1, le=MAX_CHAIN_DEPTH)] = 1
    """1 for a child of a job that was not chained itself, its parent's depth + 1 otherwise."""


Tag = Annotated[str, Meta(min_length=1, max_length=256)]


class Overrides(Strict, frozen=True, kw_only=True):
    """What a launch changes in its template's job; each field given must be allowed by the
    template's ``allow_override`` (``extra_vars`` key by key: ``extra_vars.<name>``, or all of
    them: ``extra_vars``). A field left out keeps the template's value."""

    priority: Priority | None = None
    inventory: Inventory | None = None
    limit: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None
    tags: list[Tag] | None = None
    skip_tags: list[Tag] | None = None
    verbosity: Annotated[int, Meta(ge=0, le=5)] | None = None
    check_mode: bool | None = None
    diff_mode: bool | None = None
    timeout: Annotated[int, Meta(ge=1, le=7 * 24 * 3600)] | None = None
    extra_vars: Vars = msgspec.field(default_factory=dict)
    """Merged over the template's ``extra_vars`` (a given key replaces the template's)."""


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
    run_at: Annotated[datetime, Meta(tz=True)] | None = None
    """Start no earlier than this (RFC 3339 with a time zone): the job is ``scheduled`` until
    then (cancellable), then runs as usual. At most ``commands_max_age_s`` (7 days) ahead."""
    depends_on: Annotated[list[JobId], Meta(max_length=MAX_DEPENDENCIES)] = msgspec.field(
        default_factory=list
    )
    """Jobs that must end first: the job is ``waiting`` (cancellable) until they have. Each must
    exist when this one is submitted, so a cycle cannot be built."""
    depends_policy: DependsPolicy = "success"
    """``success``: run only if every dependency ended ``successful`` — otherwise end as
    ``canceled`` with the reason ``dependency <id> failed``; ``completion``: run once they
    ended, however."""
    template: TemplateRef | None = None
    """Set by a launch (``job.launch.v1`` or ``POST /api/v1/templates/{name}/launch``): the
    template and version the spec was made from; carried into ``job.queued``."""
    parent: ChainParent | None = None
    """Set by a chained launch: the job whose end launched this one; carried into ``job.queued``."""


class LaunchJob(Command, frozen=True, tag="job.launch.v1"):
    """Run a job from a stored template. Published on ``playledger.cmd.launch.<job_id>``.

    The executor's intake reads the template's current version, applies ``overrides`` (each
    must be allowed by the template) and publishes the resulting ``job.submit.v1`` (with
    ``template`` set), exactly what ``POST /api/v1/templates/{name}/launch`` publishes. A launch
    that cannot be made into a submit is recorded as the job's ``job.rejected``, naming the field.
    """

    template: TemplateName
    overrides: Overrides = msgspec.field(default_factory=Overrides)
    submitted_by: Submitter | None = None
    run_at: Annotated[datetime, Meta(tz=True)] | None = None
    """As a submit's ``run_at``."""
    depends_on: Annotated[list[JobId], Meta(max_length=MAX_DEPENDENCIES)] = msgspec.field(
        default_factory=list
    )
    depends_policy: DependsPolicy = "success"
    parent: ChainParent | None = None
    """Set by the executor when a job's end launches a link of its template's chain
    (``on_success`` / ``on_failure``); carried into the submit."""


class CancelJob(Command, frozen=True, tag="job.cancel.v1"):
    """Stop a queued or running job. Published on ``playledger.cmd.cancel.<job_id>``."""

    reason: Annotated[str, Meta(max_length=1024)] = "canceled by request"


class RetryJob(Command, frozen=True, tag="job.retry.v1"):
    """Start a dead job again as a new attempt. Published on
    ``playledger.cmd.submit.<priority>.<job_id>`` (the run consumers' subjects), with
    ``Nats-Msg-Id: retry:<job_id>:<attempt>`` (its current attempt): one new attempt per request.

    Only a ``dead`` job can be retried; for any other job the command changes nothing."""

    priority: Priority = "normal"
    """The priority the new attempt is queued at (the subject's priority token)."""
    reason: Annotated[str, Meta(max_length=1024)] = "retried by request"
    requested_by: Submitter | None = None
    """Who asked: set by the API from the authenticating key."""


JobCommand = SubmitJob | CancelJob | RetryJob | LaunchJob
