"""HTTP request and response bodies (msgspec Structs; request bodies forbid unknown fields).

An unknown field is answered like the contract answers a NATS command with one
(``$.options.fork: not supported by this executor``, see ``codec.field_error``).

The submit body follows the design's shape.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from playledger_common.credentials import SecretText, UserName, VaultId
from playledger_common.statusdoc import Links, Progress
from playledger_schemas.commands import (
    MAX_DEPENDENCIES,
    CallbackEvent,
    CallbackUrl,
    CollectionRoleSource,
    CredentialName,
    DependsPolicy,
    DynamicInventory,
    GitInventory,
    GitPlaybookSource,
    GitRoleSource,
    GroupName,
    HostName,
    PlaybookPath,
    RetryPolicy,
    StoredInventory,
    Submitter,
    UrlInventory,
    VaultReference,
)
from playledger_schemas.ids import JOB_ID_PATTERN, Priority
from playledger_schemas.status import JobStatus
from playledger_schemas.webhooks import DeliveryEvent

ClientJobId = Annotated[
    str,
    Meta(
        pattern=JOB_ID_PATTERN,
        max_length=128,
        description="Your own job id: 1-128 characters of A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]
Vars = dict[str, Any]


class Body(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of request bodies: a typo in a field name is an error, not silently ignored."""


class LocalSourceBody(Body, frozen=True, kw_only=True, tag_field="type", tag="local"):
    """A playbook inside the executor's projects directory."""

    path: PlaybookPath


SourceBody = LocalSourceBody | GitPlaybookSource | GitRoleSource | CollectionRoleSource
"""Git and collection sources are the command's own (strict) Structs: one definition for both doors."""


class InventoryGroupBody(Body, frozen=True, kw_only=True):
    hosts: list[HostName] = msgspec.field(default_factory=list)
    children: list[GroupName] = msgspec.field(default_factory=list)
    vars: Vars = msgspec.field(default_factory=dict)


class InlineInventoryBody(Body, frozen=True, kw_only=True, tag_field="type", tag="inline"):
    """Hosts and groups given in the request."""

    hosts: Annotated[list[HostName], Meta(max_length=10_000)] = msgspec.field(default_factory=list)
    groups: dict[GroupName, list[HostName] | InventoryGroupBody] = msgspec.field(default_factory=dict)
    host_vars: dict[HostName, Vars] = msgspec.field(default_factory=dict)
    vars: Vars = msgspec.field(default_factory=dict)
    """Variables for every host (the ``all`` group)."""


InventoryBody = InlineInventoryBody | GitInventory | UrlInventory | DynamicInventory | StoredInventory

Tag = Annotated[str, Meta(min_length=1, max_length=256)]


class OptionsBody(Body, frozen=True, kw_only=True):
    """How to run the playbook; mirrors ``ansible-playbook`` flags."""

    timeout: Annotated[int, Meta(ge=1, le=7 * 24 * 3600)] | None = None
    """Seconds before the run is stopped as timed out."""
    callback_url: CallbackUrl | None = None
    """Where the notifier POSTs the job status document (a signed Standard Webhook); ``https``
    unless the operator allows ``http``."""
    callback_events: Annotated[list[CallbackEvent], Meta(min_length=1, max_length=3)] = msgspec.field(
        default_factory=lambda: ["terminal"]
    )
    """What triggers a callback: ``terminal``, ``job.started``, ``runner_on_failed``."""
    tags: list[Tag] = msgspec.field(default_factory=list)
    skip_tags: list[Tag] = msgspec.field(default_factory=list)
    limit: Annotated[str, Meta(min_length=1, max_length=4096)] | None = None
    verbosity: Annotated[int, Meta(ge=0, le=5)] = 0
    check_mode: bool = False
    diff_mode: bool = False
    forks: Annotated[int, Meta(ge=1, le=500)] | None = None
    become: bool = False
    """Run with privilege escalation (``--become``); a role's generated play sets ``become``."""
    gather_facts: bool = True
    """``False``: only plays that ask for it gather facts, and a role's generated play does not."""


class InlineSshKeyBody(Body, frozen=True, kw_only=True, tag_field="type", tag="inline"):
    """An SSH key given with the request: stored encrypted for this job only, never in a stream."""

    private_key: SecretText
    passphrase: SecretText | None = None
    username: UserName | None = None


class InlinePasswordBody(Body, frozen=True, kw_only=True, tag_field="type", tag="inline"):
    """A become password given with the request (stored encrypted for this job only)."""

    password: SecretText
    username: UserName | None = None


class InlineVaultPasswordBody(Body, frozen=True, kw_only=True, tag_field="type", tag="inline"):
    """An Ansible Vault password given with the request (stored encrypted for this job only)."""

    password: SecretText
    vault_id: VaultId | None = None


class CredentialsBody(Body, frozen=True, kw_only=True):
    """The command's ``credentials``, where each may also be given inline (``{"type": "inline", …}``):
    the API stores an inline one as a credential of this job (``job.<id>.<role>``), deleted when the
    job is complete, and the command names it."""

    ssh: CredentialName | VaultReference | InlineSshKeyBody | None = None
    become_password: CredentialName | VaultReference | InlinePasswordBody | None = None
    vault_password: CredentialName | VaultReference | InlineVaultPasswordBody | None = None
    secret_vars: CredentialName | None = None
    """A stored ``vars`` credential (or give the variables as the body's ``secret_vars``)."""
    git: CredentialName | None = None
    """A stored ``git`` credential: the job's repositories are fetched with it."""
    cloud: CredentialName | None = None
    """A stored ``aws`` credential: the ``AWS_*`` environment of ansible."""
    env: CredentialName | None = None
    """A stored ``env`` credential: secret environment variables of ansible."""
    galaxy: CredentialName | None = None
    """A stored ``galaxy_token`` credential: a git source's requirements and a ``collection_role``
    source are installed from its server with its token."""


VarName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]


class SubmitJobBody(Body, frozen=True, kw_only=True):
    """A job to run. ``id`` (or the ``Idempotency-Key`` header) makes the submit idempotent."""

    id: ClientJobId | None = None
    priority: Priority = "normal"
    source: SourceBody
    inventory: InventoryBody
    credentials: CredentialsBody = msgspec.field(default_factory=CredentialsBody)
    """Stored credentials by name (``POST /api/v1/credentials``; each must exist, with the right
    type), Vault references, or inline secrets for this job only."""
    extra_vars: Vars = msgspec.field(default_factory=dict)
    """Variables stored in clear in the job's events, forever: never put a secret here."""
    secret_vars: Annotated[dict[VarName, Any], Meta(max_length=256)] = msgspec.field(default_factory=dict)
    """Variables like ``extra_vars`` that are secret: stored encrypted for this job only (deleted
    when it is complete), never in a stream, masked in its output."""
    options: OptionsBody = msgspec.field(default_factory=OptionsBody)
    run_at: Annotated[datetime, Meta(tz=True)] | None = None
    """Start no earlier than this (RFC 3339 with a time zone); the job is ``scheduled`` until then."""
    depends_on: Annotated[list[ClientJobId], Meta(max_length=MAX_DEPENDENCIES)] = msgspec.field(
        default_factory=list
    )
    """Jobs that must end first (each must exist): the job is ``waiting`` until they have."""
    depends_policy: DependsPolicy = "success"
    """``success``: a dependency that did not succeed cancels this job; ``completion``: run anyway."""
    retry: RetryPolicy | None = None
    """When a failed attempt is followed by another; the command's own Struct (both doors alike).
    Omitted: infrastructure failures (executor lost, repository fetch) are retried, 3 attempts."""


class SubmitAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The job was accepted (or was already known under this id: ``duplicate``)."""

    id: str
    status: JobStatus
    priority: Priority
    duplicate: bool = False
    """True when this id was submitted before; the job is not run again."""
    links: Links


class JobSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: JobStatus
    priority: Priority
    playbook: str | None = None
    """The playbook path of a local source."""
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rc: int | None
    event_count: int
    complete: bool
    attempt: int = 0
    dead_letter: bool = False
    template: str | None = None
    """The template it was launched from."""
    submitted_by: Submitter | None = None
    """The API key that submitted it (``null``: a NATS command that named none)."""
    progress: Progress
    """Its hosts by result and where it is, as in the job's own document."""


class JobPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[JobSummary]
    next_cursor: str | None
    """Pass as ``cursor`` to get the next (older) page; ``null`` on the last page."""


class EventItem(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    stream_seq: int
    type: str
    event: str
    attempt: int
    counter: int | None
    host: str | None
    play: str | None
    task: str | None
    time: datetime
    stdout: str
    truncated: bool
    data: dict[str, Any]


class EventPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[EventItem]
    next_after: int | None
    """Pass as ``after`` to get the next page; ``null`` when no more events are projected yet."""


class HostSummary(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    ok: int
    changed: int
    failures: int
    unreachable: int
    skipped: int
    rescued: int
    ignored: int


class HostList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[HostSummary]


class RetryAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The retry of a dead job was published: it is queued again for attempt ``attempt``."""

    id: str
    status: JobStatus
    """The job's status now (``dead`` until the executor records the retry)."""
    attempt: int
    """The attempt the retry starts."""
    links: Links


class WebhookList(msgspec.Struct, frozen=True, kw_only=True):
    """A job's webhook delivery events, oldest first: every attempt and its outcome."""

    items: list[DeliveryEvent]


class RedeliveryAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """The notifier was asked for one more attempt of a delivered or dead webhook."""

    job_id: str
    delivery_id: str
    attempt: int
    """The attempt it will make; its outcome joins the job's webhook history."""


class CancelAccepted(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    status: JobStatus
    cancel_requested: bool = True


class Health(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: Literal["ok", "failing"]
    detail: str | None = None
    """Why the process should be restarted, when it should."""


class Check(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    checks: list[Check]
