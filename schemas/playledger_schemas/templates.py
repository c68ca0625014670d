"""Stored job templates and recurring schedules: what ``PLAYLEDGER_TEMPLATES`` and
``PLAYLEDGER_CRON`` (JetStream key-value buckets) hold, one JSON value per name.

Every change of a value is a new revision of its key (the bucket keeps the history); a
template's revision is its version, recorded by each job launched from it
(``SubmitJob.template``). Both are strict, like commands: a field this version does not know
is refused when it is written.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

from playledger_schemas.commands import MAX_LINKS, JobSpec, Overrides, Strict, TemplateName

OVERRIDE_FIELDS: Final = (
    "priority",
    "inventory",
    "limit",
    "tags",
    "skip_tags",
    "verbosity",
    "check_mode",
    "diff_mode",
    "timeout",
    "extra_vars",
)
"""What ``allow_override`` may name (and ``extra_vars.<name>`` for a single variable)."""
OVERRIDE_PATTERN: Final = r"^(" + "|".join(OVERRIDE_FIELDS) + r"|extra_vars\.[A-Za-z_][A-Za-z0-9_]{0,127})$"
_OVERRIDE: Final = re.compile(OVERRIDE_PATTERN)
OverrideName = Annotated[
    str,
    Meta(
        pattern=OVERRIDE_PATTERN,
        description="A field a launch may change: " + ", ".join(OVERRIDE_FIELDS) + " or extra_vars.<name>.",
    ),
]


class ChainLink(Strict, frozen=True, kw_only=True):
    """A template launched when a job of this one ends, with the overrides of that launch."""

    template: TemplateName
    overrides: Overrides = msgspec.field(default_factory=Overrides)
    """As a launch's: each must be allowed by the linked template."""


Links = Annotated[list[ChainLink], Meta(max_length=MAX_LINKS)]


class Template(Strict, frozen=True, kw_only=True):
    """A saved, parameterised launch: the job it runs and what a launch may change."""

    description: Annotated[str, Meta(max_length=1024)] = ""
    spec: JobSpec
    """The job (source, inventory, extra_vars, options, retry, priority) a launch runs."""
    allow_override: Annotated[list[OverrideName], Meta(max_length=64)] = msgspec.field(default_factory=list)
    """The fields a launch may override, e.g. ``["limit", "extra_vars.version", "inventory"]``."""
    vars_schema: dict[str, Any] | None = None
    """A JSON Schema (draft 2020-12) the job's ``extra_vars`` must meet once a launch's
    overrides are applied (like an AWX survey); ``None``: any."""
    on_success: Links = msgspec.field(default_factory=list)
    """Templates launched, once each, when a job launched from this version ends ``successful``;
    each link's job is ``<job>-on_success-<n>`` and records this job as its ``parent``."""
    on_failure: Links = msgspec.field(default_factory=list)
    """Likewise when it ends ``failed``, ``error``, ``timeout`` or ``dead`` (after its last
    attempt); ``canceled`` launches nothing. A template may not chain back to itself, through any
    number of links (refused when it is saved)."""


def is_override_name(name: str) -> bool:
    return bool(_OVERRIDE.match(name))


CRON_PATTERN: Final = r"^\S+ \S+ \S+ \S+ \S+$"
CatchUp = Literal["one", "none"]
MIN_EVERY_S: Final = 1
MAX_EVERY_S: Final = 366 * 24 * 3600


class Schedule(Strict, frozen=True, kw_only=True):
    """A template launched on a timetable: a cron expression in a time zone, or an interval.

    Each firing launches a job with the id ``<schedule>-<firing time, UTC, %Y%m%dT%H%M%SZ>``:
    two schedulers, a restart or a replay launch the same firing under the same id, which runs
    once. Exactly one of ``cron`` and ``every_s`` is given.
    """

    template: TemplateName
    cron: Annotated[str, Meta(max_length=256, pattern=CRON_PATTERN)] | None = None
    """Five fields: minute hour day-of-month month day-of-week (``*/15 8-18 * * mon-fri``)."""
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] = "UTC"
    """The IANA time zone the cron expression is read in (``Europe/Berlin``)."""
    every_s: Annotated[int, Meta(ge=MIN_EVERY_S, le=MAX_EVERY_S)] | None = None
    """An interval in seconds instead: firings at the multiples of it since the Unix epoch."""
    enabled: bool = True
    """``false``: paused; firings while paused are never launched."""
    catch_up: CatchUp = "one"
    """A firing missed while no scheduler ran: ``one`` launches the latest missed firing once
    on start; ``none`` skips it."""
    overrides: Overrides = msgspec.field(default_factory=Overrides)
    """Applied to each launch (the template must allow them, as for any launch)."""
    since: datetime | None = None
    """Set by the API when the schedule is created or enabled: no firing before it is launched."""
