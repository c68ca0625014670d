"""Run a real ``ansible-runner worker`` (as the executor does) and keep its events and stdout artifact."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INVENTORY_VARS = """
[all:vars]
ansible_connection=local
ansible_python_interpreter={{ ansible_playbook_python }}

[all]
"""
HOSTS = ("localhost", "web1 ansible_host=127.0.0.1")


@dataclass
class RunnerRun:
    events: list[dict[str, Any]]
    stdout: str
    status: str


async def run_playbook(
    private_dir: Path, playbook: str, text: str, verbosity: int = 0, hosts: Sequence[str] = HOSTS
) -> RunnerRun:
    (private_dir / "project").mkdir(parents=True, exist_ok=True)
    (private_dir / "inventory").mkdir(exist_ok=True)
    (private_dir / "project" / playbook).write_text(text, encoding="utf-8")
    (private_dir / "inventory" / "hosts").write_text(
        INVENTORY_VARS + "\n".join(hosts) + "\n", encoding="utf-8"
    )
    bin_dir = Path(sys.executable).parent
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(private_dir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(private_dir / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(private_dir / "tmp"),
    }
    kwargs = {
        "ident": "run",
        "playbook": playbook,
        "verbosity": verbosity,
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": 0.5},
        "envvars": {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    }
    proc = await asyncio.create_subprocess_exec(
        str(bin_dir / "ansible-runner"),
        "worker",
        "--private-data-dir",
        str(private_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        limit=64 * 1024 * 1024,
        start_new_session=True,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps({"kwargs": kwargs}).encode() + b'\n{"eof": true}\n')
    await proc.stdin.drain()
    proc.stdin.close()
    events: list[dict[str, Any]] = []
    stdout, status = "", "unknown"
    while line := await proc.stdout.readline():
        message = json.loads(line)
        if "status" in message:
            status = message["status"]
        elif "zipfile" in message:
            size = message["zipfile"]
            raw = base64.b64decode(await proc.stdout.readexactly(4 * ((size + 2) // 3)))
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                stdout = archive.read("stdout").decode()
        elif "eof" in message:
            break
        elif message.get("event") != "keepalive":
            events.append(message)
    await proc.wait()
    return RunnerRun(events=events, stdout=stdout, status=status)
