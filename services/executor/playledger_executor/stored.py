"""A submit's ``stored`` inventory resolved when the job is queued (both doors: the intake's part).

The name is read from ``PLAYLEDGER_INVENTORIES`` at that moment and the spec ``job.queued``
records carries the result: ``version`` (the revision read) and ``resolved`` (what it held).
Every attempt runs that recorded spec (``pinned_spec``), so an edit of the stored inventory
changes later jobs only, and what each job used stays in its own events.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext

from playledger_common.jobchecks import Problem, inventory_problems, unknown_inventory
from playledger_common.named_store import inventories
from playledger_common.settings import ExecutorSettings
from playledger_executor.errors import ExecutorError
from playledger_executor.inventory import render_inventory
from playledger_executor.journal import Journal
from playledger_schemas.commands import InlineInventory, JobSpec, StoredInventory, SubmitJob
from playledger_schemas.inventories import StoredInventoryValue

NAME_PATH = "$.spec.inventory.name"


def resolved_spec(
    spec: JobSpec,
    stored: StoredInventoryValue | None,
    revision: int,
    *,
    allow_file: bool,
    allow_http: bool,
) -> JobSpec | list[Problem]:
    """``spec`` with its stored inventory resolved to ``stored`` at ``revision`` (pure), or why not."""
    inventory = spec.inventory
    assert isinstance(inventory, StoredInventory)  # noqa: S101 - the caller resolves stored ones only
    if stored is None:
        return [(NAME_PATH, unknown_inventory(inventory.name))]
    value = stored.inventory
    which = f"stored inventory {inventory.name!r} (version {revision})"
    found = inventory_problems(value, allow_file=allow_file, allow_http=allow_http)
    if found:
        return [(NAME_PATH, f"{which}: {path}: {message}") for path, message in found]
    try:
        if isinstance(value, InlineInventory):
            render_inventory(value)
    except ExecutorError as exc:
        return [(NAME_PATH, f"{which}: {exc.reason.removeprefix('$.spec.')}")]
    pinned = StoredInventory(name=inventory.name, version=revision, resolved=value)
    return msgspec.structs.replace(spec, inventory=pinned)


async def resolve_stored(
    js: JetStreamContext, spec: JobSpec, settings: ExecutorSettings
) -> JobSpec | list[Problem]:
    """The spec to queue: a stored inventory resolved from its bucket now; any other as it is."""
    inventory = spec.inventory
    if not isinstance(inventory, StoredInventory):
        return spec
    found = await inventories(js).get(inventory.name)
    return resolved_spec(
        spec,
        None if found is None else found.value,
        0 if found is None else found.revision,
        allow_file=settings.source_allow_file,
        allow_http=settings.source_allow_http,
    )


async def pinned_spec(journal: Journal, command: SubmitJob) -> SubmitJob | None:
    """The submit to run: with a stored inventory, the spec ``job.queued`` resolved (``None``
    when the job has none yet); any other submit as it is."""
    if not isinstance(command.spec.inventory, StoredInventory):
        return command
    queued = await journal.queued(command.job_id)
    if queued is None or not isinstance(queued.data.spec.inventory, StoredInventory):
        return None
    return msgspec.structs.replace(command, spec=queued.data.spec)
