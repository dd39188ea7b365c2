"""The contract every backend implements: submit -> remote job, poll -> normalised state, fetch -> file, cancel.

Synchronous vendor APIs (and the offline preview) fit as jobs that are already finished when ``submit`` returns.
Backends are called from worker threads only; they never touch bpy. Secrets are given to a backend when it is
built and never appear in a request, a handle, a status or an error message.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

Media = Literal["image", "video", "audio"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MODERATED = "moderated"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


class ErrorKind(StrEnum):
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    MODERATED_INPUT = "moderated_input"
    MODERATED_OUTPUT = "moderated_output"
    INVALID_REQUEST = "invalid_request"
    OUT_OF_CREDITS = "out_of_credits"
    VENDOR_DOWN = "vendor_down"
    RESULT_EXPIRED = "result_expired"
    NETWORK = "network"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def retryable(self) -> bool:
        return self in (ErrorKind.RATE_LIMITED, ErrorKind.VENDOR_DOWN, ErrorKind.NETWORK)

    @property
    def state(self) -> JobState:
        """The terminal state a job ends in when this error is final."""
        if self in (ErrorKind.MODERATED_INPUT, ErrorKind.MODERATED_OUTPUT):
            return JobState.MODERATED
        if self == ErrorKind.RESULT_EXPIRED:
            return JobState.EXPIRED
        if self == ErrorKind.CANCELLED:
            return JobState.CANCELLED
        return JobState.FAILED


class BackendError(Exception):
    """A failure a vendor reported (or the network caused), already classified and with secrets redacted."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None, vendor_code: str | None = None,
                 retry_after_s: float | None = None, queue_full: bool = False) -> None:
        super().__init__(message)
        # the vendor turned a submit away unprocessed because the account already runs as many jobs as its plan
        # allows: the runner waits for its long queue (``http.QUEUE_WAIT_MAX_S``) instead of failing the take
        self.queue_full = queue_full
        self.kind = kind
        self.message = message
        self.status = status
        self.vendor_code = vendor_code
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        code = f" [{self.vendor_code}]" if self.vendor_code else ""
        return f"{self.kind.value}{code}: {self.message}"


class _Plain(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobRequest(_Plain):
    """Everything a backend needs for one take, snapshotted into plain data on the main thread."""

    job_id: str  # ours: the ledger's id for this take
    node_id: str
    model: str  # catalog model id
    variant: str
    backend: str
    backend_model_id: str  # the route's id (or its image_model_id when a first frame is given)
    media: Media
    prompt: str = ""
    params: dict[str, Any] = Field(default_factory=dict)  # duration_s, aspect_ratio, resolution, seed, audio, ...
    inputs: dict[str, list[Path]] = Field(default_factory=dict)  # input name -> files of the chosen upstream takes
    fixed: dict[str, str] = Field(default_factory=dict)  # fields this route always sends
    take_index: int = 0
    model_label: str = ""


class RemoteJob(_Plain):
    """The handle of a submitted job; stored in the ledger before the first poll, so a restart can resume it."""

    backend: str
    remote_id: str
    urls: dict[str, str] = Field(default_factory=dict)  # status / result / cancel URLs the vendor returned
    data: dict[str, Any] = Field(default_factory=dict)  # anything else needed to poll (never a secret)


class Artifact(_Plain):
    media: Media
    url: str | None = None  # remote, possibly pre-signed and expiring
    path: Path | None = None  # already on this machine (synchronous and offline backends)
    mime_type: str | None = None
    needs_auth: bool = False  # the vendor's own download endpoint wants the key


class JobStatus(_Plain):
    state: JobState
    progress: float | None = None  # 0..1 where the vendor says
    queue_position: int | None = None
    message: str = ""
    error_kind: ErrorKind | None = None
    vendor_code: str | None = None
    artifacts: list[Artifact] = Field(default_factory=list)
    poll_after_s: float | None = None  # the vendor's own hint for the next poll


class ConnectionReport(_Plain):
    """What a backend's "Test connection" found: one cheap authenticated call that bills nothing.

    Never carries a secret: ``endpoint`` is the method and path (no host, query or key), ``host`` the
    ``host:port`` reached, ``account`` only what the vendor said about the account (credits, plan, user name).
    """

    backend: str
    ok: bool
    message: str  # one line for the user, naming what to fix when ``ok`` is False
    endpoint: str = ""  # "GET /v1/organization"
    host: str = ""
    status: int | None = None  # the HTTP status of the answer, if one came
    latency_ms: float | None = None
    error_kind: ErrorKind | None = None
    account: dict[str, str] = Field(default_factory=dict)


@runtime_checkable
class ConnectionCheck(Protocol):
    """The optional capability behind the preferences' "Test connection" button (and the CLI's check)."""

    def check_connection(self) -> ConnectionReport:
        """Make one cheap authenticated, non-billable call and report; failures come back as a report, not raised."""
        ...


@runtime_checkable
class Backend(Protocol):
    """One service that runs jobs. Every method may raise BackendError; all run on worker threads."""

    id: str
    poll_interval_s: float  # the first interval; the runner backs off from it

    def submit(self, request: JobRequest) -> RemoteJob: ...

    def poll(self, job: RemoteJob) -> JobStatus: ...

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        """Stream the artifact to ``dest`` (atomically: a partial file never appears there)."""
        ...

    def cancel(self, job: RemoteJob) -> bool:
        """Ask the vendor to cancel; False where the API has no cancel or it is too late."""
        ...


# How a backend lets a submit cut off mid-flight (the process died after sending, before the vendor's id was written)
# be resolved without paying twice. Declared per adapter as the class attribute ``submit_recovery``:
#
# * "lookup": the submit carries our own job id and the vendor can be asked for the job by it
#   (:class:`SubmitLookup`): Kling's ``external_task_id``;
# * "none": no idempotency key and no lookup by a client id (fal-client 1.0.3 and replicate 1.0.7 send none; fal's
#   submit takes only hint / webhook / priority, Replicate's only ``Prefer: wait``), so such a job stays ``unknown``
#   until the user decides, and only an explicit resubmit sends it again;
# * "free": nothing is billed (the offline preview renders on this machine), so a cut-off submit is just made again.
SubmitRecovery = Literal["lookup", "free", "none"]


@runtime_checkable
class SubmitLookup(Protocol):
    """The capability behind ``submit_recovery = "lookup"``."""

    def can_look_up(self, request: JobRequest) -> bool:
        """Whether this request's submit carried our id (an endpoint without one stays ``unknown``)."""
        ...

    def find_submitted(self, request: JobRequest) -> RemoteJob | None:
        """The job the vendor holds under ``request.job_id``, or None when the vendor says it has none (the submit
        never arrived, so sending it is safe). Raises BackendError when the vendor cannot be asked now."""
        ...


def submit_recovery(backend: object) -> SubmitRecovery:
    """What ``backend`` offers for a submit cut off mid-flight; "none" unless it declares "free" or declares and
    implements a lookup."""
    declared = getattr(backend, "submit_recovery", "none")
    if declared == "free":
        return "free"
    return "lookup" if declared == "lookup" and isinstance(backend, SubmitLookup) else "none"
