"""``/api/v1/inventories``: stored inventories (create, replace, show, list, history, delete).

They live in ``PLAYLEDGER_INVENTORIES``, whose stream keeps every revision: each change is a
message there, and ``GET …/{name}/history`` lists them. A job names one with
``{"type": "stored", "name": …}``; the executor's intake resolves it when it queues the job
(``playledger_executor.stored``), for a submit from either door alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, PathParameter

from playledger_api.auth.guard import requires
from playledger_api.controllers.params import problems, reject_unknown_query
from playledger_api.controllers.templates import nats_call
from playledger_api.door import decoded, strict_body
from playledger_api.errors import FieldProblem, InvalidRequestError, NameTakenError, NotFoundError
from playledger_api.services import Services, ServicesDep
from playledger_common.jobchecks import inventory_problems, unknown_inventory
from playledger_common.named_store import RevisionConflictError, Stored
from playledger_schemas.commands import STORED_NAME_PATTERN, ConcreteInventory
from playledger_schemas.inventories import StoredInventoryValue

InventoryNamePath = Annotated[
    str,
    PathParameter(
        pattern=STORED_NAME_PATTERN,
        max_length=64,
        description="1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit.",
    ),
]
_value: Final = msgspec.json.Decoder(StoredInventoryValue)
READ: Final = requires("jobs:read")
WRITE: Final = requires("inventories:write")


class InventoryLinks(msgspec.Struct, frozen=True, kw_only=True):
    self: str
    history: str


class InventoryItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored inventory at its current version."""

    name: str
    version: int
    """Its revision: every change makes a new one; a job records the version it resolved."""
    description: str
    inventory: ConcreteInventory
    links: InventoryLinks


class InventoryList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[InventoryItem]


class InventoryRevision(msgspec.Struct, frozen=True, kw_only=True):
    """One change: the value it wrote, or a delete (``deleted: true``, no value)."""

    version: int
    time: datetime | None
    deleted: bool
    description: str | None = None
    inventory: ConcreteInventory | None = None


class InventoryHistory(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    revisions: list[InventoryRevision]
    """Oldest first: every change the installation made to the name."""


def inventory_item(stored: Stored[StoredInventoryValue]) -> InventoryItem:
    base = f"/api/v1/inventories/{stored.name}"
    return InventoryItem(
        name=stored.name,
        version=stored.revision,
        description=stored.value.description,
        inventory=stored.value.inventory,
        links=InventoryLinks(self=base, history=f"{base}/history"),
    )


def _checked(request: Request[Any, Any, Any], services: Services) -> StoredInventoryValue:
    """The body, refused (422) where a submit with that inventory would be (URL policy, secrets)."""
    reject_unknown_query(request, frozenset())
    value = decoded(request, StoredInventoryValue)
    settings = services.settings
    found = inventory_problems(
        value.inventory, allow_file=settings.source_allow_file, allow_http=settings.source_allow_http
    )
    if found:
        raise InvalidRequestError.of([FieldProblem(path=f"$.{p}", message=m) for p, m in found])
    return value


class InventoryController(Controller):
    path = "/api/v1/inventories"
    tags = ["inventories"]  # noqa: RUF012 - Litestar's declared class attribute

    @get("/", operation_id="listInventories", responses=problems(400, 401, 403, 503), **READ)
    async def list_inventories(self, request: Request[Any, Any, Any], services: ServicesDep) -> InventoryList:
        """Every stored inventory, by name, at its current version."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.inventories.all()
        return InventoryList(items=[inventory_item(s) for s in stored])

    @get("/{name:str}", operation_id="getInventory", responses=problems(400, 401, 403, 404, 503), **READ)
    async def get_inventory(
        self, request: Request[Any, Any, Any], name: InventoryNamePath, services: ServicesDep
    ) -> InventoryItem:
        """One stored inventory at its current version."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            stored = await services.inventories.get(name)
        if stored is None:
            raise NotFoundError(unknown_inventory(name))
        return inventory_item(stored)

    @get(
        "/{name:str}/history",
        operation_id="getInventoryHistory",
        responses=problems(400, 401, 403, 404, 503),
        **READ,
    )
    async def history(
        self, request: Request[Any, Any, Any], name: InventoryNamePath, services: ServicesDep
    ) -> InventoryHistory:
        """Every version the name ever had, and its deletes (a deleted name keeps its history)."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            revisions = await services.inventories.history(name)
        if not revisions:
            raise NotFoundError(unknown_inventory(name))
        return InventoryHistory(
            name=name,
            revisions=[
                InventoryRevision(
                    version=r.revision,
                    time=r.time,
                    deleted=r.value is None,
                    description=None if r.value is None else r.value.description,
                    inventory=None if r.value is None else r.value.inventory,
                )
                for r in revisions
            ],
        )

    @post(
        "/{name:str}",
        status_code=201,
        operation_id="createInventory",
        before_request=strict_body(_value),
        responses=problems(400, 401, 403, 409, 413, 415, 422, 503),
        **WRITE,
    )
    async def create_inventory(
        self,
        request: Request[Any, Any, Any],
        name: InventoryNamePath,
        data: JSONBody[StoredInventoryValue],
        services: ServicesDep,
    ) -> InventoryItem:
        """Store a new inventory (201); 409 when the name has a value (``PUT`` replaces it)."""
        value = _checked(request, services)
        async with nats_call():
            try:
                revision = await services.inventories.put(name, value, expect=0)
            except RevisionConflictError:
                msg = f"a stored inventory named {name!r} exists (PUT /api/v1/inventories/{name} replaces it)"
                raise NameTakenError(msg) from None
        return inventory_item(Stored(name=name, value=value, revision=revision))

    @put(
        "/{name:str}",
        operation_id="putInventory",
        before_request=strict_body(_value),
        responses={
            201: ResponseSpec(data_container=InventoryItem, description="The inventory was created."),
            **problems(400, 401, 403, 413, 415, 422, 503),
        },
        **WRITE,
    )
    async def put_inventory(
        self,
        request: Request[Any, Any, Any],
        name: InventoryNamePath,
        data: JSONBody[StoredInventoryValue],
        services: ServicesDep,
    ) -> Response[InventoryItem]:
        """Create (201) or replace (200) a stored inventory: a new version; queued jobs keep theirs."""
        value = _checked(request, services)
        async with nats_call():
            existed = await services.inventories.get(name) is not None
            revision = await services.inventories.put(name, value)
        item = inventory_item(Stored(name=name, value=value, revision=revision))
        return Response(item, status_code=200 if existed else 201)

    @delete(
        "/{name:str}",
        operation_id="deleteInventory",
        responses=problems(400, 401, 403, 404, 503),
        **WRITE,
    )
    async def delete_inventory(
        self, request: Request[Any, Any, Any], name: InventoryNamePath, services: ServicesDep
    ) -> None:
        """Delete a stored inventory (204): jobs naming it are refused from now on; its history,
        and every job's record of the version it used, stay."""
        reject_unknown_query(request, frozenset())
        async with nats_call():
            deleted = await services.inventories.delete(name)
        if not deleted:
            raise NotFoundError(unknown_inventory(name))
