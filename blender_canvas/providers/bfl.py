"""Black Forest Labs (FLUX) as a backend: ``POST {base}/v1/{model}`` -> poll the returned ``polling_url`` -> download
the signed ``result.sample`` at once (it lives about ten minutes).

What this follows, and where it was checked (no SDK code is copied):

* Vercel AI SDK ``vercel/ai`` at ed857f50f112 (2026-08-22), ``packages/black-forest-labs/src/``:
  ``black-forest-labs-image-model.ts`` (submit ``POST {base}/{model}`` -> ``{id, polling_url, cost?, input_mp?,
  output_mp?}``; reference images as ``input_image``, ``input_image_2`` … as **raw base64**; poll ``GET polling_url``
  with ``id`` added to its query when missing; ``status`` (or ``state``) ``Pending`` / ``Ready`` (``result.sample``,
  ``seed``, ``start_time``, ``end_time``, ``duration``) / ``Error`` / ``Failed`` / ``Request Moderated``);
  ``black-forest-labs-api.ts`` (errors ``{"detail": …}`` or ``{"message": …}``; polling and delivery URLs come back
  on sibling hosts such as ``api.us1.bfl.ai``, credentials go only to https ``bfl.ai`` / ``*.bfl.ai`` hosts).
* docs.bfl.ai (search corpus): the ``/v1/flux-pro`` and ``/v1/flux-dev`` references (header ``x-key``; ``width`` /
  ``height`` multiples of 32 in 256–1440 for the FLUX.1 pro family; ``output_format`` ``jpeg|png``); the errors page
  (statuses ``Request Moderated``, ``Content Moderated``, ``Task not found``; HTTP 402 out of credits, 429 rate
  limit, 422 validation ``{"detail": [...]}``); the OpenAPI of ``/v1/flux-2-pro-preview`` (servers
  ``https://api.bfl.ai``).
* black-forest-labs/skills ``skills/bfl-api/references/endpoints.md`` and ``rate-limiting.md`` (BFL's own guide):
  FLUX.2 takes ``width`` / ``height`` (multiples of 16, at least 64, at most 4 MP) and ``input_image`` …
  ``input_image_8``; ``safety_tolerance`` 0–5 default 2 (left to BFL's default here); result URLs "expire in 10
  minutes"; 24 concurrent tasks per account (6 for Kontext Max); 429 carries ``Retry-After``.
* FLUX1.1 [pro] Ultra and FLUX.1 Kontext take ``aspect_ratio`` (21:9 … 9:21), not pixel sizes (docs.bfl.ai Kontext
  reference via providers.md §7; Replicate's flux-kontext-pro / flux-1.1-pro-ultra schemas); Kontext takes
  ``input_image`` plus experimental ``input_image_2..4``.

UNCONFIRMED: the exact megapixel cap per FLUX.2 model (4 MP used, sides ≤ 2048 as Replicate's schema says); the 10
minute lifetime of ``result.sample`` (BFL's skill says so; the API reference does not); that ``Task not found`` means
the result aged out (mapped to EXPIRED). BFL has no cancel endpoint.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from . import connection, http, redaction
from .adapter import VendorAdapter
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

BACKEND_ID = "bfl"
USD_PER_CREDIT = 0.01  # docs.bfl.ai pricing: credits are sold at $0.01 each
LABEL = "Black Forest Labs"
KEY_NAME = "BFL_API_KEY"
BASE_URL = "https://api.bfl.ai"
MAX_IMAGE_BYTES = 100 << 20

log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)


# --- request bodies --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """How one family of FLUX endpoints takes its size and its reference images."""

    prefixes: tuple[str, ...]
    size: Literal["pixels", "aspect"]
    multiple: int = 16
    min_side: int = 64
    max_side: int = 2048
    max_pixels: int = 4 << 20
    max_refs: int = 0


FAMILIES: tuple[Family, ...] = (
    Family(prefixes=("flux-2-",), size="pixels", multiple=16, min_side=64, max_side=2048, max_refs=8),
    Family(prefixes=("flux-pro-1.1-ultra",), size="aspect"),
    Family(prefixes=("flux-pro-1.1", "flux-pro", "flux-dev"), size="pixels", multiple=32, min_side=256,
           max_side=1440),
    Family(prefixes=("flux-kontext-",), size="aspect", max_refs=4),
)
ASPECT_RATIOS = frozenset({"21:9", "16:9", "3:2", "4:3", "1:1", "3:4", "2:3", "9:16", "9:21"})


def family_for(model_id: str) -> Family:
    return next((f for f in FAMILIES if model_id.startswith(f.prefixes)), FAMILIES[0])


def _ratio(aspect: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*", aspect)
    if not match or float(match.group(2)) == 0:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: aspect ratio {aspect!r} is not W:H")
    return float(match.group(1)) / float(match.group(2))


def _side(resolution: str | None) -> float:
    """The square side a resolution names: "1K" = 1024 px, "2K" = 2048 px, "0.5K" = 512 px (default 1K)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[kK]\s*", resolution or "1K")
    return float(match.group(1)) * 1024 if match else 1024.0


def pixel_size(aspect: str, resolution: str | None, family: Family) -> tuple[int, int]:
    """Width and height for an aspect ratio at a resolution, within the family's side, pixel and step limits."""
    ratio = _ratio(aspect)
    pixels = min(_side(resolution) ** 2, family.max_pixels)
    width = math.sqrt(pixels * ratio)
    height = width / ratio
    scale = min(1.0, family.max_side / width, family.max_side / height)
    step = family.multiple

    def snap(value: float) -> int:
        return max(family.min_side, int(value * scale) // step * step)

    return snap(width), snap(height)


def _b64(path: Path) -> str:
    raw = Path(path).read_bytes()
    if len(raw) > MAX_IMAGE_BYTES:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {Path(path).name} is too large ({len(raw)} bytes)")
    return base64.b64encode(raw).decode("ascii")


def build_body(request: JobRequest) -> dict[str, Any]:
    """The JSON for ``POST /v1/{model}``."""
    family = family_for(request.backend_model_id)
    params = request.params
    body: dict[str, Any] = {"prompt": request.prompt}
    if params.get("seed") is not None:  # the engine sends a seed only where the catalog says the route takes one
        body["seed"] = int(params["seed"])
    aspect = str(params.get("aspect_ratio") or "1:1")
    if family.size == "pixels":
        body["width"], body["height"] = pixel_size(aspect, params.get("resolution"), family)
    else:
        if aspect not in ASPECT_RATIOS:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {request.backend_model_id} takes aspect "
                               f"ratios {', '.join(sorted(ASPECT_RATIOS))}, not {aspect}")
        body["aspect_ratio"] = aspect
    body["output_format"] = "png"
    images = [*(request.inputs.get("image") or []), *(request.inputs.get("images") or [])]
    if len(images) > family.max_refs:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {request.backend_model_id} takes "
                           f"{family.max_refs or 'no'} reference image{'s' if family.max_refs != 1 else ''}, "
                           f"got {len(images)}")
    for index, path in enumerate(images):
        body["input_image" if index == 0 else f"input_image_{index + 1}"] = _b64(path)
    other = sorted(n for n, files in request.inputs.items() if files and n not in ("image", "images"))
    if other:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: FLUX takes no {', '.join(other)} input")
    body.update(request.fixed)
    return body


# --- BFL's answers ---------------------------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SubmitAnswer(_Loose):
    id: str
    polling_url: str | None = None
    cost: float | None = None
    input_mp: float | None = None
    output_mp: float | None = None


class PollResult(_Loose):
    sample: str | None = None
    seed: int | None = None


class PollAnswer(_Loose):
    status: str | None = None
    state: str | None = None
    progress: float | None = None
    result: PollResult | None = None
    details: Any = None
    error: Any = None


_FAILED = {"Request Moderated": (ErrorKind.MODERATED_INPUT, "the request was flagged by BFL's moderation"),
           "Content Moderated": (ErrorKind.MODERATED_OUTPUT, "the generated image was flagged by BFL's moderation"),
           "Task not found": (ErrorKind.RESULT_EXPIRED, "the task is no longer known (results are kept briefly)"),
           "Error": (ErrorKind.UNKNOWN, "generation failed"),
           "Failed": (ErrorKind.UNKNOWN, "generation failed")}


def _refused_before_accepted(response: httpx.Response) -> bool:
    """A submit answer that proves no task was created, so resending cannot bill twice: 429 (the concurrency limit
    turns the request away), or a 502/503/504 page from a proxy in front of the API (not BFL's own JSON)."""
    if response.status_code == 429:
        return True
    return response.status_code in (502, 503, 504) and "json" not in response.headers.get("content-type", "")


# --- the backend -----------------------------------------------------------------------------------------------------


class BflBackend(VendorAdapter):
    """BFL's FLUX API as a :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    label = LABEL
    key_name = KEY_NAME
    default_base_url = BASE_URL
    api_hosts_name = "a BFL API host"
    poll_interval_s = 0.5

    # -- hosts and the key --
    def key_allowed(self, url: str) -> bool:
        """Whether the key may go to ``url``: with ``BLENDER_CANVAS_BFL_URL`` set, only to that host; otherwise only
        over https, on the default port, to ``bfl.ai`` or a ``*.bfl.ai`` host."""
        if http.override(BACKEND_ID):
            return http.origin(url) == http.origin(self.base_url)
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and parts.port in (None, 443) and (host == "bfl.ai" or
                                                                          host.endswith(".bfl.ai"))

    def polling_url(self, url: str | None, task_id: str) -> str | None:
        """The URL to poll for a task: BFL's ``polling_url`` (moved to the override host when one is set) with its
        ``id``; None when BFL named a host the key may not go to."""
        if not url:
            url = f"{BASE_URL}/v1/get_result"
        host = (urlsplit(url).hostname or "").lower()
        if host == "bfl.ai" or host.endswith(".bfl.ai"):
            url = http.rehost(url, BACKEND_ID)
        if not self.key_allowed(url):
            return None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query.setdefault("id", task_id)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))

    def _auth(self) -> dict[str, str]:
        return {"x-key": self._key}

    def check_connection(self) -> ConnectionReport:
        """``GET /v1/credits`` (docs.bfl.ai "Get the user's credits", OpenAPI ``get_credits_v1_credits_get``:
        ``{credits}``, API-key header): free, and it shows the balance."""
        url = f"{self.base_url}/v1/credits"
        return connection.probe(BACKEND_ID, LABEL, KEY_NAME, "GET", url,
                                lambda: self._send("GET", url, **connection.CHECK), _credits)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        body = build_body(request)
        model = request.backend_model_id.strip("/")
        response = self._send("POST", f"{self.base_url}/v1/{model}", json=body, refused=_refused_before_accepted)
        answer = _parse(SubmitAnswer, http.check(response, LABEL))
        status_url = self.polling_url(answer.polling_url, answer.id)
        data: dict[str, Any] = {"model": model, "media": request.media, "cost_credits": answer.cost,
                                "input_mp": answer.input_mp, "output_mp": answer.output_mp}
        if answer.cost is not None:  # what BFL charged, recorded as the take's actual cost (1 credit = $0.01)
            data["cost_usd"] = round(answer.cost * USD_PER_CREDIT, 6)
        if status_url is None:
            # The task exists (and is paid for): poll it where BFL's docs say, on our own host, and flag the answer.
            foreign = urlsplit(answer.polling_url or "").hostname or "?"
            log.warning("%s: polling_url of %s points at %s, not a BFL host; it gets no key, polling %s instead",
                        LABEL, answer.id, foreign, self.base_url)
            data["flagged_polling_host"] = foreign
            status_url = self.polling_url(f"{self.base_url}/v1/get_result", answer.id)
        log.info("%s: submitted %s as %s (cost %s credits)", LABEL, model, answer.id, answer.cost)
        return RemoteJob(backend=BACKEND_ID, remote_id=answer.id, urls={"status": status_url or ""}, data=data)

    def poll(self, job: RemoteJob) -> JobStatus:
        url = job.urls.get("status") or self.polling_url(None, job.remote_id) or ""
        response = self._send("GET", url)
        if response.status_code == 404:
            return _failed("Task not found", http.vendor_message(response)[0])
        if response.status_code >= 400:
            error = http.error_for(response, LABEL)
            if error.kind.retryable or error.kind in (ErrorKind.AUTH, ErrorKind.OUT_OF_CREDITS):
                raise error
            return JobStatus(state=error.kind.state, error_kind=error.kind, vendor_code=error.vendor_code,
                             message=error.message)
        answer = _parse(PollAnswer, http.check(response, LABEL))
        status = answer.status or answer.state or ""
        if status == "Pending":
            running = answer.progress is not None and answer.progress > 0
            return JobStatus(state=JobState.RUNNING if running else JobState.QUEUED, progress=answer.progress,
                             message="generating" if running else "pending")
        if status == "Ready":
            sample = answer.result.sample if answer.result else None
            if not sample:
                return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                                 message=f"{LABEL}: task {job.remote_id} is Ready without a result")
            return JobStatus(state=JobState.SUCCEEDED, progress=1.0, artifacts=[Artifact(media="image", url=sample)])
        if status in _FAILED:
            return _failed(status, _detail(answer))
        raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown task status {status!r}")

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        """The signed sample, without the key; an expired link is refreshed by reading the task once more (BFL keeps
        a finished task only briefly, so the runner must fetch right after the poll)."""
        return self._fetch_refreshing(job, artifact, dest, media="image", max_bytes=MAX_IMAGE_BYTES,
                                      expiry_note="BFL result links last about 10 minutes")

    def cancel(self, job: RemoteJob) -> bool:
        """BFL's API has no cancel endpoint; a submitted task runs to the end (it takes seconds)."""
        return False


def _credits(response: httpx.Response) -> connection.Said:
    credits = float(response.json()["credits"])
    return f"{credits:g} credits", {"credits": f"{credits:g}"}


def _detail(answer: PollAnswer) -> str:
    for value in (answer.details, answer.error):
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and value:
            return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in value.items())
    return ""


def _failed(status: str, detail: str) -> JobStatus:
    kind, what = _FAILED[status]
    text = f"{LABEL}: {what} ({status})" + (f": {detail}" if detail else "")
    return JobStatus(state=kind.state, error_kind=kind, vendor_code=status, message=redaction.redact(text))


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code) from None
