"""The fal.ai queue backend: submit -> poll the status URL -> GET the response URL -> download from fal's CDN.

Checked against fal's own Python client, fal-ai/fal ``projects/fal_client/src/fal_client/client.py`` at commit
c6f0afaaceec (2026-08-21), and ``auth.py`` / ``_headers.py`` beside it:

* auth is ``Authorization: Key <FAL_KEY>`` (``auth.py`` ``AuthCredentials("Key", key).header_value``; a
  ``key_id:key_secret`` pair is sent the same way);
* submit is ``POST https://queue.fal.run/<endpoint id>`` with the model input as the JSON body, answering
  ``request_id``, ``response_url``, ``status_url``, ``cancel_url`` (``SyncClient.submit``);
* status is ``GET status_url`` with ``logs`` as a query flag; ``IN_QUEUE`` carries ``queue_position``,
  ``IN_PROGRESS`` ``logs``, ``COMPLETED`` ``logs``, ``metrics`` and, for a failed request, ``error`` /
  ``error_type`` (``_BaseRequestHandle._parse_status``); any other status value is unknown to the SDK;
* the result is ``GET response_url`` and cancel is ``PUT cancel_url`` (``SyncRequestHandle.get`` / ``cancel``);
* status, result and cancel URLs use only ``owner/app`` (plus a ``workflows`` / ``comfy`` namespace), never the
  endpoint's sub-path (``SyncRequestHandle.from_request_id``, ``AppId.from_endpoint_id``);
* HTTP errors carry ``{"detail": ...}`` and ``error_type`` (or the ``x-fal-error-type`` header) (``_raise_for_status``);
* the SDK retries 408 / 409 / 429 and ingress 502 / 503 / 504 answers that carry no ``x-fal-request-id``
  (``_should_retry_response``, ``_is_ingress_error``), on submit too. We follow that for submit: those answers
  come before fal accepted the job, so resending cannot bill twice. Anything else after a submit is not resent.

From fal's documentation (docs.fal.ai / fal.ai/docs, not the SDK): the status endpoint answers 202 while the
request is queued or running and 200 once complete; results are kept 1 h (6 min when 10 KB or larger), after which
the result GET fails (we map 404 / 410 to EXPIRED); cancel answers ``CANCELLATION_REQUESTED`` (202) or
``ALREADY_COMPLETED`` / ``NOT_FOUND``; moderation is a 422 whose detail items have ``type:
"content_policy_violation"``. Output files live on fal's CDN (``*.fal.media``) as public URLs: they are downloaded
without the key.

Inputs are sent inline as ``data:`` URIs (fal accepts them), so no upload to fal's storage host is needed.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
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

BACKEND_ID = "fal"
LABEL = "fal"
QUEUE_URL = "https://queue.fal.run"
REST_URL = "https://rest.fal.ai"
# fal_client.py QUEUE_URL_FORMAT, RUN_URL_FORMAT, REST_URL (the "queue.falrun.com" backup is not in the SDK)
FAL_HOSTS = frozenset({"queue.fal.run", "fal.run", "rest.fal.ai"})
APP_NAMESPACES = ("workflows", "comfy")
MAX_BYTES: dict[str, int] = {"image": 100 << 20, "video": 4 << 30, "audio": 500 << 20}
# fal's request error types that mean fal's side failed (the request was not billed and may be submitted again)
INFRA_ERROR_TYPES = frozenset({"request_timeout", "startup_timeout", "runner_disconnected", "runner_connection_error",
                               "runner_server_error", "internal_error", "runner_scheduling_failure"})

log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)


# --- request bodies ------------------------------------------------------------------------------------------------


def _seconds(n: int) -> str:
    return str(n)


def _veo_seconds(n: int) -> str:
    return f"{n}s"


def _int_seconds(n: int) -> int:
    return n


@dataclass(frozen=True)
class Family:
    """How one family of fal endpoints names its inputs. None = the family has no such field."""

    prefixes: tuple[str, ...]
    prompt: str | None = "prompt"
    duration: Callable[[int], str | int] | None = None
    first_frame: str | None = None
    last_frame: str | None = None
    references: str | None = None  # a list of reference stills
    audio: str | None = None
    video: str | None = None
    aspect_ratio: bool = True
    aspect_with_first_frame: bool = True  # False where the first frame decides the framing
    resolution: bool = False
    seed: bool = False
    generate_audio: bool = False
    voice: str | None = None  # text-to-speech: the voice name or id
    extra: dict[str, Any] = field(default_factory=dict)


FAMILIES: tuple[Family, ...] = (
    # Kling 3.0 takes start_image_url; O3 and the older Kling endpoints take image_url. Durations are strings.
    Family(prefixes=("fal-ai/kling-video/v3/",), duration=_seconds, first_frame="start_image_url",
           last_frame="end_image_url", aspect_with_first_frame=False, generate_audio=True),
    Family(prefixes=("fal-ai/kling-video/o3/",), duration=_seconds, first_frame="image_url",
           last_frame="end_image_url", aspect_with_first_frame=False, generate_audio=True),
    Family(prefixes=("fal-ai/kling-video/ai-avatar/",), first_frame="image_url", audio="audio_url",
           aspect_ratio=False),
    Family(prefixes=("fal-ai/kling-video/lipsync/",), prompt=None, video="video_url", audio="audio_url",
           aspect_ratio=False),
    Family(prefixes=("fal-ai/kling-video/",), duration=_seconds, first_frame="image_url",
           last_frame="tail_image_url", aspect_with_first_frame=False),
    # Veo: "8s"-style durations; the first-last-frame endpoint names both frames its own way
    Family(prefixes=("fal-ai/veo3.1/first-last-frame", "fal-ai/veo3.1/fast/first-last-frame"),
           duration=_veo_seconds, first_frame="first_frame_url", last_frame="last_frame_url", resolution=True,
           seed=True, generate_audio=True),
    Family(prefixes=("fal-ai/veo3",), duration=_veo_seconds, first_frame="image_url", last_frame="last_frame_url",
           references="image_urls", resolution=True, seed=True, generate_audio=True),
    Family(prefixes=("bytedance/seedance", "fal-ai/bytedance/seedance"), duration=_seconds, first_frame="image_url",
           last_frame="end_image_url", references="image_urls", audio="audio_url", resolution=True, seed=True,
           generate_audio=True),
    Family(prefixes=("fal-ai/sora-2",), duration=_int_seconds, first_frame="image_url", resolution=True),
    # stills
    Family(prefixes=("fal-ai/nano-banana",), references="image_urls", resolution=True, seed=True,
           extra={"num_images": 1}),
    Family(prefixes=("openai/gpt-image",), references="image_urls", extra={"num_images": 1}),
    Family(prefixes=("fal-ai/flux",), references="image_urls", seed=True, extra={"num_images": 1}),
    Family(prefixes=("fal-ai/imagen4",), seed=True, extra={"num_images": 1}),
    # voices
    Family(prefixes=("fal-ai/elevenlabs/tts/",), prompt="text", aspect_ratio=False, seed=True, voice="voice"),
)
DEFAULT_FAMILY = Family(prefixes=(), duration=_int_seconds, first_frame="image_url", last_frame="end_image_url",
                        references="image_urls", audio="audio_url", video="video_url", resolution=True, seed=True)


def family_for(endpoint_id: str) -> Family:
    return next((f for f in FAMILIES if endpoint_id.startswith(f.prefixes)), DEFAULT_FAMILY)


def data_uri(path: Path) -> str:
    """A file as a ``data:`` URI (base64), its type from the bytes where we know them, else from the name."""
    raw = Path(path).read_bytes()
    sniffed = downloads.sniff(raw[:64])
    mime = sniffed[1] if sniffed else (mimetypes.guess_type(str(path))[0] or "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _route_seed(request: JobRequest) -> bool | None:
    """Whether the catalog says this model's fal route takes a seed (None when the model is not in the catalog)."""
    from .catalog import load_catalog

    model = load_catalog().model(request.model)
    variant = model.variant(request.variant) if model else None
    return variant.seed_on(BACKEND_ID) if variant else None


def build_input(request: JobRequest) -> dict[str, Any]:
    """The model input JSON for a fal endpoint: our params and inputs under the family's field names."""
    family = family_for(request.backend_model_id)
    params = request.params
    inputs = request.inputs
    body: dict[str, Any] = dict(family.extra)
    text = request.prompt or str(params.get("text") or "")  # voice nodes carry their words in params["text"]
    if family.prompt and text:
        body[family.prompt] = text
    if family.voice and params.get("voice"):
        body[family.voice] = str(params["voice"])
    if params.get("negative_prompt") and family.prompt == "prompt":
        body["negative_prompt"] = str(params["negative_prompt"])
    duration = params.get("duration_s")
    if family.duration is not None and duration is not None:
        body["duration"] = family.duration(int(duration))
    first = inputs.get("image") or []
    if family.aspect_ratio and params.get("aspect_ratio") and (family.aspect_with_first_frame or not first):
        body["aspect_ratio"] = str(params["aspect_ratio"])
    if family.resolution and params.get("resolution"):
        body["resolution"] = str(params["resolution"])
    seed = params.get("seed")
    route_seed = _route_seed(request)
    if seed is not None and family.seed and route_seed is not False:
        body["seed"] = int(seed)
    if family.generate_audio and params.get("audio") is not None:
        body["generate_audio"] = bool(params["audio"])

    unused: list[str] = []
    for name, fieldname, many in (("image", family.first_frame, False), ("last_frame", family.last_frame, False),
                                  ("images", family.references, True), ("audio", family.audio, False),
                                  ("video", family.video, False)):
        files = inputs.get(name) or []
        if not files:
            continue
        if fieldname is None:
            unused.append(name)
            continue
        body[fieldname] = [data_uri(p) for p in files] if many else data_uri(files[0])
    if unused:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {request.backend_model_id} takes no "
                           f"{', '.join(unused)} input")
    body.update(request.fixed)
    return body


# --- fal's answers ------------------------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SubmitAnswer(_Loose):
    request_id: str
    status_url: str | None = None
    response_url: str | None = None
    cancel_url: str | None = None
    queue_position: int | None = None


class StatusAnswer(_Loose):
    status: str
    queue_position: int | None = None
    logs: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None


def app_path(endpoint_id: str) -> str:
    """``[namespace/]owner/app`` of an endpoint id: the sub-path is dropped, as fal's status URLs require."""
    parts = endpoint_id.strip("/").split("/")
    if parts and parts[0] in APP_NAMESPACES:
        return "/".join(parts[:3])
    return "/".join(parts[:2])


def artifacts_from(result: Any) -> list[Artifact]:
    """The files a fal model output points at: ``video``, ``images`` / ``image``, ``audio`` / ``audio_url``."""
    found: list[Artifact] = []
    if not isinstance(result, dict):
        return found

    def add(media: Media, value: Any) -> None:
        if isinstance(value, str) and value:
            found.append(Artifact(media=media, url=value))
        elif isinstance(value, dict) and isinstance(value.get("url"), str):
            mime = value.get("content_type")
            found.append(Artifact(media=media, url=value["url"], mime_type=mime if isinstance(mime, str) else None))

    add("video", result.get("video"))
    for key in ("images", "videos"):
        items = result.get(key)
        if isinstance(items, list):
            for item in items:
                add("image" if key == "images" else "video", item)
    add("image", result.get("image"))
    add("audio", result.get("audio"))
    add("audio", result.get("audio_url"))
    add("audio", result.get("audio_file"))
    return found


# --- the backend -----------------------------------------------------------------------------------------------------


class FalBackend(VendorAdapter):
    """fal's queue API as a :class:`~blender_canvas.providers.backend.Backend`."""

    # fal-client 1.0.3's submit sends only hint / webhook / priority headers: no idempotency key, and a request can be
    # read only by fal's request_id, so a submit cut off by a crash stays "unknown" (backend.SubmitRecovery)
    submit_recovery = "none"
    id = BACKEND_ID
    label = LABEL
    key_name = "FAL_KEY"
    default_base_url = QUEUE_URL
    repr_field = "queue"
    api_hosts = FAL_HOSTS
    api_hosts_name = "a fal API host"
    poll_interval_s = 1.0

    def __init__(self, key: str, *, client: httpx.Client | None = None, policy: http.RetryPolicy | None = None) -> None:
        super().__init__({self.key_name: key}, client=client, policy=policy)

    # -- urls and auth --
    queue_url = VendorAdapter.base_url

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Key {self._key}"}

    def check_connection(self) -> ConnectionReport:
        """``POST rest.fal.ai/storage/auth/token?storage_type=fal-cdn-v3`` with ``{}``: the short-lived upload
        token fal_client's ``CDNTokenManager`` asks for before every upload (``client.py``). It needs the key and
        creates nothing billable; fal's other account endpoints (``api.fal.ai/v1/account/billing``) want an admin
        key. The token in the answer is dropped (and redacted should it appear anywhere)."""
        url = self._rehost(f"{REST_URL}/storage/auth/token")
        return connection.probe(BACKEND_ID, LABEL, "FAL_KEY", "POST", url,
                                lambda: self._send("POST", url, params={"storage_type": "fal-cdn-v3"}, json={},
                                                   retry_safe=True, **connection.CHECK), _upload_token)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        endpoint = request.backend_model_id.strip("/")
        body = build_input(request)
        url = f"{self.queue_url}/{endpoint}"
        response = self._send("POST", url, json=body, refused=_refused_before_accepted)
        answer = self._parse(SubmitAnswer, http.check(response, LABEL))
        base = f"{self.queue_url}/{app_path(endpoint)}/requests/{answer.request_id}"
        urls = {
            "status": self._rehost(answer.status_url or f"{base}/status"),
            "result": self._rehost(answer.response_url or base),
            "cancel": self._rehost(answer.cancel_url or f"{base}/cancel"),
        }
        log.info("%s: submitted %s as %s", LABEL, endpoint, answer.request_id)
        return RemoteJob(backend=BACKEND_ID, remote_id=answer.request_id, urls=urls,
                         data={"endpoint": endpoint, "media": request.media,
                               "queue_position": answer.queue_position})

    def poll(self, job: RemoteJob) -> JobStatus:
        status_url = job.urls.get("status") or self._default_url(job, "/status")
        response = self._send("GET", status_url, params={"logs": "1"})
        status = self._parse(StatusAnswer, http.check(response, LABEL))
        if status.status == "IN_QUEUE":
            return JobStatus(state=JobState.QUEUED, queue_position=status.queue_position,
                             message=_queue_message(status.queue_position))
        if status.status == "IN_PROGRESS":
            return JobStatus(state=JobState.RUNNING, message=_last_log(status.logs))
        if status.status in ("CANCELED", "CANCELLED"):
            return JobStatus(state=JobState.CANCELLED, error_kind=ErrorKind.CANCELLED, message="cancelled")
        if status.status == "FAILED":
            return _failed(status.error or "the request failed", status.error_type)
        if status.status != "COMPLETED":
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown request status {status.status!r}")
        if status.error or status.error_type:
            return _failed(status.error or status.error_type or "the request failed", status.error_type)
        return self._result(job)

    def _result(self, job: RemoteJob) -> JobStatus:
        result_url = job.urls.get("result") or self._default_url(job, "")
        response = self._send("GET", result_url)
        if response.status_code in (404, 410):
            message, code = http.vendor_message(response)
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED, vendor_code=code,
                             message=f"{LABEL}: the result is no longer available (HTTP {response.status_code}); "
                                     f"fal keeps results 1 hour (6 minutes for large ones)"
                                     + (f": {message}" if message else ""))
        if response.status_code >= 400:
            error = http.error_for(response, LABEL)
            if error.kind.retryable or error.kind == ErrorKind.AUTH:
                raise error
            return JobStatus(state=error.kind.state, error_kind=error.kind, vendor_code=error.vendor_code,
                             message=error.message)
        http.check(response, LABEL)
        try:
            result = response.json()
        except ValueError:
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: the result is not JSON") from None
        artifacts = artifacts_from(result)
        if not artifacts:
            return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                             message=f"{LABEL}: the request completed without a media file")
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, artifacts=artifacts)

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the artifact has no URL")
        return downloads.download(self._client, artifact.url, dest, media=artifact.media,
                                  max_bytes=MAX_BYTES[artifact.media], auth_headers=self._auth(),
                                  allowed_auth_hosts=self.own_origins(), policy=self._policy, backend_label=LABEL)

    def cancel(self, job: RemoteJob) -> bool:
        cancel_url = job.urls.get("cancel") or self._default_url(job, "/cancel")
        response = self._send("PUT", cancel_url)
        body: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        answer = str(body.get("status", "")) if isinstance(body, dict) else ""
        if response.status_code in (200, 202):
            return answer not in ("ALREADY_COMPLETED", "NOT_FOUND")
        if response.status_code in (400, 404, 409, 410):
            log.info("%s: cancel of %s refused (%s)", LABEL, job.remote_id, answer or response.status_code)
            return False
        raise http.error_for(response, LABEL)

    # -- helpers --
    def _default_url(self, job: RemoteJob, suffix: str) -> str:
        endpoint = str(job.data.get("endpoint", ""))
        if not endpoint:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the job handle has no URLs")
        return f"{self.queue_url}/{app_path(endpoint)}/requests/{job.remote_id}{suffix}"

    @staticmethod
    def _parse(model: type[_M], response: httpx.Response) -> _M:
        try:
            return model.model_validate(response.json())
        except (ValueError, ValidationError):
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer "
                               f"(HTTP {response.status_code})", status=response.status_code) from None


def _upload_token(response: httpx.Response) -> connection.Said:
    answer = response.json()  # {token, token_type, base_url, expires_at}
    token = answer["token"]
    if not isinstance(token, str) or not token:
        raise TypeError("no token")
    redaction.register_secret(token)
    return "fal issued an upload token", {}


def _refused_before_accepted(response: httpx.Response) -> bool:
    """A failed submit that fal turned away before accepting the job (so resending it cannot bill twice): the same
    rule as fal's SDK, 408 / 409 / 429, or a 502 / 503 / 504 from the ingress (no ``x-fal-request-id``)."""
    if response.status_code in (408, 409, 429):
        return True
    return response.status_code in (502, 503, 504) and "x-fal-request-id" not in response.headers


def _failed(message: str, error_type: str | None) -> JobStatus:
    kind = ErrorKind.UNKNOWN
    lowered = (error_type or "").lower()
    if "content_policy" in lowered or "moderat" in lowered:
        kind = ErrorKind.MODERATED_INPUT
    elif "cancel" in lowered:
        kind = ErrorKind.CANCELLED
    elif lowered in INFRA_ERROR_TYPES:
        kind = ErrorKind.VENDOR_DOWN
    return JobStatus(state=kind.state, error_kind=kind, vendor_code=error_type,
                     message=redaction.redact(f"{LABEL}: {message}"))


def _queue_message(position: int | None) -> str:
    return "queued" if position is None else f"queued (position {position + 1})"


def _last_log(logs: list[dict[str, Any]] | None) -> str:
    if not logs:
        return "running"
    message = logs[-1].get("message")
    return redaction.redact(str(message))[:200] if message else "running"
