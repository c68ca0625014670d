"""From a job spec to ansible-runner's kwargs and files (pure)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from playledger_executor.sources import Playbook
from playledger_schemas.commands import JobSpec

EXTRAVARS_FILE: Final = "env/extravars"
PEXPECT_TIMEOUT: Final = 0.5
"""How often runner looks at cancel/timeout while ansible is silent."""


def resolve_options(spec: JobSpec, default_timeout: int) -> JobSpec:
    """The spec as the executor runs it: defaults filled in (recorded in ``job.started``)."""
    if spec.options.timeout is not None:
        return spec
    options = msgspec.structs.replace(spec.options, timeout=default_timeout)
    return msgspec.structs.replace(spec, options=options)


def runner_kwargs(spec: JobSpec, playbook: Playbook, inventory: str, ident: str) -> dict[str, Any]:
    """kwargs for ``ansible_runner.interface.run`` via the worker protocol.

    Extra vars are not here: they go to ``env/extravars`` (a file), so they never appear
    on a command line. ``inventory`` is the prepared source, relative to the private dir.
    """
    options = spec.options
    flags = (("--check", options.check_mode), ("--diff", options.diff_mode), ("--become", options.become))
    cmdline = [flag for flag, on in flags if on]
    envvars = dict(playbook.envvars)
    if not options.gather_facts:
        envvars["ANSIBLE_GATHERING"] = "explicit"
    kwargs: dict[str, Any] = {
        "ident": ident,
        "playbook": playbook.playbook,
        "project_dir": str(playbook.project_dir),
        "inventory": inventory,
        "suppress_env_files": True,
        "settings": {"pexpect_timeout": PEXPECT_TIMEOUT, "suppress_ansible_output": True},
    }
    if envvars:
        kwargs["envvars"] = envvars
    optional: dict[str, Any] = {
        "limit": options.limit,
        "tags": ",".join(options.tags) or None,
        "skip_tags": ",".join(options.skip_tags) or None,
        "verbosity": options.verbosity or None,
        "forks": options.forks,
        "cmdline": " ".join(cmdline) or None,
    }
    kwargs.update({k: v for k, v in optional.items() if v is not None})
    return kwargs
