"""A fake of Google's generative media APIs on one random port of 127.0.0.1: the Gemini Developer API, Vertex AI
(Veo and Imagen) and the OAuth 2.0 token endpoint, as the ``gemini`` / ``vertex`` adapters see them once
``BLENDER_CANVAS_GEMINI_URL`` / ``BLENDER_CANVAS_VERTEX_URL`` point here.

It follows the contract checked in google-genai 3.6.1 and google-auth 2.63.0 (see the adapters' docstrings):

* ``POST /v1/models/{model}:generateContent`` needs ``x-goog-api-key`` (a wrong key is HTTP 400
  ``INVALID_ARGUMENT`` with ErrorInfo ``API_KEY_INVALID``, as Google answers); it validates ``contents`` and
  ``generationConfig.imageConfig`` and answers ``candidates[0].content.parts`` with a text part and an
  ``inlineData`` PNG (for ``gemini-3-pro-image`` an interim ``thought`` image comes first, as Nano Banana Pro does);
* ``POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predict`` (Imagen) and
  ``…:predictLongRunning`` (Veo, answering ``{"name": "projects/…/operations/<id>"}``), and
  ``…:fetchPredictOperation`` ``{"operationName"}`` answering ``{name}`` while running and ``{name, done: true,
  response: {videos: [{bytesBase64Encoded, mimeType}]}}`` once done; all need ``Authorization: Bearer`` with a
  token this fake issued (401 ``UNAUTHENTICATED`` otherwise);
* ``POST /token`` (form): ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` with an RS256 assertion that
  it verifies against the registered service account's public key (``iss``, ``aud``, ``scope``, ``kid``, one-hour
  lifetime), or ``grant_type=refresh_token`` with the registered client id / secret / refresh token;
* ``GET /v1/models?pageSize=`` (Gemini: ``x-goog-api-key``) -> ``{models: [{name, version, displayName, ...}],
  nextPageToken}``, and ``GET /v1/projects/{p}/locations/{l}/models?pageSize=`` (Vertex: the bearer token; another
  project is 403 ``PERMISSION_DENIED``) -> ``{}`` (a project without models of its own; Google leaves out empty
  lists): google-genai's ``models.list``, the connection tests' calls;
* errors are google.rpc bodies ``{"error": {"code", "message", "status", "details"}}``.

Faults are queued with ``fail_next(kind, on=stage)``; Veo operations finish after ``latency_s`` (``hold`` keeps them
running until ``release_all()``).
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.base import FakeHandler, FakeServer
from tests.fakes.fal_server import mp4_bytes, png_bytes

GEMINI_KEY = "AIzaSy-fake-gemini-MARKER-4242"
TOKEN_AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JSON = "application/json; charset=UTF-8"
Stage = Literal["generate", "predict", "submit", "fetch", "token", "list"]
STILL_RATIOS = {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
IMAGEN_RATIOS = {"1:1", "3:4", "4:3", "9:16", "16:9"}


@cache
def thought_png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 200, 200)).save(buf, format="PNG")
    return buf.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rpc_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


def bad_field(field_path: str, description: str) -> dict[str, Any]:
    return rpc_error(400, "INVALID_ARGUMENT", f"Invalid value at '{field_path}': {description}",
                     [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                       "fieldViolations": [{"field": field_path, "description": description}]}])


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, a form dict, or None
    raw: bytes
    query: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: float | None = None  # Retry-After header, seconds
    retry_delay: str | None = None  # RetryInfo.retryDelay in the body ("7s")
    message: str = ""


@dataclass
class Operation:
    name: str
    model: str
    body: Any
    created: float
    latency: float
    released_at: float | None
    outcome: str = "video"  # video | filtered | error | gcs | moderated_input

    def done(self, now: float) -> bool:
        return self.released_at is not None and now - self.released_at >= self.latency


@dataclass
class ServiceAccount:
    email: str
    key_id: str
    public_pem: bytes


@dataclass
class UserCredentials:
    client_id: str
    client_secret: str
    refresh_token: str


class _Handler(FakeHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        kind = (self.headers.get("content-type") or "").split(";")[0].strip()
        body: Any = None
        if kind == "application/x-www-form-urlencoded":
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        elif raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        parts = urlsplit(self.path)
        record = Recorded(method=self.command, path=unquote(parts.path), query=parse_qs(parts.query),
                          headers={k.lower(): v for k, v in self.headers.items()}, body=body, raw=raw)
        self.server.fake._dispatch(self, record)

    do_GET = do_PUT = do_DELETE = do_POST

    def reply(self, status: int, payload: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().reply(status, payload, headers=headers, content_type=JSON)

    def cut(self, payload: Any) -> None:
        """Headers promising the whole JSON body, half of it, then the connection closes."""
        super().cut(json.dumps(payload).encode(), JSON)


class FakeGoogle(FakeServer):
    """The fake Gemini API + Vertex AI + token endpoint (``base_url``); a context manager."""

    handler = _Handler

    def __init__(self, *, gemini_key: str = GEMINI_KEY, latency_s: float = 0.05, token_lifetime_s: int = 3599,
                 project: str = "canvas-test") -> None:
        super().__init__()
        self.gemini_key = gemini_key
        self.latency_s = latency_s
        self.token_lifetime_s = token_lifetime_s
        self.project = project
        self.hold = False
        self.accounts: dict[str, ServiceAccount] = {}
        self.users: dict[str, UserCredentials] = {}
        self.tokens: dict[str, str] = {}  # issued access token -> who
        self.operations: dict[str, Operation] = {}

    # -- set-up and inspection --
    def add_service_account(self, email: str, key_id: str, public_pem: bytes) -> None:
        self.accounts[email] = ServiceAccount(email, key_id, public_pem)

    def add_user(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self.users[client_id] = UserCredentials(client_id, client_secret, refresh_token)

    def revoke_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def requests_to(self, path_end: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(path_end)]

    def fail_next(self, kind: str, *, on: Stage, times: int = 1, retry_after: float | None = None,
                  retry_delay: str | None = None, message: str = "") -> None:
        with self._lock:
            self._faults.extend(Fault(kind, on, retry_after, retry_delay, message) for _ in range(times))

    def release_all(self) -> None:
        with self._lock:
            self.hold = False
            for op in self.operations.values():
                op.released_at = op.released_at or time.monotonic()

    # -- dispatch --
    def _generic(self, h: _Handler, fault: Fault) -> bool:
        if fault.kind in ("429", "quota0"):
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": fault.retry_delay}] \
                if fault.retry_delay else []
            quota = "Quota exceeded for metric: generate_content_free_tier_requests, limit: 0"
            message = fault.message or (quota if fault.kind == "quota0" else "Resource has been exhausted.")
            h.reply(429, rpc_error(429, "RESOURCE_EXHAUSTED", message, details), headers=headers)
        elif fault.kind == "503":
            h.reply(503, rpc_error(503, "UNAVAILABLE", fault.message or "The model is overloaded. Please try again "
                                                                        "later."))
        elif fault.kind == "500":
            h.reply(500, rpc_error(500, "INTERNAL", fault.message or "Internal error encountered."))
        elif fault.kind == "403":
            h.reply(403, rpc_error(403, "PERMISSION_DENIED", fault.message or "Permission denied.",
                                   [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "BILLING_DISABLED"}]
                                   if "billing" in fault.message.lower() else None))
        elif fault.kind == "validation":
            h.reply(400, bad_field(fault.message or "generation_config.image_config.aspect_ratio",
                                   "unsupported value"))
        elif fault.kind == "rai_prompt":
            h.reply(400, rpc_error(400, "INVALID_ARGUMENT", fault.message or (
                "Image generation failed with the following error: The prompt could not be submitted. This prompt "
                "contains sensitive words that violate Google's Responsible AI practices. Try rephrasing the prompt. "
                "Support codes: 42876398")))
        else:
            return False
        return True

    def _dispatch(self, h: _Handler, rec: Recorded) -> None:
        with self._lock:
            self._requests.append(rec)
        if rec.method == "GET" and rec.path == "/v1/models":
            self._gemini_models(h, rec)
        elif rec.method == "GET" and rec.path.startswith("/v1/projects/") and rec.path.endswith("/models"):
            self._vertex_models(h, rec)
        elif rec.method != "POST":
            h.reply(404, rpc_error(404, "NOT_FOUND", "Not Found"))
        elif rec.path.endswith("/token"):
            self._token(h, rec)
        elif rec.path.startswith("/v1/models/") and rec.path.endswith(":generateContent"):
            self._generate(h, rec, rec.path[len("/v1/models/"):-len(":generateContent")])
        elif rec.path.startswith("/v1/projects/"):
            self._vertex(h, rec)
        else:
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Requested entity was not found: {rec.path}"))

    # -- token endpoint --
    def _token(self, h: _Handler, rec: Recorded) -> None:
        fault = self._take_fault("token")
        if fault is not None:
            if fault.kind == "invalid_grant":
                h.reply(400, {"error": "invalid_grant", "error_description": fault.message or "Invalid JWT Signature."})
                return
            if fault.kind == "503":
                h.reply(503, {"error": "temporarily_unavailable", "error_description": "try again"})
                return
        form = rec.body if isinstance(rec.body, dict) else {}
        who = self._verify_jwt(form) if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer" \
            else self._verify_refresh(form) if form.get("grant_type") == "refresh_token" else None
        if who is None:
            h.reply(400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
            return
        token = f"ya29.fake-{uuid.uuid4().hex}"
        with self._lock:
            self.tokens[token] = who
        h.reply(200, {"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"})

    def _verify_jwt(self, form: dict[str, str]) -> str | None:
        import jwt

        assertion = form.get("assertion", "")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            account = self.accounts.get(str(unverified.get("iss")))
            if account is None or jwt.get_unverified_header(assertion).get("kid") != account.key_id:
                return None
            claims = jwt.decode(assertion, account.public_pem, algorithms=["RS256"], audience=TOKEN_AUD,
                                options={"require": ["iat", "exp", "iss", "aud"]})
        except jwt.PyJWTError:
            return None
        if claims.get("scope") != SCOPE or int(claims["exp"]) - int(claims["iat"]) != 3600:
            return None
        return account.email

    def _verify_refresh(self, form: dict[str, str]) -> str | None:
        user = self.users.get(form.get("client_id", ""))
        if user is None or form.get("client_secret") != user.client_secret or \
                form.get("refresh_token") != user.refresh_token or form.get("scope") != SCOPE:
            return None
        return user.client_id

    # -- Gemini API --
    def _gemini_key_ok(self, h: _Handler, rec: Recorded) -> bool:
        if rec.headers.get("x-goog-api-key") != self.gemini_key:
            h.reply(400, rpc_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                   [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                     "domain": "googleapis.com"}]))
            return False
        return True

    def _gemini_models(self, h: _Handler, rec: Recorded) -> None:
        if not self._gemini_key_ok(h, rec):
            return
        fault = self._take_fault("list")
        if fault is not None and self._generic(h, fault):
            return
        models = [{"name": "models/gemini-3.1-flash-image", "version": "3.1", "displayName": "Nano Banana 2",
                   "supportedGenerationMethods": ["generateContent"]},
                  {"name": "models/gemini-3-pro-image", "version": "3.0", "displayName": "Nano Banana Pro",
                   "supportedGenerationMethods": ["generateContent"]}]
        size = int((rec.query.get("pageSize") or ["50"])[0])
        h.reply(200, {"models": models[:size], "nextPageToken": "page-2"} if size < len(models) else
                {"models": models})

    def _generate(self, h: _Handler, rec: Recorded, model: str) -> None:
        if not self._gemini_key_ok(h, rec):
            return
        fault = self._take_fault("generate")
        if fault is not None and self._generic(h, fault):
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        problem = _check_generate(body)
        if problem:
            h.reply(400, bad_field(*problem))
            return
        answer: dict[str, Any] = {"modelVersion": model, "responseId": f"resp-{uuid.uuid4().hex[:12]}",
                                  "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290}}
        kind = fault.kind if fault is not None else ""
        if kind == "blocked_prompt":
            answer["promptFeedback"] = {"blockReason": "PROHIBITED_CONTENT"}
        elif kind in ("image_safety", "no_image", "text_only"):
            reason = {"image_safety": "IMAGE_SAFETY", "no_image": "NO_IMAGE", "text_only": "STOP"}[kind]
            answer["candidates"] = [{"content": {"role": "model", "parts": [{"text": fault.message if fault else ""}]},
                                     "finishReason": reason, "index": 0}]
            if kind == "image_safety":
                answer["candidates"][0]["finishMessage"] = "Unable to show the generated image."
        else:
            parts: list[dict[str, Any]] = [{"text": "Here is the picture."}]
            if model == "gemini-3-pro-image":
                parts = [{"text": "Composing the frame", "thought": True},
                         {"inlineData": {"mimeType": "image/png", "data": b64(thought_png())}, "thought": True},
                         *parts]
            parts.append({"inlineData": {"mimeType": "image/png", "data": b64(png_bytes())}})
            answer["candidates"] = [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                                     "index": 0}]
        if kind == "cut":
            h.cut(answer)
            return
        h.reply(200, answer)

    # -- Vertex AI --
    def _token_ok(self, h: _Handler, rec: Recorded) -> bool:
        auth = rec.headers.get("authorization", "")
        with self._lock:
            known = auth.startswith("Bearer ") and auth[len("Bearer "):] in self.tokens
        if not known:
            h.reply(401, rpc_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                                   "Expected OAuth 2 access token, login cookie or other valid authentication "
                                   "credential."))
        return known

    def _vertex_models(self, h: _Handler, rec: Recorded) -> None:
        if not self._token_ok(h, rec):
            return
        segments = rec.path[len("/v1/"):].split("/")
        if len(segments) != 5 or segments[0::2] != ["projects", "locations", "models"]:
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Requested entity was not found: {rec.path}"))
            return
        if segments[1] != self.project:
            h.reply(403, rpc_error(403, "PERMISSION_DENIED", f"Permission 'aiplatform.models.list' denied on resource "
                                   f"'//aiplatform.googleapis.com/projects/{segments[1]}/locations/{segments[3]}' (or "
                                   "it may not exist).", [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                                           "reason": "IAM_PERMISSION_DENIED"}]))
            return
        fault = self._take_fault("list")
        if fault is not None and self._generic(h, fault):
            return
        h.reply(200, {})

    def _vertex(self, h: _Handler, rec: Recorded) -> None:
        if not self._token_ok(h, rec):
            return
        path, _, verb = rec.path[len("/v1/"):].rpartition(":")
        segments = path.split("/")
        if len(segments) != 8 or segments[0::2] != ["projects", "locations", "publishers", "models"] \
                or segments[5] != "google" or segments[1] != self.project:
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Publisher model `{path}` not found."))
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        model = segments[7]
        if verb == "predict" and model.startswith("imagen-"):
            self._imagen(h, body)
        elif verb == "predictLongRunning" and model.startswith("veo-"):
            self._veo_submit(h, path, model, body)
        elif verb == "fetchPredictOperation":
            self._veo_fetch(h, path, body)
        else:
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Method {verb} not found for {model}"))

    def _imagen(self, h: _Handler, body: dict[str, Any]) -> None:
        fault = self._take_fault("predict")
        if fault is not None and self._generic(h, fault):
            return
        params = body.get("parameters") or {}
        instances = body.get("instances") or []
        if len(instances) != 1 or not isinstance(instances[0].get("prompt"), str):
            h.reply(400, bad_field("instances[0].prompt", "a prompt is required"))
        elif params.get("aspectRatio", "1:1") not in IMAGEN_RATIOS:
            h.reply(400, bad_field("parameters.aspectRatio", f"unsupported aspect ratio {params.get('aspectRatio')}"))
        elif params.get("sampleImageSize", "1K") not in ("1K", "2K"):
            h.reply(400, bad_field("parameters.sampleImageSize", "must be 1K or 2K"))
        elif "seed" in params and params.get("addWatermark", True):
            h.reply(400, rpc_error(400, "INVALID_ARGUMENT", "Seed is not supported when watermark is enabled."))
        elif fault is not None and fault.kind == "rai_filtered":
            h.reply(200, {"predictions": [{"raiFilteredReason": fault.message or (
                "Your current safety filter threshold filtered out the generated image. Support codes: 58061214")}]})
        else:
            h.reply(200, {"predictions": [{"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}]})

    def _veo_submit(self, h: _Handler, path: str, model: str, body: dict[str, Any]) -> None:
        fault = self._take_fault("submit")
        if fault is not None and self._generic(h, fault):
            return
        problem = _check_veo(body)
        if problem:
            h.reply(400, bad_field(*problem))
            return
        name = f"{path}/operations/{uuid.uuid4()}"
        outcome = fault.kind if fault is not None else "video"
        with self._lock:
            self.operations[name] = Operation(name=name, model=model, body=body, created=time.monotonic(),
                                              latency=self.latency_s, outcome=outcome,
                                              released_at=None if self.hold else time.monotonic())
        h.reply(200, {"name": name})

    def _veo_fetch(self, h: _Handler, path: str, body: dict[str, Any]) -> None:
        fault = self._take_fault("fetch")
        if fault is not None and self._generic(h, fault):
            return
        name = str(body.get("operationName") or "")
        with self._lock:
            op = self.operations.get(name)
        if op is None or not name.startswith(path + "/operations/"):
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Operation {name} not found."))
            return
        if fault is not None and fault.kind == "gone":
            h.reply(404, rpc_error(404, "NOT_FOUND", f"Operation {name} not found."))
            return
        if not op.done(time.monotonic()):
            h.reply(200, {"name": name})
            return
        kind = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
        answer: dict[str, Any] = {"name": name, "done": True}
        if op.outcome == "filtered":
            answer["response"] = {"@type": kind, "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [
                "Veo could not generate videos because the output violates Vertex AI's usage guidelines. "
                "Support codes: 90789179"]}
        elif op.outcome == "moderated_input":
            answer["error"] = {"code": 3, "message": "The prompt could not be submitted. This prompt contains words "
                               "that violate Vertex AI's usage guidelines. Support codes: 29310472"}
        elif op.outcome == "op_error":
            answer["error"] = {"code": 13, "message": "Internal error during video generation."}
        elif op.outcome == "gcs":
            answer["response"] = {"@type": kind, "raiMediaFilteredCount": 0,
                                  "videos": [{"gcsUri": "gs://canvas-bucket/out/sample_0.mp4",
                                              "mimeType": "video/mp4"}]}
        else:
            answer["response"] = {"@type": kind, "raiMediaFilteredCount": 0,
                                  "videos": [{"bytesBase64Encoded": b64(mp4_bytes()), "mimeType": "video/mp4"}]}
        if fault is not None and fault.kind == "cut":
            h.cut(answer)
            return
        h.reply(200, answer)


def _check_generate(body: dict[str, Any]) -> tuple[str, str] | None:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents or not isinstance(contents[0].get("parts"), list):
        return "contents", "at least one content with parts is required"
    for i, part in enumerate(contents[0]["parts"]):
        blob = part.get("inlineData")
        if blob is not None:
            try:
                base64.b64decode(blob.get("data", ""), validate=True)
            except ValueError:
                return f"contents[0].parts[{i}].inline_data.data", "invalid base64"
            if not str(blob.get("mimeType", "")).startswith("image/"):
                return f"contents[0].parts[{i}].inline_data.mime_type", "an image type is required"
    config = body.get("generationConfig") or {}
    if "IMAGE" not in (config.get("responseModalities") or []):
        return "generation_config.response_modalities", "IMAGE is required for image models"
    image = config.get("imageConfig") or {}
    if image.get("aspectRatio", "1:1") not in STILL_RATIOS:
        return "generation_config.image_config.aspect_ratio", f"unsupported value {image.get('aspectRatio')!r}"
    if image.get("imageSize", "1K") not in ("1K", "2K", "4K"):
        return "generation_config.image_config.image_size", f"unsupported value {image.get('imageSize')!r}"
    return None


def _check_veo(body: dict[str, Any]) -> tuple[str, str] | None:
    instances = body.get("instances") or []
    params = body.get("parameters") or {}
    if len(instances) != 1 or not isinstance(instances[0].get("prompt"), str):
        return "instances[0].prompt", "a prompt is required"
    if instances[0].get("referenceImages") and (instances[0].get("image") or instances[0].get("lastFrame")):
        return "instances[0].referenceImages", "cannot be combined with image or lastFrame"
    if params.get("durationSeconds", 8) not in (4, 6, 8):
        return "parameters.durationSeconds", (f"Unsupported output video duration {params.get('durationSeconds')} "
                                              "seconds, supported durations are [8,6,4] for feature text_to_video")
    if params.get("aspectRatio", "16:9") not in ("16:9", "9:16"):
        return "parameters.aspectRatio", "supported aspect ratios are 16:9 and 9:16"
    if params.get("resolution", "720p") not in ("720p", "1080p"):
        return "parameters.resolution", "supported resolutions are 720p and 1080p"
    return None


def iter_fake(**kwargs: Any) -> Iterator[FakeGoogle]:
    with FakeGoogle(**kwargs) as fake:
        yield fake


__all__ = ["GEMINI_KEY", "FakeGoogle", "Fault", "Recorded", "iter_fake"]
