"""``job.launch.v1``: a launch made into the submit it stands for (the intake's part).

The template's current version is read from its bucket, the overrides applied by the same
function the API uses (``playledger_common.launch``), and the submit published on the job's
submit subject with the API's ``Nats-Msg-Id`` (``submit:<job>``): a redelivered launch, or a
launch of a job the API submitted, changes nothing. A launch that cannot be made into a submit
is the job's ``job.rejected``, in the API's words.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Final

from playledger_common.launch import expand, reason, unknown_template
from playledger_common.named_store import templates
from playledger_common.settings import ExecutorSettings
from playledger_executor.accept import Invalid, reject
from playledger_executor.journal import Journal
from playledger_schemas.codec import encode
from playledger_schemas.commands import LaunchJob
from playledger_schemas.events import FieldError
from playledger_schemas.subjects import submit_subject

log: Final = logging.getLogger(__name__)


async def launch(journal: Journal, command: LaunchJob, command_seq: int, settings: ExecutorSettings) -> None:
    """Publish the launch's submit, or record why there is none."""
    if await journal.known(command.job_id):
        log.info("launch %d of %s: the job exists already; nothing to do", command_seq, command.job_id)
        return
    stored = await templates(journal.js).get(command.template)
    if stored is None:
        problems = [("$.template", unknown_template(command.template))]
    else:
        made = expand(
            command,
            stored.value,
            stored.revision,
            datetime.now(UTC),
            allow_file=settings.source_allow_file,
            allow_http=settings.source_allow_http,
            allow_http_callback=settings.webhook_allow_http,
            run_at_horizon_s=settings.commands_max_age_s,
        )
        if not isinstance(made, list):
            await journal.js.publish(
                submit_subject(made.spec.priority, made.job_id),
                encode(made),
                headers={"Nats-Msg-Id": f"submit:{made.job_id}"},
            )
            log.info("launch of %s from template %s v%d", made.job_id, command.template, stored.revision)
            return
        problems = made
    errors = [FieldError(path=path, message=message) for path, message in problems]
    await reject(journal, Invalid(command.job_id, reason(problems), errors), command_seq)
