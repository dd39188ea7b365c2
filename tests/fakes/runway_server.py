"""A fake Runway API, a fake CloudFront output host and a fake pre-signed upload host, on 127.0.0.1.

It follows the contract read in runwayml 5.24.0 (``_client.py``, ``types/*_create_params.py``,
``types/task_retrieve_response.py``, ``resources/tasks.py``, ``resources/uploads.py``) and Runway's docs
(docs.dev.runwayml.com ``/api-details/errors``, ``/api-details/task-failures``, ``/assets/inputs``):

* every API request needs ``Authorization: Bearer <key>`` (401 ``{"error": ...}`` otherwise) and
  ``X-Runway-Version: 2024-11-06`` (400 otherwise);
* ``POST /v1/{image_to_video,text_to_video,video_to_video,text_to_image}`` validate the model's fields (model per
  endpoint, ratio list, duration, prompt length, data-URI limits 5 MB / 16 MB, known ``runway://`` uploads) and
  answer ``{id, estimatedCost: {credits}}``; a 400 carries ``{"error": "<field>: <reason>"}``;
* ``GET /v1/tasks/{id}``: ``PENDING`` (or ``THROTTLED``) -> ``RUNNING`` with ``progress`` -> ``SUCCEEDED`` with
  ``output`` URLs on the output host, re-signed on every read (CloudFront style ``?Expires&Signature``), or
  ``FAILED`` with ``failure`` / ``failureCode``; ``DELETE /v1/tasks/{id}`` cancels a live task and deletes a finished
  one (404 afterwards);
* ``GET /v1/organization`` -> ``{creditBalance, tier: {maxMonthlyCreditSpend, models}, usage: {models}}``
  (``types/organization_retrieve_response.py``), the connection test's call;
* ``POST /v1/uploads {filename, type: "ephemeral"}`` -> ``{uploadUrl, fields, runwayUri}``; the upload host takes a
  multipart POST of the fields and ``file`` and must never see the key.

Faults are queued with ``fail_next(kind, on=stage)``; ``expire_outputs()`` revokes every signature handed out so far
(the next task read re-signs), ``expire_outputs(gone=True)`` removes the files for good.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from tests.fakes.base import ApiAndCdnFake, FakeHandler
from tests.fakes.fal_server import mp4_bytes, png_bytes

DEFAULT_KEY = "key_" + "0a1b2c3d" * 16
VERSION = "2024-11-06"
Role = Literal["api", "cdn"]
Stage = Literal["create", "task", "delete", "upload_slot", "upload", "download", "outcome", "organization"]
_DEFAULT_STAGE: dict[str, Stage] = {"429": "create", "503": "create", "502": "create", "500": "task",
                                    "401": "create", "validation": "create", "credits": "create", "cut": "download",
                                    "forbidden": "download", "moderation_input": "outcome",
                                    "moderation_output": "outcome", "bad_output": "outcome", "throttled": "outcome"}

GEN45 = ("1280:720", "720:1280", "1104:832", "960:960", "832:1104", "1584:672")
SEEDANCE_FAST = ("992:432", "864:496", "752:560", "640:640", "560:752", "496:864", "1470:630", "1280:720",
                 "1112:834", "960:960", "834:1112", "720:1280")
VEO = ("1280:720", "720:1280", "1080:1920", "1920:1080")
KLING_STD, KLING_PRO = ("1280:720", "720:1280", "960:960"), ("1920:1080", "1080:1920", "1440:1440")
I2V: dict[str, tuple[str, ...]] = {
    "gen4.5": GEN45, "veo3.1": VEO, "veo3.1_fast": VEO, "kling3.0_standard": KLING_STD, "klingO3_standard": KLING_STD,
    "kling3.0_pro": KLING_PRO, "klingO3_pro": KLING_PRO, "seedance2_fast": SEEDANCE_FAST,
    "seedance2": (*SEEDANCE_FAST, "2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920")}
T2V = {**I2V, "gen4.5": ("1280:720", "720:1280")}
T2I = ("gemini_image3.1_flash", "gemini_image3_pro", "gpt_image_2")
PROMPT_MAX = {"gen4.5": 1000, "veo3.1": 1000, "veo3.1_fast": 1000, "seedance2": 3500, "seedance2_fast": 3500}
CREDITS_PER_S = {"gen4.5": 12, "aleph2": 15, "veo3.1": 40, "veo3.1_fast": 15}


@dataclass(frozen=True)
class Recorded:
    server: Role
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, else the raw bytes


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: float | None = None
    message: str = ""


@dataclass
class Task:
    id: str
    endpoint: str
    model: str
    media: str
    body: dict[str, Any]
    latency: float
    released_at: float | None
    outcome: str = "ok"  # ok | moderation_input | moderation_output | bad_output
    throttled: bool = False
    cancelled: bool = False
    deleted: bool = False
    reads: int = 0

    def status(self, now: float) -> str:
        if self.cancelled:
            return "CANCELLED"
        elapsed = -1.0 if self.released_at is None else now - self.released_at
        if elapsed < self.latency / 3:
            return "THROTTLED" if self.throttled else "PENDING"
        if elapsed < self.latency:
            return "RUNNING"
        return "SUCCEEDED" if self.outcome == "ok" else "FAILED"


class _Handler(FakeHandler):
    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body: Any = raw
        if raw and "json" in (self.headers.get("content-type") or ""):
            with contextlib.suppress(ValueError):
                body = json.loads(raw)
        parts = urlsplit(self.path)
        rec = Recorded(self.server.role, self.command, parts.path, parse_qs(parts.query),
                       {k.lower(): v for k, v in self.headers.items()}, body)
        fake = self.server.fake
        with fake._lock:
            fake._requests.append(rec)
        (fake._api if self.server.role == "api" else fake._cdn)(self, rec)

    do_GET = do_POST = do_DELETE = _handle

    def reply(self, status: int, payload: Any = None, *, headers: dict[str, str] | None = None,
              raw: bytes | None = None, content_type: str = "application/json") -> None:
        if raw is None and payload is None:
            raw = b""  # an empty body, not JSON null
        super().reply(status, payload, headers=headers, raw=raw, content_type=content_type)


class FakeRunway(ApiAndCdnFake):
    """The fake API (``base_url``) and the output / upload host (``cdn_url``); a context manager."""

    handler = _Handler

    def __init__(self, key: str = DEFAULT_KEY, *, latency_s: float = 0.05) -> None:
        super().__init__()
        self.key, self.latency_s = key, latency_s
        self.hold = False
        self.credit_balance = 1250
        self.tasks: dict[str, Task] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # upload id -> {"filename", "fields", "file": bytes | None}
        self.valid_signatures: set[str] = set()
        self.gone: set[str] = set()  # task ids whose output files were removed
        self._sign = 0

    # -- inspection and control --
    def requests_to(self, server: Role, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self._requests if r.server == server and method in (None, r.method)
                    and (path is None or r.path.startswith(path))]

    def fail_next(self, kind: str, *, on: Stage | None = None, times: int = 1, retry_after: float | None = None,
                  message: str = "") -> None:
        with self._lock:
            self._faults += [Fault(kind, on or _DEFAULT_STAGE[kind], retry_after, message) for _ in range(times)]

    def release_all(self) -> None:
        with self._lock:
            self.hold = False
            for task in self.tasks.values():
                task.released_at = task.released_at or time.monotonic()

    def finish_all(self) -> None:
        with self._lock:
            self.hold = False
            for task in self.tasks.values():
                task.released_at = time.monotonic() - task.latency

    def expire_outputs(self, *, gone: bool = False) -> None:
        with self._lock:
            self.valid_signatures.clear()
            if gone:
                self.gone.update(self.tasks)

    # -- internals --
    def _generic(self, h: _Handler, fault: Fault | None) -> bool:
        if fault is None:
            return False
        if fault.kind == "429":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            h.reply(429, {"error": fault.message or "You have exceeded the rate limit."}, headers=headers)
        elif fault.kind in ("500", "502", "503"):
            h.reply(int(fault.kind), raw=b"<html><body>Service Unavailable</body></html>", content_type="text/html")
        elif fault.kind == "401":
            h.reply(401, {"error": fault.message or "Invalid API key."})
        elif fault.kind == "validation":
            h.reply(400, {"error": fault.message or "ratio: Invalid enum value."})
        elif fault.kind == "credits":
            h.reply(400, {"error": "You do not have enough credits to run this task."})
        else:
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            h.reply(401, {"error": "Incorrect hostname or API key: check the Authorization header."})
            return
        if rec.headers.get("x-runway-version") != VERSION:
            h.reply(400, {"error": "The X-Runway-Version header is missing or not a supported version."})
            return
        segments = [s for s in rec.path.split("/") if s]
        if segments[:2] == ["v1", "tasks"] and len(segments) == 3:
            with self._lock:
                task = self.tasks.get(segments[2])
            if task is None or task.deleted:
                h.reply(404, {"error": "Task not found."})
            elif rec.method == "GET":
                self._task(h, task)
            elif rec.method == "DELETE":
                self._delete(h, task)
            else:
                h.reply(405, {"error": "Method not allowed."})
        elif rec.path == "/v1/organization" and rec.method == "GET":
            self._organization(h)
        elif rec.path == "/v1/uploads" and rec.method == "POST":
            self._upload_slot(h, rec)
        elif rec.method == "POST" and rec.path in ("/v1/image_to_video", "/v1/text_to_video", "/v1/video_to_video",
                                                   "/v1/text_to_image"):
            self._create(h, rec)
        else:
            h.reply(404, {"error": "Not found."})

    def _create(self, h: _Handler, rec: Recorded) -> None:
        if self._generic(h, self._take_fault("create")):
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        problem = self._validate(rec.path, body)
        if problem:
            h.reply(400, {"error": problem})
            return
        outcome = self._take_fault("outcome")
        now = time.monotonic()
        tid = str(uuid.uuid4())
        media = "image" if rec.path.endswith("text_to_image") else "video"
        with self._lock:
            self.tasks[tid] = Task(tid, rec.path, body["model"], media, body, self.latency_s,
                                   None if self.hold else now, throttled=bool(outcome and outcome.kind == "throttled"),
                                   outcome=outcome.kind if outcome and outcome.kind != "throttled" else "ok")
        seconds = int(body.get("duration") or 5)
        h.reply(200, {"id": tid, "estimatedCost": {"credits": CREDITS_PER_S.get(body["model"], 10) * seconds}})

    def _validate(self, path: str, body: dict[str, Any]) -> str:
        model = str(body.get("model"))
        table = {"/v1/image_to_video": I2V, "/v1/text_to_video": T2V}.get(path)
        known = {"/v1/video_to_video": ("aleph2",), "/v1/text_to_image": T2I}.get(path, tuple(table or ()))
        if model not in known:
            return f"model: Invalid enum value. Expected {' | '.join(map(repr, known))}, received {model!r}"
        text = body.get("promptText")
        if text is not None and (not isinstance(text, str) or not text.strip()):
            return "promptText: String must contain at least 1 character(s)"
        if isinstance(text, str) and len(text.encode("utf-16-le")) // 2 > PROMPT_MAX.get(model, 10**6):
            return f"promptText: String must contain at most {PROMPT_MAX[model]} character(s)"
        if model == "gen4.5" and text is None:
            return "promptText: Required"
        if table is not None:
            ratio = body.get("ratio")
            if ratio is None and (model.startswith(("gen4.5", "veo")) or path.endswith("text_to_video")):
                return "ratio: Required"
            if ratio is not None and ratio not in table[model]:
                return f"ratio: Invalid enum value. Expected {' | '.join(map(repr, table[model]))}"
            duration = body.get("duration")
            if model == "gen4.5" and not (isinstance(duration, int) and 2 <= duration <= 10):
                return "duration: Number must be an integer from 2 to 10"
            if model.startswith("veo") and duration not in (None, 4, 6, 8):
                return "duration: Invalid literal value, expected 4 | 6 | 8"
            if path.endswith("image_to_video") and "promptImage" not in body:
                return "promptImage: Required"
        if path.endswith("text_to_image") and not isinstance(body.get("ratio"), str):
            return "ratio: Required"
        for where, uri, limit in self._uris(body):
            problem = self._check_uri(uri, limit)
            if problem:
                return f"{where}: {problem}"
        return ""

    def _uris(self, body: dict[str, Any]) -> Iterator[tuple[str, Any, int]]:
        image, media = 5 * 1024 * 1024, 16 * 1024 * 1024
        if "videoUri" in body:
            yield "videoUri", body["videoUri"], media
        if isinstance(body.get("promptImage"), str):
            yield "promptImage", body["promptImage"], image
        for key in ("promptImage", "keyframes", "references", "referenceImages", "referenceAudio"):
            items = body.get(key)
            for i, item in enumerate(items if isinstance(items, list) else []):
                yield f"{key}.{i}.uri", item.get("uri") if isinstance(item, dict) else item, \
                    media if key == "referenceAudio" else image

    def _check_uri(self, uri: Any, limit: int) -> str:
        if not isinstance(uri, str):
            return "Required"
        if uri.startswith("runway://"):
            upload = self.uploads.get(uri.removeprefix("runway://"))
            return "" if upload and upload.get("file") else "Unknown or incomplete upload."
        if not uri.startswith("data:"):
            return "Only HTTPS URLs, runway:// URIs and data URIs are allowed." if not uri.startswith("https://") \
                else ""
        if len(uri) > limit:
            return f"Data URI is too large ({len(uri)} bytes; the limit is {limit})."
        head, _, payload = uri.partition(",")
        if ";base64" not in head or "/" not in head:
            return "Invalid data URI."
        try:
            base64.b64decode(payload, validate=True)
        except ValueError:
            return "Invalid data URI."
        return ""

    def _task(self, h: _Handler, task: Task) -> None:
        if self._generic(h, self._take_fault("task")):
            return
        now = time.monotonic()
        with self._lock:
            task.reads += 1
            status = task.status(now)
        base = {"id": task.id, "status": status, "createdAt": "2026-11-26T10:00:00.000Z"}
        estimate = {"estimatedCost": {"credits": CREDITS_PER_S.get(task.model, 10) * 5}}
        if status in ("PENDING", "THROTTLED"):
            h.reply(200, {**base, **estimate})
        elif status == "RUNNING":
            done = (now - (task.released_at or now) - task.latency / 3) / (task.latency * 2 / 3)
            h.reply(200, {**base, **estimate, "progress": round(min(0.99, max(0.0, done)), 3)})
        elif status == "CANCELLED":
            h.reply(200, {**base, "cost": {"credits": 0}})
        elif status == "FAILED":
            code, failure = {
                "moderation_input": ("SAFETY.INPUT.TEXT", "The prompt was flagged by content moderation."),
                "moderation_output": ("SAFETY.OUTPUT.VIDEO", "The output was flagged by content moderation."),
                "bad_output": ("INTERNAL.BAD_OUTPUT.CODE01", "The generation did not pass a quality check."),
            }[task.outcome]
            h.reply(200, {**base, "failure": failure, "failureCode": code, "cost": {"credits": 0}})
        else:
            with self._lock:
                self._sign += 1
                signature = f"sig{self._sign}"
                self.valid_signatures.add(signature)
            ext = "png" if task.media == "image" else "mp4"
            url = f"{self.cdn_url}/outputs/{task.id}/0.{ext}?Expires=1764200000&Signature={signature}&Key-Pair-Id=K1"
            h.reply(200, {**base, "output": [url], "cost": {"credits": CREDITS_PER_S.get(task.model, 10) * 5}})

    def _delete(self, h: _Handler, task: Task) -> None:
        if self._generic(h, self._take_fault("delete")):
            return
        with self._lock:
            if task.status(time.monotonic()) in ("PENDING", "THROTTLED", "RUNNING"):
                task.cancelled = True
            else:
                task.deleted = True  # a finished task is deleted, with its output
                self.gone.add(task.id)
        h.reply(204)

    def _organization(self, h: _Handler) -> None:
        if self._generic(h, self._take_fault("organization")):
            return
        models = {"gen4.5": {"maxConcurrentGenerations": 2, "maxDailyGenerations": 200}}
        h.reply(200, {"creditBalance": self.credit_balance,
                      "tier": {"maxMonthlyCreditSpend": 10000, "models": models},
                      "usage": {"models": {"gen4.5": {"dailyGenerations": len(self.tasks)}}}})

    def _upload_slot(self, h: _Handler, rec: Recorded) -> None:
        if self._generic(h, self._take_fault("upload_slot")):
            return
        body = rec.body if isinstance(rec.body, dict) else {}
        if not body.get("filename") or body.get("type") != "ephemeral":
            h.reply(400, {"error": "filename: Required; type: Expected 'ephemeral'"})
            return
        uid = uuid.uuid4().hex
        fields = {"key": f"uploads/{uid}/{body['filename']}", "policy": "eyJleHAiOiJ9", "x-amz-signature": "abc123"}
        with self._lock:
            self.uploads[uid] = {"filename": body["filename"], "fields": fields, "file": None}
        h.reply(200, {"uploadUrl": f"{self.cdn_url}/upload/{uid}", "fields": fields, "runwayUri": f"runway://{uid}"})

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method == "POST" and rec.path.startswith("/upload/"):
            self._upload(h, rec, rec.path.removeprefix("/upload/"))
            return
        segments = rec.path.strip("/").split("/")
        if rec.method != "GET" or len(segments) != 3 or segments[0] != "outputs":
            h.reply(404, raw=b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
            return
        ext = segments[2].rsplit(".", 1)[-1]
        data, mime = (png_bytes(), "image/png") if ext == "png" else (mp4_bytes(), "video/mp4")
        fault = self._take_fault("download")
        if fault is not None and fault.kind == "cut":
            h.cut(data, mime)
            return
        if self._generic(h, fault):
            return
        if segments[1] in self.gone:
            h.reply(404, raw=b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
        elif (fault is not None and fault.kind == "forbidden") or \
                rec.query.get("Signature", [""])[0] not in self.valid_signatures:
            h.reply(403, raw=b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                    content_type="application/xml")
        else:
            h.reply(200, raw=data, content_type=mime)

    def _upload(self, h: _Handler, rec: Recorded, uid: str) -> None:
        if self._generic(h, self._take_fault("upload")):
            return
        upload = self.uploads.get(uid)
        content_type = rec.headers.get("content-type", "")
        if upload is None or not content_type.startswith("multipart/form-data") or not isinstance(rec.body, bytes):
            h.reply(403, raw=b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
            return
        message = email.message_from_bytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + rec.body,
                                           policy=email.policy.HTTP)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        fields_ok = all(str(parts[k].get_content()).strip() == v for k, v in upload["fields"].items() if k in parts) \
            and set(upload["fields"]) <= set(parts)
        file_part = parts.get("file")
        if not fields_ok or file_part is None:
            h.reply(400, raw=b"<Error><Code>InvalidPolicyDocument</Code></Error>", content_type="application/xml")
            return
        with self._lock:
            upload["file"] = file_part.get_payload(decode=True)
        h.reply(204)

