"""The request bodies of ``/api/v1/credentials``, typed so the OpenAPI document describes them.

A create body is a secret (``playledger_common.credentials``) and its ``name``; a replace body is
the secret alone. The routes decode the raw body themselves first (strictly, every error at its
JSON path, reserved names refused: ``controller.check_body``); these Structs declare its shape.
"""

from __future__ import annotations

from playledger_common.credentials import (
    AwsSecret,
    EnvSecret,
    GalaxyTokenSecret,
    GitSecret,
    HashicorpVaultSecret,
    HttpHeadersSecret,
    PasswordSecret,
    SshKeySecret,
    VarsSecret,
    VaultPasswordSecret,
)
from playledger_schemas.commands import CredentialName


class NewSshKey(SshKeySecret, frozen=True, kw_only=True, tag="ssh_key"):
    name: CredentialName


class NewPassword(PasswordSecret, frozen=True, kw_only=True, tag="password"):
    name: CredentialName


class NewVaultPassword(VaultPasswordSecret, frozen=True, kw_only=True, tag="vault_password"):
    name: CredentialName


class NewHashicorpVault(HashicorpVaultSecret, frozen=True, kw_only=True, tag="hashicorp_vault"):
    name: CredentialName


class NewVars(VarsSecret, frozen=True, kw_only=True, tag="vars"):
    name: CredentialName


class NewGit(GitSecret, frozen=True, kw_only=True, tag="git"):
    name: CredentialName


class NewEnv(EnvSecret, frozen=True, kw_only=True, tag="env"):
    name: CredentialName


class NewAws(AwsSecret, frozen=True, kw_only=True, tag="aws"):
    name: CredentialName


class NewGalaxyToken(GalaxyTokenSecret, frozen=True, kw_only=True, tag="galaxy_token"):
    name: CredentialName


class NewHttpHeaders(HttpHeadersSecret, frozen=True, kw_only=True, tag="http_headers"):
    name: CredentialName


NewCredential = (
    NewSshKey
    | NewPassword
    | NewVaultPassword
    | NewHashicorpVault
    | NewVars
    | NewGit
    | NewEnv
    | NewAws
    | NewGalaxyToken
    | NewHttpHeaders
)
"""``POST /api/v1/credentials``: one per secret type."""
