"""The Vertex AI backend (``vertex``): Veo 3.1 (long-running) and Imagen 4 (synchronous) on Google Cloud.

Checked against googleapis/python-genai, google-genai 3.6.1 (PyPI wheel) and the GitHub snapshot 66807187:

* ``_api_client.py`` L1285-1316: the regional host ``https://{location}-aiplatform.googleapis.com/``, or
  ``aiplatform.googleapis.com`` for ``global`` and ``aiplatform.{us|eu}.rep.googleapis.com`` for the multi-regions
  (``_MULTI_REGIONAL_LOCATIONS``); paths are prefixed ``projects/{project}/locations/{location}/`` (L1992-2001);
  ``Authorization: Bearer <token>`` plus ``x-goog-user-project`` for a quota project (L1562-1571). The SDK's
  default Vertex API version is ``v1beta1``; we use ``v1``, where the GA ids (``veo-3.1-generate-001``,
  ``imagen-4.0-*-generate-001``) are published.
* ``_transformers.py`` ``t_model``: a bare model id becomes ``publishers/google/models/{id}``.
* ``models.py`` ``_GenerateVideosParameters_to_vertex`` / ``_GenerateVideosConfig_to_vertex``: ``POST
  {model}:predictLongRunning`` with ``instances[0].prompt``, ``instances[0].image`` / ``lastFrame``
  (``_Image_to_vertex``: ``bytesBase64Encoded`` + ``mimeType``), ``instances[0].referenceImages[{image,
  referenceType}]`` (``ASSET`` / ``STYLE``), ``parameters.sampleCount`` / ``durationSeconds`` / ``aspectRatio`` /
  ``resolution`` / ``generateAudio`` / ``seed`` (``seed`` and ``generateAudio`` are Vertex-only).
* ``operations.py`` ``get`` / ``_fetch_predict_videos_operation``: poll with ``POST
  {resource}:fetchPredictOperation`` ``{"operationName": name}`` where ``resource`` is the name before
  ``/operations/``; the operation is ``{name, done?, error?, response?}`` (``_GenerateVideosOperation_from_vertex``);
  ``response.videos[]`` holds ``bytesBase64Encoded`` or ``gcsUri`` and ``mimeType`` (``_Video_from_vertex``),
  beside ``raiMediaFilteredCount`` / ``raiMediaFilteredReasons`` (``_GenerateVideosResponse_from_vertex``).
* ``models.py`` ``_generate_images`` / ``_GenerateImagesConfig_to_vertex``: ``POST {model}:predict`` with
  ``instances[0].prompt`` and ``parameters.sampleCount`` / ``aspectRatio`` / ``sampleImageSize`` / ``seed`` /
  ``addWatermark`` / ``includeRaiReason``; ``predictions[]`` carry ``bytesBase64Encoded`` + ``mimeType`` or a
  ``raiFilteredReason`` (``_GeneratedImage_from_vertex``). We ask for ``includeRaiReason`` so a filtered image comes
  back with its reason instead of silently missing, and send ``addWatermark: false`` with a seed (Vertex refuses a
  seed while the SynthID watermark is on).

We never set ``storageUri``, so results come back inline; a ``gcsUri`` answer cannot be read without Cloud Storage
access and is reported with the URI, so the paid take can still be copied by hand. Auth: :mod:`.google_auth`.
``BLENDER_CANVAS_VERTEX_URL`` rehosts every Vertex host and the token endpoint alike.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from . import connection, http, redaction
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
from .gemini import (
    checked,
    copy_into,
    google_error,
    google_policy,
    inline_image,
    json_of,
    land_inline,
    local_status,
    retired_route,
    safe_name,
    sync_refusal,
)
from .google_auth import GoogleCredentials

BACKEND_ID = "vertex"
LABEL = "Vertex AI"
API_VERSION = "v1"
DEFAULT_LOCATION = "us-central1"
MULTI_REGIONS = frozenset({"us", "eu"})
OPERATION = re.compile(r"projects/[^/]+/locations/([a-z0-9-]+)/publishers/google/models/[A-Za-z0-9._-]+"
                       r"/operations/[A-Za-z0-9._-]+")
# gRPC codes of a failed operation (google.rpc.Code)
_OP_KINDS = {1: ErrorKind.CANCELLED, 3: ErrorKind.INVALID_REQUEST, 4: ErrorKind.VENDOR_DOWN,
             5: ErrorKind.INVALID_REQUEST, 7: ErrorKind.AUTH, 8: ErrorKind.RATE_LIMITED, 9: ErrorKind.INVALID_REQUEST,
             13: ErrorKind.VENDOR_DOWN, 14: ErrorKind.VENDOR_DOWN, 16: ErrorKind.AUTH}
_RAI = re.compile(r"responsible ai|usage guidelines|support codes?:|sensitive words|safety", re.IGNORECASE)

log = redaction.get_logger(__name__)


def api_host(location: str) -> str:
    if location == "global":
        return "aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"aiplatform.{location}.rep.googleapis.com"
    return f"{location}-aiplatform.googleapis.com"


def lro_refusal(response: httpx.Response) -> bool:
    """A failed predictLongRunning that created no operation: quota (429) or the front end turning it away."""
    return response.status_code in (408, 429, 502, 503, 504)


def veo_body(request: JobRequest) -> dict[str, Any]:
    params, inputs = request.params, request.inputs
    unusable = sorted(n for n, files in inputs.items() if files and n not in ("image", "last_frame", "images"))
    if unusable:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: Veo takes no {', '.join(unusable)} input here")
    references = inputs.get("images") or []
    if references and (inputs.get("image") or inputs.get("last_frame")):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: Veo reference images cannot be combined with a "
                                                      "first or last frame")
    if len(references) > 3:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: Veo takes at most 3 reference images")
    instance: dict[str, Any] = {"prompt": request.prompt}
    for name, field in (("image", "image"), ("last_frame", "lastFrame")):
        if inputs.get(name):
            instance[field] = _vertex_image(inputs[name][0])
    if references:
        instance["referenceImages"] = [{"image": _vertex_image(p), "referenceType": "ASSET"} for p in references]
    parameters: dict[str, Any] = {"sampleCount": 1}
    if params.get("duration_s") is not None:
        parameters["durationSeconds"] = int(params["duration_s"])
    if params.get("aspect_ratio"):
        parameters["aspectRatio"] = str(params["aspect_ratio"])
    if params.get("resolution"):
        parameters["resolution"] = str(params["resolution"]).lower()
    if params.get("audio") is not None:
        parameters["generateAudio"] = bool(params["audio"])
    if params.get("seed") is not None:
        parameters["seed"] = int(params["seed"])
    return {"instances": [instance], "parameters": parameters}


def imagen_body(request: JobRequest) -> dict[str, Any]:
    used = sorted(n for n, files in request.inputs.items() if files)
    if used:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: Imagen 4 takes no {', '.join(used)} input "
                                                      "(text to image only)")
    params = request.params
    parameters: dict[str, Any] = {"sampleCount": 1, "includeRaiReason": True}
    if params.get("aspect_ratio"):
        parameters["aspectRatio"] = str(params["aspect_ratio"])
    if params.get("resolution"):
        parameters["sampleImageSize"] = str(params["resolution"]).upper()
    if params.get("seed") is not None:
        parameters["seed"] = int(params["seed"])
        parameters["addWatermark"] = False
    return {"instances": [{"prompt": request.prompt}], "parameters": parameters}


def _vertex_image(path: Path) -> dict[str, str]:
    blob = inline_image(path)
    return {"bytesBase64Encoded": blob["data"], "mimeType": blob["mimeType"]}


class VertexBackend:
    """Vertex AI as a :class:`~blender_canvas.providers.backend.Backend`: Veo 3.1 jobs and Imagen 4 stills."""

    id = BACKEND_ID
    poll_interval_s = 10.0  # Veo takes minutes; Google's own samples poll every 10-20 s

    def __init__(self, keys: Mapping[str, str], work_dir: Path, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None, credentials: GoogleCredentials | None = None) -> None:
        self.project = (keys.get("GOOGLE_CLOUD_PROJECT") or "").strip()
        if not self.project:
            raise BackendError(ErrorKind.AUTH, f"{BACKEND_ID} needs GOOGLE_CLOUD_PROJECT (add-on preferences or "
                                               "environment)")
        # the engine's keys hold only the catalog's env_keys: the location and the credentials file may come from
        # the environment alone
        self.location = (keys.get("GOOGLE_CLOUD_LOCATION") or os.environ.get("GOOGLE_CLOUD_LOCATION")
                         or DEFAULT_LOCATION).strip().lower()
        if not re.fullmatch(r"[A-Za-z0-9.:_-]+", self.project) or not re.fullmatch(r"[a-z0-9-]+", self.location):
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: GOOGLE_CLOUD_PROJECT or GOOGLE_CLOUD_LOCATION "
                                                          "is not a valid id")
        self.credentials = credentials or GoogleCredentials.locate(keys)
        self.work_dir = Path(work_dir)
        self._client = client or http.make_client(BACKEND_ID, timeout=httpx.Timeout(connect=10.0, read=300.0,
                                                                                   write=60.0, pool=10.0))
        self._policy = google_policy(policy)

    def __repr__(self) -> str:
        return f"VertexBackend(project={self.project!r}, location={self.location!r})"

    # -- urls and auth --
    def api_root(self, location: str | None = None) -> str:
        return f"{http.rehost(f'https://{api_host(location or self.location)}', BACKEND_ID).rstrip('/')}/{API_VERSION}"

    @property
    def token_url(self) -> str:
        return http.rehost(self.credentials.token_uri, BACKEND_ID)

    def _model_path(self, model: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", model):
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {model!r} is not a model id")
        return f"projects/{self.project}/locations/{self.location}/publishers/google/models/{model}"

    def _send(self, location: str, path: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """POST ``body`` to a path under the Vertex host we built for ``location``: the token goes nowhere else.
        A 401 (a token revoked or expired early) gets one fresh token and one resend, as google-auth's
        AuthorizedSession does (``transport/requests.py``, ``DEFAULT_REFRESH_STATUS_CODES = (401,)``)."""
        url = f"{self.api_root(location)}/{path}"
        for attempt in (1, 2):
            response = http.send(self._client, "POST", url, policy=self._policy, backend_label=LABEL,
                                 headers=self._headers(self._policy), json=body, **kwargs)
            if response.status_code != 401 or attempt == 2:
                return response
            log.info("%s: the access token was refused; fetching a new one", LABEL)
            self.credentials.invalidate()
        raise AssertionError("unreachable")

    def _headers(self, policy: http.RetryPolicy) -> dict[str, str]:
        token = self.credentials.access_token(self._client, policy, self.token_url)
        headers = {"Authorization": f"Bearer {token}"}
        if self.credentials.quota_project:
            headers["x-goog-user-project"] = self.credentials.quota_project
        return headers

    def check_connection(self) -> ConnectionReport:
        """A token from the credentials, then ``GET projects/{p}/locations/{l}/models?pageSize=1`` (google-genai
        ``models.list(config={"query_base": False})``: ``t_models_url`` gives ``models``, which ``_build_request``
        puts under the project and location): free, and it proves the credentials, the project, the region and that
        the Vertex AI API is enabled there."""
        url = f"{self.api_root()}/projects/{self.project}/locations/{self.location}/models"

        def send() -> httpx.Response:
            return http.send(self._client, "GET", url, backend_label=LABEL, params={"pageSize": 1},
                             headers=self._headers(connection.CHECK_POLICY), **connection.CHECK)

        def said(response: httpx.Response) -> connection.Said:
            if not isinstance(response.json(), dict):  # {} when the project has no models of its own
                raise TypeError("not a ListModelsResponse")
            return f"project {self.project} in {self.location} ({self.credentials.kind.replace('_', ' ')})", \
                {"project": self.project, "location": self.location}

        return connection.probe(BACKEND_ID, LABEL, "GOOGLE_APPLICATION_CREDENTIALS (or `gcloud auth "
                                "application-default login`) and GOOGLE_CLOUD_PROJECT", "GET", url, send, said,
                                classify=lambda r: google_error(r, LABEL))

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        model = request.backend_model_id.strip().rsplit("/", 1)[-1]
        why = retired_route(request, BACKEND_ID)
        if why is not None:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {why}")
        if model.startswith("imagen-") and request.media == "image":
            return self._imagen(request, model)
        if model.startswith("veo-") and request.media == "video":
            return self._veo(request, model)
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: no {request.media} model {model!r} here "
                                                      "(Veo for video, Imagen for stills)")

    def _imagen(self, request: JobRequest, model: str) -> RemoteJob:
        response = self._send(self.location, f"{self._model_path(model)}:predict", imagen_body(request),
                              refused=sync_refusal)
        answer = json_of(checked(response, LABEL), LABEL)
        predictions = [p for p in answer.get("predictions") or [] if isinstance(p, dict)]
        image = next((p for p in predictions if p.get("bytesBase64Encoded")), None)
        if image is None:
            reasons = "; ".join(str(p["raiFilteredReason"]) for p in predictions if p.get("raiFilteredReason"))
            raise BackendError(ErrorKind.MODERATED_OUTPUT, redaction.redact(
                f"{LABEL}: Imagen returned no image: " + (reasons or "its safety filters dropped every image")),
                vendor_code="raiFilteredReason" if reasons else None)
        path, mime = land_inline(str(image["bytesBase64Encoded"]), self.work_dir / safe_name(request.job_id),
                                 "image", LABEL)
        return RemoteJob(backend=BACKEND_ID, remote_id=f"vertex-{request.job_id}",
                         data={"path": str(path), "media": "image", "mime": mime, "model": model})

    def _veo(self, request: JobRequest, model: str) -> RemoteJob:
        response = self._send(self.location, f"{self._model_path(model)}:predictLongRunning", veo_body(request),
                              refused=lro_refusal)
        name = json_of(checked(response, LABEL), LABEL).get("name")
        if not isinstance(name, str) or not OPERATION.fullmatch(name):
            raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: the answer has no operation name")
        log.info("%s: submitted %s as %s", LABEL, model, name.rsplit("/", 1)[-1])
        return RemoteJob(backend=BACKEND_ID, remote_id=name, data={"model": model, "media": "video"})

    def poll(self, job: RemoteJob) -> JobStatus:
        if job.data.get("path"):
            return local_status(job, LABEL)
        match = OPERATION.fullmatch(job.remote_id)
        if match is None:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {job.remote_id!r} is not a Veo operation")
        resource = job.remote_id.rpartition("/operations/")[0]
        response = self._send(match.group(1), f"{resource}:fetchPredictOperation",
                              {"operationName": job.remote_id}, retry_safe=True)
        if response.status_code == 404:
            error = google_error(response, LABEL)
            return JobStatus(state=JobState.EXPIRED, error_kind=ErrorKind.RESULT_EXPIRED, vendor_code=error.vendor_code,
                             message=f"{LABEL}: the operation is no longer known to Vertex AI (HTTP 404)")
        operation = json_of(checked(response, LABEL), LABEL)
        if not operation.get("done"):
            return JobStatus(state=JobState.RUNNING, message="generating")
        if isinstance(operation.get("error"), dict):
            return _operation_failed(operation["error"])
        return self._landed(job, operation.get("response") or {})

    def _landed(self, job: RemoteJob, result: dict[str, Any]) -> JobStatus:
        videos = [v for v in result.get("videos") or [] if isinstance(v, dict)]
        inline = next((v for v in videos if v.get("bytesBase64Encoded")), None)
        if inline is not None:
            stem = self.work_dir / safe_name(job.remote_id.rsplit("/", 1)[-1])
            path, mime = land_inline(str(inline["bytesBase64Encoded"]), stem, "video", LABEL)
            return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message="done",
                             artifacts=[Artifact(media="video", path=path, mime_type=mime)])
        stored = next((str(v["gcsUri"]) for v in videos if v.get("gcsUri")), None)
        if stored is not None:
            return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN, message=(
                f"{LABEL}: the video was written to Cloud Storage at {stored}, which Blender Canvas cannot read "
                f"without storage access; copy it with `gcloud storage cp {stored} .` and import it as a reference"))
        reasons = [str(r) for r in result.get("raiMediaFilteredReasons") or []]
        if reasons or result.get("raiMediaFilteredCount"):
            return JobStatus(state=JobState.MODERATED, error_kind=ErrorKind.MODERATED_OUTPUT,
                             vendor_code="raiMediaFiltered", message=redaction.redact(
                                 f"{LABEL}: Veo's safety filters removed the video: "
                                 + ("; ".join(reasons) or "no reason given")))
        return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                         message=f"{LABEL}: the operation finished without a video")

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        return copy_into(artifact, dest, LABEL)

    def cancel(self, job: RemoteJob) -> bool:
        return False  # Veo's predict operations have no documented cancel; Imagen is finished at submit

    def close(self) -> None:
        self._client.close()


def _operation_failed(error: dict[str, Any]) -> JobStatus:
    code = error.get("code")
    message = str(error.get("message") or "the operation failed")
    kind = _OP_KINDS.get(code, ErrorKind.UNKNOWN) if isinstance(code, int) else ErrorKind.UNKNOWN
    if kind == ErrorKind.INVALID_REQUEST and _RAI.search(message):
        kind = ErrorKind.MODERATED_INPUT
    return JobStatus(state=kind.state, error_kind=kind, vendor_code=str(code) if code is not None else None,
                     message=redaction.redact(f"{LABEL}: {message}"))
