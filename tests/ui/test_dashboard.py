"""The dashboard in a real browser: list, live job view with resume, cancel, launch, CSP."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.stack import Stack
from tests.ui.conftest import LOCAL_VARS, launch_and_follow, screenshot, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def submit(stack: Stack, playbook: str, hosts: list[str], extra_vars: dict[str, Any] | None = None) -> str:
    body = {
        "source": {"type": "local", "path": playbook},
        "inventory": {"type": "inline", "hosts": hosts, "vars": LOCAL_VARS},
        "extra_vars": extra_vars or {},
    }
    response = httpx.post(f"{stack.url}/api/v1/jobs", json=body, headers=stack.headers, timeout=30)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def job(stack: Stack, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(
        f"{stack.url}/api/v1/jobs/{job_id}", headers=stack.headers, timeout=30
    ).json()
    return body


def wait_for(predicate: Any, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_pages_are_served_with_a_strict_content_security_policy(stack: Stack) -> None:
    for path in (
        "/ui/",
        "/ui/job.html",
        "/ui/launch.html",
        "/ui/overview.html",
        "/ui/js/api.js",
        "/ui/vendor/ansi_up.js",
    ):
        response = httpx.get(f"{stack.url}{path}", timeout=10)
        assert response.status_code == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert response.headers["x-content-type-options"] == "nosniff"


def test_list_shows_jobs_live_and_the_job_view_streams_output_through_an_api_restart(
    stack: Stack, page: Page
) -> None:
    page.goto(f"{stack.url}/ui/")
    expect(page.get_by_text("No jobs match.")).to_be_visible()
    job_id = submit(stack, "printer.yml", ["web1", "web2"], {"lines": 40, "pause": 0.15})

    # the list learns of the new job from the lifecycle stream, without a reload
    row = page.locator(f'tr[data-job="{job_id}"]')
    expect(row).to_be_visible(timeout=20_000)
    screenshot(page, "jobs-list")

    row.get_by_role("link", name=job_id).click()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(page.locator("#output")).to_contain_text("line 3 of 40", timeout=30_000)

    # drop every connection: the API process dies mid-job and comes back on the same port
    stack.kill_api()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "reconnecting", timeout=20_000)
    stack.start_api()

    expect(page.locator("#live-state")).to_have_attribute("data-state", "finished", timeout=90_000)
    expect(page.locator("#title .status")).to_have_attribute("data-status", "successful", timeout=20_000)
    screenshot(page, "job-view")

    # what the browser shows is ansible's stdout exactly: no line missing or doubled by the resume
    shown = page.locator("#output").inner_text()
    logs = httpx.get(f"{stack.url}/api/v1/jobs/{job_id}/logs", headers=stack.headers, timeout=30).text
    expected = ANSI.sub("", logs).replace("\r\n", "\n")
    assert shown.rstrip("\n") == expected.rstrip("\n")
    assert shown.count("line 17 of 40") == 2  # one debug line per host: web1 and web2

    # hosts table and timeline come from the same events
    expect(page.locator("#hosts tr")).to_have_count(2)
    expect(page.locator("#timeline .row")).to_have_count(2)  # two tasks
    # the list now shows the finished job with its final status
    page.goto(f"{stack.url}/ui/")
    expect(row.locator(".status")).to_have_attribute("data-status", "successful")


def test_cancel_button_cancels_a_running_job(stack: Stack, page: Page) -> None:
    job_id = submit(stack, "sleep.yml", ["web1"], {"seconds": 120})
    page.goto(f"{stack.url}/ui/job.html?id={job_id}")
    wait_for(lambda: job(stack, job_id)["status"] == "running", "the job to start")
    cancel = page.get_by_role("button", name="Cancel job")
    expect(cancel).to_be_visible(timeout=20_000)
    cancel.click()
    expect(page.locator("#live-state")).to_have_attribute("data-state", "finished", timeout=60_000)
    expect(page.locator("#title .status")).to_have_attribute("data-status", "canceled", timeout=20_000)
    expect(cancel).to_be_hidden()


def test_launch_form_submits_a_job_and_opens_its_view(stack: Stack, page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{stack.url}/ui/launch.html")
    page.get_by_label("Playbook (relative to the projects directory)").fill("printer.yml")
    page.get_by_label("Hosts (comma separated)").fill("phone1")
    page.get_by_label("Run on this machine (ansible_connection=local)").check()
    page.get_by_label("Extra vars (JSON object)").fill('{"lines": 3, "pause": 0}')
    screenshot(page, "launch-form")
    launch_and_follow(page)
    expect(page.locator("#output")).to_contain_text("line 3 of 3")
    screenshot(page, "job-view-phone")

    # the overview draws the statistics endpoint: this one successful job
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#t-success")).to_have_text("100 %")
    expect(page.locator("#playbooks tr")).to_have_count(1)
    expect(page.locator("#playbooks tr td").first).to_have_text("printer.yml")
    bar = page.locator("#chart rect.successful")
    expect(bar).to_have_count(1)
    x, width = (float(bar.get_attribute(name) or "nan") for name in ("x", "width"))
    assert x >= 0  # drawn inside the chart's viewBox, in the current hour's slot
    assert x + width <= 720
    screenshot(page, "overview")


def test_launch_form_reports_the_api_validation_error(stack: Stack, page: Page) -> None:
    page.goto(f"{stack.url}/ui/launch.html")
    page.get_by_label("Playbook (relative to the projects directory)").fill("missing.yml")
    page.get_by_label("Hosts (comma separated)").fill("web1")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#notice .error")).to_have_text(
        "$.source.path: does not exist in the projects directory"
    )
    assert "/ui/launch.html" in page.url


def test_a_key_without_jobs_cancel_sees_no_cancel_button_and_is_refused(
    stack: Stack, page: Page, browser: Browser
) -> None:
    created = httpx.post(
        f"{stack.url}/api/v1/keys",
        json={"name": "watcher", "scopes": ["jobs:read"]},
        headers=stack.headers,
        timeout=30,
    )
    assert created.status_code == 201, created.text
    job_id = submit(stack, "sleep.yml", ["web1"], {"seconds": 120})
    wait_for(lambda: job(stack, job_id)["status"] == "running", "the job to start")

    # the admin's page offers cancel ...
    page.goto(f"{stack.url}/ui/job.html?id={job_id}")
    expect(page.get_by_role("button", name="Cancel job")).to_be_visible(timeout=20_000)

    # ... a read-only key's page shows the job live but offers no cancel, and the API refuses it
    context = signed_in(browser, created.json()["key"])
    watcher = context.new_page()
    watcher.goto(f"{stack.url}/ui/job.html?id={job_id}")
    expect(watcher.locator("#live-state")).to_have_attribute("data-state", "live", timeout=20_000)
    expect(watcher.locator("#title .status")).to_have_attribute("data-status", "running")
    expect(watcher.get_by_role("button", name="Cancel job")).to_be_hidden()
    status = watcher.evaluate(
        """async (id) => (await fetch(`/api/v1/jobs/${id}`, {method: "DELETE",
               headers: {Authorization: `Bearer ${sessionStorage.getItem("playledger.apiKey")}`}})).status""",
        job_id,
    )
    assert status == 403
    screenshot(watcher, "job-view-read-only-key")
    context.close()

    # without any key the dashboard asks for one
    anonymous = browser.new_context()
    nobody = anonymous.new_page()
    nobody.goto(f"{stack.url}/ui/job.html?id={job_id}")
    expect(nobody.locator("#notice .error")).to_contain_text("Sign in with an API key")
    anonymous.close()
