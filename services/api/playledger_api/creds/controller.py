"""``/api/v1/credentials``: create, list, show (metadata only), replace (rotate the secret), delete,
and ``rotate-key`` (rewrap every data key with the current KEK)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody, PathParameter

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import problems
from playledger_api.creds.bodies import NewCredential
from playledger_api.creds.keyring import NOT_CONFIGURED
from playledger_api.creds.service import Credentials
from playledger_api.creds.store import CredentialInfo
from playledger_api.errors import (
    FieldProblem,
    InvalidRequestError,
    MalformedBodyError,
    NameTakenError,
    NotFoundError,
    SecretsKeyError,
)
from playledger_api.services import Services, ServicesDep
from playledger_common.credentials import JOB_SCOPED_PREFIX, AnySecret
from playledger_schemas.codec import field_error
from playledger_schemas.commands import CREDENTIAL_NAME_PATTERN
from playledger_schemas.limits import MAX_COMMAND_DEPTH, too_deep

NamePath = Annotated[
    str, PathParameter(pattern=CREDENTIAL_NAME_PATTERN, description="The credential's name.")
]
_NAME: Final = re.compile(CREDENTIAL_NAME_PATTERN)
_BODY: Final = "playledger_credential_body"


class CredentialList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CredentialInfo]


class Rotated(msgspec.Struct, frozen=True, kw_only=True):
    kek_id: str
    """The current key-encryption key: every data key is now wrapped by it."""
    rewrapped: int
    """Data keys rewrapped now (those already under the current key are left alone)."""


def _decode(payload: bytes, *, with_name: bool) -> tuple[str, AnySecret]:
    """The body as ``name`` (create only) and a typed secret; every error names its JSON path."""
    if why := too_deep(payload, MAX_COMMAND_DEPTH):
        raise InvalidRequestError.at(FieldProblem(path="$", message=why))
    try:
        raw = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise MalformedBodyError(
            str(exc), [FieldProblem(path="$", message=f"not valid JSON: {exc}")]
        ) from None
    if not isinstance(raw, dict):
        raise InvalidRequestError.at(FieldProblem(path="$", message="must be an object"))
    name = ""
    if with_name:
        value = raw.pop("name", None)
        if not isinstance(value, str) or not _NAME.match(value):
            message = "required" if value is None else f"must match {CREDENTIAL_NAME_PATTERN}"
            raise InvalidRequestError.at(FieldProblem(path="$.name", message=message))
        if value.startswith(JOB_SCOPED_PREFIX):
            message = f"names starting with {JOB_SCOPED_PREFIX!r} are reserved for the secrets of one job"
            raise InvalidRequestError.at(FieldProblem(path="$.name", message=message))
        name = value
    try:
        secret: AnySecret = msgspec.convert(raw, AnySecret, strict=True)
    except msgspec.ValidationError as exc:
        error = field_error(str(exc))
        raise InvalidRequestError.at(FieldProblem(path=error.path, message=error.message)) from None
    return name, secret


async def check_body(request: Request[Any, Any, Any]) -> None:
    """A ``before_request`` hook: decode the body strictly, before the framework's own lax decode."""
    request.state[_BODY] = _decode(await request.body(), with_name=request.method == "POST")


def _body(request: Request[Any, Any, Any]) -> tuple[str, AnySecret]:
    """The name (create only) and secret ``check_body`` decoded."""
    body: tuple[str, AnySecret] = request.state[_BODY]
    return body


def _credentials(services: Services) -> Credentials:
    if not services.credentials.keys.configured:
        raise SecretsKeyError(NOT_CONFIGURED)
    return services.credentials


class CredentialController(Controller):
    path = "/api/v1/credentials"
    tags = ["credentials"]  # noqa: RUF012 - Litestar's declared class attribute

    @post(
        "/",
        status_code=201,
        operation_id="createCredential",
        before_request=check_body,
        responses=problems(400, 401, 403, 409, 422, 503),
        **requires("credentials:write"),
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[NewCredential], services: ServicesDep
    ) -> CredentialInfo:
        """Store a credential: ``name``, ``type`` (``ssh_key``, ``password``, ``vault_password``), its
        secret fields and an optional ``description``. Encrypted before it is stored; never shown again."""
        name, secret = _body(request)
        info = await _credentials(services).create(name, secret)
        if info is None:
            msg = f"a credential named {name!r} exists (PUT /api/v1/credentials/{name} replaces it)"
            raise NameTakenError(msg)
        return info

    @get(
        "/", operation_id="listCredentials", responses=problems(401, 403, 503), **requires("credentials:read")
    )
    async def list_credentials(self, services: ServicesDep) -> CredentialList:
        """Every credential's metadata: name, type, fingerprint, dates. Never a secret."""
        return CredentialList(items=await _credentials(services).store.all())

    @get(
        "/{name:str}",
        operation_id="showCredential",
        responses=problems(401, 403, 404, 503),
        **requires("credentials:read"),
    )
    async def show(self, name: NamePath, services: ServicesDep) -> CredentialInfo:
        """One credential's metadata (never its secret)."""
        info = await _credentials(services).store.info(name)
        if info is None:
            msg = f"no credential named {name!r}"
            raise NotFoundError(msg)
        return info

    @put(
        "/{name:str}",
        operation_id="replaceCredential",
        before_request=check_body,
        responses=problems(400, 401, 403, 404, 422, 503),
        **requires("credentials:write"),
    )
    async def replace(
        self,
        name: NamePath,
        request: Request[Any, Any, Any],
        data: JSONBody[AnySecret],
        services: ServicesDep,
    ) -> CredentialInfo:
        """Replace a credential's secret (rotation): jobs that start from now on get the new one."""
        _, secret = _body(request)
        info = (
            None if name.startswith(JOB_SCOPED_PREFIX) else await _credentials(services).replace(name, secret)
        )
        if info is None:
            msg = f"no credential named {name!r}"
            raise NotFoundError(msg)
        return info

    @delete(
        "/{name:str}",
        operation_id="deleteCredential",
        responses=problems(401, 403, 404, 503),
        **requires("credentials:write"),
    )
    async def remove(self, name: NamePath, services: ServicesDep) -> None:
        """Delete a credential: its row and wrapped data key are gone; jobs naming it end as ``error``."""
        if name.startswith(JOB_SCOPED_PREFIX) or not await _credentials(services).store.delete(name):
            msg = f"no credential named {name!r}"
            raise NotFoundError(msg)

    @post(
        "/rotate-key",
        status_code=200,
        operation_id="rotateCredentialKey",
        responses=problems(401, 403, 503),
        **requires("admin"),
    )
    async def rotate_key(self, services: ServicesDep) -> Rotated:
        """Read the key-encryption keys again and rewrap every data key with the current (first) one.

        Without downtime: the secrets are not re-encrypted, each row changes in its own transaction,
        and the old key stays usable until the operator removes it from the key file."""
        kek_id, count = await _credentials(services).rotate()
        return Rotated(kek_id=kek_id, rewrapped=count)
