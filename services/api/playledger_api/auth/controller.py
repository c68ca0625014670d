"""``/api/v1/keys``: create (the key is shown once), list, revoke. Needs the ``admin`` scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import PathParameter
from msgspec import Meta

from playledger_api.auth.guard import any_key, current_key, requires
from playledger_api.auth.keys import (
    KEY_ID_PATTERN,
    KeyName,
    KeyRecord,
    PlaybookPattern,
    RepoPattern,
    Scope,
    new_key,
)
from playledger_api.controllers.params import problems
from playledger_api.errors import FieldProblem, InvalidRequestError, NotFoundError
from playledger_api.services import ServicesDep
from playledger_api.submission import decode_strict

KeyIdPath = Annotated[str, PathParameter(pattern=KEY_ID_PATTERN, description="The key's public id.")]


class CreateKeyBody(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: KeyName
    scopes: Annotated[list[Scope], Meta(min_length=1)]
    owner: KeyName | None = None
    """Who the key belongs to; default: the owner of the key that creates it."""
    playbooks: list[PlaybookPattern] = msgspec.field(default_factory=list)
    """Glob patterns (``deploy/*.yml``; ``*`` also crosses ``/``) the key may submit; empty: any."""
    repos: list[RepoPattern] = msgspec.field(default_factory=list)
    """Glob patterns of git repository URLs (``https://git.example.com/ci/*``) every repository of a
    job it submits or launches (source and ``git`` inventory) must match; empty: any."""
    expires_at: datetime | None = None


_create_decoder = msgspec.json.Decoder(CreateKeyBody)


class CreatedKey(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    """The whole key: shown only now, stored only as a keyed hash."""
    record: KeyRecord


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[KeyRecord]


class KeyController(Controller):
    path = "/api/v1/keys"
    tags = ["keys"]  # noqa: RUF012 - Litestar's declared class attribute

    @post(
        "/",
        status_code=201,
        operation_id="createKey",
        responses=problems(400, 401, 403, 422, 503),
        **requires("admin"),
    )
    async def create(self, request: Request[Any, Any, Any], services: ServicesDep) -> CreatedKey:
        """Create an API key. The response carries the key once; it cannot be shown again."""
        body = decode_strict(await request.body(), _create_decoder)
        if body.expires_at is not None:
            if body.expires_at.tzinfo is None:
                raise InvalidRequestError.at(FieldProblem(path="$.expires_at", message="needs a time zone"))
            if body.expires_at <= datetime.now(UTC):
                raise InvalidRequestError.at(
                    FieldProblem(path="$.expires_at", message="must be in the future")
                )
        creator = current_key(request)
        made = new_key()
        authenticator = services.gate.authenticator
        assert authenticator is not None  # noqa: S101 - the keys routes are not served with auth off
        record = await authenticator.store.insert(
            key_id=made.key_id,
            hash_=authenticator.hash(made.key),
            name=body.name,
            owner=body.owner or (creator.owner if creator is not None else body.name),
            scopes=sorted(set(body.scopes)),
            playbooks=body.playbooks,
            repos=body.repos,
            expires_at=body.expires_at,
        )
        return CreatedKey(key=made.key, record=record)

    @get("/current", operation_id="currentKey", responses=problems(401, 503), **any_key())
    async def current(self, request: Request[Any, Any, Any]) -> KeyRecord:
        """The key this request was made with: its name, owner and scopes (for a client, such as the
        dashboard, to offer only what the key may do). Never the secret."""
        record = current_key(request)
        assert record is not None  # noqa: S101 - the keys routes are only served with auth on
        return record

    @get("/", operation_id="listKeys", responses=problems(401, 403, 503), **requires("admin"))
    async def list_keys(self, services: ServicesDep) -> KeyList:
        """Every key, revoked ones included; never a secret or a hash."""
        assert services.gate.authenticator is not None  # noqa: S101 - idem
        return KeyList(items=await services.gate.authenticator.store.list())

    @delete(
        "/{key_id:str}",
        status_code=200,
        operation_id="revokeKey",
        responses=problems(401, 403, 404, 503),
        **requires("admin"),
    )
    async def revoke(self, key_id: KeyIdPath, services: ServicesDep) -> KeyRecord:
        """Revoke a key: from now on it is refused (by other API processes within ``auth_cache_s``)."""
        authenticator = services.gate.authenticator
        assert authenticator is not None  # noqa: S101 - idem
        record = await authenticator.store.revoke(key_id, datetime.now(UTC))
        if record is None:
            msg = f"no API key with id {key_id!r}"
            raise NotFoundError(msg)
        authenticator.forget(key_id)
        return record
