"""From a job spec to ansible-runner's kwargs and files (pure)."""

from __future__ import annotations

import re
import shlex
from typing import Any, Final

import msgspec

from playledger_common.credentials import JobSecrets
from playledger_executor.sources import Playbook
from playledger_schemas.commands import JobSpec

EXTRAVARS_FILE: Final = "env/extravars"
PEXPECT_TIMEOUT: Final = 0.5
"""How often runner looks at cancel/timeout while ansible is silent."""
PASSPHRASE_PROMPT: Final = r"/ssh_key_data:\s*?$"  # noqa: S105 - a prompt, not a password
"""``ssh-add`` asking ``Enter passphrase for <artifacts>/ssh_key_data:`` (runner loads ``ssh_key`` into
an ``ssh-agent``). Only the prompt's end: runner matches prompts within the last 100 characters of
output, and the FIFO's path alone is longer than that."""
BECOME_PROMPT: Final = r"BECOME password.*:\s*?$"
"""``ansible-playbook --ask-become-pass``."""


def vault_prompt(vault_id: str | None) -> str:
    """``--ask-vault-pass`` asks ``Vault password:``; ``--vault-id <id>@prompt`` asks ``Vault password (<id>):``."""
    if vault_id is None:
        return r"Vault password:\s*?$"
    return rf"Vault password \({re.escape(vault_id)}\):\s*?$"


SECRET_VARS_FILE: Final = "env/secret-vars.json"  # noqa: S105 - a file name
"""Where the job's secret variables are written (0600) for ``-e @file``; removed with the private dir."""


def secret_kwargs(secrets: JobSecrets, private_dir: str = ".") -> tuple[dict[str, Any], list[str]]:
    """runner kwargs and ``ansible-playbook`` flags that hand the job's secrets to ansible.

    Through ansible-runner's own mechanisms, over the worker's stdin: ``ssh_key`` (runner writes
    it into a FIFO that ``ssh-add`` reads once, into a per-run ``ssh-agent``) and ``passwords``
    (answers to prompts, typed by pexpect) and ``envvars`` (the ``cloud`` and ``env`` credentials,
    over stdin with ``suppress_env_files``: the environment of ansible, never a file, readable in
    ``/proc`` by its own user and root only). Secret variables are the one file: ``-e @file`` on a
    0600 file in the private dir, removed with it (swept after a kill -9). No secret lands in
    argv, nor in the environment unless a credential is meant to be one; the flags name only users, vault ids and that file.
    """
    passwords: dict[str, str] = {}
    flags: list[str] = []
    kwargs: dict[str, Any] = {}
    if secrets.ssh is not None:
        key = secrets.ssh.private_key
        kwargs["ssh_key"] = key if key.endswith("\n") else key + "\n"
        if secrets.ssh.passphrase is not None:
            passwords[PASSPHRASE_PROMPT] = secrets.ssh.passphrase
        if secrets.ssh.username is not None:
            flags += ["--user", secrets.ssh.username]
    if secrets.become_password is not None:
        passwords[BECOME_PROMPT] = secrets.become_password.password
        flags.append("--ask-become-pass")
        if secrets.become_password.username is not None:
            flags += ["--become-user", secrets.become_password.username]
    if secrets.vault_password is not None:
        vault_id = secrets.vault_password.vault_id
        passwords[vault_prompt(vault_id)] = secrets.vault_password.password
        flags += ["--vault-id", f"{vault_id}@prompt"] if vault_id else ["--ask-vault-pass"]
    if secrets.secret_vars is not None:
        flags += ["-e", shlex.quote(f"@{private_dir}/{SECRET_VARS_FILE}")]
    if env := secrets.environment():
        kwargs["envvars"] = env
    if passwords:
        kwargs["passwords"] = passwords
    return kwargs, flags


def resolve_options(spec: JobSpec, default_timeout: int) -> JobSpec:
    """The spec as the executor runs it: defaults filled in (recorded in ``job.started``)."""
    if spec.options.timeout is not None:
        return spec
    options = msgspec.structs.replace(spec.options, timeout=default_timeout)
    return msgspec.structs.replace(spec, options=options)


def runner_kwargs(
    spec: JobSpec,
    playbook: Playbook,
    inventory: str,
    ident: str,
    secrets: JobSecrets | None = None,
    private_dir: str = ".",
) -> dict[str, Any]:
    """kwargs for ``ansible_runner.interface.run`` via the worker protocol.

    Extra vars are not here: they go to ``env/extravars`` (a file), so they never appear
    on a command line. ``inventory`` is the prepared source, relative to the private dir.
    """
    options = spec.options
    flags = (("--check", options.check_mode), ("--diff", options.diff_mode), ("--become", options.become))
    cmdline = [flag for flag, on in flags if on]
    secret_parts: dict[str, Any] = {}
    if secrets is not None:
        secret_parts, secret_flags = secret_kwargs(secrets, private_dir)
        cmdline += secret_flags
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
    envvars |= secret_parts.pop("envvars", {})
    if envvars:
        kwargs["envvars"] = envvars
    kwargs.update(secret_parts)
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
