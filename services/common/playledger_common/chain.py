"""Template chains (pure, no IO): which launches a job's end makes, and which chains may be saved.

A job launched from a template that ends ``successful`` launches each of that template version's
``on_success`` links, one that ends ``failed``/``error``/``timeout``/``dead`` each ``on_failure``
link; ``canceled`` and ``rejected`` launch nothing. Each link's job id is derived from the
parent's id, the list and the link's position (``child_job_id``), so however often the parent's
terminal event is seen (a redelivery, a restart, two executors), each link is one job.

Loops: a template whose links lead back to itself is refused when it is saved
(``chain_problems``). Two templates saved at the same moment could still close a loop that
neither save saw; so a chain also stops at ``MAX_CHAIN_DEPTH``: a job at that depth launches no link.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Final

from playledger_common.jobchecks import Problem
from playledger_common.launch import refused, unknown_template
from playledger_schemas.commands import (
    MAX_CHAIN_DEPTH,
    ChainLinkName,
    ChainParent,
    LaunchJob,
    Submitter,
)
from playledger_schemas.status import TerminalStatus
from playledger_schemas.templates import ChainLink, Schedule, Template

LINK_OF: Final[dict[TerminalStatus, ChainLinkName]] = {
    "successful": "on_success",
    "failed": "on_failure",
    "error": "on_failure",
    "timeout": "on_failure",
    "dead": "on_failure",
}
"""Which list of links a terminal status launches; a status not here launches none."""
LINKS: Final[tuple[ChainLinkName, ...]] = ("on_success", "on_failure")
_MAX_ID: Final = 128
_DIGEST: Final = 12


def links(template: Template, link: ChainLinkName) -> list[ChainLink]:
    return template.on_success if link == "on_success" else template.on_failure


def child_job_id(parent: str, link: ChainLinkName, index: int) -> str:
    """``<parent>-on_success-0``; a parent id too long for that keeps a digest of itself instead
    of its tail, so the child id stays a valid job id and distinct per parent."""
    suffix = f"-{link}-{index}"
    if len(parent) + len(suffix) <= _MAX_ID:
        return parent + suffix
    digest = hashlib.sha256(parent.encode()).hexdigest()[:_DIGEST]
    return f"{parent[: _MAX_ID - len(suffix) - _DIGEST - 1]}-{digest}{suffix}"


def decide_links(
    job_id: str,
    outcome: TerminalStatus,
    template: Template,
    parent: ChainParent | None,
    submitted_by: Submitter | None,
    now: datetime,
) -> list[LaunchJob]:
    """The launches the end of ``job_id`` (launched from ``template``, chained below ``parent``)
    makes: one per link of the list its outcome names, none past ``MAX_CHAIN_DEPTH``."""
    link = LINK_OF.get(outcome)
    depth = 1 if parent is None else parent.depth + 1
    if link is None or depth > MAX_CHAIN_DEPTH:
        return []
    return [
        LaunchJob(
            job_id=child_job_id(job_id, link, index),
            issued_at=now,
            template=target.template,
            overrides=target.overrides,
            submitted_by=submitted_by,
            parent=ChainParent(job_id=job_id, link=link, index=index, depth=depth),
        )
        for index, target in enumerate(links(template, link))
    ]


def chain_problems(name: str, template: Template, stored: Mapping[str, Template]) -> list[Problem]:
    """Each link of ``template`` (to be saved as ``name``) naming no stored template, giving an
    override its template does not allow, or leading back to ``name``: paths as in its body."""
    known = {**stored, name: template}
    problems: list[Problem] = []
    for link in LINKS:
        for index, target in enumerate(links(template, link)):
            where = f"$.{link}[{index}]"
            linked = known.get(target.template)
            if linked is None:
                problems.append((f"{where}.template", unknown_template(target.template)))
                continue
            problems += [(f"{where}{path[1:]}", why) for path, why in refused(linked, target.overrides)]
            if (loop := _path_back(name, [name, target.template], known)) is not None:
                shown = " -> ".join(loop)
                problems.append(
                    (f"{where}.template", f"chains back to {name!r} ({shown}): a chain may not loop")
                )
    return problems


def users_of(name: str, templates: Mapping[str, Template], schedules: Mapping[str, Schedule]) -> list[str]:
    """What would break if the template ``name`` were deleted: each template link and each
    schedule that launches it, named as a person would look for them (sorted)."""
    users = [
        f"template {other!r} ({link}[{index}])"
        for other, template in templates.items()
        if other != name
        for link in LINKS
        for index, target in enumerate(links(template, link))
        if target.template == name
    ]
    users += [f"schedule {schedule!r}" for schedule, value in schedules.items() if value.template == name]
    return sorted(users)


def _path_back(
    name: str, path: list[str], known: Mapping[str, Template], seen: set[str] | None = None
) -> list[str] | None:
    """A path of links from ``path[-1]`` back to ``name``, if there is one (depth first, each
    template explored once)."""
    here = path[-1]
    if here == name:
        return path
    seen = set() if seen is None else seen
    template = known.get(here)
    if here in seen or template is None:
        return None
    seen.add(here)
    for link in LINKS:
        for target in links(template, link):
            if (found := _path_back(name, [*path, target.template], known, seen)) is not None:
                return found
    return None
