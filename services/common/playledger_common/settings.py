"""Typed, frozen settings read once from ``PLAYLEDGER_*`` environment variables.

Each service declares its own Struct; ``from_env`` converts the environment with
msgspec (``"250"`` becomes ``250``) and names the variable in every error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal, TypeVar

import msgspec
from msgspec import Meta

from playledger_common.errors import ConfigError

PREFIX: Final = "PLAYLEDGER_"
SECRET_SUFFIXES: Final = ("_password", "_secret")
HIDDEN: Final = frozenset({"secrets_key"})
"""With ``SECRET_SUFFIXES``: settings whose value ``repr`` never shows."""

_NATS_URL: Final = r"(nats|tls|ws|wss)://[^\s,]+"
NatsUrl = Annotated[
    str,
    Meta(
        pattern=rf"^{_NATS_URL}(,{_NATS_URL})*$",
        description="nats://host:port, or a cluster's nodes comma-separated",
    ),
]
DatabaseUrl = Annotated[
    str, Meta(pattern=r"^postgres(ql)?://\S+$", description="postgresql://user@host:port/db")
]


class CommonSettings(msgspec.Struct, frozen=True, kw_only=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    """Where the NATS server with JetStream listens."""
    events_replicas: Annotated[int, Meta(ge=1, le=5)] = 1
    """Replicas of the streams: 1 on one server, 3 in a cluster."""
    commands_max_age_s: Annotated[int, Meta(ge=60)] = 7 * 24 * 3600
    """How long submitted commands are kept in the commands stream."""
    webhooks_max_age_s: Annotated[int, Meta(ge=60)] = 90 * 24 * 3600
    """How long webhook delivery events are kept (``PLAYLEDGER_WEBHOOKS``)."""
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    """``json``: one object per line (with ``job_id``, ``attempt``, ``trace_id``); ``text``: for people."""
    source_allow_file: bool = False
    """Accept ``file://`` repository URLs (a repository on the executor's own disk)."""
    source_allow_http: bool = False
    """Accept plain ``http://`` repository URLs (no TLS: for test servers only)."""
    webhook_allow_http: bool = False
    """Accept plain ``http://`` callback URLs (no TLS: for test receivers only)."""
    nats_user: str | None = None
    """This service's NATS user (its role: api, executor, projector, …); none: connect anonymously."""
    nats_password: str | None = None
    nats_password_file: Path | None = None
    """A file holding ``nats_password`` (a mounted Secret); read at each connect, ``nats_password`` wins."""
    nats_tls_ca: Path | None = None
    """CA bundle that signed the NATS server's certificate (TLS; use a ``tls://`` URL)."""
    nats_tls_cert: Path | None = None
    """Client certificate, for a server that requires one (with ``nats_tls_key``)."""
    nats_tls_key: Path | None = None
    storage_url: Annotated[str, Meta(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$")] | None = None
    """Where full logs and artifacts are kept: ``s3://bucket/prefix`` (any S3 API; credentials from
    the standard ``AWS_*`` variables); none: the local directory ``logs_dir``."""
    logs_dir: Path = Path("var/logs")
    """The local log storage (when ``storage_url`` is not set): the executor writes it, the API serves it."""
    storage_endpoint_url: Annotated[str, Meta(pattern=r"^https?://\S+$")] | None = None
    """The S3 API's URL, for anything but AWS itself (MinIO, Ceph, …)."""
    storage_region: str | None = None
    storage_path_style: bool = False
    """Address buckets as ``<endpoint>/<bucket>`` instead of ``<bucket>.<endpoint>`` (MinIO needs it)."""
    storage_presign_s: Annotated[int, Meta(ge=1, le=3600)] = 300
    """How long a presigned URL the API redirects to stays valid."""
    log_retention_days: Annotated[int, Meta(ge=0, le=36500)] = 0
    """Logs and artifacts older than this are removed (S3: a lifecycle rule; local: the executor's
    sweep); 0 keeps them forever."""

    def __repr__(self) -> str:
        """Never print a password, secret or key (settings may end up in a traceback)."""
        shown = ", ".join(
            f"{f}={'***' if (f.endswith(SECRET_SUFFIXES) or f in HIDDEN) and getattr(self, f) else getattr(self, f)!r}"
            for f in self.__struct_fields__
        )
        return f"{type(self).__name__}({shown})"


class OpsSettings(CommonSettings, frozen=True, kw_only=True):
    """The services without an HTTP API of their own: their ``/health``, ``/ready``, ``/metrics``."""

    metrics_port: Annotated[int, Meta(ge=0, le=65535)] | None = None
    """Serve ``/health``, ``/ready`` and ``/metrics`` on this port (0: any free one); none: not served."""
    metrics_host: str = "0.0.0.0"  # noqa: S104 - a pod's probes and scrapes come from outside it
    """The address the ops server listens on (``playledger dev``: 127.0.0.1)."""


class ExecutorSettings(OpsSettings, frozen=True, kw_only=True):
    projects_dir: Path
    """Playbooks are only ever read from inside this directory."""
    log_flush_s: Annotated[float, Meta(gt=0, le=3600)] = 2.0
    """A running job's new stdout is sent to log storage at least this often (readable while it runs)."""
    log_flush_bytes: Annotated[int, Meta(ge=1024, le=5 * 1024**3)] = 8 * 1024**2
    """… and as soon as this much is waiting (also the S3 multipart part size, at least 5 MiB there)."""
    storage_final_s: Annotated[float, Meta(gt=0, le=3600)] = 60.0
    """How long the final uploads of a job (log, artifacts) are retried before the terminal event
    records them as missing (the job's end is never held up longer)."""
    work_dir: Path | None = None
    """Where private data dirs of running jobs are created (default: the system temp dir)."""
    executor_id: str | None = None
    concurrency: Annotated[int, Meta(ge=1, le=256)] = 4
    default_timeout_s: Annotated[int, Meta(ge=1)] = 3600
    cancel_grace_s: Annotated[float, Meta(ge=0)] = 1.0
    shutdown_grace_s: Annotated[float, Meta(ge=0)] = 30.0
    ack_wait_s: Annotated[float, Meta(ge=1)] = 30.0
    max_event_text: Annotated[int, Meta(ge=1024)] = 64 * 1024
    """Largest ``stdout`` / ``res`` kept inside one event; the rest is cut (the log keeps all)."""
    event_linger_s: Annotated[float, Meta(ge=0, le=5)] = 0.1
    """How long a runner event may wait in the worker's pipe, to be read and stored with the ones
    after it in one append (``playledger_executor.pacedpipe``): the most it is delayed on its way
    to subscribers. Shorter is livelier and costs executor and nats-server CPU per read and append
    (0.2: least overhead; 0.02: snappiest)."""
    source_cache_dir: Path | None = None
    """Bare mirrors of git sources and installed requirements (default: ``<work_dir>/source-cache``)."""
    source_cache_max_bytes: Annotated[int, Meta(ge=0)] = 2 * 1024**3
    """Least recently used mirrors are removed once the cache is larger than this."""
    source_cache_max_age_s: Annotated[int, Meta(ge=60)] = 7 * 24 * 3600
    """Mirrors unused for this long are removed."""
    source_fetch_timeout_s: Annotated[float, Meta(gt=0, le=3600)] = 120.0
    """Most time one fetch may take, transient network errors retried inside it."""
    source_max_repo_bytes: Annotated[int, Meta(ge=1024)] = 1024**3
    """Largest pack a fetch may receive (and mirror a repository may grow to)."""
    inventory_max_bytes: Annotated[int, Meta(ge=1024)] = 16 * 1024**2
    """Largest inventory a ``url`` inventory may return."""


class ProjectorSettings(OpsSettings, frozen=True, kw_only=True):
    database_url: DatabaseUrl
    batch_size: Annotated[int, Meta(ge=1, le=10_000)] = 1000
    """Most events applied in one transaction."""
    batch_linger_s: Annotated[float, Meta(ge=0, le=1)] = 0.05
    """How long a batch that is not full waits for more events. At ansible's rates (a few
    hundred events/s) this turns one transaction per event into a few per second, leaving
    the CPU to ansible; it adds at most this much to the projection lag."""


class ApiSettings(CommonSettings, frozen=True, kw_only=True):
    database_url: DatabaseUrl
    api_host: str = "127.0.0.1"
    api_port: Annotated[int, Meta(ge=0, le=65535)] = 8000
    api_workers: Annotated[int, Meta(ge=1, le=64)] = 1
    max_body_bytes: Annotated[int, Meta(ge=1024)] = 1024 * 1024
    projects_dir: Path | None = None
    """When set, the API checks that a submitted playbook exists before queueing it."""
    db_pool_size: Annotated[int, Meta(ge=1, le=100)] = 10
    """Most PostgreSQL connections one API process holds."""
    sse_heartbeat_s: Annotated[float, Meta(gt=0, le=300)] = 15.0
    """Seconds between ``: keepalive`` comments on an idle SSE stream."""
    sse_buffer_events: Annotated[int, Meta(ge=1, le=100_000)] = 256
    """Events buffered per SSE client; a slower client pauses its consumer instead of losing events."""
    max_wait_s: Annotated[int, Meta(ge=0, le=3600)] = 300
    """Upper bound of ``POST /api/v1/jobs?wait=<seconds>``."""
    nats_recover_s: Annotated[float, Meta(gt=0, le=3600)] = 30.0
    """``/health`` fails once NATS has been unreachable this long (the process reconnects until then)."""
    auth: Literal["on", "off"] = "on"
    """``off`` serves every route without a key (a warning is logged at every start)."""
    auth_secret_file: Path | None = None
    """The server secret keying the API-key hashes (at least 32 bytes; generated there if missing).
    Required when auth is on; every API process of one system needs the same file."""
    auth_bootstrap_key_file: Path | None = None
    """When set, an admin key is created on start unless this file holds a usable one (written 0600)."""
    auth_cache_s: Annotated[float, Meta(ge=0, le=60)] = 1.0
    """How long a process trusts a verified key before reading it again (revocation delay elsewhere)."""
    metrics_auth: Literal["open", "key"] = "open"
    """``key``: ``/metrics`` needs a key with ``metrics:read``."""
    rate_submits: Annotated[str, Meta(pattern=r"^\d+ ?(/|per) ?\d* ?(second|minute|hour|day)s?$")] | None = (
        None
    )
    """Submits one API key may make in one API process, e.g. ``60/minute`` (none: no limit); then 429."""
    api_tls_cert: Path | None = None
    """Serve HTTPS with this certificate (and ``api_tls_key``)."""
    api_tls_key: Path | None = None
    api_tls_ca: Path | None = None
    """When set, every HTTPS client must present a certificate signed by this CA."""
    max_unfinished_jobs_per_key: Annotated[int, Meta(ge=0)] = 0
    """Queued or running jobs one API key may have at once (0: no limit); then 429."""
    secrets_key: str | None = None
    """The key-encryption key of stored credentials: 32 random bytes, base64 (or use a key file)."""
    secrets_key_file: Path | None = None
    """Key-encryption keys (generated with one fresh key, 0600, if missing at start), one
    ``<id> <base64 of 32 bytes>`` per line, the first one current
    (``playledger credentials rotate-key`` rewraps every data key with it); read again on rotation
    and whenever a stored data key names an id this process does not know."""


class NotifierSettings(OpsSettings, frozen=True, kw_only=True):
    database_url: DatabaseUrl
    """The read models: a webhook carries the job status document, sent once it is projected."""
    webhook_secret: str | None = None
    """The Standard Webhooks signing secret (``whsec_`` + base64); or ``webhook_secret_file``."""
    webhook_secret_file: Path | None = None
    """A file holding the signing secret (generated there on the first start when missing)."""
    webhook_allow: str = ""
    """Addresses a webhook may reach although private, loopback or link-local: comma-separated
    networks (``10.1.0.0/16, 127.0.0.1``). Everything else must be a public address."""
    webhook_max_attempts: Annotated[int, Meta(ge=1, le=100)] = 10
    """Attempts of one delivery before it is dead-lettered (``webhook.dead``)."""
    webhook_backoff_s: Annotated[float, Meta(gt=0, le=86400)] = 90.0
    """The wait after the first failed attempt; it doubles each time (with jitter), 10 attempts
    spanning about half a day."""
    webhook_backoff_max_s: Annotated[float, Meta(gt=0, le=7 * 86400)] = 6 * 3600.0
    webhook_timeout_s: Annotated[float, Meta(gt=0, le=300)] = 10.0
    """Most time one attempt may take (connect, send, answer)."""
    webhook_max_response_bytes: Annotated[int, Meta(ge=0, le=16 * 1024**2)] = 64 * 1024
    """Most of a receiver's answer read (the rest is not)."""
    webhook_ack_wait_s: Annotated[float, Meta(ge=1, le=3600)] = 60.0
    """A delivery a notifier took and did not finish (it died) is retried after this long."""
    webhook_concurrency: Annotated[int, Meta(ge=1, le=1024)] = 16
    """Deliveries in flight at once (one at a time per job: each job's webhooks stay in order)."""


S = TypeVar("S", bound=msgspec.Struct)


def from_env(cls: type[S], environ: Mapping[str, str] | None = None, **overrides: object) -> S:
    """Build ``cls`` from ``PLAYLEDGER_<FIELD>`` variables; ``overrides`` win (CLI flags)."""
    env = os.environ if environ is None else environ
    fields = {f.name for f in msgspec.structs.fields(cls)}
    raw: dict[str, object] = {
        key[len(PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(PREFIX) and key[len(PREFIX) :].lower() in fields and value != ""
    }
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        raise ConfigError(_name_the_variable(str(exc))) from None


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    raise NotImplementedError


def _name_the_variable(message: str) -> str:
    """``Object missing required field `database_url``` -> ``PLAYLEDGER_DATABASE_URL is required``."""
    if message.startswith("Object missing required field `"):
        name = message.split("`")[1]
        return f"{PREFIX}{name.upper()} is required but not set"
    text, sep, where = message.rpartition(" - at `$.")
    if sep:
        name = where.rstrip("`").split(".")[0].split("[")[0]
        return f"{PREFIX}{name.upper()} is invalid: {text}"
    return f"invalid settings: {message}"
