"""The dashboard with a big job: time to first paint and to a complete render of ~5,000 events.

A real playbook (``--hosts`` x ``--tasks`` debug tasks: about 1.5 events per host and task) runs on
the real stack (nats-server, PostgreSQL, projector, executor, API). Then Debian's chromium, driven
by Playwright, opens the finished job's page and, as the baseline in the same run, the same
output as plain text (``/logs``). Reported, medians of ``--rounds``: first contentful paint, time
until the output is complete, the longest main-thread task while rendering (a freeze shows up
there), and the time to scroll the output from top to bottom; the ratios dashboard / plain text.

    python tests/bench/bench_ui.py [--hosts 5] [--tasks 700] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), *(str(REPO / sub) for sub in ("schemas", "services/common", "services/cli"))]

import httpx  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from playledger_cli.embedded import EmbeddedPostgres, NatsServer  # noqa: E402
from tests.stack import running_stack  # noqa: E402
from tests.ui.conftest import CHROMIUM_ARGS, LOCAL_VARS, chromium_path  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "bench_ui.json"
OBSERVE_LONG_TASKS = """
window.__longest = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longest = Math.max(window.__longest, entry.duration);
}).observe({ type: "longtask", buffered: true });
"""


def playbook(tasks: int) -> str:
    steps = "\n".join(
        f"    - name: step {i}\n      ansible.builtin.debug:\n        msg: 'step {i} on {{{{ inventory_hostname }}}}'"
        for i in range(tasks)
    )
    return f"- name: Many events\n  hosts: all\n  gather_facts: false\n  tasks:\n{steps}\n"


def first_paint(page: Page) -> float:
    value: float = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? performance.now()"
    )
    return value


def render_dashboard(page: Page, url: str, job_id: str) -> dict[str, float]:
    page.add_init_script(OBSERVE_LONG_TASKS)
    page.goto(f"{url}/ui/job.html?id={job_id}")
    page.wait_for_selector('#live-state[data-state="finished"]', timeout=300_000)
    page.wait_for_function("document.getElementById('output').textContent.includes('PLAY RECAP')")
    complete: float = page.evaluate("performance.now()")
    started = time.perf_counter()
    page.evaluate("""() => new Promise((done) => {
        const out = document.getElementById('output');
        out.scrollTop = 0;
        requestAnimationFrame(() => { out.scrollTop = out.scrollHeight; requestAnimationFrame(done); });
    })""")
    scroll_ms = (time.perf_counter() - started) * 1000
    longest: float = page.evaluate("window.__longest")
    return {
        "first_paint_ms": first_paint(page),
        "complete_ms": complete,
        "longest_task_ms": longest,
        "scroll_ms": scroll_ms,
    }


def render_text(page: Page, url: str, job_id: str) -> dict[str, float]:
    page.add_init_script(OBSERVE_LONG_TASKS)
    page.goto(f"{url}/api/v1/jobs/{job_id}/logs", wait_until="load")
    complete: float = page.evaluate("performance.now()")
    started = time.perf_counter()
    page.evaluate(
        "() => new Promise((done) => { window.scrollTo(0, document.body.scrollHeight); requestAnimationFrame(done); })"
    )
    scroll_ms = (time.perf_counter() - started) * 1000
    longest: float = page.evaluate("window.__longest")
    return {
        "first_paint_ms": first_paint(page),
        "complete_ms": complete,
        "longest_task_ms": longest,
        "scroll_ms": scroll_ms,
    }


def run_job(url: str, hosts: int) -> tuple[str, int]:
    body = {
        "source": {"type": "local", "path": "many.yml"},
        "inventory": {"type": "inline", "hosts": [f"h{i}" for i in range(hosts)], "vars": LOCAL_VARS},
        "options": {"forks": hosts},
    }
    job_id: str = httpx.post(f"{url}/api/v1/jobs", json=body, timeout=30).json()["id"]
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        job = httpx.get(f"{url}/api/v1/jobs/{job_id}", timeout=30)
        if job.status_code == 200 and job.json()["complete"]:
            return job_id, int(job.json()["event_count"])
        time.sleep(1)
    msg = "the job did not complete"
    raise RuntimeError(msg)


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=700)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as scratch:
        work = Path(scratch)
        nats = NatsServer(store_dir=work / "nats").start()
        postgres = None
        database_url = os.environ.get("PLAYLEDGER_DATABASE_URL")
        if database_url is None:
            postgres = EmbeddedPostgres(data_dir=work / "pg").start()
            database_url = postgres.url()
        try:
            with running_stack(
                nats.url, database_url, work / "stack", {"many.yml": playbook(args.tasks)}
            ) as stack:
                job_id, events = run_job(stack.url, args.hosts)
                print(f"job {job_id}: {events} events")
                dashboard: list[dict[str, float]] = []
                text: list[dict[str, float]] = []
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                    for _ in range(args.rounds):  # interleaved, a fresh page each time
                        for render, rows in ((render_text, text), (render_dashboard, dashboard)):
                            context = browser.new_context(viewport={"width": 1280, "height": 900})
                            rows.append(render(context.new_page(), stack.url, job_id))
                            context.close()
                    browser.close()
        finally:
            nats.stop()
            if postgres is not None:
                postgres.stop()
    result: dict[str, Any] = {"events": events, "rounds": args.rounds}
    for key in ("first_paint_ms", "complete_ms", "longest_task_ms", "scroll_ms"):
        d, t = median(dashboard, key), median(text, key)
        result[key] = {
            "dashboard": round(d, 1),
            "plain_text": round(t, 1),
            "ratio": round(d / t, 2) if t else None,
        }
        print(f"{key:17} dashboard {d:9.1f}  plain text {t:9.1f}  ratio {result[key]['ratio']}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
