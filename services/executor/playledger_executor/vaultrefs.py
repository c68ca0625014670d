"""Values a job references in HashiCorp Vault / OpenBao (KV version 2), read when it starts.

The API seals the referenced ``hashicorp_vault`` credential (address, token or AppRole) to the
executor, never the value: playledger stores nothing read from Vault. The executor logs in
(``hvac``: the token, or an AppRole login for a short-lived token), reads ``vault_path`` and
takes ``vault_key``; the token and the AppRole secret id are masked in the job's output like
the values. Every failure names the role, the server and the path, never a value.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import hvac
import hvac.exceptions
import requests

from playledger_common.credentials import (
    HashicorpVaultSecret,
    JobSecrets,
    PasswordSecret,
    SealedSecrets,
    SshKeySecret,
    VaultPasswordSecret,
)
from playledger_executor.secrets import SecretsError
from playledger_schemas.commands import ROLE_TYPES, VaultReference

TIMEOUT_S: Final = 10


async def resolve(sealed: SealedSecrets, refs: dict[str, VaultReference]) -> JobSecrets:
    """The job's secrets with every Vault reference read (a thread each: ``hvac`` is blocking)."""
    resolved: dict[str, Any] = {}
    masked: list[str] = []
    for role in ROLE_TYPES:
        got = getattr(sealed, role)
        if isinstance(got, HashicorpVaultSecret):
            ref = refs.get(role)
            if ref is None:  # the spec and the API's answer disagree: never guess
                msg = f"credentials.{role}: the API sent a Vault credential for a stored reference"
                raise SecretsError(msg)
            masked += got.values()
            value = await asyncio.to_thread(read_value, got, ref, role)
            resolved[role] = _as_role(role, value)
        else:
            resolved[role] = got
    return JobSecrets(**resolved, inventory=sealed.inventory, also_masked=masked)


def _as_role(role: str, value: str) -> SshKeySecret | PasswordSecret | VaultPasswordSecret:
    if role == "ssh":
        return SshKeySecret(private_key=value if value.endswith("\n") else value + "\n")
    if role == "become_password":
        return PasswordSecret(password=value)
    return VaultPasswordSecret(password=value)


def read_value(credential: HashicorpVaultSecret, ref: VaultReference, role: str) -> str:
    where = f"credentials.{role}: Vault at {credential.address}"
    client = hvac.Client(url=credential.address, namespace=credential.namespace, timeout=TIMEOUT_S)
    mount, _, path = ref.vault_path.partition("/")
    try:
        if credential.token is not None:
            client.token = credential.token
        else:
            client.auth.approle.login(
                role_id=credential.role_id,
                secret_id=credential.secret_id,
                mount_point=credential.approle_mount,
            )
        answer = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=mount, raise_on_deleted_version=True
        )
    except (hvac.exceptions.Unauthorized, hvac.exceptions.Forbidden):
        login = (
            "its token" if credential.token is not None else f"the AppRole login ({credential.approle_mount})"
        )
        msg = f"{where} refused {login} for {ref.vault_path} (permission denied)"
        raise SecretsError(msg) from None
    except hvac.exceptions.InvalidPath:
        msg = f"{where} has no secret at {ref.vault_path} (KV version 2, mount {mount!r})"
        raise SecretsError(msg) from None
    except hvac.exceptions.VaultError as exc:
        msg = f"{where} answered an error reading {ref.vault_path} ({type(exc).__name__})"
        raise SecretsError(msg) from None
    except requests.exceptions.RequestException as exc:
        msg = f"{where} is unreachable ({type(exc).__name__})"
        raise SecretsError(msg) from None
    data = (answer.get("data") or {}).get("data") or {}
    value = data.get(ref.vault_key)
    if not isinstance(value, str) or not value:
        keys = ", ".join(sorted(map(str, data))) or "none"
        msg = f"{where}: {ref.vault_path} has no text value at key {ref.vault_key!r} (its keys: {keys})"
        raise SecretsError(msg)
    return value
