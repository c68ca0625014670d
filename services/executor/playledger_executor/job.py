"""Running one job attempt: ``job.started``, every runner event, exactly one terminal event.

The imperative shell around a worker process. The caller (the run consumer) has already
decided to start (``decide.Start``) and owns the command message; this module appends,
runs, stops on cancel or timeout, and reports how the job ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from playledger_common import tracing
from playledger_common.credentials import (
    JobSecrets,
    SealedSecrets,
    checkout_references,
    job_references,
    reference_path,
)
from playledger_common.logs import job_context
from playledger_common.logstore import LogStore, log_key
from playledger_common.logtext import log_piece
from playledger_common.private_file import write_private
from playledger_common.settings import ExecutorSettings
from playledger_common.tracing import TRACER
from playledger_executor.appender import Appender
from playledger_executor.cancel import pending_cancel
from playledger_executor.decide import Start, cause_of, classify
from playledger_executor.ending import ending
from playledger_executor.errors import ExecutorError, InventoryError, SourceError
from playledger_executor.gitauth import git_auth
from playledger_executor.gitcache import FetchError, SourceCache
from playledger_executor.inventories import PreparedInventory, UrlLimits, prepare_inventory
from playledger_executor.jobtrace import emit_timeline
from playledger_executor.journal import Journal, new_event
from playledger_executor.logship import LogShipper, store_artifacts
from playledger_executor.metrics import ExecutorMetrics, playbook_label
from playledger_executor.privatedir import private_dir_for, remove_private_dir, work_root, write_private_dir
from playledger_executor.redact import NOTHING, Redactor
from playledger_executor.requirements import GalaxyAuth
from playledger_executor.running import RunningJob
from playledger_executor.runspec import SECRET_VARS_FILE, resolve_options, runner_kwargs
from playledger_executor.secrets import SecretsError, fetch_secrets
from playledger_executor.sources import Playbook, prepare_source
from playledger_executor.timeline import Timeline
from playledger_executor.truncate import fit, to_event_data
from playledger_executor.vaultrefs import resolve
from playledger_executor.worker import FINAL_STATUSES, Event, LooseEvent, Status, WorkerProcess
from playledger_executor.writer import FencedError, JobWriter, PublishError
from playledger_schemas.commands import JobSpec, SubmitJob, retry_policy
from playledger_schemas.events import (
    CancelRequestedData,
    HostStats,
    JobCancelRequested,
    JobStarted,
    MissingObject,
    ResultData,
    RunnerEvent,
    RunnerEventData,
    RunnerStatus,
    StartedData,
    StoredObject,
)
from playledger_schemas.status import ResultStatus

log: Final = logging.getLogger(__name__)
STAT_KEYS: Final = ("changed", "dark", "failures", "ignored", "ok", "processed", "rescued", "skipped")


@dataclass
class _Run:
    """What the stream of one worker told us."""

    status: RunnerStatus | None = None
    explanation: str | None = None
    stats: HostStats = field(default_factory=dict)
    rc: int | None = None
    failure: str | None = None
    stopped: bool = False
    artifact_data: dict[str, Any] | None = None
    """``set_stats`` data (``playbook_on_stats``' ``artifact_data``)."""
    log: StoredObject | None = None
    artifacts: list[StoredObject] = field(default_factory=list)
    missing: list[MissingObject] = field(default_factory=list)
    timeline: Timeline | None = None
    """The playbook's plays, tasks and host results, folded only while tracing is on."""


class JobRunner:
    """Runs started jobs for one executor process."""

    def __init__(
        self,
        nc: Client,
        settings: ExecutorSettings,
        executor_id: str,
        store: LogStore,
        metrics: ExecutorMetrics,
    ) -> None:
        self.nc = nc
        self.metrics = metrics
        self.runner_events = 0
        """Runner events read by this process (a plain int on the hot path; see ``metrics``)."""
        self.js = nc.jetstream()
        self.store = store
        """Where each job's complete log and artifacts go."""
        self.journal = Journal(self.js)
        self.atomic_batches = True
        """Runner events go out in atomic batches; ``False`` on an events stream without ``allow_atomic``."""
        self.settings = settings
        self.executor_id = executor_id
        self.running: dict[str, RunningJob] = {}
        self.work_dir = work_root(settings)
        """Where private data dirs are made: the executor's claimed ``Workspace`` once it runs."""
        self.sources = SourceCache(  # shared by this host's executors and their next incarnations
            root=settings.source_cache_dir or work_root(settings) / "playledger-source-cache",
            fetch_timeout_s=settings.source_fetch_timeout_s,
            max_repo_bytes=settings.source_max_repo_bytes,
            max_bytes=settings.source_cache_max_bytes,
            max_age_s=settings.source_cache_max_age_s,
        )
        self.url_limits = UrlLimits(
            timeout_s=settings.source_fetch_timeout_s, max_bytes=settings.inventory_max_bytes
        )

    async def start(
        self, command: SubmitJob, decision: Start, expected_stream_seq: int, command_seq: int
    ) -> bool:
        """Append ``job.started`` (OCC) and run to the terminal event. ``False``: lost the race.

        The job is registered as running here *before* ``job.started`` is appended and until
        its terminal event is stored, so a redelivery of its command is always recognised.
        The attempt is the ``job.run`` span, a child of the current trace (the command's).
        """
        attributes: dict[str, str | int] = {
            "playledger.job_id": command.job_id,
            "playledger.attempt": decision.attempt,
            "playledger.playbook": playbook_label(command.spec),
        }
        with (
            TRACER.start_as_current_span("job.run", kind=SpanKind.CONSUMER, attributes=attributes),
            job_context(command.job_id, decision.attempt),
        ):
            return await self._start(command, decision, expected_stream_seq, command_seq)

    async def _start(
        self, command: SubmitJob, decision: Start, expected_stream_seq: int, command_seq: int
    ) -> bool:
        job_id = command.job_id
        spec = resolve_options(command.spec, self.settings.default_timeout_s)
        handle = RunningJob(job_id=job_id, attempt=decision.attempt, command_seq=command_seq)
        self.running[job_id] = handle
        writer = JobWriter(
            self.nc,
            job_id,
            next_seq=decision.seq,
            stream_seq=expected_stream_seq,
            atomic_batches=self.atomic_batches,
            on_stored=self.metrics.publish_latency.observe,
        )
        writer.trace_headers = tracing.inject({})
        playbook_name = playbook_label(spec)
        private_dir = private_dir_for(self.work_dir, job_id, decision.attempt)
        try:
            try:
                playbook, inventory = await self._prepare(spec, private_dir, handle)
            except (ExecutorError, OSError) as exc:
                await asyncio.to_thread(remove_private_dir, private_dir)
                reason = getattr(exc, "reason", None) or f"could not prepare the job: {type(exc).__name__}"
                if await self._fail_before_run(
                    command, decision, writer, reason, fetch_failed=isinstance(exc, FetchError)
                ):
                    self.metrics.jobs_finished.labels("error", playbook_name).inc()
                return True
            started = StartedData(
                executor_id=self.executor_id,
                spec=spec,
                playbook=playbook.playbook,
                commit=playbook.commit,
                playbook_sha256=playbook.sha256,
                inventory_commit=inventory.commit,
                inventory_sha256=inventory.sha256,
                hosts=inventory.hosts,
            )
            try:
                await writer.add(
                    lambda seq: new_event(
                        JobStarted, job_id=job_id, attempt=decision.attempt, seq=seq, data=started
                    )
                )
            except FencedError:
                await asyncio.to_thread(remove_private_dir, private_dir)
                return False
            began = time.monotonic()
            self.metrics.jobs_started.labels(playbook_name).inc()
            await self._cancel_published_earlier(handle)
            outcome = await self._run(spec, playbook, inventory, private_dir, handle, writer)
            if outcome is not None:
                self.metrics.jobs_finished.labels(outcome, playbook_name).inc()
                self.metrics.job_duration.labels(outcome).observe(time.monotonic() - began)
        finally:
            self.running.pop(job_id, None)
            handle.ended.set()
        return True

    async def _prepare(
        self, spec: JobSpec, private_dir: Path, handle: RunningJob
    ) -> tuple[Playbook, PreparedInventory]:
        """Check out the source, install its requirements, write the inventory and extra vars."""
        await asyncio.to_thread(write_private_dir, private_dir, spec.extra_vars)
        checkout = await self._checkout_secrets(spec, handle)
        auth = galaxy = None
        if checkout is not None and checkout.git is not None:
            auth = await asyncio.to_thread(git_auth, checkout.git, private_dir)
        if checkout is not None and checkout.galaxy is not None and spec.credentials.galaxy is not None:
            galaxy = GalaxyAuth(name=spec.credentials.galaxy, env=checkout.galaxy.environment())
        env = checkout.environment() if checkout is not None else {}
        headers = (
            checkout.inventory.headers if checkout is not None and checkout.inventory is not None else None
        )
        try:
            playbook = await prepare_source(
                spec.source, spec.options, self.settings.projects_dir, self.sources, private_dir, auth, galaxy
            )
            inventory = await prepare_inventory(
                spec.inventory, private_dir, self.sources, self.url_limits, auth, env=env, headers=headers
            )
        except (SourceError, InventoryError) as exc:
            if checkout is not None:  # a tool's or a plugin's error may quote a secret it was given
                exc.reason = Redactor(checkout.checkout_values()).text(exc.reason)
                exc.args = (exc.reason,)
            raise
        return playbook, inventory

    async def _checkout_secrets(self, spec: JobSpec, handle: RunningJob) -> SealedSecrets | None:
        """What preparing the job needs (``checkout_references``), asked before ``job.started``."""
        wanted = checkout_references(spec)
        if not wanted:
            return None
        try:
            sealed = await fetch_secrets(
                self.nc, handle.job_id, handle.attempt, self.executor_id, checkout=True
            )
        except SecretsError as exc:
            msg = f"credentials: {exc.reason}"
            raise SecretsError(msg) from None
        if missing := [role for role in wanted if getattr(sealed, role) is None]:
            msg = f"credentials: {reference_path(missing[0])}: the API sent no {missing[0]} credential"
            raise SecretsError(msg)
        return sealed

    async def _fail_before_run(
        self, command: SubmitJob, decision: Start, writer: JobWriter, reason: str, *, fetch_failed: bool
    ) -> bool:
        """Record the attempt's ``error`` end; ``False``: another writer changed the job first."""
        log.warning("job %s cannot run: %s", command.job_id, reason)
        data = ResultData(reason=reason, last_seq=decision.seq - 1)
        end = await ending(
            self.journal,
            job_id=command.job_id,
            attempt=decision.attempt,
            outcome="error",
            cause=cause_of("error", fetch_failed=fetch_failed),
            result=data,
            policy=retry_policy(command.spec),
        )
        try:
            await writer.add(end)
        except FencedError:
            log.info("job %s changed concurrently; not recording the error", command.job_id)
            return False
        return True

    async def _cancel_published_earlier(self, handle: RunningJob) -> None:
        """A cancel published after the submit but before this executor watched for it."""
        reason = await pending_cancel(self.js, handle.job_id, after_seq=handle.command_seq)
        if reason is not None:
            handle.cancel(reason)

    async def _run(
        self,
        spec: JobSpec,
        playbook: Playbook,
        inventory: PreparedInventory,
        private_dir: Path,
        handle: RunningJob,
        writer: JobWriter,
    ) -> ResultStatus | None:
        """Run the attempt to its end; its outcome, or ``None`` when no end was recorded (fenced)."""
        job_id, attempt = handle.job_id, handle.attempt
        ident = f"{job_id}-{attempt}"
        run = _Run(timeline=Timeline() if tracing.enabled() else None)
        redactor = NOTHING
        try:
            secrets = await self._secrets(spec, handle)
            if handle.stop.is_set():  # canceled before anything ran: do not spawn at all
                await self._record_cancel_request(handle, writer)
                run.stopped = True
                worker = None
            else:
                if secrets is not None and secrets.secret_vars is not None:
                    vars_file = private_dir / SECRET_VARS_FILE
                    await asyncio.to_thread(write_private, vars_file, json.dumps(secrets.secret_vars.vars))
                kwargs = runner_kwargs(spec, playbook, inventory.source, ident, secrets, str(private_dir))
                redactor = Redactor(secrets.values()) if secrets is not None else NOTHING
                worker = await WorkerProcess.spawn(
                    private_dir, kwargs, redactor, linger_s=self.settings.event_linger_s
                )
        except SecretsError as exc:
            log.warning("job %s: %s", job_id, exc.reason)
            run.failure = f"credentials: {exc.reason}"
        except (OSError, ExecutorError) as exc:
            log.exception("job %s could not start ansible-runner", job_id)
            run.failure = (
                f"could not start ansible-runner: {getattr(exc, 'reason', None) or type(exc).__name__}"
            )
        else:
            if worker is not None:
                shipper = LogShipper(
                    self.store,
                    job_id,
                    attempt,
                    private_dir / "playledger-stdout",
                    flush_s=self.settings.log_flush_s,
                    flush_bytes=self.settings.log_flush_bytes,
                )
                try:
                    await self._supervise(
                        worker, writer, run, handle, shipper, float(spec.options.timeout or 1)
                    )
                finally:
                    await shipper.stop()
                artifact_dir = private_dir / "artifacts" / ident
                await self._store_outputs(run, shipper, artifact_dir, raw_files=not redactor.active)
        finally:
            await asyncio.to_thread(remove_private_dir, private_dir)
        if run.timeline is not None:
            emit_timeline(run.timeline.spans(), trace.get_current_span())
        outcome = classify(
            run.status,
            run.rc,
            canceled=handle.stop_reason if run.stopped else None,
            timed_out=run.stopped and handle.timed_out,
            failure=run.failure or run.explanation,
        )
        if writer.fenced:
            log.warning(
                "job %s attempt %d: fenced by another writer; run stopped, no terminal event", job_id, attempt
            )
            return None
        result = ResultData(
            runner_status=run.status,
            rc=run.rc,
            reason=outcome.reason,
            stats=run.stats,
            runner_events=writer.runner_events,
            last_seq=writer.last_seq,
            log_uri=None if run.log is None else self.store.uri(log_key(job_id, attempt)),
            log=run.log,
            artifacts=run.artifacts,
            missing=run.missing,
        )
        end = await ending(
            self.journal,
            job_id=job_id,
            attempt=attempt,
            outcome=outcome.outcome,
            cause=cause_of(outcome.outcome, stats=run.stats),
            result=result,
            policy=retry_policy(spec),
        )
        try:  # retried until it lands (same Msg-Id) while this executor lives
            await writer.add(end)
        except FencedError:
            log.warning("job %s: another writer ended it first; terminal event not appended", job_id)
            return None
        log.info("job %s attempt %d ended: %s", job_id, attempt, outcome.outcome)
        span = trace.get_current_span()
        span.set_attribute("playledger.outcome", outcome.outcome)
        if outcome.outcome != "successful":
            span.set_status(StatusCode.ERROR, outcome.outcome)
        return outcome.outcome

    async def _store_outputs(
        self, run: _Run, shipper: LogShipper, artifact_dir: Path, *, raw_files: bool
    ) -> None:
        """The complete log and the artifacts, before the terminal event names them.

        ``raw_files=False`` (the job has secrets): the runner's own files hold its output as
        ansible wrote it, unmasked, so the log is the spool (masked lines) and no artifact file is
        stored, only the ``set_stats`` data that came masked through the worker's stream."""
        deadline = self.settings.storage_final_s
        stored = await shipper.finish(artifact_dir / "stdout" if raw_files else None, deadline)
        if isinstance(stored, MissingObject):
            run.missing.append(stored)
        else:
            run.log = stored
        run.artifacts, missing = await store_artifacts(
            self.store,
            shipper.job_id,
            shipper.attempt,
            artifact_dir if raw_files else None,
            run.artifact_data,
            deadline,
        )
        run.missing.extend(missing)

    async def _secrets(self, spec: JobSpec, handle: RunningJob) -> JobSecrets | None:
        """The secrets the job names, from the API (``None`` when it names none)."""
        if not job_references(spec):
            return None
        sealed = await fetch_secrets(self.nc, handle.job_id, handle.attempt, self.executor_id)
        return await resolve(sealed, spec.credentials.vault_references())

    async def _supervise(
        self,
        worker: WorkerProcess,
        writer: JobWriter,
        run: _Run,
        handle: RunningJob,
        shipper: LogShipper,
        limit_s: float,
    ) -> None:
        """Pump the worker's stream while a stopper waits for cancel or timeout."""
        timer = asyncio.get_running_loop().call_later(limit_s, handle.time_out)
        stopper = asyncio.create_task(self._stop_when_asked(handle, worker, writer))
        try:
            try:
                await self._pump(worker, writer, run, handle, shipper)
            except (ValueError, asyncio.IncompleteReadError) as exc:
                log.error("job %s: unreadable output from ansible-runner: %s", handle.job_id, exc)
                run.failure = "unreadable output from ansible-runner"
                worker.kill_now()
            except FencedError:
                log.warning("job %s: another writer took over; stopping the run", handle.job_id)
                worker.kill_now()
            except PublishError as exc:
                log.error("job %s: %s; stopping the run", handle.job_id, exc.reason)
                run.failure = exc.reason
                worker.kill_now()
            run.rc = await worker.wait()
        finally:
            timer.cancel()
            run.stopped = handle.stop.is_set()
            handle.finished = True
            if run.stopped:
                await stopper
            else:
                stopper.cancel()
                if worker.process.returncode is None:  # the pump failed: never leave a run behind
                    worker.kill_now()
                    await worker.wait()
        if worker.stderr_tail and run.status in (None, "error"):
            log.warning(
                "worker of job %s: %s", handle.job_id, worker.stderr_tail.decode(errors="replace")[-1000:]
            )

    async def _pump(
        self, worker: WorkerProcess, writer: JobWriter, run: _Run, handle: RunningJob, shipper: LogShipper
    ) -> None:
        limit = self.settings.max_event_text
        job_id, attempt = handle.job_id, handle.attempt
        timeline = run.timeline
        appender = Appender(writer)
        try:
            async for item in worker.stream():
                match item:
                    case Status(status=status, explanation=explanation):
                        if status in FINAL_STATUSES:
                            run.status = status
                            run.explanation = explanation
                    case Event(data=data, size=size):
                        shipper.write(log_piece(data.event, data.stdout, {"pid": data.pid}))
                        if data.event == "playbook_on_stats":
                            self._take_stats(run, data.event_data)
                        fitted = fit(data, size, limit)
                        if timeline is not None:
                            timeline.add(fitted)
                        writer.runner_events += 1
                        self.runner_events += 1
                        await appender.add(functools.partial(_runner_event, job_id, attempt, fitted))
                    case LooseEvent(data=raw):
                        shipper.write(
                            log_piece(str(raw.get("event") or ""), str(raw.get("stdout") or ""), raw)
                        )
                        if raw.get("event") == "playbook_on_stats":
                            self._take_stats(run, raw.get("event_data"))
                        loose = to_event_data(raw, limit)
                        if timeline is not None:
                            timeline.add(loose)
                        writer.runner_events += 1
                        self.runner_events += 1
                        await appender.add(functools.partial(_runner_event, job_id, attempt, loose))
        except BaseException:
            await appender.cancel()
            raise
        await appender.close()

    @staticmethod
    def _take_stats(run: _Run, event_data: object) -> None:
        """``playbook_on_stats``: the per-host counts and ``set_stats`` data, from the uncut event."""
        run.stats = _stats(event_data)
        run.artifact_data = _artifact_data(event_data)

    async def _record_cancel_request(self, handle: RunningJob, writer: JobWriter) -> None:
        """``job.cancel_requested`` by this executor, the job's single writer while it runs."""
        reason = handle.stop_reason
        if reason is None:
            return  # a timeout, not a request
        with contextlib.suppress(FencedError, PublishError):  # the run's own append notices and stops
            await writer.add(
                lambda seq: new_event(
                    JobCancelRequested,
                    job_id=handle.job_id,
                    attempt=handle.attempt,
                    seq=seq,
                    data=CancelRequestedData(reason=reason),
                )
            )

    async def _stop_when_asked(self, handle: RunningJob, worker: WorkerProcess, writer: JobWriter) -> None:
        await handle.stop.wait()
        await self._record_cancel_request(handle, writer)
        log.info("stopping job %s (%s)", handle.job_id, handle.stop_reason or "timeout")
        await worker.stop(self.settings.cancel_grace_s)


def _runner_event(job_id: str, attempt: int, data: RunnerEventData, seq: int) -> RunnerEvent:
    return new_event(RunnerEvent, job_id=job_id, attempt=attempt, seq=seq, data=data)


def _artifact_data(event_data: object) -> dict[str, Any] | None:
    data = event_data.get("artifact_data") if isinstance(event_data, dict) else None
    return data if isinstance(data, dict) and data else None


def _stats(event_data: object) -> HostStats:
    if not isinstance(event_data, dict):
        return {}
    stats: HostStats = {}
    for key in STAT_KEYS:
        value = event_data.get(key)
        if isinstance(value, dict):
            stats[key] = {str(h): int(n) for h, n in value.items() if isinstance(n, int)}
    return stats
