"""The job runner: worker threads, per-backend concurrency, cancellation, and a journal that survives crashes.

Worker threads never touch bpy. They talk to the main thread only through ``events`` (a queue the main thread
drains) and to the disk through the ledger. Every job is journalled before it is submitted; its remote id is
journalled before it is polled; its take is journalled after its file is complete.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from ..providers.backend import (
    Artifact,
    Backend,
    BackendError,
    ErrorKind,
    JobRequest,
    JobState,
    RemoteJob,
    SubmitLookup,
    submit_recovery,
)
from ..providers.downloads import streamed_sha256
from ..providers.http import QUEUE_WAIT_MAX_S, QUEUE_WAIT_STEP_S
from .document import Canvas
from .housekeeping import share_like_umask
from .landing import drop_scratch, reported_cost, take_path
from .ledger import PENDING_STATES, SUBMITTING, UNKNOWN, JobRecord, Ledger, TakeRecord, dumps
from .media import describe_file, write_thumbnail
from .planner import Plan, PlanError, TakeJob, resolve_inputs, sha256_file
from .poll_schedule import MAX_POLL_INTERVAL_S, limits_for, next_poll_s

# "unknown": a job cut off mid-submit needs the user's decision; "held": a journalled job waits for something the
# user must provide (a key) and resumes on the next start without a resubmit
EventKind = Literal["queued", "submitted", "progress", "landed", "cached", "failed", "cancelled", "stale", "unknown",
                    "held"]
PROGRESS_EVERY_S = 1.0  # an unchanged status still reaches the main thread this often (elapsed-time display)
MAX_OUTAGE_S = 30 * 60.0  # polling failures this long leave the job journalled for a later resume
WAITING = "waiting"  # journalled, not yet submitted (waiting for a slot)


class Event(BaseModel):
    kind: EventKind
    node_id: str
    job_id: str = ""
    take_index: int = 0
    state: str = ""
    progress: float | None = None
    queue_position: int | None = None
    message: str = ""
    take: TakeRecord | None = None
    submitted_at: float | None = None
    at: float = 0.0


class Runner:
    def __init__(self, ledger: Ledger, backends: Mapping[str, Backend], *, limits: Mapping[str, int],
                 sleep: Callable[[float], None] | None = None) -> None:
        self.ledger = ledger
        self.project_dir = ledger.path.parent
        self.backends = backends  # may build backends lazily on first use
        self.events: queue.Queue[Event] = queue.Queue()
        self._limits = dict(limits)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        # A cancel reaches what was started before it, never a later start: each start() is a generation, and a
        # cancel records the generation it happened in (the flags used to stay set until the file was reopened).
        self._generation = 0
        self._local = threading.local()  # the generation a worker thread belongs to (inherited by its children)
        self._cancel_all = threading.Event()  # wakes sleepers on a cancel; cleared by the next start
        self._cancel_all_generation = -1
        self._cancelled_nodes: dict[str, int] = {}
        self._cancelled_jobs: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._wake = threading.Event()
        self._active_keys: dict[str, str] = {}  # cache key -> job id of a job in flight
        self._sleep = sleep or self._interruptible_sleep

    # --- public -------------------------------------------------------------------------------------------
    def start(self, plan: Plan, canvas: Canvas, base_dir: Path) -> None:
        """Run the plan in the background; returns at once."""
        with self._lock:
            self._generation += 1
            self._cancel_all.clear()
        for node_id in plan.stale:
            self._emit(Event(kind="stale", node_id=node_id, message="its inputs changed; render it to update"))
        for job in plan.jobs:
            self._emit(Event(kind="queued", node_id=job.node_id, take_index=job.take_index,
                             message=f"~${job.estimate_usd:.2f}" if job.cached_take is None else "cached"))
        self._spawn(self._coordinate, plan, canvas, base_dir)

    def resume(self) -> list[str]:
        """Pick up what a previous process left: poll jobs that have a remote id, never resubmit. Returns job ids.

        Never raises: a job whose backend cannot be built now (its key is missing) stays journalled with a line
        naming what to set, and the next start picks it up; every other job resumes. A job cut off mid-submit is
        looked up at the vendor by our own id where the backend offers it (found: followed; not there: released so
        the take is planned again), else marked ``unknown`` for the user to decide.
        """
        resumed = []
        for record in self.ledger.unfinished_jobs():
            try:
                if self._resume_one(record):
                    resumed.append(record.job_id)
            except Exception as error:
                message = f"could not resume this job ({type(error).__name__}: {error}); it stays journalled"
                self._emit(Event(kind="held", node_id=record.node_id, job_id=record.job_id,
                                 take_index=record.take_index, message=message))
        for record in self.ledger.jobs("state = ?", (WAITING,)):
            self.ledger.set_state(record.job_id, JobState.CANCELLED.value, "not submitted before the app stopped")
        return resumed

    def _resume_one(self, record: JobRecord) -> bool:
        try:
            backend = self.backends[record.backend]
        except (BackendError, PlanError, KeyError) as error:
            self._emit(Event(kind="held", node_id=record.node_id, job_id=record.job_id, take_index=record.take_index,
                             message=f"{record.backend} job kept for later: {_why(error)}; it resumes (without a "
                                     "resubmit) on the next start with the key set"))
            return False
        request = JobRequest.model_validate_json(record.request_json)
        remote = record.remote
        if record.state == SUBMITTING:
            remote = self._resolve_cut_off(record, request, backend)
            if remote is None:
                return False
        if remote is None:
            return False
        with self._lock:
            self._active_keys[record.cache_key] = record.job_id
        self._spawn(self._after_submit, record, request, remote, {}, time.time())
        return True

    def _resolve_cut_off(self, record: JobRecord, request: JobRequest, backend: Backend) -> RemoteJob | None:
        """A job journalled as submitting whose remote id was never written: ask the vendor where it can be asked."""
        vendor = record.backend
        if submit_recovery(backend) == "free":
            self.ledger.set_state(record.job_id, JobState.CANCELLED.value, f"{vendor} bills nothing: the render cut "
                                  "off by the crash is made again")
            return None
        if submit_recovery(backend) == "lookup" and isinstance(backend, SubmitLookup) \
                and backend.can_look_up(request):
            try:
                found = backend.find_submitted(request)
            except BackendError as error:
                self._emit(Event(kind="held", node_id=record.node_id, job_id=record.job_id,
                                 take_index=record.take_index,
                                 message=f"could not ask {vendor} about a submit cut off by a crash ({error}); it is "
                                         "asked again on the next start, never resubmitted blindly"))
                return None
            if found is not None:
                self.ledger.record_remote(record.job_id, found, resolution="lookup")
                return found
            self.ledger.set_state(record.job_id, JobState.CANCELLED.value,
                                  f"{vendor} has no job under our id {record.job_id}: the submit never arrived, so "
                                  "its take is planned again", resolution="lookup")
            return None
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created_at))
        message = (f"needs a decision: the app stopped while this job was being submitted to {vendor} at {when}; "
                   f"{vendor} may have it (and may bill it): check its dashboard for a job made then, and use "
                   "Resubmit (run --resubmit-unknown) only if it is not there")
        self.ledger.set_state(record.job_id, UNKNOWN, message, error_message=message)
        self._emit(Event(kind="unknown", node_id=record.node_id, job_id=record.job_id, take_index=record.take_index,
                         message=message))
        return None

    def cancel(self, node_id: str | None = None, job_id: str | None = None) -> None:
        """Cancel one node's jobs, one job, or (with neither) everything."""
        with self._lock:
            if node_id is None and job_id is None:
                self._cancel_all_generation = self._generation
                self._cancel_all.set()
            if node_id is not None:
                self._cancelled_nodes[node_id] = self._generation
            if job_id is not None:
                self._cancelled_jobs.add(job_id)
        self._wake.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every job has finished (headless runs and tests); True if they did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                # a thread appended but not yet started has no ident: keep it, it is about to run
                alive = [t for t in self._threads if t.is_alive() or t.ident is None]
                self._threads = alive
            if not alive:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            alive[0].join(0.05 if remaining is None else min(0.05, remaining))

    @property
    def busy(self) -> bool:
        with self._lock:
            return any(t.is_alive() or t.ident is None for t in self._threads)

    def drain(self, limit: int = 1000) -> list[Event]:
        out: list[Event] = []
        while len(out) < limit:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                break
        return out

    # --- internals ----------------------------------------------------------------------------------------
    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        # a thread spawned by start() belongs to the newest generation, one spawned by a worker to its parent's
        generation = getattr(self._local, "generation", None)
        if generation is None:
            generation = self._generation if target == self._coordinate else 0

        def run() -> None:
            self._local.generation = generation
            target(*args)

        thread = threading.Thread(target=run, daemon=True, name=f"canvas-{target.__name__}")
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _slot(self, backend: str) -> threading.BoundedSemaphore:
        """At most `limit` jobs of one backend in flight at once (held from submit until landed or failed)."""
        with self._lock:
            if backend not in self._slots:
                self._slots[backend] = threading.BoundedSemaphore(max(1, self._limits.get(backend, 4)))
            return self._slots[backend]

    def _emit(self, event: Event) -> None:
        event.at = time.time()
        self.events.put(event)

    def _interruptible_sleep(self, seconds: float) -> None:
        self._cancel_all.wait(seconds)

    def _is_cancelled(self, node_id: str, job_id: str = "") -> bool:
        generation = getattr(self._local, "generation", 0)
        with self._lock:
            return (self._cancel_all_generation >= generation
                    or self._cancelled_nodes.get(node_id, -1) >= generation or job_id in self._cancelled_jobs)

    def _coordinate(self, plan: Plan, canvas: Canvas, base_dir: Path) -> None:
        """Start each take once its upstream takes have landed; fail it if an upstream node ended without one."""
        pending = list(plan.jobs)
        in_run = {j.node_id for j in plan.jobs}
        running_nodes: dict[str, int] = {n: sum(1 for j in plan.jobs if j.node_id == n) for n in in_run}
        done_lock = threading.Lock()

        def finished(node_id: str) -> None:
            with done_lock:
                running_nodes[node_id] -= 1
            self._wake.set()

        while pending:
            for job in list(pending):
                if self._is_cancelled(job.node_id):
                    pending.remove(job)
                    self._emit(Event(kind="cancelled", node_id=job.node_id, take_index=job.take_index,
                                     message="cancelled before it was submitted"))
                    finished(job.node_id)
                    continue
                with done_lock:
                    waiting_on = [s for ss in job.inputs.values() for s in ss if running_nodes.get(s, 0) > 0]
                if waiting_on:
                    continue
                pending.remove(job)
                resolved = resolve_inputs(job, canvas, self.ledger, base_dir)
                if resolved is None:
                    missing = [s for ss in job.inputs.values() for s in ss if self.ledger.chosen(s) is None]
                    self._emit(Event(kind="failed", node_id=job.node_id, take_index=job.take_index,
                                     message=f"no take to work from: {', '.join(missing) or 'a missing file'}"))
                    finished(job.node_id)
                    continue
                self._spawn(self._run_job, job, resolved[0], resolved[1], finished)
            if pending:
                self._wake.wait(0.05)
                self._wake.clear()

    def _run_job(self, job: TakeJob, files: dict[str, list[Path]], hashes: dict[str, list[str]],
                 finished: Callable[[str], None]) -> None:
        try:
            self._submit_and_follow(job, files, hashes)
        finally:
            finished(job.node_id)

    def _submit_and_follow(self, job: TakeJob, files: dict[str, list[Path]], hashes: dict[str, list[str]]) -> None:
        key = job.cache_key(hashes)
        self._follow_in_flight(key)
        cached = self.ledger.take_for_key(key)
        if cached is not None:
            self._emit(Event(kind="cached", node_id=job.node_id, job_id=cached.take_id, take_index=job.take_index,
                             take=cached, message="unchanged: cache hit, nothing submitted"))
            return
        undecided = self.ledger.unresolved_for_key(key)  # the planner could not see it: its inputs were pending
        if undecided is not None and undecided.state == UNKNOWN:
            self._emit(Event(kind="unknown", node_id=job.node_id, job_id=undecided.job_id,
                             take_index=job.take_index, message=undecided.error_message or "needs a decision"))
            return
        if undecided is not None:  # journalled by an earlier run and not resumed by this one (its key is missing)
            self._emit(Event(kind="held", node_id=job.node_id, job_id=undecided.job_id, take_index=job.take_index,
                             message="an earlier job for this take is still journalled at the vendor; it resumes on "
                                     "the next start, so it is not submitted again"))
            return
        job_id = uuid.uuid4().hex[:16]
        request = job.request(job_id, files)
        record = JobRecord(job_id=job_id, node_id=job.node_id, take_index=job.take_index, cache_key=key,
                           model=job.model, variant=job.variant, backend=job.backend,
                           backend_model_id=job.backend_model_id, prompt=job.prompt,
                           request_json=request.model_dump_json(), state=SUBMITTING, estimated_usd=job.estimate_usd,
                           created_at=time.time())
        backend = self.backends[job.backend]
        with self._slot(job.backend):
            if self._is_cancelled(job.node_id, job_id):
                self._emit(Event(kind="cancelled", node_id=job.node_id, job_id=job_id, take_index=job.take_index,
                                 message="cancelled before it was submitted"))
                return
            with self._lock:
                self._active_keys[key] = job_id
            try:
                remote = self._submit(backend, record, request, job.node_id)
                if remote is None:
                    return
                # what the adapter changed to fit the vendor's limits (a resized first frame...) is the user's to see
                notes = remote.data.get("input_notes") or []
                self._emit(Event(kind="submitted", node_id=job.node_id, job_id=job_id, take_index=job.take_index,
                                 state=JobState.QUEUED.value, submitted_at=time.time(),
                                 message="; ".join(str(n) for n in notes) if notes else ""))
                self._after_submit(record, request, remote, hashes, record.created_at)  # slot held while polling
            finally:
                with self._lock:
                    self._active_keys.pop(key, None)

    def _submit(self, backend: Backend, record: JobRecord, request: JobRequest, node_id: str) -> RemoteJob | None:
        """Journal the job as submitting (durably), submit, write the remote id (durably): nothing else between.

        The HTTP layer owns the retries of the submit itself. The only wait here is for a vendor's long queue: an
        answer marked ``queue_full`` (the account already runs as many jobs as its plan allows) is tried again
        once one of them finishes, for at most ``http.QUEUE_WAIT_MAX_S`` (see the retry budget in ``http.py``).
        """
        waited = 0.0
        self.ledger.add_job(record)  # journalled: a crash from here on is resolved by lookup or by the user
        while True:
            try:
                remote = backend.submit(request)
            except BackendError as error:
                if error.queue_full and waited < QUEUE_WAIT_MAX_S and not self._is_cancelled(node_id, record.job_id):
                    # the vendor turned it away unprocessed: nothing to bill, and a crash now must not say unknown
                    self.ledger.set_state(record.job_id, WAITING, str(error), durable=False)
                    pause = min(error.retry_after_s or QUEUE_WAIT_STEP_S, QUEUE_WAIT_STEP_S)
                    self._sleep(pause)
                    waited += pause
                    self.ledger.set_state(record.job_id, SUBMITTING)
                    continue
                self._fail(record, error)
                return None
            self.ledger.record_remote(record.job_id, remote)
            return remote

    def _follow_in_flight(self, key: str) -> None:
        """A job with the same cache key is already in flight (resumed after a crash): wait for it, don't resubmit."""
        with self._lock:
            other = self._active_keys.get(key)
        while other is not None and not self._is_cancelled(""):
            record = self.ledger.job(other)
            if record is None or record.state not in (*PENDING_STATES, WAITING):
                return
            self._cancel_all.wait(0.2)

    def _after_submit(self, record: JobRecord, request: JobRequest, remote: RemoteJob,
                      hashes: Mapping[str, list[str]], started: float) -> None:
        backend = self.backends[record.backend]
        interval = backend.poll_interval_s  # failed polls back off from here
        limits = limits_for(record.backend, backend.poll_interval_s)
        running_since: float | None = None  # when a poll first said the job runs: the schedule's clock
        queued_polls = 0
        outage_since: float | None = None
        last_state = ""
        last_said: tuple[object, ...] = ()
        last_said_at = 0.0
        while True:
            if self._is_cancelled(record.node_id, record.job_id):
                cancelled_remotely = self._safe_cancel(backend, remote)
                note = "cancelled at the vendor" if cancelled_remotely else "cancelled here (the vendor had no cancel)"
                self.ledger.set_state(record.job_id, JobState.CANCELLED.value, note)
                self._emit(Event(kind="cancelled", node_id=record.node_id, job_id=record.job_id,
                                 take_index=record.take_index, message=note))
                return
            try:
                status = backend.poll(remote)
                outage_since = None
            except BackendError as error:
                if not error.kind.retryable:
                    self._fail(record, error)
                    return
                outage_since = outage_since or time.monotonic()
                if time.monotonic() - outage_since > MAX_OUTAGE_S:
                    self._emit(Event(kind="failed", node_id=record.node_id, job_id=record.job_id,
                                     message=f"{error}; the job id is kept and polling resumes on the next start"))
                    return
                self._sleep(error.retry_after_s or interval)
                interval = min(interval * 1.5, MAX_POLL_INTERVAL_S)
                continue
            if status.state.value != last_state and not status.state.terminal:
                self.ledger.set_state(record.job_id, status.state.value, status.message, durable=False)
                last_state = status.state.value
            if not status.state.terminal:
                said = (status.state.value, status.progress, status.queue_position, status.message)
                if said != last_said or time.monotonic() - last_said_at >= PROGRESS_EVERY_S:
                    # a tight schedule polls often: the main thread hears of a change, or a heartbeat, not each poll
                    last_said, last_said_at = said, time.monotonic()
                    self._emit(Event(kind="progress", node_id=record.node_id, job_id=record.job_id,
                                     take_index=record.take_index, state=status.state.value,
                                     progress=status.progress, queue_position=status.queue_position,
                                     submitted_at=record.submitted_at, message=status.message))
                if status.state == JobState.QUEUED:
                    queued_polls += 1
                elif running_since is None:
                    running_since = time.monotonic()
                running_for = 0.0 if running_since is None else time.monotonic() - running_since
                self._sleep(next_poll_s(status, limits, running_for_s=running_for, queued_polls=queued_polls - 1))
                continue
            if status.state != JobState.SUCCEEDED:
                kind = status.error_kind or {JobState.MODERATED: ErrorKind.MODERATED_OUTPUT,
                                             JobState.EXPIRED: ErrorKind.RESULT_EXPIRED,
                                             JobState.CANCELLED: ErrorKind.CANCELLED}.get(status.state,
                                                                                        ErrorKind.UNKNOWN)
                self._fail(record, BackendError(kind, status.message or status.state.value,
                                                vendor_code=status.vendor_code))
                return
            self._land(record, request, remote, status.artifacts, hashes, started)
            return

    def _safe_cancel(self, backend: Backend, remote: RemoteJob) -> bool:
        try:
            return backend.cancel(remote)
        except BackendError:
            return False

    def _land(self, record: JobRecord, request: JobRequest, remote: RemoteJob, artifacts: list[Artifact],
              hashes: Mapping[str, list[str]], started: float) -> None:
        artifact = next((a for a in artifacts if a.media == request.media), artifacts[0] if artifacts else None)
        if artifact is None:
            self._fail(record, BackendError(ErrorKind.UNKNOWN, "the vendor reported success but returned no file"))
            return
        backend = self.backends[record.backend]
        relative = take_path(record.node_id, record.job_id, artifact)
        dest = self.project_dir / relative
        dest.parent.mkdir(parents=True, exist_ok=True)
        fetch_started = time.time()
        try:
            backend.fetch(remote, artifact, dest)  # one download: its retries are the HTTP layer's
        except BackendError as error:
            self._fail(record, error)
            return
        share_like_umask(dest)  # a colleague or a farm account on a shared volume reads takes like any other file
        digest = streamed_sha256(dest) or sha256_file(dest)  # hashed while it streamed: the file is read once
        info = describe_file(dest, request.media)
        thumbnail = write_thumbnail(dest, request.media, dest.with_suffix(".thumb.png"))
        now = time.time()
        fresh = self.ledger.job(record.job_id) or record
        take = TakeRecord(
            take_id=record.job_id, node_id=record.node_id, cache_key=record.cache_key, file=relative.as_posix(),
            sha256=digest, media=request.media, duration_s=info.duration_s, width=info.width,
            height=info.height, size_bytes=dest.stat().st_size, model=record.model, variant=record.variant,
            backend=record.backend, remote_id=remote.remote_id, seed=request.params.get("seed"),
            prompt=request.prompt, estimated_usd=record.estimated_usd, actual_usd=reported_cost(remote),
            input_hashes=dumps(dict(hashes)), created_at=now,
            timings_json=json.dumps({"submitted_to_done_s": round(fetch_started - started, 3),
                                     "fetch_s": round(now - fetch_started, 3),
                                     "total_s": round(now - (fresh.created_at or started), 3),
                                     "thumbnail": thumbnail.name if thumbnail else None}))
        self.ledger.add_take(take)
        drop_scratch(self.project_dir, artifact)
        self._emit(Event(kind="landed", node_id=record.node_id, job_id=record.job_id, take_index=record.take_index,
                         take=take, state=JobState.SUCCEEDED.value))

    def _fail(self, record: JobRecord, error: BackendError) -> None:
        state = error.kind.state.value
        self.ledger.set_state(record.job_id, state, str(error), error_kind=error.kind.value,
                              error_message=error.message)
        self._emit(Event(kind="cancelled" if state == JobState.CANCELLED.value else "failed", node_id=record.node_id,
                         job_id=record.job_id, take_index=record.take_index, state=state, message=str(error)))


def _why(error: Exception) -> str:
    return error.message if isinstance(error, BackendError) else str(error).strip("'\"")
