"""HTTP bodies of templates, launches and schedules (the stored Structs are the contract's own)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from playledger_api.models import Body, ClientJobId
from playledger_schemas.commands import MAX_DEPENDENCIES, DependsPolicy, JobSpec, Overrides
from playledger_schemas.templates import CatchUp, ChainLink


class TemplateLinks(msgspec.Struct, frozen=True, kw_only=True):
    self: str
    launch: str
    jobs: str
    """The jobs launched from it."""


class TemplateItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored template and its current version."""

    name: str
    version: int
    """Its revision: every change makes a new one; each job records the version it ran."""
    description: str
    spec: JobSpec
    allow_override: list[str]
    vars_schema: dict[str, Any] | None = None
    on_success: list[ChainLink] = msgspec.field(default_factory=list)
    """Templates launched when a job of this version ends ``successful``."""
    on_failure: list[ChainLink] = msgspec.field(default_factory=list)
    """Templates launched when it ends ``failed``, ``error``, ``timeout`` or ``dead``."""
    links: TemplateLinks


class TemplateList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TemplateItem]


class LaunchBody(Body, frozen=True, kw_only=True):
    """A job from a template: the same fields as a ``job.launch.v1`` command (``id`` for its
    ``job_id``; the ``Idempotency-Key`` header works as for a submit)."""

    id: ClientJobId | None = None
    overrides: Overrides = msgspec.field(default_factory=Overrides)
    run_at: Annotated[datetime, Meta(tz=True)] | None = None
    depends_on: Annotated[list[ClientJobId], Meta(max_length=MAX_DEPENDENCIES)] = msgspec.field(
        default_factory=list
    )
    depends_policy: DependsPolicy = "success"


class ScheduleItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored schedule, its version and its next firing."""

    name: str
    version: int
    template: str
    cron: str | None
    timezone: str
    every_s: int | None
    enabled: bool
    catch_up: CatchUp
    overrides: Overrides
    since: datetime | None
    next_run: datetime | None
    """The next firing (``null`` while paused); its job's id is ``<name>-<UTC %Y%m%dT%H%M%SZ>``."""


class ScheduleList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ScheduleItem]
