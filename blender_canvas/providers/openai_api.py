"""OpenAI's own API: GPT Image 2 (synchronous, finished at submit) and Sora 2 / 2 Pro (polled video jobs).

Checked in openai/openai-python at e43b4224 (2026-08-21), plus the openai 3.57.0 facts in /work/notes/catalog-facts.md:

* ``_client.py``: base ``https://api.openai.com/v1``; ``Authorization: Bearer <OPENAI_API_KEY>``; optional
  ``OpenAI-Organization`` / ``OpenAI-Project`` (``OPENAI_ORG_ID`` / ``OPENAI_PROJECT_ID``).
* ``resources/images.py``, ``types/image_generate_params.py``, ``image_edit_params.py``, ``images_response.py``:
  ``POST /images/generations`` is JSON; ``POST /images/edits`` is multipart with ``image[]`` file parts
  (``extract_files`` brackets format; curl example in ``api_reference/openapi.transformed.yml``), at most 16
  png/webp/jpg under 50 MB. gpt-image-2 sizes: any ``WxH``, sides divisible by 16, aspect 1:3..3:1, at most
  3840x2160; ``quality`` low|medium|high|auto; no seed; GPT image models always answer ``data[].b64_json``. The
  model is always named (3.57.0: the dall-e default is retired).
* ``resources/videos.py``, ``types/video*.py``: ``POST /videos`` is always multipart (``prompt``, ``model``,
  ``seconds`` "4"|"8"|"12", ``size`` 720x1280|1280x720|1024x1792|1792x1024, ``input_reference`` file);
  ``GET /videos/{id}`` -> ``Video`` (``status`` queued|in_progress|completed|failed, ``progress`` 0-100,
  ``expires_at``, ``error {code, message}``); ``poll()`` waits ``openai-poll-after-ms`` (else 1000 ms); download is
  ``GET /videos/{id}/content?variant=video`` with ``Accept: application/binary`` and the key. No cancel endpoint.
  Every method carries ``@deprecated("The Sora API is scheduled to permanently shut down on September 24, 2026.")``;
  that date has passed, so a 404 / 410 / model-not-found on create says so and names the live video routes.
* ``_base_client.py``: retries 408/409/429/5xx, honours ``retry-after-ms`` then ``retry-after`` and
  ``x-should-retry`` (as the shared RetryPolicy does). The SDK resends POSTs without an idempotency key; we resend a
  POST only on a rate-limit 429 or ``x-should-retry: true``, and never retry a 429 ``insufficient_quota``.

Secondary (UNCONFIRMED, not in the SDK): moderation is HTTP 400 ``error.code = "moderation_blocked"`` (type
``image_generation_user_error``, optional ``moderation_details.moderation_stage`` input|output) per GooeyAI
gooey-server PR #1091 and fixtures of public OpenAI-image clients; a failed video's moderation codes are not
enumerated anywhere, so codes/messages naming moderation, content policy or safety count. Sora wants the reference
image to match the requested size (OpenAI's Sora guide as quoted in public docs): it is cover-cropped first.

The request side (sizes, fields, the multipart form, the inputs fitted to them) is in :mod:`.openai_bodies`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
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
from .openai_bodies import (
    IMAGE_QUALITIES,
    LABEL,
    MAX_REFERENCE_BYTES,
    MAX_REFERENCE_IMAGES,
    VIDEO_SECONDS,
    VIDEO_SIZES,
    bad,
    image_fields,
    image_size,
    reference_parts,
    video_form,
    video_size,
)

BACKEND_ID = "openai"
API_URL = "https://api.openai.com/v1"
OPENAI_HOSTS = frozenset({"api.openai.com"})
SORA_SHUTDOWN = "2026-09-24"
IMAGE_TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=120.0, pool=10.0)  # the SDK's own default is 600 s
UPLOAD_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=10.0)
MAX_VIDEO_BYTES = 4 << 30
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}
_MODERATION = re.compile(r"moderat|content[ _]policy|safety|guardrail", re.IGNORECASE)
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"})
_GONE_CODES = frozenset({"model_not_found", "model_deprecated", "deprecated", "not_found"})

log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)
# the request side lives in openai_bodies; its public names stay reachable from here
__all__ = ["API_URL", "BACKEND_ID", "IMAGE_QUALITIES", "LABEL", "MAX_REFERENCE_BYTES", "MAX_REFERENCE_IMAGES",
           "SORA_SHUTDOWN", "VIDEO_SECONDS", "VIDEO_SIZES", "OpenAIBackend", "classify",
           "image_fields", "image_size", "reference_parts", "video_form", "video_size"]


# --- OpenAI's answers -----------------------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageDatum(_Loose):
    b64_json: str | None = None
    revised_prompt: str | None = None


class ImagesAnswer(_Loose):
    data: list[ImageDatum] | None = None
    usage: dict[str, Any] | None = None


class VideoError(_Loose):
    code: str = ""
    message: str = ""


class VideoAnswer(_Loose):
    id: str
    status: str
    progress: int | None = None
    model: str | None = None
    size: str | None = None
    seconds: str | None = None
    expires_at: int | None = None
    error: VideoError | None = None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        response.read()
        body = response.json()
    except (ValueError, httpx.HTTPError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _out_of_quota(response: httpx.Response) -> bool:
    """A 429 saying the account is out of credits (``insufficient_quota``): final, waiting refills nothing."""
    return response.status_code == 429 and _error_body(response).get("code") in _QUOTA_CODES


def classify(response: httpx.Response, label: str = LABEL) -> BackendError:
    """A failed OpenAI answer as a BackendError: moderation and quota by ``error.code``, the rest as the shared
    layer classifies it, with ``error.param`` named unless the message quotes it."""
    error = _error_body(response)
    code = str(error.get("code") or "")
    status = response.status_code
    message = redaction.redact(str(error.get("message") or ""))
    if 400 <= status < 500 and status != 429 and _MODERATION.search(f"{code} {error.get('type') or ''}"):
        details = error.get("moderation_details")
        stage = details.get("moderation_stage") if isinstance(details, dict) else None
        kind = ErrorKind.MODERATED_OUTPUT if stage == "output" else ErrorKind.MODERATED_INPUT
        what = "the result was" if kind == ErrorKind.MODERATED_OUTPUT else "the prompt or an input image was"
        return BackendError(kind, f"{label}: {what} blocked by OpenAI's moderation (HTTP {status}): {message}",
                            status=status, vendor_code=code or None)
    if code in _QUOTA_CODES:
        return BackendError(ErrorKind.OUT_OF_CREDITS, f"{label}: the account is out of credits or over its "
                            f"spending limit (HTTP {status}): {message}", status=status, vendor_code=code)
    generic = http.error_for(response, label)
    param = error.get("param")
    if isinstance(param, str) and param and f"'{param}'" not in generic.message:
        return BackendError(generic.kind, f"{generic.message} (field: {param})", status=status,
                            vendor_code=generic.vendor_code, retry_after_s=generic.retry_after_s)
    return generic


def _live_video_routes() -> str:
    from .catalog import Kind, load_catalog

    live = []
    for model in load_catalog().models:
        if model.kind != Kind.VIDEO or model.preview_only or model.id == "sora-2":
            continue
        backends = sorted({r.backend for v in model.variants for r in v.live_routes if r.backend != "preview"})
        if backends:
            live.append(f"{model.label} ({', '.join(backends)})")
    return "; ".join(live) or "none in this catalog"


def _video_failure(video: VideoAnswer) -> JobStatus:
    error = video.error or VideoError(code="", message="the video job failed without a reason")
    code, text = error.code, redaction.redact(error.message or error.code or "failed")
    hint = f"{code} {text}".lower()
    if _MODERATION.search(hint):
        on_input = any(w in hint for w in ("input", "prompt", "reference", "image_content")) and "output" not in hint
        kind = ErrorKind.MODERATED_INPUT if on_input else ErrorKind.MODERATED_OUTPUT
        what = "the prompt or first frame was" if on_input else "the generated video was"
        return JobStatus(state=JobState.MODERATED, error_kind=kind, vendor_code=code or None,
                         message=f"Sora: {what} blocked by OpenAI's moderation: {text}")
    kind = (ErrorKind.OUT_OF_CREDITS if code in _QUOTA_CODES else ErrorKind.INVALID_REQUEST
            if code.startswith(("invalid", "unsupported")) else ErrorKind.VENDOR_DOWN
            if code in ("server_error", "internal_error", "timeout", "processing_error") else ErrorKind.UNKNOWN)
    return JobStatus(state=JobState.FAILED, error_kind=kind, vendor_code=code or None,
                     message=f"Sora: the video failed: {text}")


# --- the backend -----------------------------------------------------------------------------------------------------


class OpenAIBackend(VendorAdapter):
    """OpenAI images (finished at submit) and Sora videos (polled) as a
    :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    label = LABEL
    key_name = "OPENAI_API_KEY"
    api_hosts = OPENAI_HOSTS
    default_base_url = API_URL
    poll_interval_s = 1.0  # the SDK's default when OpenAI sends no openai-poll-after-ms

    def __init__(self, keys: Mapping[str, str], work_dir: Path, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(keys, work_dir, client=client, policy=policy)
        self._extra = {name: keys[env] for name, env in (("OpenAI-Organization", "OPENAI_ORG_ID"),
                                                          ("OpenAI-Project", "OPENAI_PROJECT_ID")) if keys.get(env)}
        self.work_dir = Path(work_dir)
        self._policy = dataclasses.replace(self._policy, give_up=_out_of_quota)
        self._clock = clock

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(api={self.api_url!r})"

    @property
    def api_url(self) -> str:
        # rehosting "…/v1/" (not "…/v1") keeps an override that itself ends in /v1 from becoming /v1/v1
        return http.rehost(f"{API_URL}/", BACKEND_ID).rstrip("/")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", **self._extra}

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if http.origin(url) not in self.own_origins():
            raise bad(f"{LABEL}: refusing to send the key to {httpx.URL(url).host}, which is not OpenAI's API host")
        headers = {**kwargs.pop("headers", {}), **self._auth()}
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy), backend_label=LABEL,
                         headers=headers, **kwargs)

    def check_connection(self) -> ConnectionReport:
        """``GET /models`` (openai-python ``resources/models.py`` ``list``): free, and it lists what the key
        may use."""
        url = f"{self.api_url}/models"
        return connection.probe(BACKEND_ID, LABEL, "OPENAI_API_KEY", "GET", url,
                                lambda: self._send("GET", url, **connection.CHECK), _models, classify=classify)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        if request.media == "image":
            return self._submit_image(request)
        if request.media == "video":
            return self._submit_video(request)
        raise bad(f"{LABEL}: no {request.media} models on this backend")

    def _submit_image(self, request: JobRequest) -> RemoteJob:
        fields = image_fields(request)
        refs = request.inputs.get("images") or []
        notes: list[str] = []
        if refs:
            form = [(k, (None, str(v))) for k, v in fields.items()]
            files = [*form, *reference_parts(refs, notes)]
            response = self._send("POST", f"{self.api_url}/images/edits", files=files, refused=_refused,
                                  timeout=IMAGE_TIMEOUT)
        else:
            response = self._send("POST", f"{self.api_url}/images/generations", json=fields, refused=_refused,
                                  timeout=IMAGE_TIMEOUT)
        if response.status_code >= 400:
            raise classify(response)
        answer = _parse(ImagesAnswer, http.check(response, LABEL))
        datum = next((d for d in answer.data or [] if d.b64_json), None)
        try:
            raw = base64.b64decode(datum.b64_json or "" if datum else "", validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if (found := downloads.sniff(raw[:64])) is None or found[0] != "image":
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: the answer carried no image in data[].b64_json")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", request.job_id).strip("._") or "job"
        path = _atomic(self.work_dir / f"openai-{safe}{_SUFFIX.get(found[1], '.png')}", raw)
        remote_id = response.headers.get("x-request-id") or f"image-{request.job_id}"
        log.info("%s: %s image %s landed as %s", LABEL, request.backend_model_id, fields["size"], path.name)
        return RemoteJob(backend=BACKEND_ID, remote_id=remote_id,
                         data={"kind": "image", "media": "image", "path": str(path), "mime": found[1],
                               "size": fields["size"], "quality": fields["quality"],
                               "revised_prompt": datum and datum.revised_prompt, "usage": answer.usage,
                               "input_notes": _logged(notes)})

    def _submit_video(self, request: JobRequest) -> RemoteJob:
        notes: list[str] = []
        parts = video_form(request, notes)
        response = self._send("POST", f"{self.api_url}/videos", files=parts, refused=_refused, timeout=UPLOAD_TIMEOUT)
        if response.status_code >= 400:
            raise self._create_error(response)
        video = _parse(VideoAnswer, http.check(response, LABEL))
        log.info("%s: submitted %s as %s", LABEL, request.backend_model_id, video.id)
        return RemoteJob(backend=BACKEND_ID, remote_id=video.id,
                         data={"kind": "video", "media": "video", "model": video.model or request.backend_model_id,
                               "size": video.size, "seconds": video.seconds, "input_notes": _logged(notes)})

    def _create_error(self, response: httpx.Response) -> BackendError:
        error = classify(response, "Sora")
        body = _error_body(response)
        text = f"{body.get('code') or ''} {body.get('message') or ''}".lower()
        gone = response.status_code in (404, 410) or str(body.get("code") or "") in _GONE_CODES \
            or any(w in text for w in ("deprecat", "shut down", "no longer available", "does not exist"))
        if not gone or error.kind in (ErrorKind.AUTH, ErrorKind.MODERATED_INPUT, ErrorKind.OUT_OF_CREDITS):
            return error
        return BackendError(ErrorKind.INVALID_REQUEST,
                            f"Sora: OpenAI shut the Sora video API down on {SORA_SHUTDOWN}, so this route no longer "
                            f"works (HTTP {response.status_code}: {redaction.redact(str(body.get('message') or ''))})."
                            f" Live video routes: {_live_video_routes()}", status=response.status_code,
                            vendor_code=error.vendor_code)

    def poll(self, job: RemoteJob) -> JobStatus:
        if job.data.get("kind") == "image":
            path = Path(str(job.data.get("path", "")))
            if not path.is_file():
                return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED,
                                 message=f"{LABEL}: the generated image is gone from the work folder and OpenAI "
                                         "keeps no copy; render a new take")
            return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message="image generated",
                             artifacts=[Artifact(media="image", path=path, mime_type=job.data.get("mime"))])
        response = self._send("GET", f"{self.api_url}/videos/{job.remote_id}")
        if response.status_code in (404, 410):
            message = redaction.redact(str(_error_body(response).get("message") or ""))
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED,
                             message=f"Sora: OpenAI no longer knows video {job.remote_id} (HTTP "
                                     f"{response.status_code}; the video API shut down on {SORA_SHUTDOWN}): {message}")
        if response.status_code >= 400:
            raise classify(response, "Sora")
        video = _parse(VideoAnswer, http.check(response, LABEL))
        hint = response.headers.get("openai-poll-after-ms", "")
        poll_after = int(hint) / 1000.0 if hint.isdigit() else None
        progress = None if video.progress is None else max(0, min(100, video.progress)) / 100.0
        if video.status == "queued":
            return JobStatus(state=JobState.QUEUED, progress=progress, poll_after_s=poll_after, message="queued")
        if video.status == "in_progress":
            return JobStatus(state=JobState.RUNNING, progress=progress, poll_after_s=poll_after,
                             message=f"rendering {video.progress or 0}%")
        if video.status == "failed":
            return _video_failure(video)
        if video.status != "completed":
            raise BackendError(ErrorKind.UNKNOWN, f"Sora: unknown video status {video.status!r}")
        if video.expires_at is not None and video.expires_at <= self._clock():
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED,
                             message=f"Sora: video {video.id} finished but its download expired (expires_at "
                                     f"{video.expires_at}) before it was fetched")
        url = f"{self.api_url}/videos/{video.id}/content?variant=video"
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message="completed",
                         artifacts=[Artifact(media="video", url=url, mime_type="video/mp4", needs_auth=True)])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        if artifact.path is not None:
            return _atomic(Path(dest), artifact.path)
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the artifact has neither a file nor a URL")
        headers = {**self._auth(), "Accept": "application/binary"}
        return downloads.download(self._client, artifact.url, dest, media=artifact.media, max_bytes=MAX_VIDEO_BYTES,
                                  auth_headers=headers, allowed_auth_hosts=self.own_origins(), policy=self._policy,
                                  backend_label=LABEL)

    def cancel(self, job: RemoteJob) -> bool:
        """Images finish at submit; the video API has no cancel (only delete, which the SDK does not document as
        stopping a job), so nothing is sent."""
        return False


def _models(response: httpx.Response) -> connection.Said:
    listed = [m["id"] for m in response.json()["data"]]  # types/model.py: {id, object, created, owned_by}
    ours = [m for m in ("gpt-image-2", "sora-2", "sora-2-pro") if m in listed]
    return f"{len(listed)} models visible" + (f", including {', '.join(ours)}" if ours else ""), \
        {"models": str(len(listed))}


def _logged(notes: list[str]) -> list[str]:
    for note in notes:
        log.info("%s: %s", LABEL, note)
    return notes


def _refused(response: httpx.Response) -> bool:
    """A POST OpenAI turned away before doing the work (resending cannot bill twice): a rate-limit 429."""
    return response.status_code == 429 and _error_body(response).get("code") not in _QUOTA_CODES


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code) from None


def _atomic(dest: Path, source: bytes | Path) -> Path:
    """``source`` (bytes, or a file to copy) written to ``dest`` through a temporary file beside it."""
    if isinstance(source, Path) and not source.is_file():
        raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the generated image is gone from the work folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source if isinstance(source, bytes) else source.read_bytes())
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return dest
