"""The secrets of the job being run, asked of the API on NATS and opened with a one-time key.

Asked after ``job.started`` is stored: the API checks that this executor started this attempt
(see ``playledger_api.creds`` for the threat model). The one exception, ``checkout``, is asked
while the job is prepared, before it starts, and gets only what preparing needs
(``credentials.checkout_references``: the ``git`` and ``galaxy`` credentials, a url inventory's,
and a dynamic inventory's ``cloud`` and ``env``). The secrets stay in this process's
memory; they reach ansible-runner through the worker's stdin, never a file, argv or environment.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import msgspec
import nats.errors
from cryptography.exceptions import InvalidTag
from nats.aio.client import Client

from playledger_common.credentials import SealedSecrets
from playledger_common.sealing import Recipient, SecretsReply, SecretsRequest, job_aad
from playledger_executor.errors import ExecutorError
from playledger_schemas.codec import encode
from playledger_schemas.subjects import secrets_subject

log: Final = logging.getLogger(__name__)
TRY_S: Final = 5.0
TOTAL_S: Final = 30.0
"""How long the executor keeps asking while no API answers (restarting, NATS reconnecting)."""
_reply_decoder: Final = msgspec.json.Decoder(SecretsReply)
_secrets_decoder: Final = msgspec.json.Decoder(SealedSecrets)


class SecretsError(ExecutorError):
    """The job's secrets could not be had: the reason names the credential, never a value."""


async def fetch_secrets(
    nc: Client, job_id: str, attempt: int, executor_id: str, *, checkout: bool = False
) -> SealedSecrets:
    recipient = Recipient()
    request = SecretsRequest(
        job_id=job_id,
        attempt=attempt,
        executor_id=executor_id,
        public_key=recipient.public_key,
        checkout=checkout,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TOTAL_S
    msg = None
    while msg is None:
        try:
            msg = await nc.request(secrets_subject(job_id), encode(request), timeout=TRY_S)
        except (
            nats.errors.TimeoutError,
            nats.errors.NoRespondersError,
            nats.errors.ConnectionClosedError,
        ) as exc:
            if loop.time() >= deadline:
                reason = (
                    f"no answer from the API to the request for the job's credentials ({type(exc).__name__})"
                )
                raise SecretsError(reason) from None
            log.info("job %s: no answer to its secrets request yet (%r); asking again", job_id, exc)
            await asyncio.sleep(0.5)
    try:
        reply = _reply_decoder.decode(msg.data)
    except msgspec.DecodeError:
        reason = "the API's answer to the request for the job's credentials is unreadable"
        raise SecretsError(reason) from None
    if reply.error is not None or reply.sealed is None:
        raise SecretsError(reply.error or "the API sent no credentials")
    try:
        return _secrets_decoder.decode(recipient.open(reply.sealed, job_aad(job_id, attempt)))
    except (InvalidTag, ValueError, msgspec.DecodeError):
        reason = "the job's credentials did not open with this executor's key"
        raise SecretsError(reason) from None
