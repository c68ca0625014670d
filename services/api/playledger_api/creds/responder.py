"""The API's answer to ``playledger.secrets.<job_id>``: the secrets of a job, sealed to the executor
that has just started it, and to no one else (see the package docstring for the threat model).

Checks, in order: the request decodes; the subject's job is the request's; the job's last event
in the events stream is ``job.started`` at that attempt by that executor; that executor's lease is
alive; the job's spec names credentials, and each exists with the right type.

A ``checkout`` request (the job is being prepared: its repositories are fetched and its hosts
listed before ``job.started`` records them) gets only what that needs
(``credentials.checkout_references``: ``git``, ``galaxy`` for a git or collection source, a url
inventory's credential, and for a dynamic inventory ``cloud`` and ``env``), and only while no
attempt at or after the asked one has started and the job is not complete. Any failure is an
``error`` reply a user can act on (it names the credential, never a value); the executor then
ends the job as ``error`` with it.
"""

from __future__ import annotations

import logging
from typing import Final

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from playledger_api.creds.service import Credentials
from playledger_api.errors import ApiError
from playledger_common.credentials import checkout_references, job_references
from playledger_common.sealing import SecretsReply, SecretsRequest, job_aad, seal
from playledger_schemas.codec import ContractError, decode_event, encode
from playledger_schemas.events import JobCancelRequested, JobEvent, JobQueued, JobStarted, is_terminal
from playledger_schemas.subjects import (
    EVENTS_STREAM,
    LEASES_STREAM,
    SECRETS_REQUESTS,
    job_events_filter,
    lease_subject,
    secrets_subject,
)

log: Final = logging.getLogger(__name__)
QUEUE: Final = "playledger-api-secrets"
_request_decoder: Final = msgspec.json.Decoder(SecretsRequest)


class SecretsResponder:
    def __init__(self, nc: Client, js: JetStreamContext, credentials: Credentials) -> None:
        self.nc = nc
        self.js = js
        self.credentials = credentials
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self.nc.subscribe(SECRETS_REQUESTS, queue=QUEUE, cb=self._on_request)

    async def stop(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except nats.errors.Error:
                log.debug("secrets subscription already gone")
            self._subscription = None

    async def _on_request(self, msg: Msg) -> None:
        if not msg.reply:
            return
        try:
            reply = await self.answer(msg.subject, msg.data)
        except Exception:
            log.exception("secrets request on %s failed", msg.subject)
            reply = SecretsReply(error="the API could not answer the secrets request (see its log)")
        try:
            await msg.respond(encode(reply))
        except nats.errors.Error as exc:
            log.warning("could not answer the secrets request on %s: %r", msg.subject, exc)

    async def answer(self, subject: str, data: bytes) -> SecretsReply:
        try:
            request = _request_decoder.decode(data)
        except msgspec.DecodeError:
            return SecretsReply(error="malformed secrets request")
        if subject != secrets_subject(request.job_id):
            return SecretsReply(error="the request's job is not its subject's")
        if request.checkout:
            queued, why = await self._preparing(request)
            spec = queued.data.spec if queued is not None else None
            refs = checkout_references(spec) if spec is not None else {}
        else:
            started = await self._started(request.job_id)
            why = await self._refusal(request, started)
            refs = job_references(started.data.spec) if started is not None else {}
        if why is None:
            try:
                secrets = await self.credentials.job_secrets(refs) if refs else "the job names no credentials"
            except ApiError as exc:  # no usable KEK: the operator's problem, named in the API's log too
                secrets = exc.detail
            if not isinstance(secrets, str):
                sealed = seal(encode(secrets), request.public_key, job_aad(request.job_id, request.attempt))
                log.info("secrets of job %s sealed to executor %s", request.job_id, request.executor_id)
                return SecretsReply(sealed=sealed)
            why = secrets
        log.warning("secrets of job %s refused to %s: %s", request.job_id, request.executor_id, why)
        return SecretsReply(error=why)

    async def _refusal(self, request: SecretsRequest, started: JobStarted | None) -> str | None:
        if (
            started is None
            or started.attempt != request.attempt
            or started.data.executor_id != request.executor_id
        ):
            return (
                f"job {request.job_id!r} attempt {request.attempt} is not running on {request.executor_id!r}"
            )
        return await self._lease_refusal(request)

    async def _lease_refusal(self, request: SecretsRequest) -> str | None:
        try:
            await self.js.get_last_msg(LEASES_STREAM, lease_subject(request.executor_id), direct=True)
        except NotFoundError:
            return f"executor {request.executor_id!r} holds no live lease"
        return None

    async def _preparing(self, request: SecretsRequest) -> tuple[JobQueued | None, str | None]:
        """The job's ``job.queued`` if it may be prepared for this attempt now, else why not."""
        last = await self._last(request.job_id)
        queued = await self._first(request.job_id)
        if last is None or not isinstance(queued, JobQueued):
            return None, f"job {request.job_id!r} is not queued"
        if is_terminal(last):
            return None, f"job {request.job_id!r} is complete"
        if not isinstance(last, JobQueued | JobCancelRequested) and last.attempt >= request.attempt:
            return None, f"job {request.job_id!r} attempt {last.attempt} has started: none is being prepared"
        return queued, await self._lease_refusal(request)

    async def _first(self, job_id: str) -> JobEvent | None:
        try:
            raw = await self.js.get_msg(EVENTS_STREAM, seq=1, next=True, subject=job_events_filter(job_id))
        except NotFoundError:
            return None
        return _decoded(raw.data)

    async def _last(self, job_id: str) -> JobEvent | None:
        try:
            raw = await self.js.get_last_msg(EVENTS_STREAM, job_events_filter(job_id), direct=True)
        except NotFoundError:
            return None
        return _decoded(raw.data)

    async def _started(self, job_id: str) -> JobStarted | None:
        event = await self._last(job_id)
        return event if isinstance(event, JobStarted) else None


def _decoded(data: bytes | None) -> JobEvent | None:
    try:
        return decode_event(data or b"")
    except ContractError:
        return None
