"""Kling AI direct (``api-singapore.klingai.com``): Kling 3.0 / O3 video, Kling Avatar and lip-sync.

Checked against (cited, not copied):

* Auth and error codes: Kling's "General Information" page (mirror of app.klingai.com/global/dev/document-api/
  apiReference/commonInfo, pages corpus): HS256 JWT, header ``{"alg": "HS256", "typ": "JWT"}``, payload ``{"iss":
  access key, "exp": now + 1800, "nbf": now - 5}`` signed with the secret key, sent as ``Bearer``; body codes
  1000-1004 (401, auth), 1100-1102 (429, account / arrears / resource pack depleted). vercel/ai
  ``packages/klingai/src/klingai-auth.ts`` (ed857f50, 2026-08-22) signs the same; ``klingai-provider.ts`` defaults
  to this host. The mirrored rate-limit page: no QPS limit, one slot per video task, over it ``code 1303
  "parallel task over resource pack limit"``, back off from >= 1 s; no Retry-After is documented.
* 3.0 bodies: vercel ``klingai-video-model.ts`` (``/v1/videos/{text2video,image2video}``, ``model_name: kling-v3``,
  ``image`` / ``image_tail`` raw base64 without ``data:``, ``duration`` a string, ``sound: on|off``,
  ``aspect_ratio`` only without a first frame, poll ``GET <create path>/<task_id>``, the ``{code, message,
  request_id, data: {task_id, task_status, task_status_msg, task_result.videos[{id, url, duration}]}}``
  envelope); ComfyUI ``comfy_api_nodes/apis/kling.py`` (``ImageToVideoWithAudioRequest``, ``KlingAvatarRequest
  {image, sound_file, prompt?, mode}``, ``OmniParamImage {image_url, type}``, ``TaskStatusResponse``).
* O3 ``POST /v1/videos/omni-video`` — UNCONFIRMED on Kling's own page: ComfyUI's ``OmniProFirstLastFrameRequest``
  and reseller copies of kling.ai/document-api OmniVideo (anyfast, powertokens, cometapi, ezmodel) agree on
  ``model_name: kling-v3-omni``, ``image_list[{image_url: URL or raw base64, type: first_frame|end_frame}]``,
  ``duration`` "3".."15", ``aspect_ratio`` only without a first frame.
* Avatar ``POST /v1/videos/avatar/image2video`` (fast-token, cometapi, kkiai copies): ``image``, ``sound_file``
  (raw base64 or URL; mp3/wav/m4a/aac <= 5 MB, 2-300 s; one copy says 2-60 s), ``prompt``, ``mode``.
* Lip-sync ``POST /v1/videos/lip-sync`` ``{input: {mode: audio2video, video_id | video_url, audio_type: file,
  audio_file}}`` (aimanyi / yutoai / acedata copies; the mirrored official lip-sync page treats identify-face the
  same way): the video is only ever a Kling video id or a public URL. There is no upload, so a local file cannot
  be sent (``_lip_sync_body`` says so).
* Moderation: code 1301 (400) refuses the input; a failed task whose message speaks of risk control / policy was
  flagged on the output. The exact failure strings are undocumented (UNCONFIRMED): ``_classify_failure``.

The request bodies are built in :mod:`.kling_bodies`, where stills are fitted to Kling's limits by :mod:`.media_fit`
(short side >= 300 px, <= 10 MB, aspect 1:2.5 to 2.5:1 by centre-CROPPING, never padding, so no bars end up in the
clip); every change is reported in ``RemoteJob.data["input_notes"]``. Result URLs are pre-signed CDN URLs, fetched
with no credential.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from . import connection, downloads, http, redaction
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
from .kling_bodies import (
    AUDIO_SECONDS,
    LABEL,
    MAX_ASPECT,
    MAX_AUDIO_BYTES,
    MAX_IMAGE_BYTES,
    MIN_SIDE,
    PROMPT_MAX,
    build_request,
    prepare_audio,
    prepare_image,
)

BACKEND_ID = "kling"
API_URL = "https://api-singapore.klingai.com"
KLING_HOSTS = frozenset({"api-singapore.klingai.com", "api.klingai.com", "api-beijing.klingai.com"})
TOKEN_TTL_S = 1800
TOKEN_REFRESH_S = 300  # mint a new token when the cached one has less than this left
RATE_MIN_WAIT_S = 1.0
MAX_VIDEO_BYTES = 4 << 30
AUTH_CODES = range(1000, 1005)
CREDIT_CODES = frozenset({1101, 1102})
RATE_CODES = frozenset({1302, 1303})
TASK_NOT_FOUND = 1203  # the answer to a task query for an id Kling does not hold
_MODERATION_WORDS = ("risk", "flag", "violat", "sensitive", "policy", "moderat", "inappropriate", "prohibit")
_INPUT_WORDS = ("input", "prompt", "image", "picture", "audio", "text")
# the request side lives in kling_bodies; its public names stay reachable from here
__all__ = ["API_URL", "AUDIO_SECONDS", "BACKEND_ID", "LABEL", "MAX_ASPECT", "MAX_AUDIO_BYTES", "MAX_IMAGE_BYTES",
           "MIN_SIDE", "PROMPT_MAX", "KlingBackend", "TokenSigner", "build_request", "kling_error",
           "kling_policy", "prepare_audio", "prepare_image"]

log = redaction.get_logger(__name__)


# --- auth ------------------------------------------------------------------------------------------------------------


class TokenSigner:
    """Mints and caches the JWT; a new one is made when less than ``TOKEN_REFRESH_S`` of its life is left."""

    def __init__(self, access_key: str, secret_key: str, clock: Callable[[], float] = time.time) -> None:
        self._ak, self._sk, self._clock = access_key, secret_key, clock
        self._token, self._exp, self._lock = "", 0, threading.Lock()

    def token(self) -> str:
        with self._lock:
            now = int(self._clock())
            if not self._token or now >= self._exp - TOKEN_REFRESH_S:
                self._exp = now + TOKEN_TTL_S
                self._token = jwt.encode({"iss": self._ak, "exp": self._exp, "nbf": now - 5}, self._sk,
                                         algorithm="HS256", headers={"typ": "JWT"})
                redaction.register_secret(self._token)
            return self._token


# --- Kling's rate-limit rules and errors -----------------------------------------------------------------------------


def _body_code(response: httpx.Response) -> int | None:
    try:
        response.read()
        code = response.json().get("code")
    except (ValueError, AttributeError, httpx.HTTPError):
        return None
    return code if isinstance(code, int) else None


def _account_refused(response: httpx.Response) -> bool:
    """A 429 that says the account is out of credits (1101 / 1102) or refused (1100): waiting refills nothing."""
    return response.status_code == 429 and _body_code(response) in (*CREDIT_CODES, 1100)


def kling_policy(policy: http.RetryPolicy | None) -> http.RetryPolicy:
    """The shared policy (with its injected sleep) set to Kling's rules: a 429 that says the account is out of
    credits is never retried, and a rate or concurrency 429 without Retry-After waits at least 1 s, doubling
    (Kling's documented advice)."""
    return dataclasses.replace(policy or http.DEFAULT_POLICY, give_up=_account_refused, rate_floor_s=RATE_MIN_WAIT_S)


def _refused(response: httpx.Response) -> bool:
    """A submit Kling turned away before creating a task (so resending cannot bill twice): rate / concurrency."""
    return response.status_code == 429 and _body_code(response) in RATE_CODES


def kling_error(response: httpx.Response) -> BackendError:
    """A failed Kling answer classified by its body code first (the HTTP status is too coarse: 429 carries both
    'out of credits' and 'too many tasks'), with Kling's own message."""
    base = http.error_for(response, LABEL)
    code = _body_code(response)
    message, _ = http.vendor_message(response)
    kind, what, wait = base.kind, "", base.retry_after_s
    if code in AUTH_CODES or code == 1100:
        kind, what = ErrorKind.AUTH, "the account or its keys were refused; check KLING_ACCESS_KEY / KLING_SECRET_KEY"
    elif code in CREDIT_CODES:
        kind, what = ErrorKind.OUT_OF_CREDITS, "out of credits (resource pack depleted or expired, or in arrears)"
    elif code == 1301:
        kind, what = ErrorKind.MODERATED_INPUT, "the input was refused by Kling's content policy"
    elif code in RATE_CODES:
        kind = ErrorKind.RATE_LIMITED
        what = "too many tasks at once for the account's resource pack" if code == 1303 else "requests too fast"
        # no Retry-After from Kling: the HTTP layer's back-off applies; a full account queue (1303) is the runner's
        # long-queue wait (http.QUEUE_WAIT_MAX_S)
    elif code is not None and 1200 <= code < 1300:
        kind, what = ErrorKind.INVALID_REQUEST, "the request was rejected"
    elif code is not None and code >= 5000:
        kind, what = ErrorKind.VENDOR_DOWN, "the service is unavailable"
    if not what:
        return base
    text = f"{LABEL}: {what} (HTTP {response.status_code})" + (f": {message}" if message else "")
    return BackendError(kind, redaction.redact(text), status=response.status_code,
                        vendor_code=str(code) if code is not None else None, retry_after_s=wait,
                        queue_full=code == 1303)


# --- Kling's answers -------------------------------------------------------------------------------------------------


class TaskData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task_id: str
    task_status: str | None = None
    task_status_msg: str | None = None
    task_result: dict[str, Any] | None = None  # {"videos": [{"id", "url", "duration"}]}


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: int
    message: str | None = None
    request_id: str | None = None
    data: TaskData | None = None


def _classify_failure(message: str) -> ErrorKind:
    lowered = message.lower()
    if any(w in lowered for w in _MODERATION_WORDS):
        says_input = any(w in lowered for w in _INPUT_WORDS) and "output" not in lowered
        return ErrorKind.MODERATED_INPUT if says_input else ErrorKind.MODERATED_OUTPUT
    return ErrorKind.UNKNOWN


def _resource_packs(response: httpx.Response) -> connection.Said:
    answer = response.json()
    if answer["code"] != 0:  # an error in a 200 envelope is classified like an HTTP one
        raise kling_error(httpx.Response(200, json={"code": answer["code"], "message": answer.get("message") or ""}))
    packs = [p for p in answer["data"]["resource_pack_subscribe_infos"] or [] if p.get("status") == "online"]
    if not packs:
        return "no resource pack is in effect, so video tasks will be refused until one is bought", {"packs": "0"}
    left = sum(float(p.get("remaining_quantity") or 0) for p in packs)
    return (f"{len(packs)} resource pack{'s' if len(packs) > 1 else ''} in effect, {left:g} units left (Kling's "
            "count lags up to 12 h)"), {"packs": str(len(packs)), "remaining": f"{left:g}"}


# --- the backend -----------------------------------------------------------------------------------------------------


class KlingBackend:
    """Kling's task API as a :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    poll_interval_s = 5.0
    # every create carries our job id as ``external_task_id`` and a task can be read by it (Kling's "Query Task
    # (Single)": the path takes the task_id or the external_task_id), so a submit cut off by a crash is found, not
    # guessed; lip-sync's body (an ``input`` object) documents no external id, so those stay "unknown"
    submit_recovery = "lookup"

    def __init__(self, keys: Mapping[str, str], work_dir: Path | None = None, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None, clock: Callable[[], float] = time.time) -> None:
        access, secret = http.require_keys(keys, LABEL, "KLING_ACCESS_KEY", "KLING_SECRET_KEY")
        self._signer = TokenSigner(access, secret, clock)
        self._client = client or http.make_client(BACKEND_ID)
        self._policy = kling_policy(policy)
        self.work_dir = work_dir

    def __repr__(self) -> str:  # never show a key
        return f"KlingBackend(api={self.api_url!r})"

    @property
    def api_url(self) -> str:
        return http.base_url(BACKEND_ID, API_URL)

    def own_origins(self) -> set[str]:
        """``host:port`` of Kling's API hosts after rehosting: the only places the token may go."""
        return {http.origin(http.rehost(f"https://{host}/", BACKEND_ID)) for host in KLING_HOSTS}

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        if http.origin(url) not in self.own_origins():
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: refusing to send credentials to "
                               f"{httpx.URL(url).host}, which is not a Kling API host")
        headers = {"Authorization": f"Bearer {self._signer.token()}"}
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy), backend_label=LABEL,
                         headers=headers, **kwargs)

    def check_connection(self) -> ConnectionReport:
        """``GET /account/costs`` (Kling's "Account Information Inquiry" page: "free to call", QPS <= 1): the
        resource packs of the last 30 days and what is left of them."""
        url = f"{self.api_url}/account/costs"
        now_ms = int(time.time() * 1000)
        window = {"start_time": now_ms - 30 * 86_400_000, "end_time": now_ms}
        return connection.probe(BACKEND_ID, LABEL, "KLING_ACCESS_KEY and KLING_SECRET_KEY", "GET", url,
                                lambda: self._send("GET", url, params=window, **connection.CHECK), _resource_packs,
                                classify=kling_error)

    def _task(self, response: httpx.Response) -> TaskData:
        if response.status_code >= 400:
            raise kling_error(response)
        http.check(response, LABEL)
        try:
            envelope = Envelope.model_validate(response.json())
        except (ValueError, ValidationError):
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                               status=response.status_code) from None
        if envelope.code != 0:  # an error in a 200 envelope is classified like an HTTP one
            raise kling_error(httpx.Response(200, json={"code": envelope.code, "message": envelope.message or ""}))
        if envelope.data is None:
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: the answer carries no task")
        return envelope.data

    # -- Backend --
    def can_look_up(self, request: JobRequest) -> bool:
        return request.backend_model_id != "lip-sync"

    def find_submitted(self, request: JobRequest) -> RemoteJob | None:
        """The task Kling holds under our job id, or None when Kling answers that it has none (code 1203)."""
        path = build_request(request)[0]
        url = f"{self.api_url}/v1/videos/{path}"
        response = self._send("GET", f"{url}/{request.job_id}")
        if response.status_code in (400, 404) and _body_code(response) == TASK_NOT_FOUND:
            return None
        data = self._task(response)
        log.info("%s: found task %s under our id %s", LABEL, data.task_id, request.job_id)
        return RemoteJob(backend=BACKEND_ID, remote_id=data.task_id, urls={"status": f"{url}/{data.task_id}"},
                         data={"kind": path, "model": request.backend_model_id, "media": request.media,
                               "input_notes": []})

    def submit(self, request: JobRequest) -> RemoteJob:
        path, body, notes = build_request(request)
        if self.can_look_up(request):
            body["external_task_id"] = request.job_id
        url = f"{self.api_url}/v1/videos/{path}"
        data = self._task(self._send("POST", url, json=body, refused=_refused))
        for note in notes:
            log.info("%s: %s", LABEL, note)
        log.info("%s: submitted %s as task %s", LABEL, path, data.task_id)
        return RemoteJob(backend=BACKEND_ID, remote_id=data.task_id, urls={"status": f"{url}/{data.task_id}"},
                         data={"kind": path, "model": request.backend_model_id, "media": request.media,
                               "input_notes": notes})

    def poll(self, job: RemoteJob) -> JobStatus:
        kind = str(job.data.get("kind") or "")
        if not kind:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the job handle does not say which endpoint made it")
        data = self._task(self._send("GET", f"{self.api_url}/v1/videos/{kind}/{job.remote_id}"))
        status = data.task_status or ""
        if status == "submitted":
            return JobStatus(state=JobState.QUEUED, message="queued at Kling")
        if status == "processing":
            return JobStatus(state=JobState.RUNNING, message="generating")
        if status == "failed":
            reason = redaction.redact(data.task_status_msg or "the task failed")
            error = _classify_failure(reason)
            what = {ErrorKind.MODERATED_OUTPUT: "the generated video was flagged by Kling's content policy",
                    ErrorKind.MODERATED_INPUT: "the input was refused by Kling's content policy"}.get(error, "failed")
            return JobStatus(state=error.state, error_kind=error, message=f"{LABEL}: {what}: {reason}")
        if status != "succeed":
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown task status {status!r}")
        videos = (data.task_result or {}).get("videos") or []
        urls = [v["url"] for v in videos if isinstance(v, dict) and isinstance(v.get("url"), str) and v["url"]]
        if not urls:
            return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                             message=f"{LABEL}: the task succeeded without a video")
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0,
                         artifacts=[Artifact(media="video", url=url, mime_type="video/mp4") for url in urls])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the artifact has no URL")
        # pre-signed CDN URLs: no credential is sent anywhere, whatever the host
        return downloads.download(self._client, artifact.url, dest, media=artifact.media, max_bytes=MAX_VIDEO_BYTES,
                                  policy=self._policy, backend_label=LABEL)

    def cancel(self, job: RemoteJob) -> bool:
        return False  # Kling's API has no cancel; the task runs to the end (and is billed)

    def close(self) -> None:
        self._client.close()
