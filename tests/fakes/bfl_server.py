"""A fake Black Forest Labs API and a fake delivery host, on two ports of 127.0.0.1.

It follows the contract checked for blender_canvas/providers/bfl.py (Vercel ``packages/black-forest-labs``,
docs.bfl.ai, BFL's own skills guide):

* ``POST /v1/{model}`` with ``x-key`` -> ``{id, polling_url, cost, input_mp, output_mp}``; ``polling_url`` is on a
  regional sibling host (``https://api.us1.bfl.ai/v1/get_result?id=…`` by default: the adapter must move it to the
  override host), or on a foreign host with the ``foreign_poll`` fault; the body is checked per family (FLUX.2 and
  FLUX1.1 [pro]: ``width`` / ``height`` within limits and multiples of 16 / 32; Ultra and Kontext: ``aspect_ratio``;
  unknown fields 422 ``{"detail": [{"loc": ["body", field], "msg", "type"}]}``);
* ``GET /v1/get_result?id=`` -> ``Pending`` (with ``progress``) -> ``Ready`` with ``result.sample`` on the delivery
  host; or ``Request Moderated`` / ``Content Moderated`` (with ``details``) / ``Error`` / ``Task not found``;
* ``GET /v1/credits`` -> ``{credits}`` (docs.bfl.ai "Get the user's credits"), the connection test's call;
* 401 ``{"detail": "Not authenticated"}``, 402 out of credits, 429 with or without ``Retry-After``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from .base import ApiAndCdnFake, retry_after_headers
from .fal_server import Fault, Recorded, _Handler, png_bytes

DEFAULT_KEY = "bfl-test-key-MARKER-789"
PIXEL_MODELS = {"flux-2-pro": (16, 64, 2048), "flux-2-flex": (16, 64, 2048), "flux-2-max": (16, 64, 2048),
                "flux-pro-1.1": (32, 256, 1440)}
ASPECT_MODELS = {"flux-pro-1.1-ultra", "flux-kontext-pro"}
FIELDS = {"prompt", "seed", "width", "height", "aspect_ratio", "output_format", "safety_tolerance",
          "prompt_upsampling", "raw", "steps", "guidance", *(f"input_image_{i}" for i in range(2, 9)), "input_image"}

Stage = Literal["submit", "status", "download", "credits"]
_DEFAULT_STAGE: dict[str, Stage] = {"429": "submit", "503": "status", "500": "status", "401": "submit", "402": "submit",
                                    "validation": "submit", "foreign_poll": "submit",
                                    "request_moderated": "status", "content_moderated": "status", "error": "status",
                                    "not_found": "status", "cut": "download", "expired": "download"}


@dataclass
class Task:
    id: str
    model: str
    body: dict[str, Any]
    created: float
    latency: float
    outcome: str | None = None  # a terminal status forced by a fault

    def status(self, now: float) -> str:
        if self.outcome:
            return self.outcome
        return "Ready" if now - self.created >= self.latency else "Pending"


class FakeBfl(ApiAndCdnFake):
    """The fake BFL API (``base_url``) and its delivery host (``cdn_url``); a context manager."""

    handler = _Handler
    credits = 412.5

    def __init__(self, key: str = DEFAULT_KEY, *, latency_s: float = 0.05,
                 polling_host: str = "https://api.us1.bfl.ai") -> None:
        super().__init__()
        self.key = key
        self.latency_s = latency_s
        self.polling_host = polling_host
        self.tasks: dict[str, Task] = {}

    def fail_next(self, kind: str, *, on: Stage | None = None, times: int = 1, retry_after: float | None = None,
                  retry_after_date: float | None = None, message: str = "", field: str = "width") -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind=kind, stage=on or _DEFAULT_STAGE[kind], retry_after=retry_after,
                                          retry_after_date=retry_after_date, message=message, field=field))

    def _generic(self, h: _Handler, fault: Fault) -> bool:
        if fault.kind == "429":
            headers = retry_after_headers(fault.retry_after, fault.retry_after_date)
            h.reply(429, {"detail": "You have exceeded the number of active tasks (24)."}, headers=headers)
        elif fault.kind in ("500", "503"):
            h.reply(int(fault.kind), raw=b"<html><body>503 Service Temporarily Unavailable</body></html>",
                    content_type="text/html")
        elif fault.kind == "401":
            h.reply(401, {"detail": fault.message or "Not authenticated - Invalid Authentication"})
        elif fault.kind == "402":
            h.reply(402, {"detail": "Insufficient credits. Please add credits at https://api.bfl.ai."})
        else:
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("x-key") != self.key:
            h.reply(401, {"detail": "Not authenticated - Invalid Authentication"})
            return
        if rec.method == "POST" and rec.path.startswith("/v1/"):
            self._submit(h, rec, rec.path[len("/v1/"):])
        elif rec.method == "GET" and rec.path == "/v1/get_result":
            self._poll(h, rec)
        elif rec.method == "GET" and rec.path == "/v1/credits":
            fault = self._take_fault("credits")
            if fault is None or not self._generic(h, fault):
                h.reply(200, {"credits": self.credits})
        else:
            h.reply(404, {"detail": "Not Found"})

    def _invalid(self, model: str, body: Any) -> tuple[str, str] | None:
        if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
            return "prompt", "Field required"
        unknown = sorted(set(body) - FIELDS)
        if unknown:
            return unknown[0], "Extra inputs are not permitted"
        if model in PIXEL_MODELS:
            step, low, high = PIXEL_MODELS[model]
            for name in ("width", "height"):
                value = body.get(name, 1024)
                if not isinstance(value, int) or not low <= value <= high or value % step:
                    return name, f"Input should be a multiple of {step} between {low} and {high}"
            if body.get("width", 1024) * body.get("height", 1024) > 4 << 20:
                return "width", "width x height must be at most 4 megapixels"
            if "aspect_ratio" in body:
                return "aspect_ratio", "Extra inputs are not permitted"
        elif "width" in body or "height" in body:
            return "width", "Extra inputs are not permitted"
        if body.get("output_format", "jpeg") not in ("jpeg", "png"):
            return "output_format", "Input should be 'jpeg' or 'png'"
        return None

    def _submit(self, h: _Handler, rec: Recorded, model: str) -> None:
        if model not in PIXEL_MODELS and model not in ASPECT_MODELS:
            h.reply(404, {"detail": "Not Found"})
            return
        fault = self._take_fault("submit")
        if fault is not None and fault.kind == "validation":
            h.reply(422, {"detail": [{"type": "value_error", "loc": ["body", fault.field],
                                      "msg": fault.message or "Input should be a multiple of 16", "input": 1000}]})
            return
        if fault is not None and fault.kind != "foreign_poll" and self._generic(h, fault):
            return
        problem = self._invalid(model, rec.body)
        if problem is not None:
            h.reply(422, {"detail": [{"type": "value_error", "loc": ["body", problem[0]], "msg": problem[1]}]})
            return
        tid = str(uuid.uuid4())
        with self._lock:
            self.tasks[tid] = Task(id=tid, model=model, body=rec.body, created=time.monotonic(),
                                   latency=self.latency_s)
        host = self.cdn_url if fault is not None else self.polling_host
        h.reply(200, {"id": tid, "polling_url": f"{host}/v1/get_result?id={tid}", "cost": 3.0, "input_mp": 0.0,
                      "output_mp": 1.04})

    def _poll(self, h: _Handler, rec: Recorded) -> None:
        tid = (rec.query.get("id") or [""])[0]
        fault = self._take_fault("status")
        with self._lock:
            task = self.tasks.get(tid)
        if fault is not None:
            outcomes = {"request_moderated": "Request Moderated", "content_moderated": "Content Moderated",
                        "error": "Error", "not_found": "Task not found"}
            if fault.kind in outcomes and task is not None:
                task.outcome = outcomes[fault.kind]
            elif self._generic(h, fault):
                return
        if task is None:
            h.reply(200, {"id": tid, "status": "Task not found", "result": None, "progress": None, "details": None})
            return
        status = task.status(time.monotonic())
        answer: dict[str, Any] = {"id": tid, "status": status, "result": None, "progress": None, "details": None}
        if status == "Pending":
            answer["progress"] = round(min(0.99, (time.monotonic() - task.created) / task.latency), 2)
        elif status == "Ready":
            answer["result"] = {"sample": f"{self.cdn_url}/results/{tid}/sample.png?se=2026-11-26T10%3A10Z&sig=x",
                                "seed": task.body.get("seed", 1234), "prompt": task.body.get("prompt"),
                                "start_time": 1764151200.0, "end_time": 1764151204.5, "duration": 4.5}
        elif status == "Request Moderated":
            answer["details"] = {"Moderation Reasons": ["Derivative Works"]}
        elif status == "Content Moderated":
            answer["details"] = {"Moderation Reasons": ["NSFW"]}
        elif status == "Error":
            answer["details"] = "Internal error during generation"
        if status == "Task not found":
            self.tasks.pop(tid, None)
        h.reply(200, answer)

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        if rec.method != "GET" or not rec.path.endswith("/sample.png"):
            h.reply(404, raw=b"BlobNotFound", content_type="application/xml")
            return
        fault = self._take_fault("download")
        if fault is not None:
            if fault.kind == "cut":
                h.cut(png_bytes(), "image/png")
                return
            if fault.kind == "expired":
                h.reply(403, raw=b"<Error><Code>AuthenticationFailed</Code><Message>Signed expiry time has "
                        b"passed</Message></Error>", content_type="application/xml")
                return
            if self._generic(h, fault):
                return
        h.reply(200, raw=png_bytes(), content_type="image/png")


def iter_fake(**kwargs: Any) -> Iterator[FakeBfl]:
    with FakeBfl(**kwargs) as fake:
        yield fake
