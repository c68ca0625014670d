"""Pure rules of the API: no IO."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from playledger_api.controllers.params import resume_point
from playledger_api.cursor import JobCursor, decode_cursor, encode_cursor
from playledger_api.errors import BadRequestError, InvalidRequestError, _litestar_path
from playledger_api.models import SubmitJobBody
from playledger_api.sse import end_message, entry, sse_event_name
from playledger_api.submission import build_command, choose_job_id, decode_body
from playledger_common.logtext import log_piece
from playledger_common.paths import lexical_problem
from playledger_schemas.commands import InventoryGroup
from playledger_schemas.events import TERMINAL_KINDS
from playledger_schemas.ids import is_valid_job_id, job_id_from_key
from playledger_schemas.subjects import kind_of

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, tzinfo=UTC)
BODY = b'{"source": {"type": "local", "path": "site.yml"}, "inventory": {"type": "inline", "hosts": ["h1"]}}'


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("site.yml", None),
        ("deploy/web/site.yaml", None),
        ("./site.yml", None),
        ("/etc/site.yml", "must be relative to the projects directory, not absolute"),
        ("../site.yml", "must not contain '..'"),
        ("a/../../site.yml", "must not contain '..'"),
        ("a\\..\\site.yml", "must use '/' as separator"),
    ],
)
def test_playbook_path_confinement(path: str, problem: str | None) -> None:
    assert lexical_problem(path) == problem


def test_job_id_choice() -> None:
    assert choose_job_id("mine", "key") == "mine"
    assert choose_job_id(None, "key") == job_id_from_key("key") == choose_job_id(None, "key")
    fresh = {choose_job_id(None, None) for _ in range(3)}
    assert len(fresh) == 3
    assert all(is_valid_job_id(i) for i in fresh | {job_id_from_key("x" * 255)})
    with pytest.raises(InvalidRequestError) as bad:
        choose_job_id(None, "line\nbreak")
    assert bad.value.errors[0].path == "header.Idempotency-Key"


def test_decode_is_strict_and_names_the_path() -> None:
    assert decode_body(BODY).source.path == "site.yml"  # type: ignore[union-attr]
    with pytest.raises(InvalidRequestError) as lax:
        decode_body(BODY[:-1] + b', "options": {"forks": "5"}}')
    assert [(e.path, e.message) for e in lax.value.errors] == [
        ("$.options.forks", "Expected `int | null`, got `str`")
    ]
    with pytest.raises(InvalidRequestError) as broken:
        decode_body(b"{")
    assert broken.value.errors[0].path == "$"


def test_build_command_maps_the_body_onto_the_contract() -> None:
    body = msgspec.json.decode(
        b'{"priority": "low", "source": {"type": "local", "path": "a.yml"}, "inventory": {"type": "inline", '
        b'"hosts": ["h1"], "groups": {"g": {"hosts": ["h1"], "children": ["k"]}, "k": ["h2"]}}, '
        b'"extra_vars": {"x": 1}, "options": {"skip_tags": ["slow"], "diff_mode": true}}',
        type=SubmitJobBody,
    )
    command = build_command(body, "job-1", NOW)
    assert command.job_id == "job-1"
    assert command.issued_at == NOW
    assert command.spec.priority == "low"
    assert command.spec.inventory.groups == {"g": InventoryGroup(hosts=["h1"], children=["k"]), "k": ["h2"]}
    assert command.spec.options.skip_tags == ["slow"]
    assert command.spec.options.diff_mode is True
    assert command.spec.extra_vars == {"x": 1}


def test_a_galaxy_server_keeps_to_the_url_policy() -> None:
    body = msgspec.json.decode(
        b'{"source": {"type": "collection_role", "collection": "acme.tools", "role": "r",'
        b' "galaxy_server": "http://u:p@galaxy.example/"}, "inventory": {"type": "inline"}}',
        type=SubmitJobBody,
    )
    with pytest.raises(InvalidRequestError) as error:
        build_command(body, "job-1", NOW)
    assert [(e.path, e.message) for e in error.value.errors] == [
        ("$.source.galaxy_server", "must not carry credentials (they would be stored in the stream)")
    ]


def test_cursor_round_trip_and_rejection() -> None:
    cursor = JobCursor(created_at=NOW, job_id="j1")
    assert decode_cursor(encode_cursor(cursor)) == cursor
    for bad in ("", "%%%", encode_cursor(cursor)[:-3], "WzEsMl0"):
        with pytest.raises(BadRequestError):
            decode_cursor(bad)


def test_log_piece_follows_runner() -> None:
    assert log_piece("runner_on_ok", "ok: [h]", {"pid": 3}) == "ok: [h]\n"
    assert log_piece("runner_on_start", "", {"pid": 3}) == ""
    assert log_piece("runner_on_ok", "{}", {"pid": 3}) == ""
    assert log_piece("verbose", "Using /etc/ansible.cfg", {"pid": 3}) == "Using /etc/ansible.cfg\n"
    assert log_piece("verbose", "ERROR! bad", {"pid": None}) == "ERROR! bad\r\n"
    assert log_piece("verbose", "", {}) == "\r\n"


def test_sse_names_and_terminal_kinds() -> None:
    assert kind_of("playledger.append.job.j1.runner.runner_on_ok", "j1") == "runner.runner_on_ok"
    assert kind_of("playledger.append.job.j1.job.started", "j1") == "job.started"
    assert sse_event_name("runner.runner_on_ok") == "runner_on_ok"
    assert sse_event_name("job.started") == "job.started"
    for kind, status in TERMINAL_KINDS.items():
        end = end_message("j1", kind, 7).decode()
        assert end == f'event: end\ndata: {{"job_id":"j1","outcome":"{status}","last_event_id":7}}\n\n'
    assert entry("j1", 7, "playledger.evt.job.j1.job.timed_out", b"{}").message.endswith(
        b'"outcome":"timeout","last_event_id":7}\n\n'
    )


def test_resume_point() -> None:
    assert resume_point(None, None) == 0
    assert resume_point(5, None) == 5
    assert resume_point(5, "9") == 9
    assert resume_point(None, " ") == 0
    for bad in ("-1", "1.5", "x", "9" * 20):
        with pytest.raises(BadRequestError):
            resume_point(None, bad)


def test_framework_field_names_become_json_paths() -> None:
    assert _litestar_path("body", "options.forks") == "$.options.forks"
    assert _litestar_path("body", "data") == "$"
    assert _litestar_path("query", "limit") == "query.limit"
