"""A fake OpenAI API (images + Sora videos) and a fake foreign file host, on two random ports of 127.0.0.1.

It follows the contract read in openai/openai-python (e43b4224; ``resources/images.py``, ``resources/videos.py``,
``types/image_*``, ``types/video*``, ``api_reference/openapi.transformed.yml``) as summarised in
shared/reference/providers.md §1-2:

* every request needs ``Authorization: Bearer <key>`` (401 ``invalid_api_key`` otherwise); errors are
  ``{"error": {"message", "type", "param", "code"}}``;
* ``POST /v1/images/generations`` (JSON) and ``POST /v1/images/edits`` (multipart, ``image[]`` file parts): sizes are
  checked as gpt-image-2's docstring says (multiples of 16, aspect 1:3..3:1, at most 3840 px and 3840x2160 pixels),
  ``quality`` low|medium|high|auto; the answer carries ``data[0].b64_json``, a PNG of the requested size;
* ``POST /v1/videos`` (multipart: prompt, model, seconds, size, input_reference file part that must match ``size``)
  -> a ``Video`` (status queued); ``GET /v1/videos/{id}`` -> queued -> in_progress -> completed (``progress``,
  ``expires_at``) with an ``openai-poll-after-ms`` header; ``GET /v1/videos/{id}/content?variant=video`` -> MP4;
* moderation (secondary sources, see the adapter): HTTP 400 ``code: moderation_blocked`` with
  ``moderation_details.moderation_stage``; a video job fails with ``error {code: moderation_blocked, message}``;
* ``GET /v1/models`` -> ``{object: "list", data: [{id, object: "model", created, owned_by}]}`` (``resources/models.py``
  ``list``, ``types/model.py``), the connection test's call;
* ``retired = True`` answers ``POST /v1/videos`` as a shut-down model does: 404 ``model_not_found``.

Faults are queued with ``fail_next(kind, on=stage)``.
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .base import ApiAndCdnFake, FakeHandler
from .fal_server import mp4_bytes

DEFAULT_KEY = "sk-test-openai-MARKER-4567"
Stage = Literal["generate", "edit", "create", "retrieve", "content", "models"]
FaultKind = Literal["429", "429ms", "quota", "500", "503", "401", "cut", "expired", "redirect", "moderation",
                    "failed", "validation"]
VIDEO_SIZES = {"sora-2": {"1280x720", "720x1280"}, "sora-2-pro": {"1280x720", "720x1280", "1792x1024", "1024x1792"}}


@dataclass(frozen=True)
class Recorded:
    server: Literal["api", "cdn"]
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    json: Any = None
    fields: dict[str, str] = field(default_factory=dict)  # multipart text parts
    files: dict[str, list[tuple[str, str, bytes]]] = field(default_factory=dict)  # name -> (filename, type, bytes)


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: float | None = None
    retry_after_date: float | None = None
    should_retry: str | None = None  # the x-should-retry header
    message: str = ""
    param: str = "size"
    code: str = "moderation_blocked"
    moderation_stage: str | None = "input"


@dataclass
class Video:
    id: str
    model: str
    size: str
    seconds: str
    prompt: str
    created: float
    latency: float
    failure: dict[str, str] | None = None
    expires_in: float = 3600.0

    def state(self, now: float) -> tuple[str, int]:
        elapsed = now - self.created
        if elapsed < self.latency / 2:
            return "queued", 0
        if elapsed < self.latency:
            return "in_progress", min(99, int(100 * elapsed / self.latency))
        return ("failed", 100) if self.failure else ("completed", 100)


def _error(message: str, code: str | None, param: str | None = None, type_: str = "invalid_request_error") -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def png_of(size: str) -> bytes:
    from PIL import Image

    w, h = (int(v) for v in size.split("x"))
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 120, 40)).save(buf, format="PNG")
    return buf.getvalue()


def image_size_problem(size: str) -> str | None:
    try:
        w, h = (int(v) for v in size.split("x"))
    except ValueError:
        return f"Invalid value: '{size}'. Size must be WIDTHxHEIGHT."
    if w % 16 or h % 16:
        return f"Invalid value: '{size}'. Width and height must both be divisible by 16."
    if not 1 / 3 <= w / h <= 3:
        return f"Invalid value: '{size}'. The aspect ratio must be between 1:3 and 3:1."
    if max(w, h) > 3840 or w * h > 3840 * 2160:
        return f"Invalid value: '{size}'. The maximum supported resolution is 3840x2160."
    return None


class _Handler(FakeHandler):
    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        ctype = self.headers.get("content-type", "")
        rec_json: Any = None
        fields: dict[str, str] = {}
        files: dict[str, list[tuple[str, str, bytes]]] = {}
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
            for part in msg.iter_parts():
                name = str(part.get_param("name", header="content-disposition"))
                payload = part.get_payload(decode=True)
                payload = payload if isinstance(payload, bytes) else b""
                if part.get_filename() is None:
                    fields[name] = payload.decode()
                else:
                    files.setdefault(name, []).append((str(part.get_filename()), part.get_content_type(), payload))
        elif raw:
            try:
                rec_json = json.loads(raw)
            except ValueError:
                rec_json = raw.decode("utf-8", "replace")
        parts = urlsplit(self.path)
        rec = Recorded(server=self.server.role, method=self.command, path=parts.path, query=parse_qs(parts.query),
                       headers={k.lower(): v for k, v in self.headers.items()}, json=rec_json, fields=fields,
                       files=files)
        self.server.fake._record(rec)
        (self.server.fake._api if self.server.role == "api" else self.server.fake._cdn)(self, rec)

    do_GET = do_POST = do_DELETE = _handle

    def reply(self, status: int, payload: Any = None, *, raw: bytes | None = None,
              content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        super().reply(status, payload, headers={"x-request-id": f"req_{uuid.uuid4().hex[:12]}", **(headers or {})},
                      raw=raw, content_type=content_type)


class FakeOpenAI(ApiAndCdnFake):
    """The fake OpenAI API (``base_url``, which ends in ``/v1`` like the real one's) and a foreign file host
    (``cdn_url``); a context manager."""

    handler = _Handler

    def __init__(self, key: str = DEFAULT_KEY, *, latency_s: float = 0.05, poll_after_ms: int = 2500) -> None:
        super().__init__()
        self.key, self.latency_s, self.poll_after_ms = key, latency_s, poll_after_ms
        self.retired = False
        self.videos: dict[str, Video] = {}

    @property
    def host_url(self) -> str:
        return self._url(0)

    @property
    def base_url(self) -> str:
        return f"{self.host_url}/v1"

    def fail_next(self, kind: FaultKind, *, on: Stage, times: int = 1, **options: Any) -> None:
        with self._lock:
            self._faults.extend(Fault(kind=kind, stage=on, **options) for _ in range(times))

    def finish_all(self) -> None:
        with self._lock:
            for video in self.videos.values():
                video.created = time.monotonic() - video.latency

    # -- internals --
    def _apply(self, h: _Handler, fault: Fault) -> bool:
        headers = {"x-should-retry": fault.should_retry} if fault.should_retry else {}
        if fault.kind in ("429", "429ms"):
            if fault.kind == "429ms" and fault.retry_after is not None:
                headers["retry-after-ms"] = f"{fault.retry_after * 1000:g}"
            elif fault.retry_after is not None:
                headers["retry-after"] = f"{fault.retry_after:g}"
            elif fault.retry_after_date is not None:
                headers["retry-after"] = email.utils.formatdate(time.time() + fault.retry_after_date, usegmt=True)
            h.reply(429, _error(fault.message or "Rate limit reached for gpt-image-2 on images per min (IPM): "
                                "Limit 5, Used 5, Requested 1.", "rate_limit_exceeded", type_="requests"),
                    headers=headers)
        elif fault.kind == "quota":
            h.reply(429, _error("You exceeded your current quota, please check your plan and billing details.",
                                "insufficient_quota", type_="insufficient_quota"), headers=headers)
        elif fault.kind in ("500", "503"):
            h.reply(int(fault.kind), _error(fault.message or "The server had an error while processing your request.",
                                            None, type_="server_error"), headers=headers)
        elif fault.kind == "401":
            h.reply(401, _error(fault.message or "Incorrect API key provided.", "invalid_api_key"))
        elif fault.kind == "validation":
            h.reply(400, _error(fault.message or "Invalid value.", "invalid_value", fault.param))
        elif fault.kind == "moderation":
            details = {"moderation_stage": fault.moderation_stage} if fault.moderation_stage else None
            err = _error(fault.message or "Your request was rejected by the safety system.", fault.code,
                         type_="image_generation_user_error")
            if details:
                err["error"]["moderation_details"] = details
            h.reply(400, err)
        else:
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            h.reply(401, _error("Incorrect API key provided: sk-***. You can find your API key at "
                                "https://platform.openai.com/account/api-keys.", "invalid_api_key"))
            return
        path = rec.path.removeprefix("/v1")
        segments = [s for s in path.split("/") if s]
        if rec.method == "POST" and path in ("/images/generations", "/images/edits"):
            self._image(h, rec, "generate" if path.endswith("generations") else "edit")
        elif rec.method == "POST" and path == "/videos":
            self._create(h, rec)
        elif rec.method == "GET" and path == "/models":
            fault = self._take_fault("models")
            if fault is None or not self._apply(h, fault):
                h.reply(200, {"object": "list", "data": [
                    {"id": model, "object": "model", "created": 1764115200, "owned_by": "system"}
                    for model in ("gpt-image-2", "sora-2", "sora-2-pro", "gpt-5")]})
        elif rec.method == "GET" and len(segments) in (2, 3) and segments[0] == "videos":
            with self._lock:
                video = self.videos.get(segments[1])
            if video is None:
                h.reply(404, _error(f"Video with id '{segments[1]}' not found.", "not_found"))
            elif len(segments) == 2:
                self._retrieve(h, video)
            elif segments[2] == "content":
                self._content(h, rec, video)
            else:
                h.reply(404, _error("Invalid URL", None))
        else:
            h.reply(404, _error(f"Invalid URL ({rec.method} {rec.path})", None))

    def _image(self, h: _Handler, rec: Recorded, stage: Stage) -> None:
        fault = self._take_fault(stage)
        if fault is not None and self._apply(h, fault):
            return
        body: dict[str, Any] = rec.json if stage == "generate" and isinstance(rec.json, dict) else dict(rec.fields)
        if stage == "edit" and not rec.files.get("image[]"):
            h.reply(400, _error("Missing required parameter: 'image'.", "missing_required_parameter", "image"))
            return
        problem = None if body.get("prompt") else ("Missing required parameter: 'prompt'.", "prompt")
        size = str(body.get("size") or "1024x1024")
        if problem is None and (msg := image_size_problem(size)):
            problem = (msg, "size")
        if problem is None and body.get("quality") not in (None, "low", "medium", "high", "auto"):
            problem = (f"Invalid value: '{body.get('quality')}'.", "quality")
        if problem is not None:
            h.reply(400, _error(problem[0], "invalid_value", problem[1]))
            return
        b64 = base64.b64encode(png_of(size)).decode()
        h.reply(200, {"created": int(time.time()), "data": [{"b64_json": b64}], "background": "opaque",
                      "output_format": "png", "quality": body.get("quality"), "size": size,
                      "usage": {"input_tokens": 50, "output_tokens": 1000, "total_tokens": 1050,
                                "input_tokens_details": {"image_tokens": 0, "text_tokens": 50}}})

    def _create(self, h: _Handler, rec: Recorded) -> None:
        fault = self._take_fault("create")
        if fault is not None and self._apply(h, fault):
            return
        f = rec.fields
        model = f.get("model", "sora-2")
        if self.retired:
            h.reply(404, _error(f"The model `{model}` does not exist or you do not have access to it.",
                                "model_not_found"))
            return
        size, seconds = f.get("size", "720x1280"), f.get("seconds", "4")
        problem: tuple[str, str] | None = None
        if not f.get("prompt"):
            problem = ("Missing required parameter: 'prompt'.", "prompt")
        elif model not in VIDEO_SIZES:
            problem = (f"Invalid value: '{model}'. Supported values are: 'sora-2' and 'sora-2-pro'.", "model")
        elif seconds not in ("4", "8", "12"):
            problem = (f"Invalid value: '{seconds}'. Supported values are: '4', '8', and '12'.", "seconds")
        elif size not in VIDEO_SIZES[model]:
            problem = (f"Invalid value: '{size}'. Supported values for {model} are: "
                       f"{', '.join(sorted(VIDEO_SIZES[model]))}.", "size")
        elif ref := rec.files.get("input_reference"):
            from PIL import Image

            with Image.open(io.BytesIO(ref[0][2])) as img:
                if f"{img.width}x{img.height}" != size:
                    problem = ("Inpaint image must match the requested width and height", "input_reference")
        if problem is not None:
            h.reply(400, _error(problem[0], "invalid_value", problem[1]))
            return
        vid = f"video_{uuid.uuid4().hex}"
        video = Video(id=vid, model=model, size=size, seconds=seconds, prompt=f["prompt"], created=time.monotonic(),
                      latency=self.latency_s)
        with self._lock:
            self.videos[vid] = video
        h.reply(200, self._video_json(video))

    def _video_json(self, video: Video) -> dict[str, Any]:
        status, progress = video.state(time.monotonic())
        done = status in ("completed", "failed")
        return {"id": video.id, "object": "video", "model": video.model, "status": status, "progress": progress,
                "created_at": int(time.time()), "completed_at": int(time.time()) if done else None,
                "expires_at": int(time.time() + video.expires_in) if status == "completed" else None,
                "prompt": video.prompt, "size": video.size, "seconds": video.seconds, "remixed_from_video_id": None,
                "error": video.failure if status == "failed" else None}

    def _retrieve(self, h: _Handler, video: Video) -> None:
        fault = self._take_fault("retrieve")
        if fault is not None:
            if fault.kind == "failed":  # the job ends failed with this error
                video.failure = {"code": fault.code, "message": fault.message or "Video generation failed."}
                video.created = time.monotonic() - video.latency
            elif fault.kind == "expired":  # the job completed so long ago that its assets expired
                video.expires_in = -60
                video.created = time.monotonic() - video.latency
            elif self._apply(h, fault):
                return
        h.reply(200, self._video_json(video), headers={"openai-poll-after-ms": str(self.poll_after_ms)})

    def _content(self, h: _Handler, rec: Recorded, video: Video) -> None:
        if video.state(time.monotonic())[0] != "completed":
            h.reply(404, _error("Video is not ready yet.", "video_not_ready"))
            return
        if rec.query.get("variant", ["video"]) != ["video"]:
            h.reply(400, _error("Only the video variant is faked.", "invalid_value", "variant"))
            return
        fault = self._take_fault("content")
        if fault is not None:
            if fault.kind == "cut":
                h.cut(mp4_bytes(), "video/mp4")
                return
            if fault.kind == "expired":
                h.reply(404, _error("The video's assets have expired.", "not_found"))
                return
            if fault.kind == "redirect":
                h.reply(302, raw=b"", headers={"Location": f"{self.cdn_url}/files/{video.id}.mp4?sig=abc"})
                return
            if self._apply(h, fault):
                return
        h.reply(200, raw=mp4_bytes(), content_type="video/mp4")

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method == "GET" and rec.path.startswith("/files/") and rec.path.endswith(".mp4"):
            h.reply(200, raw=mp4_bytes(), content_type="video/mp4")
        else:
            h.reply(404, raw=b"Not Found", content_type="text/plain")


def iter_fake(**kwargs: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(**kwargs) as fake:
        yield fake
