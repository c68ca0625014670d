"""``/api/v1/schedules``: recurring launches of a template (cron or interval), fired by the executors.

Schedules live in the ``PLAYLEDGER_CRON`` key-value bucket. The API only stores them and says
when each fires next; every executor's scheduler (``playledger_executor.cron``) launches the
firings, under a job id derived from the firing time, so the job of a firing runs once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from litestar import Controller, Request, Response, delete, get, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import problems, reject_unknown_query
from playledger_api.controllers.templates import TemplateNamePath, nats_call
from playledger_api.door import decoded, strict_body
from playledger_api.errors import FieldProblem, InvalidRequestError, NotFoundError
from playledger_api.services import ServicesDep
from playledger_api.template_models import ScheduleItem, ScheduleList
from playledger_common.firing import next_firing, schedule_problems
from playledger_common.launch import refused, unknown_template
from playledger_common.named_store import Stored
from playledger_schemas.templates import Schedule

_schedule: Final = msgspec.json.Decoder(Schedule)


def unknown_schedule(name: str) -> str:
    return f"no schedule named {name!r}"


def schedule_item(stored: Stored[Schedule], now: datetime) -> ScheduleItem:
    value = stored.value
    return ScheduleItem(
        name=stored.name,
        version=stored.revision,
        template=value.template,
        cron=value.cron,
        timezone=value.timezone,
        every_s=value.every_s,
        enabled=value.enabled,
        catch_up=value.catch_up,
        overrides=value.overrides,
        since=value.since,
        next_run=next_firing(value, now) if value.enabled else None,
    )


class ScheduleController(Controller):
    path = "/api/v1/schedules"
    tags = ["schedules"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/", operation_id="listSchedules", responses=problems(400, 401, 403, 503), **requires("jobs:read"))
    async def list_schedules(self, request: Request[Any, Any, Any], services: ServicesDep) -> ScheduleList:
        """Every schedule, by name, with its next firing."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.schedules.all()
        now = datetime.now(UTC)
        return ScheduleList(items=[schedule_item(s, now) for s in stored])

    @get(
        "/{name:str}",
        operation_id="getSchedule",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def get_schedule(
        self, request: Request[Any, Any, Any], name: TemplateNamePath, services: ServicesDep
    ) -> ScheduleItem:
        """One schedule and its next firing."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.schedules.get(name)
        if stored is None:
            raise NotFoundError(unknown_schedule(name))
        return schedule_item(stored, datetime.now(UTC))

    @put(
        "/{name:str}",
        operation_id="putSchedule",
        before_request=strict_body(_schedule),
        responses={
            201: ResponseSpec(data_container=ScheduleItem, description="The schedule was created."),
            **problems(400, 401, 403, 413, 415, 422, 503),
        },
        **requires("templates:write"),
    )
    async def put_schedule(
        self,
        request: Request[Any, Any, Any],
        name: TemplateNamePath,
        data: JSONBody[Schedule],
        services: ServicesDep,
    ) -> Response[ScheduleItem]:
        """Create (201) or replace (200) a schedule. Its template must exist and allow its
        overrides; ``since`` is set here (now, when created or enabled again): no earlier firing
        is ever launched."""
        reject_unknown_query(request, frozenset())
        schedule = decoded(request, Schedule)
        found = schedule_problems(schedule)
        async with nats_call():
            template = await services.templates.get(schedule.template)
            previous = await services.schedules.get(name)
        if template is None:
            found.append(("$.template", unknown_template(schedule.template)))
        else:
            found += refused(template.value, schedule.overrides)
        if found:
            raise InvalidRequestError.of([FieldProblem(path=p, message=m) for p, m in found])
        now = datetime.now(UTC)
        keeps = previous is not None and previous.value.enabled and previous.value.since is not None
        since = previous.value.since if keeps and previous is not None else now
        schedule = msgspec.structs.replace(schedule, since=since)
        async with nats_call():
            revision = await services.schedules.put(name, schedule)
        item = schedule_item(Stored(name=name, value=schedule, revision=revision), now)
        return Response(item, status_code=200 if previous is not None else 201)

    @delete(
        "/{name:str}",
        operation_id="deleteSchedule",
        responses=problems(400, 401, 403, 404, 503),
        **requires("templates:write"),
    )
    async def delete_schedule(
        self, request: Request[Any, Any, Any], name: TemplateNamePath, services: ServicesDep
    ) -> None:
        """Delete a schedule (204): no further firing is launched."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            deleted = await services.schedules.delete(name)
        if not deleted:
            raise NotFoundError(unknown_schedule(name))
