"""A fake Kling task API and a fake Kling CDN, on two random ports of 127.0.0.1.

It follows Kling's documented contract (shared/reference/providers.md §4 and the sources in
``blender_canvas/providers/kling.py``):

* every API request needs ``Authorization: Bearer <JWT>``, an HS256 JWT whose ``iss`` is the access key, signed
  with the secret key, valid between ``nbf`` and ``exp``; otherwise HTTP 401 with body code 1001 (empty), 1002
  (invalid), 1003 (not yet valid) or 1004 (expired);
* ``POST /v1/videos/{text2video,image2video,omni-video,avatar/image2video,lip-sync}`` checks the body the way Kling
  documents it (model name, mode, duration as a string "3".."15", prompt <= 2500 characters, images as raw base64 —
  a ``data:`` prefix is refused — of >= 300 px, <= 10 MB and aspect 1:2.5..2.5:1, audio as raw base64) and answers
  ``{code: 0, message: "SUCCEED", request_id, data: {task_id, task_status: "submitted", created_at, updated_at}}``;
  a bad field is HTTP 400 with code 1201 and a message naming the field;
* ``GET /v1/videos/<same path>/<task_id>`` walks ``submitted`` -> ``processing`` -> ``succeed`` (half the latency
  each) with ``task_result.videos[{id, url, duration}]`` on the CDN; a task asked for under another path is unknown;
* a create may carry ``external_task_id`` (the fake keeps it unique, refusing a second create with it: 400 / 1201),
  and the task
  query accepts it in place of the task id;
* ``GET /account/costs?start_time=&end_time=`` (ms) -> ``{code: 0, data: {code, msg, resource_pack_subscribe_infos:
  [{resource_pack_name, resource_pack_id, resource_pack_type, total_quantity, remaining_quantity, purchase_time,
  effective_time, invalid_time, status}]}}`` (Kling's "Account Information Inquiry"), the connection test's call;
* faults are queued with ``fail_next(kind, on=stage)``: ``rate`` (429 / 1302), ``concurrency`` (429 / 1303),
  ``credits`` (429 / 1102), ``auth`` (401 / 1000), ``moderation`` (400 / 1301), ``flagged`` and ``failed`` (the task
  fails with a message), ``500`` / ``503`` (an HTML error page), ``envelope`` (HTTP 200 carrying code 5000),
  ``cut`` and ``expired`` (CDN).
"""

from __future__ import annotations

import base64
import binascii
import io
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import jwt
from PIL import Image

from tests.fakes.base import ApiAndCdnFake
from tests.fakes.fal_server import Recorded, _Handler, mp4_bytes

ACCESS_KEY = "kling-access-MARKER-ak-0123456789"
SECRET_KEY = "kling-secret-MARKER-0123456789abcdef0123"
KINDS = ("text2video", "image2video", "omni-video", "avatar/image2video", "lip-sync")
MODELS = ("kling-v3", "kling-v3-omni")
Stage = Literal["submit", "status", "download", "account"]
_DEFAULT_STAGE: dict[str, Stage] = {"rate": "submit", "concurrency": "submit", "credits": "submit", "auth": "submit",
                                    "moderation": "submit", "flagged": "status", "failed": "status", "500": "status",
                                    "503": "status", "envelope": "status", "cut": "download", "expired": "download"}
_CODES = {"rate": (429, 1302, "Rate limit exceeded, request too fast"),
          "concurrency": (429, 1303, "parallel task over resource pack limit"),
          "credits": (429, 1102, "Account exception: resource pack depleted or expired"),
          "auth": (401, 1000, "Authentication failed"),
          "moderation": (400, 1301, "Input content triggers the content security policy, please modify it")}


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: float | None = None
    message: str = ""


@dataclass
class Task:
    id: str
    kind: str
    body: dict[str, Any]
    created: float
    latency: float
    fault: Fault | None = None
    polls: int = 0

    def status(self, now: float) -> str:
        elapsed = now - self.created
        if elapsed < self.latency / 2:
            return "submitted"
        if elapsed < self.latency:
            return "processing"
        return "failed" if self.fault else "succeed"


class Invalid(Exception):
    pass


def _image(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise Invalid(f"{name} is required")
    if value.startswith("data:"):
        raise Invalid(f"{name}: base64 must not carry a data: prefix")
    try:
        raw = base64.b64decode(value, validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            w, h, fmt = img.width, img.height, img.format
    except (binascii.Error, OSError):
        raise Invalid(f"{name}: not a valid base64 image") from None
    if fmt not in ("JPEG", "PNG"):
        raise Invalid(f"{name}: only jpg / jpeg / png are supported, got {fmt}")
    if len(raw) > 10 << 20:
        raise Invalid(f"{name}: image over 10MB")
    if min(w, h) < 300:
        raise Invalid(f"{name}: image must be at least 300px, got {w}x{h}")
    if max(w / h, h / w) > 2.5 + 1e-9:
        raise Invalid(f"{name}: aspect ratio must be between 1:2.5 and 2.5:1, got {w}x{h}")


def _audio(value: Any, name: str) -> None:
    if not isinstance(value, str) or not value or value.startswith("data:"):
        raise Invalid(f"{name}: raw base64 audio is required")
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise Invalid(f"{name}: not valid base64") from None
    if len(raw) > 5 << 20:
        raise Invalid(f"{name}: audio over 5MB")


def validate(kind: str, body: Any) -> None:
    """Kling's documented body rules for one create endpoint; raises Invalid naming the field."""
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    if kind == "lip-sync":
        data = body.get("input")
        if not isinstance(data, dict) or data.get("mode") not in ("audio2video", "text2video"):
            raise Invalid("input.mode must be audio2video or text2video")
        if bool(data.get("video_id")) == bool(data.get("video_url")):
            raise Invalid("input.video_id / input.video_url: exactly one is required")
        if data.get("audio_type") == "file":
            _audio(data.get("audio_file"), "input.audio_file")
        return
    if body.get("mode") not in ("std", "pro"):
        raise Invalid(f"mode must be std or pro, got {body.get('mode')!r}")
    if len(str(body.get("prompt") or "")) > 2500:
        raise Invalid("prompt must not exceed 2500 characters")
    if kind == "avatar/image2video":
        _image(body.get("image"), "image")
        _audio(body.get("sound_file"), "sound_file")
        return
    if body.get("model_name") not in MODELS:
        raise Invalid(f"model_name is invalid: {body.get('model_name')!r}")
    duration = body.get("duration", "5")
    if not isinstance(duration, str) or duration not in {str(n) for n in range(3, 16)}:
        raise Invalid(f"duration must be a string from '3' to '15', got {duration!r}")
    if body.get("sound", "off") not in ("on", "off"):
        raise Invalid("sound must be on or off")
    if kind == "image2video":
        _image(body.get("image"), "image")
        if "image_tail" in body:
            _image(body["image_tail"], "image_tail")
        if "aspect_ratio" in body:
            raise Invalid("aspect_ratio is not supported for image2video")
    elif kind == "omni-video":
        for i, item in enumerate(body.get("image_list") or []):
            _image(item.get("image_url"), f"image_list[{i}].image_url")
            if item.get("type") not in (None, "first_frame", "end_frame"):
                raise Invalid(f"image_list[{i}].type is invalid")
    elif kind == "text2video" and not body.get("prompt"):
        raise Invalid("prompt is required")
    if kind != "image2video" and not any(i.get("type") == "first_frame" for i in body.get("image_list") or []) \
            and body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"):
        raise Invalid("aspect_ratio must be 16:9, 9:16 or 1:1")


@dataclass
class _State:
    tasks: dict[str, Task] = field(default_factory=dict)


class FakeKling(ApiAndCdnFake):
    """The fake Kling API (``base_url``) plus its CDN (``cdn_url``); a context manager."""

    handler = _Handler  # the fal fake's request handler, calling our _api / _cdn

    def __init__(self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, *, latency_s: float = 0.05) -> None:
        super().__init__()
        self.access_key, self.secret_key, self.latency_s = access_key, secret_key, latency_s
        # (name, total, remaining, status) of the account's resource packs
        self.resource_packs = [("Video Generation - 200 units", 200.0, 118.0, "online"),
                               ("Video Generation - 100 units", 100.0, 0.0, "expired")]
        self._state = _State()
        self.submits = 0  # create calls that made a task

    # -- inspection and control --
    @property
    def tasks(self) -> dict[str, Task]:
        with self._lock:
            return dict(self._state.tasks)

    def fail_next(self, kind: str, *, on: Stage | None = None, times: int = 1, retry_after: float | None = None,
                  message: str = "") -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind, on or _DEFAULT_STAGE[kind], retry_after, message))

    def finish_all(self) -> None:
        with self._lock:
            for task in self._state.tasks.values():
                task.created = time.monotonic() - task.latency

    # -- the handlers (called by the fal fake's request handler) --
    def _reply(self, h: _Handler, status: int, code: int, message: str, data: Any = None,
               headers: dict[str, str] | None = None) -> None:
        payload: dict[str, Any] = {"code": code, "message": message, "request_id": str(uuid.uuid4())}
        if data is not None:
            payload["data"] = data
        h.reply(status, payload, headers=headers)

    def _auth(self, h: _Handler, rec: Recorded) -> bool:
        header = rec.headers.get("authorization", "")
        if not header:
            self._reply(h, 401, 1001, "Authorization is empty")
            return False
        token = header.removeprefix("Bearer ")
        try:
            claims = jwt.decode(token, self.secret_key, algorithms=["HS256"], options={"require": ["exp", "nbf"]})
            if jwt.get_unverified_header(token) != {"alg": "HS256", "typ": "JWT"} or claims["iss"] != self.access_key:
                raise jwt.InvalidTokenError("wrong issuer or header")
        except jwt.ExpiredSignatureError:
            self._reply(h, 401, 1004, "Authorization has expired")
            return False
        except jwt.ImmatureSignatureError:
            self._reply(h, 401, 1003, "Authorization is not yet valid")
            return False
        except (jwt.InvalidTokenError, KeyError):
            self._reply(h, 401, 1002, "Authorization is invalid")
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if not self._auth(h, rec):
            return
        if rec.path == "/account/costs" and rec.method == "GET":
            self._costs(h, rec)
            return
        path = rec.path.removeprefix("/v1/videos/")
        if rec.method == "POST" and path in KINDS:
            self._submit(h, rec, path)
            return
        kind, _, task_id = path.rpartition("/")
        with self._lock:  # Kling's task query takes the task_id or the external_task_id given at create
            task = self._state.tasks.get(task_id) or next(
                (t for t in self._state.tasks.values() if t.body.get("external_task_id") == task_id), None)
        if rec.method != "GET" or task is None or task.kind != kind:
            self._reply(h, 404, 1203, f"task not found: {task_id}")
            return
        self._status(h, task)

    def _costs(self, h: _Handler, rec: Recorded) -> None:
        fault = self._take_fault("account")
        if fault is not None and fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body><h1>Bad Gateway</h1></body></html>", content_type="text/html")
            return
        if fault is not None and fault.kind in _CODES:
            status, code, message = _CODES[fault.kind]
            self._reply(h, status, code, fault.message or message)
            return
        try:
            start, end = int(rec.query["start_time"][0]), int(rec.query["end_time"][0])
        except (KeyError, ValueError):
            self._reply(h, 400, 1201, "Parameter error: start_time and end_time are required")
            return
        if end <= start:
            self._reply(h, 400, 1201, "Parameter error: end_time must be after start_time")
            return
        self._reply(h, 200, 0, "SUCCEED", {"code": 0, "msg": "", "resource_pack_subscribe_infos": [
            {"resource_pack_name": name, "resource_pack_id": uuid.uuid4().hex, "resource_pack_type": "decreasing_total",
             "total_quantity": total, "remaining_quantity": left, "purchase_time": start, "effective_time": start,
             "invalid_time": end + 86_400_000, "status": status}
            for name, total, left, status in self.resource_packs]})

    def _submit(self, h: _Handler, rec: Recorded, kind: str) -> None:
        fault = self._take_fault("submit")
        if fault is not None and fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body><h1>Bad Gateway</h1></body></html>", content_type="text/html")
            return
        if fault is not None and fault.kind in _CODES:
            status, code, message = _CODES[fault.kind]
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else None
            self._reply(h, status, code, fault.message or message, headers=headers)
            return
        try:
            validate(kind, rec.body)
        except Invalid as exc:
            self._reply(h, 400, 1201, f"Parameter error: {exc}")
            return
        now = time.monotonic()
        task = Task(id=str(int(time.time() * 1000) * 1000 + len(self._state.tasks)), kind=kind, body=rec.body,
                    created=now, latency=self.latency_s)
        with self._lock:
            self._state.tasks[task.id] = task
            self.submits += 1
        ms = int(time.time() * 1000)
        self._reply(h, 200, 0, "SUCCEED", {"task_id": task.id, "task_status": "submitted", "created_at": ms,
                                           "updated_at": ms})

    def _status(self, h: _Handler, task: Task) -> None:
        fault = self._take_fault("status")
        if fault is not None and fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body><h1>Service Unavailable</h1></body></html>",
                    content_type="text/html")
            return
        if fault is not None and fault.kind == "envelope":
            self._reply(h, 200, 5000, "Server internal error")
            return
        if fault is not None and fault.kind in ("flagged", "failed"):
            task.fault = fault
        task.polls += 1
        status = task.status(time.monotonic())
        data: dict[str, Any] = {"task_id": task.id, "task_status": status, "task_info": {}, "created_at": 0,
                                "updated_at": 0}
        if status == "failed" and task.fault is not None:
            default = ("Failure to pass the risk control system: the generated video was flagged"
                       if task.fault.kind == "flagged" else "Video generation failed, please try again")
            data["task_status_msg"] = task.fault.message or default
        elif status == "succeed":
            data["task_status_msg"] = ""
            data["task_result"] = {"videos": [{"id": f"v-{task.id}", "url": f"{self.cdn_url}/kcdn/{task.id}.mp4"
                                               f"?x-sign=presigned", "duration": str(task.body.get("duration", 5))}]}
        self._reply(h, 200, 0, "SUCCEED", data)

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method != "GET" or not rec.path.startswith("/kcdn/"):
            h.reply(404, raw=b"Not Found", content_type="text/plain")
            return
        fault = self._take_fault("download")
        if fault is not None and fault.kind == "cut":
            h.cut(mp4_bytes(), "video/mp4")
        elif fault is not None and fault.kind == "expired":
            h.reply(403, raw=b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                    content_type="application/xml")
        elif fault is not None and fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"busy", content_type="text/plain")
        else:
            h.reply(200, raw=mp4_bytes(), content_type="video/mp4")


def iter_fake(**kwargs: Any) -> Iterator[FakeKling]:
    """For a pytest fixture: ``yield from iter_fake()``."""
    with FakeKling(**kwargs) as fake:
        yield fake
