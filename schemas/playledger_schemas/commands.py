"""Commands: what a client asks playledger to do. Published on ``playledger.cmd.…``.

Evolution: new fields always get defaults; a breaking change gets a new tag (``.v2``)
and an upcast function. Every Struct here derives from :class:`Strict`: a command with a
field this version does not know is rejected naming it (it asked for something this
executor cannot do). Events that embed a ``JobSpec`` read it through its lenient twin
(``playledger_schemas.lenient``), so events keep ignoring unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from playledger_schemas.ids import JobId, Priority

HostName = Annotated[
    str, Meta(pattern=r"^[A-Za-z0-9_.:\[\]-]{1,253}$", description="An inventory host name or address.")
]
GroupName = Annotated[
    str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="An Ansible group name.")
]
PlaybookPath = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\x00]+\.ya?ml$",
        description="Path of a playbook relative to the projects directory, ending in .yml or .yaml.",
    ),
]
Vars = dict[str, Any]


class Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every command Struct: an unknown field is an error, at every nesting level."""


class LocalSource(Strict, frozen=True, kw_only=True, tag_field="type", tag="local"):
    """A playbook inside the executor's projects directory (``PLAYLEDGER_PROJECTS_DIR``)."""

    path: PlaybookPath


Source = LocalSource
"""What to run. Git sources will join this union under their own ``type``."""


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


Inventory = InlineInventory


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


class JobSpec(Strict, frozen=True, kw_only=True):
    """Everything needed to run a job: the part of a submit command that the ``job.queued`` event keeps."""

    priority: Priority = "normal"
    source: Source
    inventory: Inventory
    extra_vars: Vars = msgspec.field(default_factory=dict)
    options: JobOptions = msgspec.field(default_factory=JobOptions)


class Command(Strict, frozen=True, kw_only=True, tag_field="type"):
    """Base of every command; ``type`` carries the versioned tag."""

    job_id: JobId
    issued_at: datetime | None = None


class SubmitJob(Command, frozen=True, tag="job.submit.v1"):
    """Run a playbook. Published on ``playledger.cmd.submit.<priority>.<job_id>``.

    Submitting the same ``job_id`` twice never runs the job twice.
    """

    spec: JobSpec


class CancelJob(Command, frozen=True, tag="job.cancel.v1"):
    """Stop a queued or running job. Published on ``playledger.cmd.cancel.<job_id>``."""

    reason: Annotated[str, Meta(max_length=1024)] = "canceled by request"


JobCommand = SubmitJob | CancelJob
