"""Pure rules for turning an HTTP submit body into a ``SubmitJob`` command (no IO)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, TypeVar

import msgspec

from playledger_api.allfields import every_problem
from playledger_api.errors import FieldProblem, InvalidRequestError, MalformedBodyError
from playledger_api.models import (
    InlineInventoryBody,
    InlinePasswordBody,
    InlineSshKeyBody,
    InlineVaultPasswordBody,
    InventoryGroupBody,
    LocalSourceBody,
    SubmitJobBody,
)
from playledger_common.credentials import (
    AnySecret,
    PasswordSecret,
    SshKeySecret,
    VarsSecret,
    VaultPasswordSecret,
    job_scoped_name,
)
from playledger_common.jobchecks import run_at_problem, spec_problems
from playledger_common.paths import lexical_problem
from playledger_schemas.codec import field_error
from playledger_schemas.commands import (
    ROLE_TYPES,
    InlineInventory,
    Inventory,
    InventoryGroup,
    JobCredentials,
    JobOptions,
    JobSpec,
    LocalSource,
    SubmitJob,
    Submitter,
)
from playledger_schemas.ids import is_valid_job_id, job_id_from_key, new_job_id

_strict_decoder: Final = msgspec.json.Decoder(SubmitJobBody)
MAX_IDEMPOTENCY_KEY: Final = 255
B = TypeVar("B")


def decode_body(payload: bytes) -> SubmitJobBody:
    """Strict decode (``"5"`` is not an int): the HTTP framework's own decoding is lax."""
    return decode_strict(payload, _strict_decoder)


def decode_strict(payload: bytes, decoder: msgspec.json.Decoder[B]) -> B:
    """Decode a request body strictly; a bad field is a 422 naming its JSON path (every bad field
    when the decoder's type is a Struct)."""
    try:
        return decoder.decode(payload)
    except msgspec.ValidationError as exc:
        first = _field_problem(str(exc))
        declared = decoder.type
        model = (
            declared if isinstance(declared, type) and issubclass(declared, msgspec.Struct) else SubmitJobBody
        )
        raise InvalidRequestError.of(every_problem(model, msgspec.json.decode(payload), first)) from None
    except msgspec.DecodeError as exc:
        raise MalformedBodyError(
            str(exc), [FieldProblem(path="$", message=f"not valid JSON: {exc}")]
        ) from None


def _field_problem(text: str) -> FieldProblem:
    """The contract's reading of a msgspec error, so an unknown field reads the same on both doors."""
    error = field_error(text)
    return FieldProblem(path=error.path, message=error.message)


def choose_job_id(client_id: str | None, idempotency_key: str | None) -> str:
    """The client's id, else one derived from ``Idempotency-Key``, else a fresh one."""
    if client_id is not None:
        return client_id
    if idempotency_key is not None:
        if (
            not idempotency_key
            or len(idempotency_key) > MAX_IDEMPOTENCY_KEY
            or not idempotency_key.isprintable()
        ):
            problem = FieldProblem(
                path="header.Idempotency-Key", message=f"must be 1-{MAX_IDEMPOTENCY_KEY} printable characters"
            )
            raise InvalidRequestError.at(problem)
        return job_id_from_key(idempotency_key)
    return new_job_id()


def build_command(
    body: SubmitJobBody,
    job_id: str,
    now: datetime,
    submitted_by: Submitter | None = None,
    *,
    allow_file: bool = False,
    allow_http: bool = False,
    run_at_horizon_s: int = 7 * 24 * 3600,
    allow_http_callback: bool = False,
) -> SubmitJob:
    """Validate what the schema alone cannot and build the command; raises ``InvalidRequestError``.

    ``allow_file`` / ``allow_http``: the operator's repository URL policy (the executor applies
    the same rule, in the same words, to commands published on NATS)."""
    problems: list[FieldProblem] = []
    if body.secret_vars and body.credentials.secret_vars is not None:
        problems.append(
            FieldProblem(
                path="$.secret_vars", message="give secret_vars or credentials.secret_vars, not both"
            )
        )
    if isinstance(body.source, LocalSourceBody):
        why = lexical_problem(body.source.path)
        if why is not None:
            problems.append(FieldProblem(path="$.source.path", message=why))
    if not is_valid_job_id(job_id):
        problems.append(FieldProblem(path="$.id", message="not a safe job id"))
    if why := run_at_problem(body.run_at, now, run_at_horizon_s):
        problems.append(FieldProblem(path="$.run_at", message=why))
    if problems:
        raise InvalidRequestError.of(problems)
    options = body.options
    spec = JobSpec(
        priority=body.priority,
        source=LocalSource(path=body.source.path)
        if isinstance(body.source, LocalSourceBody)
        else body.source,
        inventory=_inventory(body.inventory),
        extra_vars=body.extra_vars,
        credentials=split_credentials(body, job_id)[0],
        options=JobOptions(
            timeout=options.timeout,
            limit=options.limit,
            tags=options.tags,
            skip_tags=options.skip_tags,
            verbosity=options.verbosity,
            check_mode=options.check_mode,
            diff_mode=options.diff_mode,
            forks=options.forks,
            become=options.become,
            gather_facts=options.gather_facts,
            callback_url=options.callback_url,
            callback_events=options.callback_events,
        ),
        retry=body.retry,
    )
    found = spec_problems(
        spec, allow_file=allow_file, allow_http=allow_http, allow_http_callback=allow_http_callback
    )
    if found:
        raise InvalidRequestError.of(
            [FieldProblem(path=f"$.{path}", message=message) for path, message in found]
        )
    return SubmitJob(
        job_id=job_id,
        issued_at=now,
        spec=spec,
        submitted_by=submitted_by,
        run_at=body.run_at,
        depends_on=body.depends_on,
        depends_policy=body.depends_policy,
    )


def split_credentials(body: SubmitJobBody, job_id: str) -> tuple[JobCredentials, dict[str, AnySecret]]:
    """The command's credentials (names and Vault references only) and the request's inline
    secrets, by role, which the API stores as credentials of this job under the names used here."""
    given = body.credentials
    inline: dict[str, AnySecret] = {}
    match given.ssh:
        case InlineSshKeyBody(private_key=key, passphrase=passphrase, username=user):
            inline["ssh"] = SshKeySecret(private_key=key, passphrase=passphrase, username=user)
    match given.become_password:
        case InlinePasswordBody(password=password, username=user):
            inline["become_password"] = PasswordSecret(password=password, username=user)
    match given.vault_password:
        case InlineVaultPasswordBody(password=password, vault_id=vault_id):
            inline["vault_password"] = VaultPasswordSecret(password=password, vault_id=vault_id)
    if body.secret_vars:
        inline["secret_vars"] = VarsSecret(vars=body.secret_vars)
    refs = {role: getattr(given, role) for role in ROLE_TYPES}
    refs.update({role: job_scoped_name(job_id, role) for role in inline})
    return JobCredentials(**refs), inline


def _inventory(body: InlineInventoryBody | Inventory) -> Inventory:
    if isinstance(body, InlineInventoryBody):
        return InlineInventory(
            hosts=body.hosts,
            groups={name: _group(group) for name, group in body.groups.items()},
            host_vars=body.host_vars,
            vars=body.vars,
        )
    return body


def _group(group: list[str] | InventoryGroupBody) -> list[str] | InventoryGroup:
    if isinstance(group, InventoryGroupBody):
        return InventoryGroup(hosts=group.hosts, children=group.children, vars=group.vars)
    return group
