"""A fake Replicate predictions API and a fake replicate.delivery CDN, on two random ports of 127.0.0.1.

It follows the contract read in replicate/replicate-python (``client.py``, ``prediction.py``, ``model.py``,
``deployment.py``, ``file.py``, ``exceptions.py``; see blender_canvas/providers/replicate.py):

* ``POST /v1/models/{owner}/{name}/predictions`` ``{"input"}``, ``POST /v1/predictions`` ``{"version", "input"}``,
  ``POST /v1/deployments/{owner}/{name}/predictions`` ``{"input"}`` -> 201 with a prediction; with ``Prefer:
  wait=<n>`` a job whose latency is shorter than the hold comes back already ``succeeded``;
* ``GET /v1/predictions/{id}`` -> ``starting`` -> ``processing`` (tqdm-style ``logs``) -> ``succeeded`` with
  ``output`` (one URL, or a list with ``list_output``) on the fake CDN, or ``failed`` with an ``error`` string;
* ``POST /v1/predictions/{id}/cancel`` -> the prediction, ``canceled`` unless it had already finished;
* ``POST /v1/files`` (multipart ``content``) -> a file object with ``urls.get``;
* ``GET /v1/account`` -> ``{type, username, name, github_url}`` (``account.py``), the connection test's call;
* every API request needs ``Authorization: Bearer <token>``; errors are RFC 7807 problem JSON
  ``{type, title, status, detail}``.

Faults are queued with ``fail_next(kind, on=stage)``.
"""

from __future__ import annotations

import email.utils
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .base import ApiAndCdnFake
from .fal_server import MEDIA, Recorded, _Handler, media_bytes

DEFAULT_TOKEN = "r8_test-token-MARKER-4567"
E005 = "The input or output was flagged as sensitive. Please try again with different inputs. (E005)"

Stage = Literal["create", "get", "cancel", "upload", "download", "account"]
FaultKind = Literal["429", "503", "500", "401", "402", "validation", "cut", "expired", "garbage", "failed"]
_DEFAULT_STAGE: dict[str, Stage] = {"429": "create", "503": "get", "500": "get", "401": "create",
                                    "402": "create", "validation": "create", "cut": "download",
                                    "expired": "download", "garbage": "download", "failed": "get"}


@dataclass
class Fault:
    kind: str
    stage: Stage
    retry_after: str | None = None
    message: str = ""
    field: str = "duration"


@dataclass
class Prediction:
    id: str
    path: str
    model: str
    version: str
    media: str
    body: Any
    created: float
    latency: float
    error: str | None = None  # set -> ends "failed" with this message
    cancelled: bool = False
    completed_offset_s: float = 0.0  # pretend it completed this many seconds earlier (expiry)
    polls: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def status(self, now: float) -> str:
        if self.cancelled:
            return "canceled"
        elapsed = now - self.created
        if elapsed < self.latency / 2:
            return "starting"
        if elapsed < self.latency:
            return "processing"
        return "failed" if self.error else "succeeded"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


class _ReplicateHandler(_Handler):
    def _body(self, raw: bytes) -> Any:
        """File uploads are recorded as their raw multipart bytes."""
        if "multipart/" in (self.headers.get("content-type") or ""):
            return raw
        return super()._body(raw)


def problem(h: _Handler, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
    h.reply(status, {"type": f"https://replicate.com/docs/reference/http#{status}", "title": title,
                     "status": status, "detail": detail}, headers=headers, content_type="application/problem+json")


class FakeReplicate(ApiAndCdnFake):
    """The fake Replicate API (``base_url``) plus its delivery CDN (``cdn_url``); a context manager."""

    handler = _ReplicateHandler

    def __init__(self, token: str = DEFAULT_TOKEN, *, latency_s: float = 0.05) -> None:
        super().__init__()
        self.token = token
        self.latency_s = latency_s
        self.list_output = False
        self.wait_scale = 0.01  # "Prefer: wait=5" holds 0.05 s here
        self.next_error: str | None = None  # the next prediction created will fail with this message
        self.predictions: dict[str, Prediction] = {}
        self.uploads: list[bytes] = []

    # -- inspection and control --
    def fail_next(self, kind: FaultKind, *, on: Stage | None = None, times: int = 1, retry_after: str | None = None,
                  message: str = "", field: str = "duration") -> None:
        with self._lock:
            for _ in range(times):
                self._faults.append(Fault(kind, on or _DEFAULT_STAGE[kind], retry_after, message, field))

    def finish_all(self, *, completed_ago_s: float = 0.0) -> None:
        with self._lock:
            for p in self.predictions.values():
                p.latency = 0.0
                p.completed_offset_s = completed_ago_s

    # -- internals --
    def _generic(self, h: _Handler, fault: Fault | None) -> bool:
        if fault is None:
            return False
        if fault.kind == "429":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            problem(h, 429, "Request was throttled", fault.message or "Request was throttled. Expected available "
                    "in 1 second.", headers)
        elif fault.kind in ("503", "500"):
            h.reply(int(fault.kind), raw=b"<html><body>upstream connect error</body></html>", content_type="text/html")
        elif fault.kind == "401":
            problem(h, 401, "Unauthenticated", fault.message or "You did not pass a valid authentication token")
        elif fault.kind == "402":
            problem(h, 402, "Insufficient credit", "You have insufficient credit to run this model. Go to "
                    "https://replicate.com/account/billing#billing to purchase credit.")
        elif fault.kind == "validation":
            problem(h, 422, "Input validation failed", fault.message or f"- input.{fault.field}: Must be less than "
                    "or equal to 15")
        else:
            return False
        return True

    def _api(self, h: _Handler, rec: Recorded) -> None:
        if rec.headers.get("authorization") != f"Bearer {self.token}":
            problem(h, 401, "Unauthenticated", "You did not pass a valid authentication token")
            return
        seg = [s for s in rec.path.split("/") if s]
        if rec.method == "POST" and (seg[:2] == ["v1", "models"] or seg[:2] == ["v1", "deployments"]) \
                and len(seg) == 5 and seg[4] == "predictions":
            self._create(h, rec, f"{seg[2]}/{seg[3]}", version="")
        elif rec.method == "POST" and seg == ["v1", "predictions"]:
            version = rec.body.get("version") if isinstance(rec.body, dict) else None
            if not isinstance(version, str) or not version:
                problem(h, 422, "Invalid version or not permitted", "The specified version does not exist (or "
                        "perhaps you don't have permission to use it?)")
                return
            self._create(h, rec, "owner/versioned-model", version=version)
        elif rec.method == "GET" and seg == ["v1", "account"]:
            if not self._generic(h, self._take_fault("account")):
                h.reply(200, {"type": "user", "username": "canvas-tester", "name": "Canvas Tester",
                              "github_url": None})
        elif rec.method == "POST" and seg == ["v1", "files"]:
            if self._generic(h, self._take_fault("upload")):
                return
            fid = uuid.uuid4().hex[:12]
            with self._lock:
                self.uploads.append(rec.body if isinstance(rec.body, bytes) else b"")
            h.reply(201, {"id": fid, "name": "upload", "content_type": "image/png", "size": len(rec.body or b""),
                          "urls": {"get": f"{self.base_url}/v1/files/{fid}"}})
        elif len(seg) >= 3 and seg[:2] == ["v1", "predictions"]:
            with self._lock:
                pred = self.predictions.get(seg[2])
            if pred is None:
                problem(h, 404, "Not found", "The requested resource could not be found.")
            elif rec.method == "GET" and len(seg) == 3:
                if not self._generic(h, self._take_fault("get")):
                    with self._lock:
                        pred.polls += 1
                    h.reply(200, self._json(pred))
            elif rec.method == "POST" and seg[3:] == ["cancel"]:
                if not self._generic(h, self._take_fault("cancel")):
                    with self._lock:
                        if pred.status(time.monotonic()) in ("starting", "processing"):
                            pred.cancelled = True
                    h.reply(200, self._json(pred))
            else:
                problem(h, 405, "Method not allowed", "")
        else:
            problem(h, 404, "Not found", "The requested resource could not be found.")

    def _create(self, h: _Handler, rec: Recorded, model: str, *, version: str) -> None:
        if self._generic(h, self._take_fault("create")):
            return
        if not isinstance(rec.body, dict) or not isinstance(rec.body.get("input"), dict):
            problem(h, 422, "Input validation failed", "- input: Invalid type. Expected: object, given: null")
            return
        media = "video" if any(w in model for w in ("seedance", "video", "veo", "kling")) else "image"
        with self._lock:
            pred = Prediction(id=uuid.uuid4().hex[:26], path=rec.path, model=model, version=version or "hosted",
                              media=media, body=rec.body, created=time.monotonic(), latency=self.latency_s,
                              error=self.next_error)
            self.next_error = None
            self.predictions[pred.id] = pred
        prefer = rec.headers.get("prefer", "")
        if prefer.startswith("wait"):  # hold the answer up to n seconds (scaled down for tests), then answer as is
            hold = float(prefer.partition("=")[2] or 60) * self.wait_scale
            left = pred.latency - (time.monotonic() - pred.created)
            time.sleep(max(0.0, left + 0.002 if left <= hold else hold))
        h.reply(201, self._json(pred))

    def _json(self, p: Prediction) -> dict[str, Any]:
        now = time.monotonic()
        status = p.status(now)
        wall = time.time() - (now - p.created)
        urls = {"get": f"{self.base_url}/v1/predictions/{p.id}", "cancel": f"{self.base_url}/v1/predictions/{p.id}/"
                "cancel", "web": f"https://replicate.com/p/{p.id}"}
        body: dict[str, Any] = {"id": p.id, "model": p.model, "version": p.version, "input": p.body.get("input"),
                                "logs": "", "output": None, "data_removed": False, "error": None, "status": status,
                                "created_at": _iso(wall), "urls": urls}
        if status == "processing":
            body["logs"] = "Generating...\n 50%|█████     | 5/10 [00:01<00:01,  4.00it/s]"
        if status in ("succeeded", "failed", "canceled"):
            body["completed_at"] = _iso(wall + p.latency - p.completed_offset_s)
        if status == "succeeded":
            ext = MEDIA[p.media][0]
            url = f"{self.cdn_url}/xezq/{p.id}/output.{ext}"
            body["output"] = [url] if self.list_output else url
            body["metrics"] = {"predict_time": p.latency}
        if status == "failed":
            body["error"] = p.error
        return body

    def _cdn(self, h: _Handler, rec: Recorded) -> None:
        ext = rec.path.rsplit(".", 1)[-1]
        if rec.method != "GET" or ext not in ("mp4", "png", "wav"):
            h.reply(404, raw=b"Not Found", content_type="text/plain")
            return
        data = media_bytes(ext)
        mime = next(m for e, m in MEDIA.values() if e == ext)
        fault = self._take_fault("download")
        if fault is not None and fault.kind == "cut":
            h.cut(data, mime)
        elif fault is not None and fault.kind == "expired":
            h.reply(404, raw=b"Not Found", content_type="text/plain")
        elif fault is not None and fault.kind == "garbage":
            h.reply(200, raw=b"<html>not media</html>", content_type=mime)
        elif not self._generic(h, fault):
            h.reply(200, raw=data, content_type=mime)


def http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


def iter_fake(**kwargs: Any) -> Iterator[FakeReplicate]:
    with FakeReplicate(**kwargs) as fake:
        yield fake
