"""A launch made into a submit: the template's job, the allowed overrides, the same words everywhere."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playledger_common.launch import expand, reason, schema_problem
from playledger_schemas.commands import (
    GitPlaybookSource,
    InlineInventory,
    JobOptions,
    JobSpec,
    LaunchJob,
    LocalSource,
    Overrides,
    SubmitJob,
    TemplateRef,
)
from playledger_schemas.templates import Template

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, tzinfo=UTC)
SPEC = JobSpec(
    source=LocalSource(path="site.yml"),
    inventory=InlineInventory(hosts=["a"]),
    extra_vars={"who": "world", "version": "1"},
    options=JobOptions(limit="a", verbosity=1),
)
TEMPLATE = Template(spec=SPEC, allow_override=["limit", "inventory", "extra_vars.version"])


def launch(**overrides: object) -> LaunchJob:
    return LaunchJob(job_id="j", template="web", overrides=Overrides(**overrides))  # type: ignore[arg-type]


def made(command: LaunchJob, template: Template = TEMPLATE) -> SubmitJob | list[tuple[str, str]]:
    return expand(
        command,
        template,
        7,
        NOW,
        allow_file=False,
        allow_http=False,
        allow_http_callback=False,
        run_at_horizon_s=3600,
    )


def test_allowed_overrides_replace_the_templates_values_and_the_job_records_its_version() -> None:
    submit = made(launch(limit="b", inventory=InlineInventory(hosts=["b"]), extra_vars={"version": "2"}))
    assert isinstance(submit, SubmitJob)
    assert submit.template == TemplateRef(name="web", version=7)
    assert submit.spec.options == JobOptions(limit="b", verbosity=1)
    assert submit.spec.inventory == InlineInventory(hosts=["b"])
    assert submit.spec.extra_vars == {"who": "world", "version": "2"}
    assert submit.spec.source == SPEC.source
    untouched = made(launch())
    assert isinstance(untouched, SubmitJob)
    assert untouched.spec == SPEC


def test_every_refused_override_is_named_at_its_path() -> None:
    problems = made(launch(verbosity=3, extra_vars={"who": "me", "version": "2"}))
    allows = "not allowed by the template (it allows: limit, inventory, extra_vars.version)"
    assert problems == [("$.overrides.verbosity", allows), ("$.overrides.extra_vars.who", allows)]
    assert reason([("$.a", "x"), ("$.b", "y")]) == "$.a: x; $.b: y"
    everything = Template(spec=SPEC, allow_override=["extra_vars"])
    assert isinstance(made(launch(extra_vars={"anything": 1}), everything), SubmitJob)
    assert made(launch(limit="x"), Template(spec=SPEC)) == [
        ("$.overrides.limit", "not allowed by the template (it allows: none)")
    ]


def test_the_resulting_job_is_checked_like_any_submit() -> None:
    git = Template(
        spec=JobSpec(
            source=GitPlaybookSource(repo="file:///srv/x.git", path="s.yml"), inventory=SPEC.inventory
        )
    )
    assert made(launch(), git) == [
        ("$.spec.source.repo", "repository URL uses file://, which this installation does not allow")
    ]


def test_the_templates_vars_schema_checks_the_variables_a_launch_ends_with() -> None:
    surveyed = Template(
        spec=SPEC,
        allow_override=["extra_vars"],
        vars_schema={"type": "object", "properties": {"version": {"type": "string", "pattern": "^[0-9.]+$"}}},
    )
    assert isinstance(made(launch(extra_vars={"version": "2.1"}), surveyed), SubmitJob)
    assert made(launch(extra_vars={"version": "latest"}), surveyed) == [
        ("$.overrides.extra_vars.version", "'latest' does not match '^[0-9.]+$'")
    ]
    assert schema_problem(surveyed) is None
    broken = Template(spec=SPEC, vars_schema={"type": "no such type"})
    problem = schema_problem(broken)
    assert problem is not None
    assert problem[0] == "$.vars_schema"
