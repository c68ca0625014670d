"""``/api/v1/templates``: stored job templates (create, replace, show, list, delete) and launches.

Templates live in the ``PLAYLEDGER_TEMPLATES`` key-value bucket; a launch is made into a submit
by the function the executor's intake uses for ``job.launch.v1`` (``playledger_common.launch``),
then accepted exactly as ``POST /api/v1/jobs`` accepts a submit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import msgspec
import nats.errors
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody, PathParameter

from playledger_api.accepting import accept_submit
from playledger_api.auth.guard import current_key, requires
from playledger_api.controllers.params import problems, reject_unknown_query
from playledger_api.door import decoded, strict_body
from playledger_api.errors import (
    NATS,
    DependencyUnavailableError,
    FieldProblem,
    InvalidRequestError,
    NotFoundError,
    TemplateInUseError,
)
from playledger_api.models import SubmitAccepted
from playledger_api.services import ServicesDep
from playledger_api.submission import choose_job_id
from playledger_api.template_models import LaunchBody, TemplateItem, TemplateLinks, TemplateList
from playledger_common.chain import chain_problems, users_of
from playledger_common.jobchecks import spec_problems
from playledger_common.launch import expand, schema_problem, unknown_template
from playledger_common.named_store import Stored
from playledger_schemas.commands import TEMPLATE_NAME_PATTERN, LaunchJob
from playledger_schemas.templates import Template

TemplateNamePath = Annotated[
    str,
    PathParameter(
        pattern=TEMPLATE_NAME_PATTERN,
        max_length=64,
        description="1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]
_template: Final = msgspec.json.Decoder(Template)
_launch: Final = msgspec.json.Decoder(LaunchBody)


@asynccontextmanager
async def nats_call() -> AsyncIterator[None]:
    """A key-value call that NATS does not answer is a 503 naming NATS."""
    try:
        yield
    except (nats.errors.Error, TimeoutError):
        raise DependencyUnavailableError(NATS) from None


def template_item(stored: Stored[Template]) -> TemplateItem:
    base = f"/api/v1/templates/{stored.name}"
    value = stored.value
    return TemplateItem(
        name=stored.name,
        version=stored.revision,
        description=value.description,
        spec=value.spec,
        allow_override=value.allow_override,
        vars_schema=value.vars_schema,
        on_success=value.on_success,
        on_failure=value.on_failure,
        links=TemplateLinks(self=base, launch=f"{base}/launch", jobs=f"/api/v1/jobs?template={stored.name}"),
    )


class TemplateController(Controller):
    path = "/api/v1/templates"
    tags = ["templates"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/", operation_id="listTemplates", responses=problems(400, 401, 403, 503), **requires("jobs:read"))
    async def list_templates(self, request: Request[Any, Any, Any], services: ServicesDep) -> TemplateList:
        """Every template, by name, at its current version."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.templates.all()
        return TemplateList(items=[template_item(s) for s in stored])

    @get(
        "/{name:str}",
        operation_id="getTemplate",
        responses=problems(400, 401, 403, 404, 503),
        **requires("jobs:read"),
    )
    async def get_template(
        self, request: Request[Any, Any, Any], name: TemplateNamePath, services: ServicesDep
    ) -> TemplateItem:
        """One template at its current version."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.templates.get(name)
        if stored is None:
            raise NotFoundError(unknown_template(name))
        return template_item(stored)

    @put(
        "/{name:str}",
        operation_id="putTemplate",
        before_request=strict_body(_template),
        responses={
            201: ResponseSpec(data_container=TemplateItem, description="The template was created."),
            **problems(400, 401, 403, 413, 415, 422, 503),
        },
        **requires("templates:write"),
    )
    async def put_template(
        self,
        request: Request[Any, Any, Any],
        name: TemplateNamePath,
        data: JSONBody[Template],
        services: ServicesDep,
    ) -> Response[TemplateItem]:
        """Create (201) or replace (200) a template: a new version; jobs keep the version they ran.
        Each ``on_success`` / ``on_failure`` link must name a stored template, with overrides it
        allows, and must not lead back to this one (a 422 naming the link)."""
        reject_unknown_query(request, frozenset())
        template = decoded(request, Template)
        settings = services.settings
        found = [
            (f"$.spec.{p}", m)
            for p, m in spec_problems(
                template.spec,
                allow_file=settings.source_allow_file,
                allow_http=settings.source_allow_http,
                allow_http_callback=settings.webhook_allow_http,
            )
        ]
        if problem := schema_problem(template):
            found.append(problem)
        async with nats_call():
            if template.on_success or template.on_failure:  # a loop back to ``name`` leaves by its links
                stored = {s.name: s.value for s in await services.templates.all()}
                found += chain_problems(name, template, stored)
        if found:
            raise InvalidRequestError.of([FieldProblem(path=p, message=m) for p, m in found])
        async with nats_call():
            existed = await services.templates.get(name) is not None
            revision = await services.templates.put(name, template)
        item = template_item(Stored(name=name, value=template, revision=revision))
        return Response(item, status_code=200 if existed else 201)

    @delete(
        "/{name:str}",
        operation_id="deleteTemplate",
        responses=problems(400, 401, 403, 404, 409, 503),
        **requires("templates:write"),
    )
    async def delete_template(
        self, request: Request[Any, Any, Any], name: TemplateNamePath, services: ServicesDep
    ) -> None:
        """Delete a template (204); jobs launched from it keep its name and version. A template
        that another one links to, or that a schedule launches, is not deleted (409 naming them)."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            templates = {s.name: s.value for s in await services.templates.all()}
            schedules = {s.name: s.value for s in await services.schedules.all()}
            if users := users_of(name, templates, schedules):
                msg = f"template {name!r} is still used by {', '.join(users)}: change or delete those first"
                raise TemplateInUseError(msg)
            deleted = await services.templates.delete(name)
        if not deleted:
            raise NotFoundError(unknown_template(name))

    @post(
        "/{name:str}/launch",
        status_code=202,
        operation_id="launchTemplate",
        before_request=strict_body(_launch),
        responses=problems(400, 401, 403, 404, 413, 415, 422, 429, 503),
        **requires("jobs:submit"),
    )
    async def launch(
        self,
        request: Request[Any, Any, Any],
        name: TemplateNamePath,
        data: JSONBody[LaunchBody],
        services: ServicesDep,
        idempotency_key: Annotated[
            str | None,
            HeaderParameter(name="Idempotency-Key", description="As for a submit: one key, one job."),
        ] = None,
    ) -> Response[SubmitAccepted]:
        """Run a job from the template's current version with the body's overrides (202), as a
        submit; an override the template does not allow is a 422 naming it. The NATS command
        ``job.launch.v1`` does the same, in the same words."""
        reject_unknown_query(request, frozenset())
        body = decoded(request, LaunchBody)
        async with nats_call():
            stored = await services.templates.get(name)
        if stored is None:
            raise NotFoundError(unknown_template(name))
        key = current_key(request)
        now = datetime.now(UTC)
        command = LaunchJob(
            job_id=choose_job_id(body.id, idempotency_key),
            issued_at=now,
            template=name,
            overrides=body.overrides,
            submitted_by=None if key is None else key.submitter,
            run_at=body.run_at,
            depends_on=body.depends_on,
            depends_policy=body.depends_policy,
        )
        settings = services.settings
        made = expand(
            command,
            stored.value,
            stored.revision,
            now,
            allow_file=settings.source_allow_file,
            allow_http=settings.source_allow_http,
            allow_http_callback=settings.webhook_allow_http,
            run_at_horizon_s=settings.commands_max_age_s,
        )
        if isinstance(made, list):
            raise InvalidRequestError.of([FieldProblem(path=p, message=m) for p, m in made])
        accepted = await accept_submit(services, key, made, root="$.spec.")
        return Response(accepted, status_code=202, headers={"Location": f"/api/v1/jobs/{made.job_id}"})
