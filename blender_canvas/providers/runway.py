"""The Runway API backend: create a task -> ``GET /v1/tasks/{id}`` -> download the signed output URLs.

Checked against runwayml 5.24.0 from PyPI (the wheel; the GitHub snapshot c604e0e is older):

* ``_client.py``: base ``https://api.dev.runwayml.com``; headers ``Authorization: Bearer <RUNWAYML_API_SECRET>`` and
  ``X-Runway-Version: 2024-11-06``;
* ``types/image_to_video_create_params.py``, ``text_to_video_create_params.py``, ``video_to_video_create_params.py``,
  ``text_to_image_create_params.py``: each model's fields and its ``ratio`` pixel strings (copied into ``VIDEO`` /
  ``IMAGE`` below as data): gen4.5 (``duration`` 2-10, ``promptText`` required, <= 1000 UTF-16 units, t2v only
  1280:720 / 720:1280, ``promptImage`` first frame only), veo3.1 / veo3.1_fast (``duration`` 4|6|8, ``audio``,
  ``seed``, first + last frame, ``ratio`` required), kling3.0_* / klingO3_* (``duration`` int, ``audio``, first + last
  frame, no ``seed``), seedance2 / seedance2_fast (``promptImage`` first/last, or reference images: ``promptImage``
  items without position on i2v, ``references`` on t2v, up to 9; ``referenceAudio`` ``{type: "audio", uri}``;
  ``seed``; prompt <= 3500), aleph2 (``videoUri``, ``promptText``, ``seed``, ``keyframes`` <= 5 of ``{uri, at}``
  with ``at`` a 0..1 fraction, ``targetAspectRatio``), gemini_image3.1_flash / gemini_image3_pro / gpt_image_2
  (``promptText``, ``ratio``, ``referenceImages`` [{uri}] up to 14 / 14 / 16; gpt_image_2 ``quality``; no seed);
* ``types/image_to_video_create_response.py`` (and the other create responses): ``{id, estimatedCost: {credits}}``;
* ``types/task_retrieve_response.py``: ``PENDING`` / ``THROTTLED`` / ``RUNNING`` (+ ``progress``) / ``SUCCEEDED``
  (+ ``output`` URLs that "expire within 24-48 hours; fetch the task again to get fresh URLs") / ``FAILED``
  (+ ``failure``, ``failureCode``) / ``CANCELLED``; terminal tasks carry ``cost.credits``;
* ``resources/tasks.py``: cancel is ``DELETE /v1/tasks/{id}``, which *deletes* a finished task and its output, so
  :meth:`RunwayBackend.cancel` reads the task first and never deletes a finished one;
* ``resources/uploads.py``: ``POST /v1/uploads {filename, type: "ephemeral"}`` -> ``{uploadUrl, fields, runwayUri}``,
  then a multipart POST of ``fields`` + ``file`` to ``uploadUrl`` with a bare client (no key), and ``runwayUri`` is the
  input; ``lib/polling.py``: the SDK polls every 6 s.

From Runway's docs (docs.dev.runwayml.com): data URIs may be 5 MB (images) / 16 MB (video, audio) long, uploads
200 MB (``/assets/inputs``); 400 answers carry ``{"error": ...}``, 429 / 502 / 503 / 504 may be retried (502 / 503 =
"shedding load") (``/api-details/errors``); ``SAFETY.INPUT.*`` / ``SAFETY.OUTPUT.*`` / ``INPUT_PREPROCESSING.SAFETY.*``
are moderation, never retried, ``INTERNAL.BAD_OUTPUT.*`` a quality rejection that may be retried
(``/api-details/task-failures``). A create is resent only after 429 / 502 / 503 / 504 (refused before a task
existed); a 500 or a read timeout after a create is not resent. Output files (CloudFront) are fetched without the key.

The request bodies (each model's fields and limits, the inputs fitted to them) are built in :mod:`.runway_bodies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from . import connection, downloads, http, redaction
from .adapter import VendorAdapter
from .backend import (
    Artifact,
    BackendError,
    ConnectionReport,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    Media,
    RemoteJob,
)
from .runway_bodies import (
    GEMINI_FLASH,
    GEMINI_PRO,
    GEN45_I2V,
    GPT_IMAGE,
    IMAGE,
    IMAGE_URI_MAX,
    IMAGES,
    LABEL,
    MEDIA_URI_MAX,
    SEEDANCE,
    SEEDANCE_FAST,
    UPLOAD_MAX,
    VEO,
    VIDEO,
    Spec,
    build_request,
    data_uri,
    file_mime,
    image_uri,
    invalid,
    pick_ratio,
)

BACKEND_ID = "runway"
API_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
KEY_NAME = "RUNWAYML_API_SECRET"
USD_PER_CREDIT = 0.01  # docs: "1 credit = $0.01"
MAX_BYTES: dict[str, int] = {"image": 200 << 20, "video": 4 << 30, "audio": 500 << 20}
MODERATION = ("SAFETY.", "INPUT_PREPROCESSING.SAFETY")
log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)
# the request side lives in runway_bodies; its public names stay reachable from here
__all__ = ["API_URL", "BACKEND_ID", "GEMINI_FLASH", "GEMINI_PRO", "GEN45_I2V", "GPT_IMAGE", "IMAGE", "IMAGES",
           "IMAGE_URI_MAX", "KEY_NAME", "LABEL", "SEEDANCE", "SEEDANCE_FAST", "VEO", "VIDEO", "RunwayBackend", "Spec",
           "image_uri", "pick_ratio"]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Created(_Loose):
    id: str
    estimatedCost: dict[str, Any] | None = None


class Task(_Loose):
    id: str = ""
    status: str
    progress: float | None = None
    output: list[str] | None = None
    failure: str | None = None
    failureCode: str | None = None
    cost: dict[str, Any] | None = None


class Organization(_Loose):
    creditBalance: float  # types/organization_retrieve_response.py
    tier: dict[str, Any] | None = None


def _organization(response: httpx.Response) -> connection.Said:
    credits = Organization.model_validate(response.json()).creditBalance
    return f"{credits:g} credits (${credits * USD_PER_CREDIT:.2f})", {"credits": f"{credits:g}"}


class UploadSlot(_Loose):
    uploadUrl: str
    fields: dict[str, str] = {}
    runwayUri: str


class RunwayBackend(VendorAdapter):
    """Runway's task API as a :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    label = LABEL
    key_name = KEY_NAME
    default_base_url = API_URL
    repr_field = "api"
    api_hosts_name = "Runway's API host"
    poll_interval_s = 6.0  # lib/polling.py POLL_TIME; tasks are not updated more often than every 5 s

    api_url = VendorAdapter.base_url

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "X-Runway-Version": API_VERSION}

    def _send_path(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._send(method, f"{self.api_url}{path}", **kwargs)

    def check_connection(self) -> ConnectionReport:
        """``GET /v1/organization`` (runwayml ``resources/organization.py`` ``retrieve``): free, and it answers the
        organisation's ``creditBalance``."""
        return connection.probe(BACKEND_ID, LABEL, KEY_NAME, "GET", f"{self.api_url}/v1/organization",
                                lambda: self._send_path("GET", "/v1/organization", **connection.CHECK), _organization,
                                classify=_error)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        path, body, notes = self.build(request)
        response = self._send_path("POST", path, json=body, refused=_refused)
        created = _parse(Created, _check(response))
        credits = (created.estimatedCost or {}).get("credits")
        for note in notes:
            log.info("%s: %s", LABEL, note)
        data: dict[str, Any] = {"media": request.media, "endpoint": path, "model": body["model"],
                                "input_notes": notes}
        if isinstance(credits, int | float):
            data["estimated_credits"] = credits
            data["estimated_usd"] = round(credits * USD_PER_CREDIT, 4)
        log.info("%s: %s task %s created (estimated %s credits)", LABEL, body["model"], created.id, credits)
        return RemoteJob(backend=BACKEND_ID, remote_id=created.id, data=data)

    def poll(self, job: RemoteJob) -> JobStatus:
        task = self._task(job)
        media = _media(job)
        if task.status == "PENDING":
            return JobStatus(state=JobState.QUEUED, message="queued")
        if task.status == "THROTTLED":
            return JobStatus(state=JobState.QUEUED, message="queued: the account's concurrent task limit for this "
                                                            "model is reached (THROTTLED)")
        if task.status == "RUNNING":
            progress = min(1.0, max(0.0, task.progress)) if task.progress is not None else None
            return JobStatus(state=JobState.RUNNING, progress=progress, message="running")
        if task.status == "CANCELLED":
            return JobStatus(state=JobState.CANCELLED, error_kind=ErrorKind.CANCELLED, message=f"{LABEL}: cancelled")
        if task.status == "FAILED":
            return _failed(task.failure or "the task failed", task.failureCode, media)
        if task.status != "SUCCEEDED":
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown task status {task.status!r}")
        urls = [u for u in task.output or [] if isinstance(u, str) and u]
        if not urls:
            return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                             message=f"{LABEL}: the task succeeded without an output file")
        charged = (task.cost or {}).get("credits")
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, artifacts=[Artifact(media=media, url=u) for u in urls],
                         message=f"done ({charged} credits)" if charged is not None else "done")

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        """Download an output; a signed URL that answers 403 / 404 / 410 is re-signed by reading the task once."""
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the artifact has no URL")
        try:
            return self._download(artifact.url, artifact.media, dest)
        except BackendError as error:
            if error.kind != ErrorKind.RESULT_EXPIRED:
                raise
        log.info("%s: the output URL of %s expired; asking the task for fresh ones", LABEL, job.remote_id)
        try:
            task = self._task(job)
        except BackendError as error:
            if error.kind.retryable:
                raise
            raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output link expired and the task could not "
                               f"be read again: {error.message}") from None
        fresh = _same_output(artifact.url, task.output or []) if task.status == "SUCCEEDED" else None
        if fresh is None:
            raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output link expired and task "
                               f"{job.remote_id} no longer offers the file (status {task.status})")
        try:
            return self._download(fresh, artifact.media, dest)
        except BackendError as error:
            if error.kind == ErrorKind.RESULT_EXPIRED:
                raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output file is gone even with a freshly "
                                   f"signed link (HTTP {error.status}); outputs are kept 24-48 hours",
                                   status=error.status) from None
            raise

    def cancel(self, job: RemoteJob) -> bool:
        """Cancel a task that is still pending or running. A finished task is left alone: Runway's DELETE would
        delete it, and its output, without a refund."""
        if self._task(job).status not in ("PENDING", "THROTTLED", "RUNNING"):
            return False
        response = self._send_path("DELETE", f"/v1/tasks/{job.remote_id}")
        if response.status_code in (404, 410):
            return False
        _check(response)
        return True

    # -- requests --
    def build(self, request: JobRequest) -> tuple[str, dict[str, Any], list[str]]:
        """The endpoint path and JSON body for a request, and a note for each input changed to fit Runway."""
        return build_request(request, self._media_uri)

    def _media_uri(self, path: Path, kind: str) -> str:
        """A video / audio input: a data URI up to 16 MB, else an ephemeral upload (``runway://``) up to 200 MB."""
        raw = Path(path).read_bytes()
        uri = data_uri(raw, file_mime(raw, path))
        if len(uri) <= MEDIA_URI_MAX:
            return uri
        if len(raw) > UPLOAD_MAX:
            raise invalid(f"the {kind} {Path(path).name} is {len(raw) >> 20} MB; Runway takes at most 200 MB")
        name = Path(path).name
        slot = _parse(UploadSlot, _check(self._send_path("POST", "/v1/uploads", json={"filename": name,
                                                                                  "type": "ephemeral"},
                                                    retry_safe=True)))
        # the pre-signed upload URL is storage, not Runway's API: no key goes there
        response = http.send(self._client, "POST", slot.uploadUrl, policy=self._policy, retry_safe=True,
                             backend_label=f"{LABEL} upload", data=slot.fields,
                             files={"file": (name, raw, file_mime(raw, path))})
        if response.status_code >= 300:
            raise http.error_for(response, f"{LABEL} upload")
        log.info("%s: uploaded %s (%d bytes) as an ephemeral input", LABEL, name, len(raw))
        return slot.runwayUri

    # -- helpers --
    def _task(self, job: RemoteJob) -> Task:
        return _parse(Task, _check(self._send_path("GET", f"/v1/tasks/{job.remote_id}")))

    def _download(self, url: str, media: Media, dest: Path) -> Path:
        return downloads.download(self._client, url, dest, media=media, max_bytes=MAX_BYTES[media],
                                  policy=self._policy, backend_label=LABEL)


def _media(job: RemoteJob) -> Media:
    value = job.data.get("media")
    return value if value in ("image", "video", "audio") else "video"


def _same_output(old: str, fresh: Sequence[str]) -> str | None:
    """The re-signed URL of the same output file: same path, new signature; else the only / first one."""
    path = httpx.URL(old).path
    return next((u for u in fresh if httpx.URL(u).path == path), fresh[0] if fresh else None)


def _refused(response: httpx.Response) -> bool:
    """A create Runway turned away before a task existed (docs: 429, and 502 / 503 "shedding load", 504)."""
    return response.status_code in (429, 502, 503, 504)


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return http.check(response, LABEL)
    raise _error(response)


def _error(response: httpx.Response) -> BackendError:
    error = http.error_for(response, LABEL)  # Runway's 400s carry {"error": "<field>: <reason>"}
    if error.kind == ErrorKind.INVALID_REQUEST and "credit" in error.message.lower():
        error.kind = ErrorKind.OUT_OF_CREDITS  # a 400 "not enough credits" (wording UNCONFIRMED)
    return error


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code) from None


def _failed(failure: str, code: str | None, media: str) -> JobStatus:
    code_text = code or ""
    reason = redaction.redact(failure)
    if code_text.startswith(MODERATION):
        on_output = code_text.startswith("SAFETY.OUTPUT")
        kind = ErrorKind.MODERATED_OUTPUT if on_output else ErrorKind.MODERATED_INPUT
        what = f"the generated {media} was" if on_output else "an input (prompt or media) was"
        message = f"{LABEL}: {what} rejected by Runway's content moderation: {reason}"
    elif code_text.startswith("INTERNAL.BAD_OUTPUT"):
        kind = ErrorKind.VENDOR_DOWN
        message = (f"{LABEL}: Runway discarded the result in its quality check ({reason}); rendering again may work, "
                   "and overlaid text or graphics in the input images make this more likely")
    elif code_text.startswith(("ASSET.", "INPUT_PREPROCESSING.")) and "INTERNAL" not in code_text:
        kind, message = ErrorKind.INVALID_REQUEST, f"{LABEL}: an input could not be used: {reason}"
    elif "INTERNAL" in code_text:
        kind, message = ErrorKind.VENDOR_DOWN, f"{LABEL}: the task failed on Runway's side: {reason}"
    else:
        kind, message = ErrorKind.UNKNOWN, f"{LABEL}: the task failed: {reason}"
    return JobStatus(state=kind.state, error_kind=kind, vendor_code=code, message=message)
