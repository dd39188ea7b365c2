"""A fake BytePlus ModelArk video-task API and a fake TOS bucket for its result files, on two ports of 127.0.0.1.

It follows the contract checked for blender_canvas/providers/byteplus.py (Vercel ``packages/bytedance``,
docs.byteplus.com ModelArk pages, the Ark query-task page):

* ``POST /api/v3/contents/generations/tasks`` with ``Authorization: Bearer <key>`` -> ``{"id": "cgt-…"}``; the body
  is validated like ModelArk does (known model, ``content`` items, ``duration`` 4–15 or -1, ``ratio``,
  ``resolution`` per model: Fast has no 1080p) and a bad field answers 400 ``InvalidParameter`` naming it;
* ``GET …/tasks/{id}`` -> ``queued`` -> ``running`` -> ``succeeded`` with ``content.video_url`` on the fake bucket,
  ``usage``, ``seed``, ``ratio``, ``resolution``, ``duration``, ``framespersecond``; failures come back HTTP 200 with
  ``status: "failed"`` and ``error{code, message}``; unknown ids 404;
* ``DELETE …/tasks/{id}`` cancels a queued task (``cancelled``), is refused for a running one (ASSUMED shape: 400
  ``InvalidAction.TaskRunning``) and deletes the record of a finished one (a later GET is 404);
* ``GET …/tasks?page_num=&page_size=`` -> ``{items, total}`` (the task list), the connection test's call;
* HTTP errors are ``{"error": {"code", "message", "param", "type"}}``.

Faults are queued with ``fail_next(kind, on=stage)``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .base import ApiAndCdnFake, retry_after_headers
from .fal_server import Fault, Recorded, _Handler, mp4_bytes

DEFAULT_KEY = "ark-test-key-MARKER-456"
MODELS = {"dreamina-seedance-2-0-260128": ("480p", "720p", "1080p"),
          "dreamina-seedance-2-0-fast-260128": ("480p", "720p")}
RATIOS = {"16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive"}
TASKS = "/api/v3/contents/generations/tasks"

Stage = Literal["submit", "status", "cancel", "download", "list"]
_DEFAULT_STAGE: dict[str, Stage] = {"429": "submit", "503": "submit", "500": "status", "401": "submit",
                                    "overdue": "submit", "input_moderation": "submit",
                                    "output_moderation": "status", "image_moderation": "status", "failed": "status",
                                    "expired_task": "status", "cut": "download", "expired": "download"}


def _err(code: str, message: str, *, param: str = "", kind: str = "BadRequest") -> dict[str, Any]:
    rid = uuid.uuid4().hex
    return {"error": {"code": code, "message": f"{message} Request id: {rid}", "param": param, "type": kind}}


@dataclass
class Task:
    id: str
    body: dict[str, Any]
    created: float
    latency: float
    released_at: float | None
    cancelled: bool = False
    failure: dict[str, str] | None = None  # error{code, message} once a failure fault hit it
    expired: bool = False

    def state(self, now: float) -> str:
        if self.cancelled:
            return "cancelled"
        if self.expired:
            return "expired"
        if self.failure is not None:
            return "failed"
        if self.released_at is None or now - self.released_at < self.latency / 2:
            return "queued"
        return "running" if now - self.released_at < self.latency else "succeeded"


class FakeBytePlus(ApiAndCdnFake):
    """The fake ModelArk API (``base_url``, ending in ``/api/v3``) plus its file bucket (``cdn_url``)."""

    handler = _Handler

    def __init__(self, key: str = DEFAULT_KEY, *, latency_s: float = 0.05) -> None:
        super().__init__()
        self.key = key
        self.latency_s = latency_s
        self.hold = False
        self.tasks: dict[str, Task] = {}
        self.deleted: list[str] = []

    @property
    def root_url(self) -> str:
        return self._url(0)

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api/v3"

    # -- inspection and control --
    def fail_next(self, kind: str, *, on: Stage | None = None, times: int = 1, retry_after: float | None = None,
                  retry_after_date: float | None = None, message: str = "", field: str = "duration") -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind=kind, stage=on or _DEFAULT_STAGE[kind], retry_after=retry_after,
                                          retry_after_date=retry_after_date, message=message, field=field))

    def release_all(self) -> None:
        with self._lock:
            self.hold = False
            for task in self.tasks.values():
                task.released_at = task.released_at or time.monotonic()

    # -- the API --
    def _generic(self, h: _Handler, fault: Fault) -> bool:
        if fault.kind == "429":
            headers = retry_after_headers(fault.retry_after, fault.retry_after_date)
            h.reply(429, _err("RateLimitExceeded.EndpointRPMExceeded", "The request has exceeded the RPM limit.",
                              kind="TooManyRequests"), headers=headers)
        elif fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body>503 Service Temporarily Unavailable</body></html>",
                    content_type="text/html")
        elif fault.kind == "401":
            h.reply(401, _err("AuthenticationError", fault.message or "The API key or AK/SK in the request is "
                              "missing or invalid.", kind="Unauthorized"))
        elif fault.kind == "overdue":
            h.reply(403, _err("AccountOverdueError", "The request failed because your account has an overdue "
                              "balance.", kind="Forbidden"))
        else:
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Bearer {self.key}":
            h.reply(401, _err("AuthenticationError", "The API key or AK/SK in the request is missing or invalid.",
                              kind="Unauthorized"))
            return
        if rec.path == TASKS and rec.method == "POST":
            self._submit(h, rec)
            return
        if rec.path == TASKS and rec.method == "GET":
            self._list(h, rec)
            return
        if not rec.path.startswith(TASKS + "/"):
            h.reply(404, _err("NotFound", "Not found.", kind="NotFound"))
            return
        tid = rec.path[len(TASKS) + 1:]
        with self._lock:
            task = self.tasks.get(tid)
        if task is None:
            h.reply(404, _err("ResourceNotFound", f"The specified task {tid} is not found.", kind="NotFound"))
        elif rec.method == "GET":
            self._status(h, task)
        elif rec.method == "DELETE":
            self._delete(h, task)
        else:
            h.reply(405, _err("MethodNotAllowed", "Method not allowed."))

    def _list(self, h: _Handler, rec: Recorded) -> None:
        """The task list (Ark's "query content generation task list"): ``{items, total}``, newest first."""
        fault = self._take_fault("list")
        if fault is not None and self._generic(h, fault):
            return
        try:
            page, size = int(rec.query["page_num"][0]), int(rec.query["page_size"][0])
        except (KeyError, ValueError):
            h.reply(400, _err("MissingParameter", "The parameters `page_num` and `page_size` are required."))
            return
        if not (1 <= page <= 500 and 1 <= size <= 500):
            h.reply(400, _err("InvalidParameter", "`page_num` and `page_size` must be within [1, 500].",
                              param="page_size"))
            return
        with self._lock:
            tasks = sorted(self.tasks.values(), key=lambda t: t.created, reverse=True)
        now = time.monotonic()
        items = [{"id": t.id, "model": t.body["model"], "status": t.state(now), "created_at": 1764115200,
                  "updated_at": 1764115260} for t in tasks[(page - 1) * size:page * size]]
        h.reply(200, {"items": items, "total": len(tasks)})

    def _invalid(self, body: Any) -> tuple[str, str] | None:
        if not isinstance(body, dict) or body.get("model") not in MODELS:
            return "model", "The model or endpoint does not exist or you do not have access to it."
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return "content", "The parameter `content` specified in the request is not valid."
        for item in content:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind not in ("text", "image_url", "audio_url", "video_url"):
                return "content.type", f"The parameter `content.type` value {kind!r} is not valid."
            if kind != "text":
                url = str(item.get(kind, {}).get("url", ""))
                if not (url.startswith(("http://", "https://")) or url.startswith(f"data:{kind[:5]}/")):
                    return f"content.{kind}.url", "The parameter `url` must be a URL or a base64 data URI."
        duration = body.get("duration", 5)
        if not isinstance(duration, int) or not (duration == -1 or 4 <= duration <= 15):
            return "duration", f"The parameter `duration` specified in the request is not valid: {duration}."
        if body.get("ratio", "16:9") not in RATIOS:
            return "ratio", f"The parameter `ratio` specified in the request is not valid: {body.get('ratio')}."
        if body.get("resolution", "720p") not in MODELS[body["model"]]:
            return "resolution", (f"The parameter `resolution` specified in the request is not valid: "
                                  f"{body.get('resolution')} is not supported by {body['model']}.")
        return None

    def _submit(self, h: _Handler, rec: Recorded) -> None:
        fault = self._take_fault("submit")
        if fault is not None:
            if fault.kind == "validation":
                h.reply(400, _err("InvalidParameter", fault.message or f"The parameter `{fault.field}` specified "
                                  "in the request is not valid.", param=fault.field))
                return
            if fault.kind == "input_moderation":
                h.reply(400, _err("InputTextSensitiveContentDetected", "The request failed because the input text "
                                  "may contain sensitive information."))
                return
            if self._generic(h, fault):
                return
        problem = self._invalid(rec.body)
        if problem is not None:
            h.reply(400, _err("InvalidParameter", problem[1], param=problem[0]))
            return
        now = time.monotonic()
        tid = f"cgt-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:5]}"
        with self._lock:
            self.tasks[tid] = Task(id=tid, body=rec.body, created=now, latency=self.latency_s,
                                   released_at=None if self.hold else now)
        h.reply(200, {"id": tid})

    def _status(self, h: _Handler, task: Task) -> None:
        fault = self._take_fault("status")
        if fault is not None:
            failures = {"output_moderation": ("OutputVideoSensitiveContentDetected", "The request failed because "
                                              "the output video may contain sensitive information."),
                        "image_moderation": ("InputImageSensitiveContentDetected", "The request failed because the "
                                             "input image may contain sensitive information."),
                        "failed": ("InternalServiceError", "The service encountered an unexpected internal error.")}
            if fault.kind in failures:
                code, message = failures[fault.kind]
                task.failure = {"code": code, "message": f"{message} Request id: {uuid.uuid4().hex}"}
            elif fault.kind == "expired_task":
                task.expired = True
            elif self._generic(h, fault):
                return
        state = task.state(time.monotonic())
        body = task.body
        answer: dict[str, Any] = {"id": task.id, "model": body["model"], "status": state, "created_at": 1764115200,
                                  "updated_at": 1764115260, "content": None, "error": None}
        if state == "succeeded":
            answer.update(content={"video_url": f"{self.cdn_url}/ark-content/{task.id}/video.mp4?X-Tos-Signature=x"},
                          seed=body.get("seed", 12345), resolution=body.get("resolution", "720p"),
                          ratio=body.get("ratio", "16:9"), duration=body.get("duration", 5), framespersecond=24,
                          usage={"completion_tokens": 108900, "total_tokens": 108900})
        elif state == "failed":
            answer["error"] = task.failure
        h.reply(200, answer)

    def _delete(self, h: _Handler, task: Task) -> None:
        state = task.state(time.monotonic())
        with self._lock:
            if state == "queued":
                task.cancelled = True
                h.reply(200, {})
            elif state == "running":
                h.reply(400, _err("InvalidAction.TaskRunning", "The task is running and cannot be cancelled."))
            else:
                self.deleted.append(task.id)
                del self.tasks[task.id]
                h.reply(200, {})

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method != "GET" or not rec.path.endswith("/video.mp4"):
            h.reply(404, raw=b"NoSuchKey", content_type="application/xml")
            return
        fault = self._take_fault("download")
        if fault is not None:
            if fault.kind == "cut":
                h.cut(mp4_bytes(), "video/mp4")
                return
            if fault.kind == "expired":
                h.reply(403, raw=b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                        content_type="application/xml")
                return
            if self._generic(h, fault):
                return
        h.reply(200, raw=mp4_bytes(), content_type="video/mp4")


def iter_fake(**kwargs: Any) -> Iterator[FakeBytePlus]:
    with FakeBytePlus(**kwargs) as fake:
        yield fake
