"""A fake fal.ai queue API and a fake fal CDN, on two random ports of 127.0.0.1.

It follows fal's documented queue contract (shared/reference/providers.md §9a, checked against fal-ai/fal
``projects/fal_client/src/fal_client/client.py``):

* ``POST /{owner}/{app}[/{path}]`` with the model input JSON -> ``{request_id, response_url, status_url, cancel_url,
  queue_position}``; the returned URLs use ``owner/app`` only (sub-path dropped), and status / result / cancel
  requests that carry the sub-path get a 404, as fal's docs warn;
* ``GET …/requests/{id}/status[?logs=1]`` -> ``IN_QUEUE`` (with ``queue_position``) -> ``IN_PROGRESS`` (with
  ``logs``) -> ``COMPLETED`` (with ``logs`` and ``metrics``), 202 until complete and 200 after;
* ``GET …/requests/{id}`` -> the model output, whose file URLs point at the fake CDN (a second server);
* ``PUT …/requests/{id}/cancel`` -> 202 ``CANCELLATION_REQUESTED`` for a queued job, 400 ``ALREADY_COMPLETED``
  once it is processing or done, 404 ``NOT_FOUND`` for an unknown id;
* ``POST /storage/auth/token?storage_type=fal-cdn-v3`` ``{}`` -> ``{token, token_type, base_url, expires_at}`` (the
  upload token of fal_client's ``CDNTokenManager``, on ``rest.fal.ai``), the connection test's call;
* every API request needs ``Authorization: Key <key>`` (401 otherwise).

Each job spends half its latency IN_QUEUE and half IN_PROGRESS; with ``hold`` on, new jobs stay IN_QUEUE until
``release_all()``. Faults are queued with ``fail_next(kind, on=stage)``.

Usage::

    with FakeFal() as fal:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fal.base_url)
        ...
        assert fal.max_in_flight <= 2
"""

from __future__ import annotations

import io
import json
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from .base import ApiAndCdnFake, FakeHandler, retry_after_headers

DEFAULT_KEY = "fal-test-key-MARKER-123"
APP_NAMESPACES = ("workflows", "comfy")

Stage = Literal["submit", "status", "result", "cancel", "download", "token"]
FaultKind = Literal["429", "503", "500", "401", "cut", "moderation", "expired", "validation", "garbage"]
_DEFAULT_STAGE: dict[str, Stage] = {"429": "submit", "503": "submit", "500": "status", "401": "submit",
                                    "cut": "download", "moderation": "result", "expired": "result",
                                    "validation": "result", "garbage": "download"}


# --- media (made once per session) ----------------------------------------------------------------------------------


@cache
def mp4_bytes() -> bytes:
    """A small valid H.264 MP4: 12 frames of 64x48 at 12 fps."""
    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(12):
            frame = np.zeros((48, 64, 3), np.uint8)
            frame[:, : (i + 1) * 5] = (200, 80, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = buf.getvalue()
    # pad with a free atom so the body is big enough to be cut in half meaningfully
    return data + (4096 + 8).to_bytes(4, "big") + b"free" + bytes(4096)


@cache
def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(buf, format="PNG")
    return buf.getvalue()


@cache
def wav_bytes() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(bytes(3200))
    return buf.getvalue()


MEDIA: dict[str, tuple[str, str]] = {"video": ("mp4", "video/mp4"), "image": ("png", "image/png"),
                                     "audio": ("wav", "audio/wav")}


def media_bytes(ext: str) -> bytes:
    return {"mp4": mp4_bytes, "png": png_bytes, "wav": wav_bytes}[ext]()


def media_for(endpoint: str) -> str:
    lowered = endpoint.lower()
    if any(w in lowered for w in ("tts", "elevenlabs", "audio/", "speech")):
        return "audio"
    if any(w in lowered for w in ("video", "veo", "seedance", "sora", "kling", "lipsync", "avatar")):
        return "video"
    return "image"


# --- records ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    server: Literal["api", "cdn"]
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: float | None = None  # Retry-After in seconds
    retry_after_date: float | None = None  # Retry-After as an HTTP-date this many seconds ahead
    message: str = ""
    field: str = "duration"


@dataclass
class Job:
    id: str
    app: str  # [namespace/]owner/app
    endpoint: str
    media: str
    body: Any
    created: float
    latency: float
    released_at: float | None
    cancelled: bool = False
    status_polls: int = 0
    result_gets: int = 0

    def state(self, now: float) -> str:
        if self.cancelled:
            return "CANCELLED"
        if self.released_at is None:
            return "IN_QUEUE"
        elapsed = now - self.released_at
        if elapsed < self.latency / 2:
            return "IN_QUEUE"
        if elapsed < self.latency:
            return "IN_PROGRESS"
        return "COMPLETED"


# --- the servers ------------------------------------------------------------------------------------------------------


class _Handler(FakeHandler):
    def _body(self, raw: bytes) -> Any:
        """The recorded body: parsed JSON, else the text, else None."""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = self._body(raw)
        parts = urlsplit(self.path)
        record = Recorded(server=self.server.role, method=self.command, path=parts.path,
                          query=parse_qs(parts.query), headers={k.lower(): v for k, v in self.headers.items()},
                          body=body)
        fake = self.server.fake
        fake._record(record)
        if self.server.role == "api":
            fake._api(self, record)
        else:
            fake._cdn(self, record)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class FakeFal(ApiAndCdnFake):
    """The fake fal queue API (``base_url``) plus its CDN (``cdn_url``); a context manager."""

    handler = _Handler

    def __init__(self, key: str = DEFAULT_KEY, *, latency_s: float = 0.05) -> None:
        super().__init__()
        self.key = key
        self.latency_s = latency_s
        self.hold = False
        self.jobs: dict[str, Job] = {}
        self.cancels: list[str] = []
        self.max_in_flight = 0

    # -- inspection --
    def in_flight(self) -> int:
        now = time.monotonic()
        with self._lock:
            return sum(1 for j in self.jobs.values() if j.state(now) in ("IN_QUEUE", "IN_PROGRESS"))

    # -- control --
    def fail_next(self, kind: FaultKind, *, on: Stage | None = None, times: int = 1,
                  retry_after: float | None = None, retry_after_date: float | None = None, message: str = "",
                  field: str = "duration") -> None:
        """Queue ``times`` faults of ``kind`` for the next requests at ``stage`` (a default stage per kind)."""
        stage = on or _DEFAULT_STAGE[kind]
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind=kind, stage=stage, retry_after=retry_after,
                                          retry_after_date=retry_after_date, message=message, field=field))

    def release_all(self) -> None:
        """Let every held job start its clock now (and stop holding new ones)."""
        now = time.monotonic()
        with self._lock:
            self.hold = False
            for job in self.jobs.values():
                if job.released_at is None:
                    job.released_at = now

    def finish_all(self) -> None:
        """Complete every job at once."""
        with self._lock:
            self.hold = False
            for job in self.jobs.values():
                job.released_at = time.monotonic() - job.latency

    # -- internals --

    def _apply_fault(self, h: _Handler, fault: Fault) -> bool:
        """Answer with a generic fault; False for faults the stage handles itself."""
        if fault.kind == "429":
            headers = retry_after_headers(fault.retry_after, fault.retry_after_date)
            h.reply(429, {"detail": fault.message or "Too many concurrent requests"}, headers=headers)
            return True
        if fault.kind in ("503", "500"):
            h.reply(int(fault.kind), raw=b"<html><body><h1>503 Service Temporarily Unavailable</h1><hr>"
                    b"<center>nginx</center></body></html>", content_type="text/html")
            return True
        if fault.kind == "401":
            h.reply(401, {"detail": fault.message or "Invalid Key"})
            return True
        return False

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Key {self.key}":
            h.reply(401, {"detail": "No user found for Key ID and Secret"})
            return
        if rec.path == "/storage/auth/token":
            self._upload_token(h, rec)
            return
        segments = [s for s in rec.path.split("/") if s]
        n = 3 if segments and segments[0] in APP_NAMESPACES else 2
        if len(segments) < n:
            h.reply(404, {"detail": "Application not found"})
            return
        if "requests" in segments[n + 1:] or ("requests" in segments and segments[n:n + 1] != ["requests"]):
            # status / result / cancel with the endpoint's sub-path: fal's docs say not to, so fail loudly
            h.reply(404, {"detail": "Not Found (status, result and cancel URLs use owner/app only)"})
            return
        app = "/".join(segments[:n])
        if segments[n:n + 1] != ["requests"]:
            if rec.method != "POST":
                h.reply(405, {"detail": "Method Not Allowed"})
                return
            self._submit(h, rec, app, "/".join(segments))
            return
        rid = segments[n + 1] if len(segments) > n + 1 else ""
        rest = segments[n + 2:]
        with self._lock:
            job = self.jobs.get(rid)
        if job is None or job.app != app:
            h.reply(404, {"detail": f"Request {rid} not found", "status": "NOT_FOUND"})
            return
        if rest == ["status"] and rec.method == "GET":
            self._status(h, rec, job)
        elif rest == [] and rec.method == "GET":
            self._result(h, job)
        elif rest == ["cancel"] and rec.method == "PUT":
            self._cancel(h, job)
        else:
            h.reply(405, {"detail": "Method Not Allowed"})

    def _upload_token(self, h: _Handler, rec: Recorded) -> None:
        fault = self._take_fault("token")
        if fault is not None and self._apply_fault(h, fault):
            return
        if rec.method != "POST" or rec.query.get("storage_type") != ["fal-cdn-v3"] or rec.body != {}:
            h.reply(422, {"detail": [{"loc": ["query", "storage_type"], "msg": "Field required", "type": "missing"}]})
            return
        expires = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
        h.reply(200, {"token": f"cdn-token-{uuid.uuid4().hex}", "token_type": "Bearer", "base_url": self.cdn_url,
                      "expires_at": expires})

    def _urls(self, app: str, rid: str) -> dict[str, str]:
        base = f"{self.base_url}/{app}/requests/{rid}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _submit(self, h: _Handler, rec: Recorded, app: str, endpoint: str) -> None:
        fault = self._take_fault("submit")
        if fault is not None:
            if fault.kind == "validation":
                h.reply(422, {"detail": [{"loc": ["body", fault.field], "msg": fault.message or "Input should be "
                              "'5' or '10'", "type": "literal_error", "input": None}]})
                return
            if self._apply_fault(h, fault):
                return
        if not isinstance(rec.body, dict):
            h.reply(422, {"detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary",
                                      "type": "dict_type"}]})
            return
        now = time.monotonic()
        rid = str(uuid.uuid4())
        with self._lock:
            job = Job(id=rid, app=app, endpoint=endpoint, media=media_for(endpoint), body=rec.body, created=now,
                      latency=self.latency_s, released_at=None if self.hold else now)
            self.jobs[rid] = job
            position = sum(1 for j in self.jobs.values() if j.state(now) == "IN_QUEUE") - 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight())
        h.reply(200, {"request_id": rid, **self._urls(app, rid), "queue_position": position},
                headers={"x-fal-request-id": rid})

    def _status(self, h: _Handler, rec: Recorded, job: Job) -> None:
        fault = self._take_fault("status")
        if fault is not None and self._apply_fault(h, fault):
            return
        now = time.monotonic()
        with self._lock:
            job.status_polls += 1
            state = job.state(now)
            queued = [j for j in self.jobs.values() if j.state(now) == "IN_QUEUE"]
        logs_wanted = rec.query.get("logs", ["0"])[0] in ("1", "true", "True")
        logs = [{"message": "Generating...", "level": "INFO", "timestamp": "2026-11-26T00:00:00Z"}]
        urls = self._urls(job.app, job.id)
        if state == "IN_QUEUE":
            position = next((i for i, j in enumerate(sorted(queued, key=lambda j: j.created)) if j.id == job.id), 0)
            h.reply(202, {"status": "IN_QUEUE", "request_id": job.id, "queue_position": position, **urls})
        elif state == "IN_PROGRESS":
            h.reply(202, {"status": "IN_PROGRESS", "request_id": job.id, "logs": logs if logs_wanted else None,
                          **urls})
        elif state == "CANCELLED":
            h.reply(200, {"status": "COMPLETED", "request_id": job.id, "logs": None, "metrics": {},
                          "error": "Request was cancelled", "error_type": "request_cancelled", **urls})
        else:
            h.reply(200, {"status": "COMPLETED", "request_id": job.id, "logs": logs if logs_wanted else None,
                          "metrics": {"inference_time": job.latency}, **urls})

    def _result(self, h: _Handler, job: Job) -> None:
        with self._lock:
            job.result_gets += 1
        fault = self._take_fault("result")
        if fault is not None:
            if fault.kind == "moderation":
                h.reply(422, {"detail": [{
                    "loc": ["body", "prompt"],
                    "msg": fault.message or "The content could not be processed because it contained material "
                                            "flagged by a content checker.",
                    "type": "content_policy_violation",
                    "url": "https://docs.fal.ai/errors#content_policy_violation",
                    "input": job.body.get("prompt") if isinstance(job.body, dict) else None,
                    "categories": ["violence"]}]}, headers={"x-fal-error-type": "content_policy_violation"})
                return
            if fault.kind == "expired":
                h.reply(404, {"detail": f"Request {job.id} not found"})
                return
            if fault.kind == "validation":
                h.reply(422, {"detail": [{"loc": ["body", fault.field],
                                          "msg": fault.message or "Input should be '5' or '10'",
                                          "type": "literal_error", "input": "7"}]},
                        headers={"x-fal-request-id": job.id})
                return
            if self._apply_fault(h, fault):
                return
        state = job.state(time.monotonic())
        if state in ("IN_QUEUE", "IN_PROGRESS"):
            h.reply(400, {"detail": "Request is still in progress"})
            return
        if state == "CANCELLED":
            h.reply(400, {"detail": "Request was cancelled"})
            return
        ext, mime = MEDIA[job.media]
        url = f"{self.cdn_url}/files/{job.id}/output.{ext}"
        item = {"url": url, "content_type": mime, "file_name": f"output.{ext}", "file_size": len(media_bytes(ext))}
        if job.media == "image":
            payload: dict[str, Any] = {"images": [{**item, "width": 64, "height": 48}], "seed": 42}
        elif job.media == "audio":
            payload = {"audio": item}
        else:
            payload = {"video": item, "seed": 42}
        h.reply(200, payload, headers={"x-fal-request-id": job.id})

    def _cancel(self, h: _Handler, job: Job) -> None:
        fault = self._take_fault("cancel")
        if fault is not None and self._apply_fault(h, fault):
            return
        with self._lock:
            self.cancels.append(job.id)
            state = job.state(time.monotonic())
            if state == "IN_QUEUE":
                job.cancelled = True
                h.reply(202, {"status": "CANCELLATION_REQUESTED"})
            elif state == "CANCELLED":
                h.reply(202, {"status": "CANCELLATION_REQUESTED"})
            else:
                h.reply(400, {"status": "ALREADY_COMPLETED"})

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method != "GET" or not rec.path.startswith("/files/"):
            h.reply(404, {"detail": "Not Found"})
            return
        ext = rec.path.rsplit(".", 1)[-1]
        if ext not in ("mp4", "png", "wav"):
            h.reply(404, {"detail": "Not Found"})
            return
        data = media_bytes(ext)
        mime = next(m for e, m in MEDIA.values() if e == ext)
        fault = self._take_fault("download")
        if fault is not None:
            if fault.kind == "cut":
                h.cut(data, mime)
                return
            if fault.kind == "expired":
                h.reply(404, raw=b"Not Found", content_type="text/plain")
                return
            if fault.kind == "garbage":
                h.reply(200, raw=b"<html>an error page, not media</html>", content_type=mime)
                return
            if self._apply_fault(h, fault):
                return
        h.reply(200, raw=data, content_type=mime)


def iter_fake(**kwargs: Any) -> Iterator[FakeFal]:
    """For a pytest fixture: ``yield from iter_fake()``."""
    with FakeFal(**kwargs) as fake:
        yield fake
