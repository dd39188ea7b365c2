"""The Gemini Developer API backend (``gemini``): Nano Banana 2 / Pro through the synchronous ``generateContent``.

Also home of the Google wire conventions the ``vertex`` backend shares (error bodies, RetryInfo, inline results).

Checked against googleapis/python-genai, google-genai 3.6.1 (PyPI wheel, 2026-11-18) and the GitHub snapshot
66807187 (2026-08-21):

* ``_api_client.py``: base ``https://generativelanguage.googleapis.com/`` with API version ``v1``
  (``GOOGLE_AI_API_DEFAULT_VERSION = 'v1'``, L153; ``v1beta`` only when ``GOOGLE_GENAI_API_VERSION=beta``,
  L1325-1331); the key goes in the ``x-goog-api-key`` header (L1337); the SDK's retry list is 408 / 429 / 500 /
  502 / 503 / 504 (``_RETRY_HTTP_STATUS_CODES``, L790), applied to POSTs as well.
* ``models.py``: ``generate_content`` posts ``models/{model}:generateContent``; ``_Part_to_mldev`` sends images as
  ``inlineData {mimeType, data}``; ``_GenerateContentConfig_to_mldev`` puts ``responseModalities``, ``seed`` and
  ``imageConfig`` under ``generationConfig``; ``_ImageConfig_to_mldev`` sends ``aspectRatio`` / ``imageSize`` and
  raises for ``person_generation`` / ``output_mime_type`` in Gemini-API mode (so we send neither);
  ``_GenerateContentResponse_from_mldev`` reads ``candidates``, ``promptFeedback``, ``responseId``.
* ``types.py``: ``FinishReason`` (SAFETY, PROHIBITED_CONTENT, IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT,
  IMAGE_RECITATION, BLOCKLIST, SPII, NO_IMAGE, IMAGE_OTHER ...) and ``BlockedReason`` of ``promptFeedback``.
* ``errors.py``: error bodies are ``{"error": {"code", "message", "status", "details"?}}`` (``_get_status`` /
  ``_get_message`` / ``_get_code``).
* ``models.py`` ``_generate_images`` / ``_generate_videos``: Imagen and Veo raise "only supported in Gemini
  Enterprise Agent Platform mode" in Gemini-API mode (Imagen since commit 43ef621f, 2026-08-21; Veo since 3.0.0,
  2026-11-06). The catalog marks those gemini routes retired; :meth:`GeminiBackend.submit` refuses them by name.

Google's own conventions (google.rpc, not SDK code): a rejected key is HTTP 400 ``INVALID_ARGUMENT`` with an
``ErrorInfo`` reason ``API_KEY_INVALID``; a 429 ``RESOURCE_EXHAUSTED`` may carry ``RetryInfo.retryDelay`` ("37s"),
honoured when no ``Retry-After`` header is present; "limit: 0" in a quota message means the plan has no quota for
the model at all (fails fast as OUT_OF_CREDITS instead of waiting).

A ``generateContent`` answer holds the image itself, so ``submit`` writes it into the work folder and the job is
finished on return (like the offline preview). A cut or timed-out answer is NOT resent: the image may already
have been generated and billed.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

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

BACKEND_ID = "gemini"
LABEL = "Gemini API"
API_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1"
MODERATED_FINISH = frozenset({"SAFETY", "PROHIBITED_CONTENT", "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT",
                              "IMAGE_RECITATION", "RECITATION", "BLOCKLIST", "SPII"})
SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
          "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}
_RAI_WORDING = re.compile(r"responsible ai|support codes?:|usage guidelines|sensitive words", re.IGNORECASE)

log = redaction.get_logger(__name__)


# --- Google's error bodies and retry signals (shared with vertex.py) --------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GoogleErrorBody(_Loose):
    code: int | None = None
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = Field(default_factory=list)


def _error_body(response: httpx.Response) -> GoogleErrorBody | None:
    try:
        payload = response.json()
    except (ValueError, httpx.HTTPError, httpx.StreamError):
        return None
    error = payload[0] if isinstance(payload, list) and payload else payload  # some front ends wrap it in a list
    error = error.get("error") if isinstance(error, dict) else None
    if not isinstance(error, dict):
        return None
    with contextlib.suppress(ValueError):
        return GoogleErrorBody.model_validate(error)
    return None


def retry_delay(response: httpx.Response) -> float | None:
    """``RetryInfo.retryDelay`` ("37s", "1.5s") of a google.rpc error body, in seconds."""
    body = _error_body(response)
    for detail in body.details if body else []:
        delay = detail.get("retryDelay")
        if str(detail.get("@type", "")).endswith("RetryInfo") and isinstance(delay, str):
            with contextlib.suppress(ValueError):
                return max(0.0, float(delay.rstrip("s")))
    return None


def _no_quota(response: httpx.Response) -> bool:
    body = _error_body(response)
    return response.status_code == 429 and body is not None and "limit: 0" in body.message


def google_policy(policy: http.RetryPolicy | None) -> http.RetryPolicy:
    """The shared policy (with its injected sleep) set to Google's rules: it waits as ``RetryInfo`` says when no
    Retry-After header came, and never waits on a quota of zero."""
    base = policy or http.DEFAULT_POLICY
    if base.give_up is _no_quota and base.retry_hint is retry_delay:
        return base
    return dataclasses.replace(base, give_up=_no_quota, retry_hint=retry_delay)


def sync_refusal(response: httpx.Response) -> bool:
    """An error answer to a synchronous call (generateContent, :predict) carries no result, so nothing was
    delivered and nothing is left running: the SDK's own retry list applies (408 / 429 / 5xx)."""
    return response.status_code in http.RETRY_STATUSES and response.status_code != 409


def google_error(response: httpx.Response, label: str) -> BackendError:
    """Classify a Google API error answer (google.rpc status) into our taxonomy, keeping Google's message."""
    body = _error_body(response)
    if body is None:
        return http.error_for(response, label)
    status = response.status_code
    reasons = [str(d.get("reason")) for d in body.details if d.get("reason")]
    violations = [f"{v.get('field')}: {v.get('description')}" for d in body.details
                  for v in (d.get("fieldViolations") or []) if isinstance(v, dict)]
    message = "; ".join([body.message, *violations]) if body.message else "; ".join(violations)
    lowered = message.lower()
    retry_after: float | None = None
    if "API_KEY_INVALID" in reasons or status == 401 or body.status == "UNAUTHENTICATED":
        kind, what = ErrorKind.AUTH, "the credentials were rejected; check them in the preferences or environment"
    elif "BILLING_DISABLED" in reasons or (body.status == "FAILED_PRECONDITION" and "billing" in lowered):
        kind, what = ErrorKind.OUT_OF_CREDITS, "billing is not enabled for this project"
    elif status == 429 or body.status == "RESOURCE_EXHAUSTED":
        if "limit: 0" in message:
            kind, what = ErrorKind.OUT_OF_CREDITS, "the plan has no quota for this model"
        else:
            kind, what = ErrorKind.RATE_LIMITED, "rate limited"
            retry_after = http.parse_retry_after(response.headers)
            retry_after = retry_after if retry_after is not None else retry_delay(response)
    elif status == 403 or body.status == "PERMISSION_DENIED":
        kind, what = ErrorKind.AUTH, "permission denied"
    elif status == 400 and _RAI_WORDING.search(message):
        kind, what = ErrorKind.MODERATED_INPUT, "the prompt or an input image was blocked by Google's safety filters"
    elif status in (400, 404, 409, 412, 422) or body.status in ("INVALID_ARGUMENT", "FAILED_PRECONDITION",
                                                                   "NOT_FOUND", "OUT_OF_RANGE"):
        kind, what = ErrorKind.INVALID_REQUEST, "the request was rejected"
    elif status >= 500:
        kind, what = ErrorKind.VENDOR_DOWN, "the service is unavailable"
        retry_after = http.parse_retry_after(response.headers)
    else:
        return http.error_for(response, label)
    text = f"{label}: {what} (HTTP {status}{', ' + body.status if body.status else ''})"
    if message:
        text += f": {message}"
    return BackendError(kind, redaction.redact(text), status=status,
                        vendor_code=redaction.redact(reasons[0] if reasons else body.status) or None,
                        retry_after_s=retry_after)


def checked(response: httpx.Response, label: str) -> httpx.Response:
    if response.status_code >= 400:
        raise google_error(response, label)
    return http.check(response, label)


def json_of(response: httpx.Response, label: str) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code)
    return payload


# --- results written into the work folder (shared with vertex.py) -----------------------------------------------------


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[-120:] or "job"


def write_atomically(data: bytes, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, dest)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
    return dest


def land_inline(encoded: str, stem: Path, media: Media, label: str) -> tuple[Path, str]:
    """Decode a base64 payload, check it is a ``media`` file by its bytes, write it as ``stem`` + suffix."""
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: the returned {media} is not valid base64") from None
    found = downloads.sniff(data[:64])
    if found is None or found[0] != media:
        what = f"a {found[0]} file ({found[1]})" if found else "not a media file"
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{label}: expected a {media} file but the answer holds {what}")
    path = write_atomically(data, stem.with_suffix(SUFFIX.get(found[1], "")))
    return path, found[1]


def local_status(job: RemoteJob, label: str) -> JobStatus:
    """The status of a job whose file is already in the work folder."""
    path = Path(str(job.data.get("path", "")))
    if not job.data.get("path") or not path.is_file():
        return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED,
                         message=f"{label}: the finished file is gone from the work folder; render a new take "
                                 "(it is not requested again automatically, that would bill twice)")
    media: Media = "video" if job.data.get("media") == "video" else "image"
    return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message="done",
                     artifacts=[Artifact(media=media, path=path, mime_type=job.data.get("mime"))])


def copy_into(artifact: Artifact, dest: Path, label: str) -> Path:
    if artifact.path is None or not artifact.path.is_file():
        raise BackendError(ErrorKind.RESULT_EXPIRED, f"{label}: the finished file is gone from the work folder")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    try:
        shutil.copyfile(artifact.path, tmp_name)
        os.replace(tmp_name, dest)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
    return dest


def inline_image(path: Path) -> dict[str, str]:
    raw = Path(path).read_bytes()
    found = downloads.sniff(raw[:64])
    if found is None or found[0] != "image":
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{Path(path).name} is not a PNG, JPEG, WebP or GIF image")
    return {"mimeType": found[1], "data": base64.b64encode(raw).decode("ascii")}


def retired_route(request: JobRequest, backend_id: str) -> str | None:
    """Why the catalog says ``backend_id`` no longer serves this model (None while the route is live)."""
    from .catalog import load_catalog

    model = load_catalog().model(request.model)
    variant = model.variant(request.variant) if model else None
    route = variant.route(backend_id) if variant else None
    if variant is None or route is None or route.lifecycle.usable:
        return None
    live = ", ".join(r.backend for r in variant.live_routes) or "none"
    since = route.lifecycle.since.isoformat() if route.lifecycle.since else "an earlier date"
    return (f"{variant.label} is retired on the {backend_id} route since {since} ({route.lifecycle.note}); "
            f"live routes: {live}")


# --- the backend ------------------------------------------------------------------------------------------------------


def build_body(request: JobRequest) -> dict[str, Any]:
    params = request.params
    unusable = sorted(name for name, files in request.inputs.items() if files and name not in ("image", "images"))
    if unusable:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {request.backend_model_id} takes no "
                           f"{', '.join(unusable)} input")
    parts: list[dict[str, Any]] = [{"text": request.prompt}]
    for path in (*request.inputs.get("image", []), *request.inputs.get("images", [])):
        parts.append({"inlineData": inline_image(path)})
    image_config: dict[str, str] = {}
    if params.get("aspect_ratio"):
        image_config["aspectRatio"] = str(params["aspect_ratio"])
    if params.get("resolution"):
        image_config["imageSize"] = str(params["resolution"]).upper()
    config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
    if image_config:
        config["imageConfig"] = image_config
    if params.get("seed") is not None:
        config["seed"] = int(params["seed"])
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


class GeminiBackend(VendorAdapter):
    """The Gemini Developer API as a :class:`~blender_canvas.providers.backend.Backend` (synchronous images)."""

    id = BACKEND_ID
    label = LABEL
    key_name = "GEMINI_API_KEY"
    default_base_url = API_URL
    timeout = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)
    poll_interval_s = 1.0

    def __init__(self, keys: Mapping[str, str], work_dir: Path, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None) -> None:
        super().__init__(keys, work_dir, client=client, policy=policy)
        self.work_dir = Path(work_dir)
        self._policy = google_policy(policy)

    def __repr__(self) -> str:  # never show the key
        return f"GeminiBackend(api={self.api_url!r})"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/{API_VERSION}"

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if http.origin(url) not in self.own_origins():
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: refusing to send the key to a host that is "
                                                          "not the Gemini API")
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy), backend_label=LABEL,
                         headers={"x-goog-api-key": self._key}, **kwargs)

    def _post(self, url: str, body: dict[str, Any]) -> httpx.Response:
        return self._send("POST", url, refused=sync_refusal, json=body)

    def check_connection(self) -> ConnectionReport:
        """``GET models?pageSize=1`` (google-genai ``models.py`` ``list``, ``t_models_url``): free, and it needs a
        valid key."""
        url = f"{self.api_url}/models"
        return connection.probe(BACKEND_ID, LABEL, "GEMINI_API_KEY", "GET", url,
                                lambda: self._send("GET", url, params={"pageSize": 1}, **connection.CHECK),
                                _model_list, classify=lambda r: google_error(r, LABEL))

    def submit(self, request: JobRequest) -> RemoteJob:
        model = request.backend_model_id.strip().removeprefix("models/")
        why = retired_route(request, BACKEND_ID)
        if why is None and model.startswith(("imagen-", "veo-")):
            why = f"{model} is no longer served by the Gemini Developer API; use the vertex or fal route"
        if why is not None:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {why}")
        if request.media != "image" or not re.fullmatch(r"[A-Za-z0-9._-]+", model):
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {model!r} is not a Gemini image model")
        response = checked(self._post(f"{self.api_url}/models/{model}:generateContent", build_body(request)), LABEL)
        answer = json_of(response, LABEL)
        encoded, mime = image_part(answer)
        path, mime = land_inline(encoded, self.work_dir / safe_name(request.job_id), "image", LABEL)
        remote_id = str(answer.get("responseId") or f"gemini-{request.job_id}")
        log.info("%s: %s answered %s (%d bytes)", LABEL, model, remote_id, path.stat().st_size)
        return RemoteJob(backend=BACKEND_ID, remote_id=remote_id,
                         data={"path": str(path), "media": "image", "mime": mime, "model": model})

    def poll(self, job: RemoteJob) -> JobStatus:
        return local_status(job, LABEL)

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        return copy_into(artifact, dest, LABEL)

    def cancel(self, job: RemoteJob) -> bool:
        return False  # finished when submit returned


def _model_list(response: httpx.Response) -> connection.Said:
    models = response.json()["models"]  # ListModelsResponse: {models: [{name, ...}], nextPageToken}
    if not isinstance(models, list):
        raise TypeError("models is not a list")
    return "the model list is readable", {}


def image_part(answer: dict[str, Any]) -> tuple[str, str]:
    """The base64 image of a generateContent answer; moderation and empty answers raise, with Google's reason."""
    feedback = answer.get("promptFeedback") or {}
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        reason = str(feedback["blockReason"])
        detail = str(feedback.get("blockReasonMessage") or "")
        raise BackendError(ErrorKind.MODERATED_INPUT, redaction.redact(
            f"{LABEL}: the prompt was blocked ({reason})" + (f": {detail}" if detail else "")), vendor_code=reason)
    candidates = [c for c in answer.get("candidates") or [] if isinstance(c, dict)]
    images: list[tuple[bool, dict[str, Any]]] = []
    texts: list[str] = []
    for candidate in candidates:
        for part in (candidate.get("content") or {}).get("parts") or []:
            blob = part.get("inlineData") if isinstance(part, dict) else None
            if isinstance(blob, dict) and str(blob.get("mimeType", "")).startswith("image/") and blob.get("data"):
                images.append((bool(part.get("thought")), blob))
            elif isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought"):
                texts.append(part["text"])
    if images:  # the final image: the last one that is not an interim "thought" image
        finals = [blob for thought, blob in images if not thought] or [blob for _, blob in images]
        return str(finals[-1]["data"]), str(finals[-1].get("mimeType"))
    reason = next((str(c["finishReason"]) for c in candidates if c.get("finishReason")), "")
    detail = next((str(c["finishMessage"]) for c in candidates if c.get("finishMessage")), "")
    said = " ".join(texts).strip()[:300]
    note = f": {detail or said}" if (detail or said) else ""
    if reason in MODERATED_FINISH:
        raise BackendError(ErrorKind.MODERATED_OUTPUT, redaction.redact(
            f"{LABEL}: the generated image was blocked ({reason}){note}"), vendor_code=reason)
    what = f"no image ({reason})" if reason else "no image"
    raise BackendError(ErrorKind.UNKNOWN, redaction.redact(f"{LABEL}: the model returned {what}{note}"),
                       vendor_code=reason or None)
