"""A real browser (Debian's chromium, driven by Playwright) against a real running playledger."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from playledger_cli.embedded import NatsServer
from tests.conftest import create_database, drop_database, with_database
from tests.stack import Stack, running_stack

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "ui-screenshots"

SLOW_PRINTER = """
- name: Print slowly
  hosts: all
  gather_facts: false
  tasks:
    - name: print lines
      ansible.builtin.debug:
        msg: "line {{ item }} of {{ lines | default(30) }}"
      loop: "{{ range(1, (lines | default(30) | int) + 1) | list }}"
      loop_control:
        pause: "{{ pause | default(0.1) | float }}"
    - name: changed
      ansible.builtin.command: echo done
"""
SLEEP = """
- name: Take a while
  hosts: all
  gather_facts: false
  tasks:
    - name: Sleep
      ansible.builtin.command: "sleep {{ seconds | default(60) }}"
"""
FLAG = """
- name: Needs a flag
  hosts: all
  gather_facts: false
  tasks:
    - name: look for the flag
      ansible.builtin.stat:
        path: "{{ flag }}"
      register: found
    - name: fail without it
      ansible.builtin.fail:
        msg: "no flag at {{ flag }}"
      when: not found.stat.exists
"""
PLAYBOOKS = {"printer.yml": SLOW_PRINTER, "sleep.yml": SLEEP, "flag.yml": FLAG}
LOCAL_VARS = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("Debian's chromium is not installed (./test installs it: apt-get install chromium)")
    return path


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(name="browser")
def fx_browser(stack: Stack) -> Iterator[Browser]:
    """Per test, and after the stack: Playwright's sync API keeps an event loop running in this
    thread, so the async fixtures the stack needs (a fresh database) must be set up before it."""
    with chromium() as browser:
        yield browser


def signed_in(browser: Browser, key: str) -> BrowserContext:
    """A browser context whose dashboard pages start with ``key`` entered (as the sign-in form does)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(f"sessionStorage.setItem('playledger.apiKey', {json.dumps(key)})")
    return context


@pytest.fixture(name="page")
def fx_page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = signed_in(browser, stack.headers["Authorization"].removeprefix("Bearer "))
    page = context.new_page()
    problems: list[str] = []
    # JavaScript errors and CSP violations fail the test; the browser's own notes on HTTP errors the
    # page handles (a 422 it shows, a refused connection while the API restarts) do not
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, f"the browser reported errors: {problems}"


@pytest.fixture(name="stack")
def fx_stack(nats_url: str, database_url: str, tmp_path: Path) -> Iterator[Stack]:
    # Auth on, as in production: the dashboard sends the key entered in its header with every
    # request, its SSE streams included (they are read with fetch, which can set headers).
    with running_stack(nats_url, database_url, tmp_path, PLAYBOOKS) as stack:
        yield stack


@contextmanager
def module_stack(postgres_url: str, work: Path) -> Iterator[Stack]:
    """One system for a whole module (its own nats-server and database), for tests that can share
    it: each makes its own jobs and keys and looks only at those."""
    nats = NatsServer(store_dir=work / "nats").start()
    database = asyncio.run(create_database(postgres_url))
    try:
        with running_stack(nats.url, with_database(postgres_url, database), work, PLAYBOOKS) as stack:
            yield stack
    finally:
        nats.stop()
        asyncio.run(drop_database(postgres_url, database))


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def launch_and_follow(page: Page, status: str = "successful") -> str:
    """Press the launch form's button, land on the new job's page and see it end as ``status``; its id."""
    page.get_by_role("button", name="Launch").click()
    page.wait_for_url(re.compile(r"/ui/job\.html\?id="), timeout=20_000)
    expect(page.locator("#live-state")).to_have_attribute("data-state", "finished", timeout=90_000)
    expect(page.locator("#title .status")).to_have_attribute("data-status", status, timeout=20_000)
    return page.url.split("id=", 1)[1]
