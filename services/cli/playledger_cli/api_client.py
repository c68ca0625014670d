"""The HTTP API as the CLI uses it: requests, problem details as one readable message, short ids."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import httpx
from httpx_sse import EventSource, connect_sse

from playledger_cli.client_auth import auth_headers
from playledger_cli.endpoints import API, Endpoint
from playledger_cli.errors import CliError, LostAnswerError
from playledger_cli.exitcodes import ExitCode
from playledger_schemas.ids import JOB_ID_PATTERN, is_valid_job_id
from playledger_schemas.messages import PATTERN_RULES

TIMEOUT: Final = httpx.Timeout(30.0, read=None)
AMBIGUOUS_SHOWN: Final = 5
_REJECTED: Final = frozenset({400, 422})
PLAYBOOK_FIELD: Final = "$.source.path"


class Api:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.url = endpoint.url

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            headers = {**auth_headers(), **(kwargs.pop("headers", None) or {})}
            response = httpx.request(method, f"{self.url}{path}", timeout=TIMEOUT, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # nothing was sent
            raise self.endpoint.unreachable(API, exc) from None
        except httpx.TransportError as exc:
            lost = self.endpoint.unreachable(API, f"no answer ({exc})")
            raise LostAnswerError(lost.message, lost.code) from None
        except httpx.HTTPError as exc:
            raise self.endpoint.unreachable(API, exc) from None
        if response.status_code >= 400:
            raise self.problem(response)
        return response

    @contextmanager
    def events(self, job_id: str, after: str | None = None) -> Iterator[EventSource]:
        """The job's SSE stream, resumed after ``after`` (an SSE id) when given."""
        headers = {"Last-Event-ID": after} if after else {}
        url = f"{self.url}/api/v1/jobs/{job_id}/stream"
        try:
            with (
                httpx.Client(timeout=TIMEOUT, headers=auth_headers()) as client,
                connect_sse(client, "GET", url, headers=headers) as source,
            ):
                if source.response.status_code >= 400:
                    source.response.read()
                    raise self.problem(source.response)
                yield source
        except httpx.ConnectError as exc:
            raise self.endpoint.unreachable(API, exc) from None

    def problem(self, response: httpx.Response) -> CliError:
        """RFC 9457 problem details as one message (each invalid field once), with an exit code."""
        error = self._problem(response)
        error.status = response.status_code
        return error

    def _problem(self, response: httpx.Response) -> CliError:
        code = ExitCode.INVALID_OPTIONS if response.status_code in _REJECTED else ExitCode.ERROR
        try:
            problem = response.json()
        except ValueError:
            return CliError(f"HTTP {response.status_code}: {response.text[:500]}", code)
        errors = [e for e in problem.get("errors") or [] if isinstance(e, dict)]
        lines = [f"{e.get('path', '$')}: {e.get('message', '')}{self._hint(e)}" for e in errors]
        head = f"HTTP {response.status_code}"
        if len(lines) == 1:
            return CliError(f"{head}: {lines[0]}", code)
        detail = problem.get("detail") or problem.get("title") or ""
        if lines:
            return CliError("\n  ".join([f"{head}: {problem.get('title', '')}", *lines]), code)
        return CliError(f"{head}: {detail}", code)

    def _hint(self, error: dict[str, Any]) -> str:
        if error.get("path") != PLAYBOOK_FIELD:
            return ""
        dev = self.endpoint.dev
        if dev is not None and dev.projects_dir is not None:
            return f" (looked in {dev.projects_dir}, the projects directory of playledger dev)"
        return " (playbook paths are relative to the server's projects directory, PLAYLEDGER_PROJECTS_DIR)"

    def job(self, id_or_prefix: str) -> dict[str, Any]:
        """The job with this id, else the one job whose id starts with it (like git)."""
        if not id_or_prefix:
            msg = "a job id must not be empty"
            raise CliError(msg, ExitCode.INVALID_OPTIONS)
        if not is_valid_job_id(id_or_prefix):
            msg = f"{id_or_prefix!r} is not a job id: it {PATTERN_RULES[JOB_ID_PATTERN]}"
            raise CliError(msg, ExitCode.INVALID_OPTIONS)
        try:
            found: dict[str, Any] = self.request("GET", f"/api/v1/jobs/{id_or_prefix}").json()
        except CliError as exc:
            if exc.status != 404:
                raise
            found = self.request("GET", f"/api/v1/jobs/{self._by_prefix(id_or_prefix)}").json()
        return found

    def resolve(self, id_or_prefix: str) -> str:
        return str(self.job(id_or_prefix)["id"])

    def _by_prefix(self, prefix: str) -> str:
        params = {"id_prefix": prefix, "limit": AMBIGUOUS_SHOWN + 1}
        ids = [str(job["id"]) for job in self.request("GET", "/api/v1/jobs", params=params).json()["items"]]
        if len(ids) == 1:
            return ids[0]
        if not ids:
            msg = f"no job with id {prefix!r} (or an id starting with it)"
            raise CliError(msg)
        shown = ", ".join(ids[:AMBIGUOUS_SHOWN]) + (", …" if len(ids) > AMBIGUOUS_SHOWN else "")
        msg = f"{prefix!r} is the start of several job ids ({shown}); give more of it"
        raise CliError(msg, ExitCode.INVALID_OPTIONS)
