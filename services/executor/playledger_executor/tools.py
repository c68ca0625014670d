"""Running one of ansible's own tools (``ansible-inventory``, ``ansible-galaxy``) for a job:
the minimal environment of its private dir, its own session, a time limit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from playledger_executor.worker import minimal_env, prepare_home


@dataclass(frozen=True, slots=True)
class ToolResult:
    rc: int | None
    """``None``: stopped at the time limit."""
    stdout: bytes
    stderr: bytes


async def run_tool(
    tool: str,
    *args: str,
    private_dir: Path,
    cwd: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> ToolResult:
    await asyncio.to_thread(prepare_home, private_dir)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / tool),
        *args,
        cwd=str(cwd),
        env={**minimal_env(private_dir), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        return ToolResult(rc=None, stdout=b"", stderr=b"")
    return ToolResult(rc=process.returncode, stdout=out, stderr=err)


def last_error(output: bytes) -> str:
    """The last line that says ERROR (else the last line) of a tool's output, at most 500 chars."""
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line] or lines
    return (errors[-1] if errors else "no output")[:500]
