"""BytePlus ModelArk (the international Volcengine Ark) as a backend: Seedance 2.0 / 2.0 Fast video tasks.

submit ``POST {base}/contents/generations/tasks`` -> poll ``GET …/tasks/{id}`` -> download ``content.video_url``.

What this follows, and where it was checked (no SDK code is copied):

* Vercel AI SDK ``vercel/ai`` at ed857f50f112 (2026-08-22), ``packages/bytedance/src/``:
  ``bytedance-provider.ts`` (default base ``https://ark.ap-southeast.bytepluses.com/api/v3``, ``Authorization:
  Bearer <ARK_API_KEY>``); ``bytedance-video-model.ts`` (create body ``{model, content:[{type:"text"},
  {type:"image_url", image_url:{url}, role:"first_frame"|"last_frame"|"reference_image"}, {type:"audio_url",
  audio_url:{url}, role:"reference_audio"}], ratio, duration, seed, resolution, generate_audio, watermark}`` ->
  ``{id}``; status ``succeeded`` with ``content.video_url``, ``failed`` / ``cancelled`` with ``error{code,
  message}`` "present on failed tasks (the HTTP response itself is still 200)"; HTTP errors ``{"error": {"message",
  "code"}}``); ``bytedance-video-settings.ts`` (model ids ``dreamina-seedance-2-0-260128`` and
  ``dreamina-seedance-2-0-fast-260128``).
* ModelArk / Ark docs (search corpus): docs.byteplus.com/en/docs/ModelArk/1520757 (create task: base URL above,
  at most 120 queued tasks per account); docs.byteplus.com/en/docs/ModelArk/1299023 (common error codes: 401
  ``AuthenticationError``, **403 ``AccountOverdueError``** = unpaid balance, 400 ``InputTextSensitiveContentDetected``
  / ``InputImageSensitiveContentDetected`` "… may contain sensitive information", 429 rate limits); the Volcengine
  mirror of the query-task page (InteraqtDev/interaqt-app-boilerplate ``integrations/docs/volcengine/fangzhou/
  videogen/query-video-generation-task-api.md``: statuses ``queued/running/cancelled/succeeded/failed``, only
  queued tasks can be cancelled, ``video_url`` cleaned up after 24 h, tasks queryable for 7 days; and
  ``create-task-api.md``: data URIs must read ``data:image/<lower-case format>;base64,…``, images < 30 MB, first
  frame role may be ``first_frame``, first/last-frame and reference-image modes are mutually exclusive, seed in
  [-1, 2^32-1]); composio BytePlus Ark toolkit doc (DELETE cancels a *queued* task but **deletes the record of a
  terminal one**, so :meth:`cancel` looks before it deletes).
* Real failures quoted in issues: Comfy-Org/ComfyUI #13883 (``{"status": "failed", "error": {"code":
  "OutputAudioSensitiveContentDetected", "message": "The request failed because the output audio may contain
  sensitive information. Request id: …"}}``), openstory-so/openstory #1680 (``AudioSensitiveContentDetected.
  PolicyViolation`` about *output* audio), vm0-ai/vm0 #30959 (output video "may contain sensitive information").

UNCONFIRMED (no primary source found): the ``expired`` task status (seen on resellers that pass through
``execution_expires_after``); whether ``reference_audio`` may accompany a first frame (sent as given, ModelArk
decides); ``Retry-After`` on ModelArk's 429s (honoured when present); the meaning of 429 ``QuotaExceeded`` /
``SetLimitExceeded`` (treated as out of credits, never retried); the 64 MB request-body cap quoted by resellers.
"""

from __future__ import annotations

import base64
import mimetypes
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
    RemoteJob,
)

BACKEND_ID = "byteplus"
LABEL = "BytePlus"
KEY_NAME = "ARK_API_KEY"
BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
TASKS_PATH = "/contents/generations/tasks"
MAX_VIDEO_BYTES = 2 << 30
MAX_IMAGE_BYTES = 30 << 20  # create-task doc: images under 30 MB
RATIOS = frozenset({"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"})

log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)


# --- request body ----------------------------------------------------------------------------------------------------


def data_uri(path: Path) -> str:
    """``data:<type>;base64,…`` with the type sniffed from the bytes (lower case, as ModelArk requires)."""
    raw = Path(path).read_bytes()
    sniffed = downloads.sniff(raw[:64])
    mime = sniffed[1] if sniffed else (mimetypes.guess_type(str(path))[0] or "application/octet-stream")
    return f"data:{mime.lower()};base64,{base64.b64encode(raw).decode('ascii')}"


def _image(path: Path, role: str) -> dict[str, Any]:
    size = Path(path).stat().st_size
    if size >= MAX_IMAGE_BYTES:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: image {Path(path).name} is {size} bytes; ModelArk "
                           "takes images under 30 MB")
    return {"type": "image_url", "image_url": {"url": data_uri(path)}, "role": role}


def build_body(request: JobRequest) -> dict[str, Any]:
    """The create-task JSON for a Seedance 2.0 job."""
    params, inputs = request.params, request.inputs
    first, last = inputs.get("image") or [], inputs.get("last_frame") or []
    refs, audio = inputs.get("images") or [], inputs.get("audio") or []
    if inputs.get("video"):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: reference videos are not supported on this route "
                           "(ModelArk wants them as URLs); use the fal route for video references")
    if refs and (first or last):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: reference images cannot be combined with a first or "
                           "last frame (ModelArk treats them as separate modes)")
    if last and not first:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: a last frame needs a first frame")
    if audio and not (refs or first):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: reference audio needs at least one image")
    content: list[dict[str, Any]] = []
    if request.prompt:
        content.append({"type": "text", "text": request.prompt})
    content += [_image(p, "first_frame") for p in first[:1]]
    content += [_image(p, "last_frame") for p in last[:1]]
    content += [_image(p, "reference_image") for p in refs]
    content += [{"type": "audio_url", "audio_url": {"url": data_uri(p)}, "role": "reference_audio"} for p in audio]
    if not content:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: nothing to generate from (no prompt, no image)")
    body: dict[str, Any] = {"model": request.backend_model_id, "content": content}
    ratio = params.get("aspect_ratio")
    if ratio:
        body["ratio"] = "adaptive" if str(ratio) in ("auto", "adaptive") else str(ratio)
    if params.get("duration_s") is not None:
        body["duration"] = int(params["duration_s"])
    if params.get("resolution"):
        body["resolution"] = str(params["resolution"])
    if params.get("seed") is not None:  # the engine sends a seed only where the catalog says the route takes one
        body["seed"] = int(params["seed"])
    if params.get("audio") is not None:
        body["generate_audio"] = bool(params["audio"])
    body["watermark"] = False
    body.update(request.fixed)
    return body


# --- ModelArk's answers ----------------------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateAnswer(_Loose):
    id: str


class TaskError(_Loose):
    code: str | None = None
    message: str | None = None


class TaskContent(_Loose):
    video_url: str | None = None
    last_frame_url: str | None = None


class TaskAnswer(_Loose):
    id: str | None = None
    status: str
    content: TaskContent | None = None
    error: TaskError | None = None
    usage: dict[str, Any] | None = None
    seed: int | None = None


def classify_failure(code: str | None, message: str | None) -> ErrorKind:
    """The ErrorKind of a failed task (or of a 4xx) from ModelArk's error code and message."""
    c, m = (code or "").lower(), (message or "").lower()
    sensitive = "sensitivecontent" in c or "riskdetection" in c or "sensitive information" in m \
        or "sensitive content" in m or "copyright" in m
    if sensitive:
        # Output*/"the output …" is the generated clip (or its sound); Input*, bare SensitiveContentDetected and
        # anything else is what we sent. AudioSensitiveContentDetected.PolicyViolation concerns the output audio.
        on_output = c.startswith("output") or "the output" in m or c.startswith("audiosensitive")
        return ErrorKind.MODERATED_OUTPUT if on_output else ErrorKind.MODERATED_INPUT
    if c.startswith(("invalidparameter", "missingparameter")):
        return ErrorKind.INVALID_REQUEST
    if "overdue" in c or "quotaexceeded" in c or "setlimitexceeded" in c:
        return ErrorKind.OUT_OF_CREDITS
    if "internal" in c or "overload" in c or "timeout" in c or "unavailable" in c:
        return ErrorKind.VENDOR_DOWN
    return ErrorKind.UNKNOWN


_WHAT = {ErrorKind.MODERATED_INPUT: "the input was flagged by ModelArk's content check",
         ErrorKind.MODERATED_OUTPUT: "the generated video was flagged by ModelArk's content check",
         ErrorKind.OUT_OF_CREDITS: "the account has an overdue balance or no quota left"}


def http_error(response: httpx.Response) -> BackendError:
    """:func:`http.error_for` with ModelArk's own codes on top (moderation on a 400, overdue on a 403, quota 429s)."""
    base = http.error_for(response, LABEL)
    message, code = http.vendor_message(response)
    kind = classify_failure(code, message) if response.status_code in (400, 403, 429) else ErrorKind.UNKNOWN
    if kind not in _WHAT:
        return base
    text = f"{LABEL}: {_WHAT[kind]} (HTTP {response.status_code})" + (f": {message}" if message else "")
    return BackendError(kind, redaction.redact(text), status=response.status_code, vendor_code=code)


def _refused_before_accepted(response: httpx.Response) -> bool:
    """A submit answer that proves no task was created, so resending cannot bill twice: a rate-limit 429 (not a quota
    one), or a 502/503/504 page from a proxy in front of the API (not ModelArk's own JSON)."""
    if response.status_code == 429:
        return classify_failure(http.vendor_message(response)[1], None) != ErrorKind.OUT_OF_CREDITS
    is_json = "json" in response.headers.get("content-type", "")
    return response.status_code in (502, 503, 504) and not is_json


# --- the backend -----------------------------------------------------------------------------------------------------


class BytePlusBackend(VendorAdapter):
    """ModelArk's content-generation tasks as a :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    label = LABEL
    key_name = KEY_NAME
    default_base_url = BASE_URL
    poll_interval_s = 3.0

    def _task_url(self, task_id: str) -> str:
        return f"{self.base_url}{TASKS_PATH}/{task_id}"

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if http.origin(url) not in self.own_origins():
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: refusing to send the key to a host that is not "
                               "the ModelArk API")
        headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {self._key}"}
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy), backend_label=LABEL,
                         headers=headers, **kwargs)

    def check_connection(self) -> ConnectionReport:
        """``GET …/contents/generations/tasks?page_num=1&page_size=1``: the task list (Ark's "query content
        generation task list" page, mirrored in Volcengine's Ark API docs; composio's BytePlus Ark toolkit lists it),
        free and authenticated like every task call."""
        url = f"{self.base_url}{TASKS_PATH}"
        return connection.probe(BACKEND_ID, LABEL, KEY_NAME, "GET", url,
                                lambda: self._send("GET", url, params={"page_num": 1, "page_size": 1},
                                                   **connection.CHECK), _task_list, classify=http_error)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        body = build_body(request)
        response = self._send("POST", f"{self.base_url}{TASKS_PATH}", json=body, refused=_refused_before_accepted)
        if response.status_code >= 400:
            raise http_error(response)
        answer = _parse(CreateAnswer, http.check(response, LABEL))
        log.info("%s: submitted %s as %s", LABEL, request.backend_model_id, answer.id)
        return RemoteJob(backend=BACKEND_ID, remote_id=answer.id, urls={"status": self._task_url(answer.id)},
                         data={"model": request.backend_model_id, "media": request.media})

    def poll(self, job: RemoteJob) -> JobStatus:
        response = self._send("GET", self._task_url(job.remote_id))
        if response.status_code == 404:
            message, code = http.vendor_message(response)
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED, vendor_code=code,
                             message=f"{LABEL}: task {job.remote_id} is no longer known (ModelArk keeps tasks 7 days)"
                                     + (f": {message}" if message else ""))
        if response.status_code >= 400:
            error = http_error(response)
            if error.kind.retryable or error.kind in (ErrorKind.AUTH, ErrorKind.OUT_OF_CREDITS):
                raise error
            return JobStatus(state=error.kind.state, error_kind=error.kind, vendor_code=error.vendor_code,
                             message=error.message)
        task = _parse(TaskAnswer, http.check(response, LABEL))
        return self._status(job, task)

    def _status(self, job: RemoteJob, task: TaskAnswer) -> JobStatus:
        status = task.status.lower()
        if status == "queued":
            return JobStatus(state=JobState.QUEUED, message="queued at ModelArk")
        if status == "running":
            return JobStatus(state=JobState.RUNNING, message="generating")
        if status == "succeeded":
            url = task.content.video_url if task.content else None
            if not url:
                return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                                 message=f"{LABEL}: task {job.remote_id} succeeded without a video URL")
            return JobStatus(state=JobState.SUCCEEDED, progress=1.0,
                             artifacts=[Artifact(media="video", url=url, mime_type="video/mp4")])
        if status in ("cancelled", "canceled"):
            return JobStatus(state=JobState.CANCELLED, error_kind=ErrorKind.CANCELLED, message=f"{LABEL}: cancelled")
        if status == "expired":
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED, vendor_code="expired",
                             message=f"{LABEL}: the task expired at ModelArk before it finished")
        if status == "failed":
            code = task.error.code if task.error else None
            detail = (task.error.message if task.error else None) or code or "the task failed"
            kind = classify_failure(code, detail)
            what = _WHAT.get(kind, "generation failed")
            return JobStatus(state=kind.state, error_kind=kind, vendor_code=code,
                             message=redaction.redact(f"{LABEL}: {what}: {detail}"))
        raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown task status {task.status!r}")

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        """The signed TOS URL, without credentials; an expired link is refreshed by reading the task once more."""
        return self._fetch_refreshing(job, artifact, dest, media="video", max_bytes=MAX_VIDEO_BYTES,
                                      expiry_note="ModelArk deletes videos after 24 hours")

    def cancel(self, job: RemoteJob) -> bool:
        """Cancel a queued task. ModelArk's DELETE on a finished task deletes its record (and the video with it), and
        a running task cannot be cancelled, so the task is looked at first and only a queued one is deleted."""
        response = self._send("GET", self._task_url(job.remote_id))
        if response.status_code >= 400:
            return False
        if _parse(TaskAnswer, response).status.lower() != "queued":
            return False
        response = self._send("DELETE", self._task_url(job.remote_id))
        if response.status_code < 300:
            return True
        log.info("%s: cancel of %s refused (HTTP %d)", LABEL, job.remote_id, response.status_code)
        return False


def _task_list(response: httpx.Response) -> connection.Said:
    answer = response.json()  # {items: [...], total}
    if not isinstance(answer["items"], list):
        raise TypeError("items is not a list")
    total = int(answer["total"])
    return f"{total} task{'' if total == 1 else 's'} on record", {"tasks": str(total)}


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code) from None
