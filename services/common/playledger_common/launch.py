"""A launch made into a submit: the template's job with the launch's overrides (pure, no IO).

One function for both doors (``POST /api/v1/templates/{name}/launch`` and the intake's
``job.launch.v1``), so a launch is refused with the same words wherever it comes from. Every
problem's path is the launch's own (``$.overrides.limit``); problems of the resulting job are
under ``$.spec.`` (the job a launch makes is the template's spec with the overrides applied).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from jsonschema.exceptions import SchemaError
from jsonschema.validators import Draft202012Validator

from playledger_common.jobchecks import Problem, run_at_problem, spec_problems
from playledger_schemas.commands import JobOptions, JobSpec, LaunchJob, Overrides, SubmitJob, TemplateRef
from playledger_schemas.templates import Template

_OPTION_FIELDS = ("limit", "tags", "skip_tags", "verbosity", "check_mode", "diff_mode", "timeout")


def unknown_template(name: str) -> str:
    """The words for a launch of a template that does not exist (both doors)."""
    return f"no template named {name!r}"


def given(overrides: Overrides) -> list[str]:
    """The override names a launch asks for (``extra_vars.<name>`` for each variable)."""
    names = [f for f in ("priority", "inventory", *_OPTION_FIELDS) if getattr(overrides, f) is not None]
    return names + [f"extra_vars.{key}" for key in overrides.extra_vars]


def refused(template: Template, overrides: Overrides) -> list[Problem]:
    """Each override the template does not allow, at its path in the launch."""
    allowed = set(template.allow_override)
    shown = ", ".join(template.allow_override) or "none"
    return [
        (f"$.overrides.{name}", f"not allowed by the template (it allows: {shown})")
        for name in given(overrides)
        if name not in allowed and not (name.startswith("extra_vars.") and "extra_vars" in allowed)
    ]


def vars_problems(template: Template, extra_vars: dict[str, object]) -> list[Problem]:
    """Where the job's ``extra_vars`` miss the template's ``vars_schema`` (each problem once)."""
    if template.vars_schema is None:
        return []
    validator = Draft202012Validator(template.vars_schema)
    found = []
    for error in sorted(validator.iter_errors(extra_vars), key=lambda e: list(e.absolute_path)):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        found.append((f"$.overrides.extra_vars{path}", error.message))
    return found


def schema_problem(template: Template) -> Problem | None:
    """Why the template's ``vars_schema`` is not a JSON Schema, if it is not."""
    if template.vars_schema is None:
        return None
    try:
        Draft202012Validator.check_schema(template.vars_schema)
    except SchemaError as exc:
        return ("$.vars_schema", f"not a JSON Schema: {exc.message}")
    return None


def apply(spec: JobSpec, overrides: Overrides) -> JobSpec:
    """The template's spec with each given override replacing its value (extra_vars merged)."""
    options = msgspec.structs.replace(
        spec.options,
        **{f: getattr(overrides, f) for f in _OPTION_FIELDS if getattr(overrides, f) is not None},
    )
    assert isinstance(options, JobOptions)  # noqa: S101 - replace keeps the type
    return msgspec.structs.replace(
        spec,
        priority=overrides.priority or spec.priority,
        inventory=overrides.inventory or spec.inventory,
        extra_vars={**spec.extra_vars, **overrides.extra_vars},
        options=options,
    )


def expand(
    launch: LaunchJob,
    template: Template,
    version: int,
    now: datetime,
    *,
    allow_file: bool,
    allow_http: bool,
    allow_http_callback: bool,
    run_at_horizon_s: int,
) -> SubmitJob | list[Problem]:
    """The submit a launch stands for, or every reason it cannot be made."""
    problems = refused(template, launch.overrides)
    if why := run_at_problem(launch.run_at, now, run_at_horizon_s):
        problems.append(("$.run_at", why))
    if problems:
        return problems
    spec = apply(template.spec, launch.overrides)
    if found := vars_problems(template, spec.extra_vars):
        return found
    found = spec_problems(
        spec, allow_file=allow_file, allow_http=allow_http, allow_http_callback=allow_http_callback
    )
    if found:
        return [(f"$.spec.{path}", message) for path, message in found]
    return SubmitJob(
        job_id=launch.job_id,
        issued_at=launch.issued_at or now,
        spec=spec,
        submitted_by=launch.submitted_by,
        run_at=launch.run_at,
        depends_on=launch.depends_on,
        depends_policy=launch.depends_policy,
        template=TemplateRef(name=launch.template, version=version),
        parent=launch.parent,
    )


def reason(problems: list[Problem]) -> str:
    """A rejection's one-line reason (as ``job.rejected`` states it)."""
    return "; ".join(f"{path}: {message}" for path, message in problems)
