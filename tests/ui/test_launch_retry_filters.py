"""The dashboard's launch form (templates), retry button and list filters, in a real browser.

One running system for the module: each test makes its own jobs and keys and looks only at those.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.stack import Stack, complete_job
from tests.ui.conftest import LOCAL_VARS, chromium, launch_and_follow, module_stack, screenshot, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEMPLATE = {
    "description": "Print a few lines",
    "spec": {
        "source": {"type": "local", "path": "printer.yml"},
        "inventory": {"type": "inline", "hosts": ["tpl1"], "vars": LOCAL_VARS},
        "extra_vars": {"lines": 5, "pause": 0},
    },
    "allow_override": ["extra_vars.lines", "check_mode"],
    "vars_schema": {
        "type": "object",
        "properties": {"lines": {"type": "integer", "minimum": 1, "maximum": 20, "title": "Lines to print"}},
    },
}
RETRY = {"max_attempts": 2, "backoff_s": 0.2, "backoff_max_s": 0.5, "on": ["failed"]}


@pytest.fixture(name="stack", scope="module")
def fx_stack(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with module_stack(postgres_url, tmp_path_factory.mktemp("ui-shared")) as stack:
        put = httpx.put(
            f"{stack.url}/api/v1/templates/greet", json=TEMPLATE, headers=stack.headers, timeout=30
        )
        assert put.status_code == 201, put.text
        yield stack


@pytest.fixture(name="browser", scope="module")
def fx_browser(stack: Stack) -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(name="client")
def fx_client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, headers=stack.headers, timeout=30) as client:
        yield client


def new_key(client: httpx.Client, name: str, scopes: list[str]) -> str:
    created = client.post("/api/v1/keys", json={"name": name, "scopes": scopes})
    assert created.status_code == 201, created.text
    key: str = created.json()["key"]
    return key


def submit(client: httpx.Client, playbook: str, host: str, **extra: Any) -> str:
    body = {
        "source": {"type": "local", "path": playbook},
        "inventory": {"type": "inline", "hosts": [host], "vars": LOCAL_VARS},
        **extra,
    }
    response = client.post("/api/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_the_launch_form_runs_a_template_with_its_allowed_overrides(
    stack: Stack, page: Page, client: httpx.Client
) -> None:
    page.goto(f"{stack.url}/ui/launch.html")
    page.get_by_label("A template").check()
    expect(page.locator("#t-name")).to_have_value("greet")
    expect(page.locator("#t-description")).to_have_text("Print a few lines")
    overrides = page.get_by_role("group", name="From a template")
    lines = overrides.get_by_label("lines: Lines to print")
    expect(lines).to_have_value("5")  # the template's own value
    expect(overrides.get_by_label("Check mode")).not_to_be_checked()
    # only what the template allows is offered
    expect(page.get_by_label("Hosts (comma separated)")).to_be_hidden()
    expect(page.locator("#t-overrides label")).to_have_count(2)

    lines.fill("99")  # the template's vars_schema allows at most 20: the API's 422 is shown
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#notice .error")).to_have_text(
        "$.overrides.extra_vars.lines: 99 is greater than the maximum of 20"  # sent as a number
    )
    assert "/ui/launch.html" in page.url

    lines.fill("2")
    screenshot(page, "launch-template")
    job_id = launch_and_follow(page)
    expect(page.locator("#output")).to_contain_text("line 2 of 2")
    # the template names its other jobs
    expect(page.get_by_role("link", name="greet (version 1)")).to_have_attribute(
        "href", "/ui/?template=greet"
    )

    job = client.get(f"/api/v1/jobs/{job_id}").json()
    assert job["template"] == {"name": "greet", "version": 1}
    assert job["options"]["check_mode"] is False
    queued = client.get(f"/api/v1/jobs/{job_id}/events", params={"event": "job.queued"}).json()["items"]
    assert queued[0]["data"]["spec"]["extra_vars"] == {"lines": 2, "pause": 0}  # the template's, one changed


def test_retry_is_offered_to_keys_that_may_and_runs_a_new_attempt(
    stack: Stack, page: Page, client: httpx.Client, browser: Browser
) -> None:
    flag = stack.work / "retry-flag"
    job_id = submit(client, "flag.yml", "r1", extra_vars={"flag": str(flag)}, retry=RETRY)
    dead = complete_job(client, job_id, timeout=90)
    assert (dead["status"], dead["attempt"]) == ("dead", 2)

    # a key without jobs:submit: no retry button, no launch page, and the API refuses it
    reader = signed_in(browser, new_key(client, "reader", ["jobs:read"]))
    watcher = reader.new_page()
    watcher.goto(f"{stack.url}/ui/job.html?id={job_id}")
    expect(watcher.locator("#live-state")).to_have_attribute("data-state", "finished", timeout=30_000)
    expect(watcher.locator("#title .status")).to_have_attribute("data-status", "dead")
    expect(watcher.get_by_role("button", name="Retry job")).to_be_hidden()
    expect(watcher.get_by_role("link", name="Launch")).to_be_hidden()
    status = watcher.evaluate(
        """async (id) => (await fetch(`/api/v1/jobs/${id}/retry`, {method: "POST",
               headers: {Authorization: `Bearer ${sessionStorage.getItem("playledger.apiKey")}`}})).status""",
        job_id,
    )
    assert status == 403
    watcher.goto(f"{stack.url}/ui/launch.html")
    expect(watcher.locator("#notice")).to_have_text(
        "The API key reader may not launch jobs (it needs the jobs:submit scope)."
    )
    expect(watcher.locator("#launch")).to_be_hidden()
    screenshot(watcher, "launch-read-only-key")
    reader.close()

    # the admin's page offers it; the next attempt finds the flag and succeeds, shown live
    page.goto(f"{stack.url}/ui/job.html?id={job_id}")
    retry = page.get_by_role("button", name="Retry job")
    expect(retry).to_be_visible(timeout=30_000)
    expect(page.locator("#output")).to_contain_text("no flag at")
    screenshot(page, "job-view-dead")
    flag.write_text("ready\n", encoding="utf-8")
    retry.click()
    expect(page.locator("#title .status")).to_have_attribute("data-status", "successful", timeout=90_000)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "finished")
    expect(retry).to_be_hidden()
    expect(page.locator("#output")).to_contain_text("\u2500\u2500 attempt 3 \u2500\u2500")
    expect(page.locator("#facts")).to_contain_text("3 of 3")

    job = complete_job(client, job_id)
    assert (job["status"], job["attempt"]) == ("successful", 3)
    assert [(a["attempt"], a["status"]) for a in job["attempts"]][:2] == [(1, "failed"), (2, "failed")]


def test_the_filters_narrow_the_list(stack: Stack, page: Page, client: httpx.Client) -> None:
    with httpx.Client(base_url=stack.url, timeout=30) as ops:
        ops.headers["Authorization"] = f"Bearer {new_key(client, 'ops', ['jobs:read', 'jobs:submit'])}"
        by_ops = submit(ops, "printer.yml", "f1", extra_vars={"lines": 1, "pause": 0})
    launched = client.post("/api/v1/templates/greet/launch", json={"overrides": {"extra_vars": {"lines": 1}}})
    assert launched.status_code == 202, launched.text
    from_template = launched.json()["id"]
    slept = submit(client, "sleep.yml", "f2", extra_vars={"seconds": 0})
    for job_id in (by_ops, from_template, slept):
        complete_job(client, job_id, timeout=90)

    page.goto(f"{stack.url}/ui/")
    rows = page.locator("#jobs tr")

    def row(job_id: str) -> Any:
        return page.locator(f'tr[data-job="{job_id}"]')

    def apply(**filters: str) -> None:
        for label in ("Playbook", "Template", "Submitter", "Created after"):
            page.get_by_label(label, exact=True).fill(filters.get(label.replace(" ", "_"), ""))
        page.get_by_role("button", name="Apply").click()

    for job_id in (by_ops, from_template, slept):
        expect(row(job_id)).to_be_visible(timeout=20_000)

    apply(Submitter="ops")
    expect(rows).to_have_count(1)
    expect(row(by_ops)).to_contain_text("ops")
    expect(row(by_ops).locator("td").last).to_have_text("1")  # its one host
    assert "submitter=ops" in page.url  # the filtered list can be bookmarked
    screenshot(page, "jobs-filtered")

    apply(Template="greet")
    expect(row(from_template)).to_be_visible()
    expect(row(by_ops)).to_have_count(0)
    assert set(page.locator("#jobs tr td:nth-child(4)").all_inner_texts()) == {"greet"}

    apply(Playbook="sleep.yml")
    expect(row(slept)).to_be_visible()
    expect(row(from_template)).to_have_count(0)
    assert set(page.locator("#jobs tr td:nth-child(3)").all_inner_texts()) == {"sleep.yml"}

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).astimezone().strftime("%Y-%m-%dT%H:%M")
    apply(Created_after=tomorrow)
    expect(page.get_by_text("No jobs match.")).to_be_visible()
    expect(rows).to_have_count(0)

    page.goto(f"{stack.url}/ui/?submitter=ops&status=successful")  # a bookmark restores the filters
    expect(page.get_by_label("Submitter", exact=True)).to_have_value("ops")
    expect(page.locator("#f-status")).to_have_value("successful")
    expect(row(by_ops)).to_be_visible()
    expect(rows).to_have_count(1)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the secondary columns step aside
    expect(row(by_ops).locator("td").nth(3)).to_be_hidden()
    expect(row(by_ops).locator("td").last).to_be_visible()
    screenshot(page, "jobs-filtered-phone")
