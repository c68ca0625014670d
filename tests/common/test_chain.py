"""Template chains, pure: which launches a job's end makes, their ids, which chains may be saved."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from playledger_common.chain import chain_problems, child_job_id, decide_links, users_of
from playledger_common.launch import expand
from playledger_schemas.commands import (
    MAX_CHAIN_DEPTH,
    ChainParent,
    InlineInventory,
    JobSpec,
    LocalSource,
    Overrides,
    Submitter,
)
from playledger_schemas.ids import is_valid_job_id
from playledger_schemas.status import TERMINAL_STATUSES
from playledger_schemas.templates import ChainLink, Schedule, Template

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 3, tzinfo=UTC)
SPEC = JobSpec(source=LocalSource(path="site.yml"), inventory=InlineInventory(hosts=["a"]))
LEAF = Template(spec=SPEC, allow_override=["limit"])
CHAINED = Template(
    spec=SPEC,
    on_success=[ChainLink(template="notify"), ChainLink(template="report", overrides=Overrides(limit="a"))],
    on_failure=[ChainLink(template="rollback")],
)
WHO = Submitter(key_id="k1", name="ci")


def test_success_launches_on_success_and_every_failure_on_failure_while_cancel_launches_nothing() -> None:
    launched = {
        status: [(c.job_id, c.template) for c in decide_links("j", status, CHAINED, None, WHO, NOW)]
        for status in TERMINAL_STATUSES
    }
    assert launched.pop("successful") == [("j-on_success-0", "notify"), ("j-on_success-1", "report")]
    for status in ("failed", "error", "timeout", "dead"):
        assert launched.pop(status) == [("j-on_failure-0", "rollback")]
    assert launched == {"canceled": [], "rejected": []}


def test_each_launch_names_its_parent_link_and_depth_and_keeps_who_submitted() -> None:
    first, second = decide_links("j", "successful", CHAINED, None, WHO, NOW)
    assert first.parent == ChainParent(job_id="j", link="on_success", index=0, depth=1)
    assert second.parent == ChainParent(job_id="j", link="on_success", index=1, depth=1)
    assert second.overrides == Overrides(limit="a")
    assert first.submitted_by == WHO
    above = ChainParent(job_id="g", link="on_failure", index=0, depth=3)
    (child,) = decide_links("j", "failed", CHAINED, above, None, NOW)
    assert child.parent is not None
    assert child.parent.depth == 4


def test_a_chain_stops_at_its_maximum_depth() -> None:
    deepest = ChainParent(job_id="g", link="on_success", index=0, depth=MAX_CHAIN_DEPTH)
    assert decide_links("j", "successful", CHAINED, deepest, None, NOW) == []
    below = ChainParent(job_id="g", link="on_success", index=0, depth=MAX_CHAIN_DEPTH - 1)
    assert len(decide_links("j", "successful", CHAINED, below, None, NOW)) == 2


def test_child_ids_are_deterministic_valid_and_distinct_even_for_the_longest_parent_ids() -> None:
    assert child_job_id("deploy-7", "on_failure", 2) == "deploy-7-on_failure-2"
    long_a, long_b = "a" * 127 + "x", "a" * 127 + "y"
    ids = {child_job_id(p, "on_success", 7) for p in (long_a, long_b)}
    assert len(ids) == 2
    assert all(is_valid_job_id(i) and len(i) <= 128 and i.endswith("-on_success-7") for i in ids)
    assert child_job_id(long_a, "on_success", 7) == child_job_id(long_a, "on_success", 7)


def test_the_launch_carries_its_parent_into_the_submit() -> None:
    (launch,) = decide_links("j", "failed", CHAINED, None, WHO, NOW)
    made = expand(
        launch,
        LEAF,
        3,
        NOW,
        allow_file=False,
        allow_http=False,
        allow_http_callback=False,
        run_at_horizon_s=3600,
    )
    assert not isinstance(made, list)
    assert made.parent == launch.parent
    assert made.submitted_by == WHO


def test_links_must_name_stored_templates_with_allowed_overrides() -> None:
    stored = {"notify": LEAF}
    problems = chain_problems("deploy", CHAINED, stored)
    assert problems == [
        ("$.on_success[1].template", "no template named 'report'"),
        ("$.on_failure[0].template", "no template named 'rollback'"),
    ]
    wrong = Template(spec=SPEC, on_success=[ChainLink(template="notify", overrides=Overrides(tags=["x"]))])
    assert chain_problems("deploy", wrong, stored) == [
        ("$.on_success[0].overrides.tags", "not allowed by the template (it allows: limit)")
    ]


def test_a_chain_back_to_the_template_itself_is_refused_however_long() -> None:
    itself = Template(spec=SPEC, on_failure=[ChainLink(template="a")])
    assert chain_problems("a", itself, {}) == [
        ("$.on_failure[0].template", "chains back to 'a' (a -> a): a chain may not loop")
    ]
    stored = {
        "b": Template(spec=SPEC, on_success=[ChainLink(template="c")]),
        "c": Template(spec=SPEC, on_failure=[ChainLink(template="a")]),
    }
    to_b = Template(spec=SPEC, on_success=[ChainLink(template="b")])
    assert chain_problems("a", to_b, stored) == [
        ("$.on_success[0].template", "chains back to 'a' (a -> b -> c -> a): a chain may not loop")
    ]
    diamond = {"b": Template(spec=SPEC, on_success=[ChainLink(template="c")]), "c": LEAF}
    both = Template(spec=SPEC, on_success=[ChainLink(template="b"), ChainLink(template="c")])
    assert chain_problems("a", both, diamond) == []  # two paths to one template are no loop


def test_a_template_is_used_by_the_links_and_schedules_that_launch_it() -> None:
    templates = {
        "deploy": CHAINED,
        "notify": LEAF,
        "self": Template(spec=SPEC, on_success=[ChainLink(template="self")]),
    }
    schedules = {
        "nightly": Schedule(template="notify", every_s=3600),
        "other": Schedule(template="deploy", every_s=60),
    }
    assert users_of("notify", templates, schedules) == [
        "schedule 'nightly'",
        "template 'deploy' (on_success[0])",
    ]
    assert users_of("rollback", templates, schedules) == ["template 'deploy' (on_failure[0])"]
    assert users_of("self", templates, {}) == []  # its own link goes when it goes
    assert users_of("report", {}, {}) == []
