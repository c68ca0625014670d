"""Cost of masking a job's secrets in every worker line (issue 15: ≤ 1 % with 20 secrets).

Real event lines: one ``ansible-runner worker`` run of 1 host x 200 debug tasks (local), its
stdout lines kept. Then each line is masked by ``Redactor`` with 0 and with 20 secrets (random
16-40 characters; masking forms: as is, JSON-escaped, base64), best of 5 passes, and compared
with the time ansible itself took per event in that run.

    python tests/bench/bench_redact.py
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / p) for p in ("schemas", "services/common", "services/executor")]

from playledger_executor.redact import Redactor  # noqa: E402

BIN = Path(sys.executable).parent
TASKS = 200


def real_lines(work: Path) -> tuple[list[bytes], float]:
    (work / "project").mkdir()
    tasks = "".join(
        f"    - name: task {n}\n      ansible.builtin.debug:\n        msg: task {n} output\n"
        for n in range(TASKS)
    )
    (work / "project" / "p.yml").write_text(f"- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}")
    (work / "inventory").mkdir()
    inventory = {
        "all": {"hosts": {"h": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    }
    (work / "inventory" / "hosts.json").write_text(json.dumps(inventory))
    kwargs = {
        "playbook": "p.yml",
        "inventory": "inventory/hosts.json",
        "ident": "b",
        "suppress_env_files": True,
    }
    feed = json.dumps({"kwargs": kwargs}) + '\n{"eof": true}\n'
    started = time.perf_counter()
    out = subprocess.run(
        [str(BIN / "ansible-runner"), "worker", "--private-data-dir", str(work)],
        input=feed.encode(),
        capture_output=True,
        check=True,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8"},
    ).stdout
    elapsed = time.perf_counter() - started
    lines = [line for line in out.splitlines() if line.startswith(b'{"') and b'"counter"' in line]
    return lines, elapsed


def best_of(redactor: Redactor, lines: list[bytes], passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        for line in lines:
            redactor.line(line)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines, run_s = real_lines(Path(tmp))
    values = [secrets.token_urlsafe(12 + n) for n in range(20)]
    none, twenty = best_of(Redactor([]), lines), best_of(Redactor(values), lines)
    per_event_run = run_s / len(lines)
    print(
        f"{len(lines)} real event lines ({sum(map(len, lines)) / len(lines):.0f} bytes avg), run {run_s:.2f} s"
    )
    print(f"mask, 0 secrets:  {none / len(lines) * 1e6:7.2f} µs/line")
    print(f"mask, 20 secrets: {twenty / len(lines) * 1e6:7.2f} µs/line")
    print(f"ansible per event: {per_event_run * 1e6:7.0f} µs")
    print(f"overhead with 20 secrets: {(twenty - none) / run_s:+.3%} of the run (target ≤ 1 %)")


if __name__ == "__main__":
    main()
