"""Publishing a submit command once it is built: what a submit and a launch share.

The checks that need the key, the read model, the buckets or the disk (the playbooks and repositories
the key may use, the submit quota, the projects directory, the dependencies, a stored inventory's
name) and the publish itself, which is
idempotent per job id (a known job is answered as a ``duplicate``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from playledger_api.auth.keys import KeyRecord, spec_refusal
from playledger_api.door import refuse_too_big
from playledger_api.errors import (
    DependencyUnavailableError,
    FieldProblem,
    ForbiddenError,
    InvalidRequestError,
    unavailable_dependency,
)
from playledger_api.models import SubmitAccepted
from playledger_api.services import Services
from playledger_common.credentials import AnySecret, job_references, reference_path
from playledger_common.jobchecks import unknown_dependency, unknown_inventory
from playledger_common.paths import confinement_problem
from playledger_common.statusdoc import links
from playledger_schemas.codec import encode
from playledger_schemas.commands import LocalSource, StoredInventory, SubmitJob
from playledger_schemas.status import JobStatus


async def accept_submit(
    services: Services,
    key: KeyRecord | None,
    command: SubmitJob,
    *,
    root: str,
    inline: Mapping[str, AnySecret] | None = None,
) -> SubmitAccepted:
    """Check and publish ``command``; ``root`` is where its spec sits in the request (``$.`` for
    a submit body, ``$.spec.`` for a launch), so a problem names the request's own path.
    ``inline``: the request's own secrets by role, stored as credentials of this job first."""
    settings = services.settings
    job_id = command.job_id
    refuse_too_big(services, len(encode(command)), "the command")
    source = command.spec.source
    if key is not None and (refusal := spec_refusal(key, command.spec)):
        raise ForbiddenError(refusal)
    if key is not None:
        await services.quota.admit(key)
    projects = settings.projects_dir
    if (
        projects is not None
        and isinstance(source, LocalSource)
        and (why := confinement_problem(projects, source.path))
    ):
        raise InvalidRequestError.at(FieldProblem(path=f"{root}source.path", message=why))
    await _require_dependencies(services, command.depends_on)
    inventory = command.spec.inventory
    if isinstance(inventory, StoredInventory) and await services.inventories.get(inventory.name) is None:
        problem = FieldProblem(path=f"{root}inventory.name", message=unknown_inventory(inventory.name))
        raise InvalidRequestError.at(problem)
    if inline:  # stored before the command exists, so the job always finds them
        await services.credentials.store_for_job(job_id, dict(inline))
    missing = await services.credentials.reference_problems(job_references(command.spec))
    if missing:
        raise InvalidRequestError.of(
            [FieldProblem(path=f"{root}{reference_path(role)}", message=why) for role, why in missing]
        )

    scheduled = command.run_at is not None and command.run_at > datetime.now(UTC)
    status: JobStatus = "scheduled" if scheduled else "queued"
    known = await _known_status(services, job_id)
    if known is not None:
        status, duplicate = known, True
    else:
        duplicate = await services.bus.submit(command)
        if not duplicate:
            services.metrics.jobs_submitted.inc()
    return SubmitAccepted(
        id=job_id, status=status, priority=command.spec.priority, duplicate=duplicate, links=links(job_id)
    )


async def _require_dependencies(services: Services, depends_on: list[str]) -> None:
    """422 naming each ``depends_on`` entry that is no job (projected, or at least submitted)."""
    unknown = [
        FieldProblem(path=f"$.depends_on[{n}]", message=unknown_dependency(dep))
        for n, dep in enumerate(depends_on)
        if await services.read_model.status(dep) is None and not await services.bus.was_submitted(dep)
    ]
    if unknown:
        raise InvalidRequestError.of(unknown)


async def _known_status(services: Services, job_id: str) -> JobStatus | None:
    """The job's status when the read model knows it; ``None`` if not (or PostgreSQL is down)."""
    try:
        status = await services.read_model.status(job_id)
    except DependencyUnavailableError:
        return None
    except Exception as exc:
        if unavailable_dependency(exc) is None:
            raise
        return None
    return status
