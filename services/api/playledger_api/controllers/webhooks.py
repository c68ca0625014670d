"""``/api/v1/webhooks``: organisation-wide webhook subscriptions (``admin``). The notifier sends
every trigger event whose subject matches one of a subscription's patterns to its URL, signed
with the subscription's own secret (shown once, at creation)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import PathParameter

from playledger_api.auth.guard import current_key, requires
from playledger_api.controllers.params import problems
from playledger_api.errors import FieldProblem, InvalidRequestError, NotFoundError
from playledger_api.services import ServicesDep
from playledger_api.submission import decode_strict
from playledger_common.jobchecks import webhook_url_problem
from playledger_common.subscriptions import (
    SUBSCRIPTION_ID_PATTERN,
    NewSubscription,
    Subscription,
    new_secret,
)

SubscriptionIdPath = Annotated[
    str, PathParameter(pattern=SUBSCRIPTION_ID_PATTERN, description="The subscription's id.")
]
_decoder = msgspec.json.Decoder(NewSubscription)


class CreatedSubscription(msgspec.Struct, frozen=True, kw_only=True):
    secret: str
    """The Standard Webhooks secret receivers verify with: shown only now."""
    subscription: Subscription


class SubscriptionList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[Subscription]


class WebhookController(Controller):
    path = "/api/v1/webhooks"
    tags = ["webhooks"]  # noqa: RUF012 - Litestar's declared class attribute

    @post(
        "/",
        status_code=201,
        operation_id="createWebhookSubscription",
        responses=problems(400, 401, 403, 422, 503),
        **requires("admin"),
    )
    async def create(self, request: Request[Any, Any, Any], services: ServicesDep) -> CreatedSubscription:
        """Subscribe a URL to events (NATS subject patterns); the response carries its secret once."""
        body = decode_strict(await request.body(), _decoder)
        if why := webhook_url_problem(body.url, allow_http=services.settings.webhook_allow_http):
            raise InvalidRequestError.at(FieldProblem(path="$.url", message=why))
        key = current_key(request)
        secret = new_secret()
        made = await services.subscriptions.insert(body, secret, None if key is None else key.id)
        return CreatedSubscription(secret=secret, subscription=made)

    @get("/", operation_id="listWebhookSubscriptions", responses=problems(401, 403, 503), **requires("admin"))
    async def list_subscriptions(self, services: ServicesDep) -> SubscriptionList:
        """Every subscription; never a secret."""
        return SubscriptionList(items=await services.subscriptions.all())

    @delete(
        "/{subscription_id:str}",
        status_code=200,
        operation_id="deleteWebhookSubscription",
        responses=problems(401, 403, 404, 503),
        **requires("admin"),
    )
    async def remove(self, subscription_id: SubscriptionIdPath, services: ServicesDep) -> Subscription:
        """Stop sending to a subscription (deliveries already taken finish)."""
        gone = await services.subscriptions.delete(subscription_id)
        if gone is None:
            msg = f"no webhook subscription with id {subscription_id!r}"
            raise NotFoundError(msg)
        return gone
