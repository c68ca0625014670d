"""The wire contract: round trips, JSON Schema validity, precise errors, no drift."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

import jsonschema
from playledger_schemas import export
from playledger_schemas.codec import ContractError, decode_command, decode_event, encode
from playledger_schemas.commands import (
    CancelJob,
    ChainParent,
    CollectionRoleSource,
    DynamicInventory,
    GitInventory,
    GitPlaybookSource,
    GitRoleSource,
    InlineInventory,
    InventoryGroup,
    JobCredentials,
    JobOptions,
    JobSpec,
    LaunchJob,
    LocalSource,
    Overrides,
    RetryJob,
    RetryPolicy,
    StoredInventory,
    SubmitJob,
    Submitter,
    TemplateRef,
    UrlInventory,
    VaultReference,
)
from playledger_schemas.events import (
    AttemptOutcome,
    CancelRequestedData,
    DeadData,
    FieldError,
    JobCanceled,
    JobCancelRequested,
    JobDead,
    JobError,
    JobEvent,
    JobFailed,
    JobQueued,
    JobRejected,
    JobRetryRequested,
    JobRetryScheduled,
    JobStarted,
    JobSucceeded,
    JobTimedOut,
    MissingObject,
    QueuedData,
    RejectedData,
    ResultData,
    RetryRequestedData,
    RetryScheduledData,
    RunnerEvent,
    RunnerEventData,
    StartedData,
    StoredObject,
    TruncatedField,
    event_kind,
    is_terminal,
)
from playledger_schemas.ids import is_valid_job_id, job_id_from_key

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPEC = JobSpec(
    priority="high",
    source=LocalSource(path="site.yml"),
    inventory=InlineInventory(
        hosts=["web1", "db1"],
        groups={"web": ["web1"], "all_db": InventoryGroup(hosts=["db1"], children=["web"], vars={"x": 1})},
        host_vars={"web1": {"ansible_connection": "local"}},
        vars={"env": "test"},
    ),
    extra_vars={"release": "1.2.3"},
    options=JobOptions(timeout=60, limit="web", tags=["deploy"], verbosity=2, check_mode=True, forks=5),
)
GIT_SPEC = JobSpec(
    source=GitPlaybookSource(repo="https://git.example/ops.git", branch="v1.2", path="deploy/site.yml"),
    inventory=GitInventory(repo="https://git.example/inv.git", path="prod"),
    options=JobOptions(become=True, gather_facts=False),
    credentials=JobCredentials(
        ssh=VaultReference(
            vault_path="secret/ansible/prod-ssh", vault_key="private_key", vault_credential="bao"
        ),
        become_password="prod-become",
        vault_password="prod-vault",
        secret_vars="job.job-2.secret_vars",
    ),
)
ROLE_SPEC = JobSpec(
    source=GitRoleSource(
        repo="git@git.example:roles.git", path="roles/nginx", role_vars={"port": 8080}, hosts="web"
    ),
    inventory=UrlInventory(url="https://cmdb.example/inv", format="ini", headers={"X-Team": "ops"}),
)
DYNAMIC_SPEC = JobSpec(
    source=LocalSource(path="site.yml"),
    inventory=DynamicInventory(plugin="ansible.builtin.generator", config={"layers": {"a": ["1"]}}),
    retry=RetryPolicy(max_attempts=3, backoff_s=1.5, backoff_max_s=60.0, on=["failed", "executor_lost"]),
)
COLLECTION_ROLE = CollectionRoleSource(
    collection="acme.tools",
    role="hello",
    version=">=6.0.0",
    galaxy_server="https://galaxy.example/",
    role_vars={"a": 1},
)
STORED_SPEC = JobSpec(source=COLLECTION_ROLE, inventory=StoredInventory(name="prod"))
PINNED_SPEC = JobSpec(
    source=COLLECTION_ROLE,
    inventory=StoredInventory(name="prod", version=7, resolved=InlineInventory(hosts=["web1"])),
)
COMMANDS = [
    SubmitJob(
        job_id="job-1", issued_at=NOW, spec=SPEC, submitted_by=Submitter(key_id="0123456789ab", name="ci")
    ),
    CancelJob(job_id="job-1", reason="changed my mind"),
    SubmitJob(job_id="job-2", spec=GIT_SPEC),
    SubmitJob(job_id="job-3", spec=ROLE_SPEC),
    SubmitJob(job_id="job-4", spec=DYNAMIC_SPEC),
    RetryJob(job_id="job-4", priority="high", requested_by=Submitter(key_id="0123456789ab", name="ci")),
    SubmitJob(job_id="job-5", spec=SPEC, template=TemplateRef(name="deploy", version=3)),
    SubmitJob(job_id="job-7", spec=STORED_SPEC),
    LaunchJob(
        job_id="job-6",
        template="deploy",
        overrides=Overrides(
            limit="web1", inventory=InlineInventory(hosts=["web2"]), extra_vars={"version": "2"}
        ),
    ),
    LaunchJob(
        job_id="job-6-on_success-0",
        template="notify",
        parent=ChainParent(job_id="job-6", link="on_success", index=0, depth=1),
    ),
]
RESULT = ResultData(
    runner_status="failed",
    rc=2,
    stats={"failures": {"web1": 1}},
    runner_events=7,
    last_seq=9,
    log=StoredObject(name="stdout", key="jobs/job-1/1/stdout", size=12, sha256="ab" * 32),
    artifacts=[StoredObject(name="rc", key="jobs/job-1/1/artifacts/rc", size=1, sha256="cd" * 32)],
    missing=[MissingObject(name="artifact_data.json", reason="log storage unavailable: S3 put failed: 503")],
)
ATTEMPTS = [
    AttemptOutcome(attempt=1, status="error", cause="executor_lost", reason="executor lost", ended_at=NOW),
    AttemptOutcome(attempt=2, status="failed", cause="failed", reason="rc 2", rc=2, ended_at=NOW),
]


def envelope(seq: int) -> dict[str, object]:
    return {"event_id": uuid.uuid4(), "job_id": "job-1", "attempt": 1, "seq": seq, "time": NOW}


EVENTS: list[JobEvent] = [
    JobQueued(
        **envelope(1),
        data=QueuedData(
            spec=SPEC,
            command_seq=4,
            submitted_by=Submitter(key_id="0123456789ab", name="ci"),
            template=TemplateRef(name="deploy", version=3),
            parent=ChainParent(job_id="job-0", link="on_failure", index=1, depth=2),
        ),
    ),  # type: ignore[arg-type]
    JobRejected(**envelope(1), data=RejectedData(reason="bad", errors=[FieldError(path="$.x", message="m")])),  # type: ignore[arg-type]
    JobStarted(**envelope(2), data=StartedData(executor_id="ex-1", spec=SPEC, playbook="site.yml")),  # type: ignore[arg-type]
    JobQueued(**envelope(1), data=QueuedData(spec=PINNED_SPEC, command_seq=9)),  # type: ignore[arg-type]
    JobCancelRequested(**envelope(3), data=CancelRequestedData(reason="stop")),  # type: ignore[arg-type]
    RunnerEvent(  # type: ignore[arg-type]
        **envelope(4),
        data=RunnerEventData(
            event="runner_on_ok",
            counter=1,
            uuid="u-1",
            stdout="ok: [web1]",
            event_data={"host": "web1", "res": {"changed": False}},
            truncated=[TruncatedField(field="stdout", original_size=10, kept_size=5)],
        ),
    ),
    *(
        cls(**envelope(10), data=RESULT)
        for cls in (JobSucceeded, JobFailed, JobCanceled, JobTimedOut, JobError)
    ),  # type: ignore[arg-type]
    JobRetryScheduled(  # type: ignore[arg-type]
        **envelope(11),
        data=RetryScheduledData(
            runner_status="failed",
            rc=2,
            reason="rc 2",
            status="failed",
            cause="failed",
            retry_at=NOW,
            next_attempt=3,
            max_attempts=3,
            attempts=ATTEMPTS,
        ),
    ),
    JobDead(  # type: ignore[arg-type]
        **envelope(12), data=DeadData(reason="dead after 2 attempts", max_attempts=2, attempts=ATTEMPTS)
    ),
    JobRetryRequested(  # type: ignore[arg-type]
        **envelope(13),
        data=RetryRequestedData(
            reason="retried by request",
            command_seq=8,
            requested_by=Submitter(key_id="0123456789ab", name="ci"),
        ),
    ),
    *(
        JobStarted(  # type: ignore[arg-type]
            **envelope(2),
            data=StartedData(
                executor_id="ex-1",
                spec=spec,
                playbook="deploy/site.yml",
                commit="a" * 40,
                playbook_sha256="b" * 64,
                inventory_commit="c" * 40,
                inventory_sha256="d" * 64,
                hosts=["web1", "web2"],
            ),
        )
        for spec in (GIT_SPEC, ROLE_SPEC, DYNAMIC_SPEC)
    ),
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_commands_round_trip_and_validate_against_the_exported_schema(command: SubmitJob | CancelJob) -> None:
    payload = encode(command)
    assert decode_command(payload) == command
    jsonschema.validate(json.loads(payload), export.documents()["commands.json"])


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_events_round_trip_and_validate_against_the_exported_schema(event: JobEvent) -> None:
    payload = encode(event)
    assert decode_event(payload) == event
    jsonschema.validate(json.loads(payload), export.documents()["events.json"])


def test_a_command_missing_a_field_is_rejected_naming_the_field() -> None:
    payload = json.loads(encode(COMMANDS[0]))
    del payload["spec"]["source"]
    with pytest.raises(ContractError) as caught:
        decode_command(json.dumps(payload).encode())
    assert caught.value.errors == [
        FieldError(path="$.spec", message="Object missing required field `source`")
    ]
    with pytest.raises(jsonschema.ValidationError, match="'source' is a required property"):
        jsonschema.validate(payload, export.documents()["commands.json"])


def test_a_command_with_a_wrong_type_is_rejected_naming_the_field() -> None:
    payload = json.loads(encode(COMMANDS[0]))
    payload["spec"]["options"]["forks"] = "five"
    with pytest.raises(ContractError) as caught:
        decode_command(json.dumps(payload).encode())
    assert caught.value.errors[0].path == "$.spec.options.forks"
    assert "Expected `int | null`, got `str`" in caught.value.reason


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b'{"type": "job.launch.v9", "job_id": "a"}'])
def test_garbage_is_a_contract_error_not_a_crash(payload: bytes) -> None:
    with pytest.raises(ContractError):
        decode_command(payload)


@pytest.mark.parametrize("job_id", ["a.b", "a*", "a>", "a b", "", "-x", "../x", "x" * 129, "a/b"])
def test_unsafe_job_ids_are_rejected(job_id: str) -> None:
    assert not is_valid_job_id(job_id)
    payload = json.loads(encode(COMMANDS[1]))
    payload["job_id"] = job_id
    with pytest.raises(ContractError) as caught:
        decode_command(json.dumps(payload).encode())
    assert caught.value.errors[0].path == "$.job_id"


def test_idempotency_keys_map_to_stable_safe_job_ids() -> None:
    assert job_id_from_key("deploy-42") == job_id_from_key("deploy-42")
    assert job_id_from_key("deploy-42") != job_id_from_key("deploy-43")
    assert is_valid_job_id(job_id_from_key("any key / with . dots"))


def test_unknown_fields_from_newer_writers_are_ignored_in_events_and_refused_in_commands() -> None:
    event = json.loads(encode(EVENTS[1]))
    event["added_in_v1_1"] = {"anything": True}
    assert decode_event(json.dumps(event).encode()) == EVENTS[1]
    command = json.loads(encode(COMMANDS[1]))
    command["added_in_v1_1"] = {"anything": True}
    with pytest.raises(ContractError, match=r"^\$\.added_in_v1_1: not supported by this executor$"):
        decode_command(json.dumps(command).encode())


def test_event_kinds_make_subject_tokens() -> None:
    kinds = {type(e).__name__: event_kind(e) for e in EVENTS}
    assert kinds["JobQueued"] == "job.queued"
    assert kinds["JobCancelRequested"] == "job.cancel_requested"
    assert kinds["RunnerEvent"] == "runner.runner_on_ok"
    assert kinds["JobTimedOut"] == "job.timed_out"
    assert [is_terminal(e) for e in EVENTS].count(True) == 7  # job.retry_scheduled is not terminal


def test_tags_are_versioned_strings_not_python_paths() -> None:
    documents = export.documents()
    for name in ("commands.json", "events.json"):  # the stored template and schedule are untagged
        mapping = documents[name]["discriminator"]["mapping"]
        assert mapping
        for tag in mapping:
            assert tag.count(".") == 2
            assert tag.rsplit(".", 1)[1].startswith("v")


def _structure(node: object) -> object:
    """The schema with every ``description`` whitespace-folded: msgspec releases differ in
    how they render docstrings (0.22 vs 0.23), which is not a change of the contract."""
    if isinstance(node, dict):
        return {
            key: " ".join(value.split())
            if key == "description" and isinstance(value, str)
            else _structure(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_structure(item) for item in node]
    return node


def test_committed_json_schema_matches_the_structs() -> None:
    for name, document in export.documents().items():
        committed = json.loads((export.SCHEMA_DIR / name).read_text(encoding="utf-8"))
        assert _structure(committed) == _structure(document), (
            f"{name} drifted: run `playledger schemas export`"
        )


def test_msgspec_structs_are_frozen() -> None:
    with pytest.raises(AttributeError):
        COMMANDS[1].job_id = "other"  # type: ignore[misc]
