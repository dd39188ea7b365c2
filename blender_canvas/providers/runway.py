"""The Runway API backend: create a task -> ``GET /v1/tasks/{id}`` -> download the signed output URLs.

Checked against runwayml 5.24.0 from PyPI (the wheel; the GitHub snapshot c604e0e is older):

* ``_client.py``: base ``https://api.dev.runwayml.com``; headers ``Authorization: Bearer <RUNWAYML_API_SECRET>`` and
  ``X-Runway-Version: 2024-11-06``;
* ``types/image_to_video_create_params.py``, ``text_to_video_create_params.py``, ``video_to_video_create_params.py``,
  ``text_to_image_create_params.py``: each model's fields and its ``ratio`` pixel strings (copied into ``VIDEO`` /
  ``IMAGE`` below as data): gen4.5 (``duration`` 2-10, ``promptText`` required, <= 1000 UTF-16 units, t2v only
  1280:720 / 720:1280, ``promptImage`` first frame only), veo3.1 / veo3.1_fast (``duration`` 4|6|8, ``audio``,
  ``seed``, first + last frame, ``ratio`` required), kling3.0_* / klingO3_* (``duration`` int, ``audio``, first + last
  frame, no ``seed``), seedance2 / seedance2_fast (``promptImage`` first/last, or reference images: ``promptImage``
  items without position on i2v, ``references`` on t2v, up to 9; ``referenceAudio`` ``{type: "audio", uri}``;
  ``seed``; prompt <= 3500), aleph2 (``videoUri``, ``promptText``, ``seed``, ``keyframes`` <= 5 of ``{uri, at}``
  with ``at`` a 0..1 fraction, ``targetAspectRatio``), gemini_image3.1_flash / gemini_image3_pro / gpt_image_2
  (``promptText``, ``ratio``, ``referenceImages`` [{uri}] up to 14 / 14 / 16; gpt_image_2 ``quality``; no seed);
* ``types/image_to_video_create_response.py`` (and the other create responses): ``{id, estimatedCost: {credits}}``;
* ``types/task_retrieve_response.py``: ``PENDING`` / ``THROTTLED`` / ``RUNNING`` (+ ``progress``) / ``SUCCEEDED``
  (+ ``output`` URLs that "expire within 24-48 hours; fetch the task again to get fresh URLs") / ``FAILED``
  (+ ``failure``, ``failureCode``) / ``CANCELLED``; terminal tasks carry ``cost.credits``;
* ``resources/tasks.py``: cancel is ``DELETE /v1/tasks/{id}``, which *deletes* a finished task and its output, so
  :meth:`RunwayBackend.cancel` reads the task first and never deletes a finished one;
* ``resources/uploads.py``: ``POST /v1/uploads {filename, type: "ephemeral"}`` -> ``{uploadUrl, fields, runwayUri}``,
  then a multipart POST of ``fields`` + ``file`` to ``uploadUrl`` with a bare client (no key), and ``runwayUri`` is the
  input; ``lib/polling.py``: the SDK polls every 6 s.

From Runway's docs (docs.dev.runwayml.com): data URIs may be 5 MB (images) / 16 MB (video, audio) long, uploads
200 MB (``/assets/inputs``); 400 answers carry ``{"error": ...}``, 429 / 502 / 503 / 504 may be retried (502 / 503 =
"shedding load") (``/api-details/errors``); ``SAFETY.INPUT.*`` / ``SAFETY.OUTPUT.*`` / ``INPUT_PREPROCESSING.SAFETY.*``
are moderation, never retried, ``INTERNAL.BAD_OUTPUT.*`` a quality rejection that may be retried
(``/api-details/task-failures``). A create is resent only after 429 / 502 / 503 / 504 (refused before a task
existed); a 500 or a read timeout after a create is not resent. Output files (CloudFront) are fetched without the key.
"""

from __future__ import annotations

import base64
import math
import mimetypes
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from . import connection, downloads, http, media_fit, redaction
from .backend import (
    Artifact,
    BackendError,
    ConnectionReport,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    Media,
    RemoteJob,
)

BACKEND_ID = "runway"
LABEL = "Runway"
API_URL = "https://api.dev.runwayml.com"
API_VERSION = "2024-11-06"
KEY_NAME = "RUNWAYML_API_SECRET"
USD_PER_CREDIT = 0.01  # docs: "1 credit = $0.01"
IMAGE_URI_MAX = 5 * 1024 * 1024  # length of the data URI, not of the file
MEDIA_URI_MAX = 16 * 1024 * 1024
UPLOAD_MAX = 200 * 1024 * 1024
MAX_BYTES: dict[str, int] = {"image": 200 << 20, "video": 4 << 30, "audio": 500 << 20}
MODERATION = ("SAFETY.", "INPUT_PREPROCESSING.SAFETY")
log = redaction.get_logger(__name__)
_M = TypeVar("_M", bound=BaseModel)


def _r(text: str) -> tuple[str, ...]:
    return tuple(text.split())


GEN45_I2V = _r("1280:720 720:1280 1104:832 960:960 832:1104 1584:672")
VEO = _r("1280:720 720:1280 1080:1920 1920:1080")
KLING_STD = _r("1280:720 720:1280 960:960")
KLING_PRO = _r("1920:1080 1080:1920 1440:1440")
SEEDANCE_FAST = _r("992:432 864:496 752:560 640:640 560:752 496:864 1470:630 1280:720 1112:834 960:960 834:1112 "
                   "720:1280")
SEEDANCE = SEEDANCE_FAST + _r("2206:946 1920:1080 1664:1248 1440:1440 1248:1664 1080:1920 3840:1646 3840:2160 "
                              "3840:2880 3840:3840 2880:3840 2160:3840")
GEMINI_PRO = _r("1344:768 768:1344 1024:1024 1184:864 864:1184 1536:672 832:1248 1248:832 896:1152 1152:896 "
                "2048:2048 1696:2528 2528:1696 1792:2400 2400:1792 1856:2304 2304:1856 1536:2752 2752:1536 "
                "3168:1344 4096:4096 3392:5056 5056:3392 3584:4800 4800:3584 3712:4608 4608:3712 3072:5504 "
                "5504:3072 6336:2688")
GEMINI_FLASH = GEMINI_PRO + _r("512:512 416:624 624:416 432:592 592:432 448:576 576:448 384:672 672:384 768:336")
GPT_IMAGE = _r("2048:880 1920:1088 1920:1280 1920:1440 1920:1536 1920:1920 1536:1920 1440:1920 1280:1920 1088:1920 "
               "2912:1248 2560:1440 2560:1712 2560:1920 2560:2048 2560:2560 2048:2560 1920:2560 1712:2560 1440:2560 "
               "3840:1648 3840:2160 3504:2336 3264:2448 3200:2560 2880:2880 2560:3200 2448:3264 2336:3504 2160:3840")
PIXELS = {"480p": 854 * 480, "720p": 1280 * 720, "1080p": 1920 * 1080, "4k": 3840 * 2160, "0.5K": 512 * 512,
          "1K": 1024 * 1024, "2K": 2048 * 2048, "4K": 4096 * 4096}


@dataclass(frozen=True)
class Spec:
    """What one Runway model takes (runwayml 5.24.0 ``*_create_params.py``)."""

    label: str
    ratios: tuple[str, ...]
    t2v_ratios: tuple[str, ...] = ()  # text-to-video ratios where they differ
    durations: tuple[int, ...] = ()  # empty: the vendor checks
    prompt_max: int | None = None  # UTF-16 code units
    prompt_required: bool = False
    ratio_with_image: bool = True  # False: with a first frame the framing follows the image (Kling)
    last_frame: bool = True
    references: int = 0  # reference stills
    reference_audio: bool = False
    audio: bool = False
    seed: bool = False


VIDEO: dict[str, Spec] = {
    "gen4.5": Spec("Gen-4.5", GEN45_I2V, t2v_ratios=_r("1280:720 720:1280"), durations=tuple(range(2, 11)),
                   prompt_max=1000, prompt_required=True, last_frame=False, seed=True),
    **{m: Spec(f"Veo 3.1{' Fast' if 'fast' in m else ''}", VEO, durations=(4, 6, 8), prompt_max=1000, audio=True,
               seed=True) for m in ("veo3.1", "veo3.1_fast")},
    **{m: Spec(f"Kling {m[5:].replace('_', ' ')}", KLING_PRO if m.endswith("pro") else KLING_STD,
               ratio_with_image=False, audio=True)
       for m in ("kling3.0_standard", "kling3.0_pro", "klingO3_standard", "klingO3_pro")},
    "seedance2": Spec("Seedance 2.0", SEEDANCE, prompt_max=3500, references=9, reference_audio=True, audio=True,
                      seed=True),
    "seedance2_fast": Spec("Seedance 2.0 Fast", SEEDANCE_FAST, prompt_max=3500, references=9, reference_audio=True,
                           audio=True, seed=True),
}
IMAGE: dict[str, Spec] = {
    "gemini_image3.1_flash": Spec("Nano Banana 2", GEMINI_FLASH, prompt_required=True, references=14),
    "gemini_image3_pro": Spec("Nano Banana Pro", GEMINI_PRO, prompt_required=True, references=14),
    "gpt_image_2": Spec("GPT Image 2", GPT_IMAGE, prompt_max=32000, prompt_required=True, references=16),
}
ALEPH = "aleph2"
ALEPH_ASPECTS = ("16:9", "4:3", "3:2", "1:1", "2:3", "3:4", "9:16", "21:9")


def _invalid(message: str) -> BackendError:
    return BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {message}")


def pick_ratio(aspect: str, resolution: str | None, allowed: Sequence[str], *, default: str, what: str) -> str:
    """Runway's ``W:H`` pixel string for an aspect ratio ("16:9") at a resolution tier ("720p", "2K")."""
    try:
        a, b = (float(x) for x in aspect.split(":"))
        wanted = math.log(a / b)
    except ValueError:
        raise _invalid(f"aspect ratio {aspect!r} is not W:H") from None
    target = PIXELS.get(resolution or default, PIXELS[default])
    sizes = {r: (int(r.split(":")[0]), int(r.split(":")[1])) for r in allowed if ":" in r}
    close = [r for r, (w, h) in sizes.items() if abs(math.log(w / h) - wanted) < 0.035]
    if not close:
        shapes = sorted({_aspect_of(w, h) for w, h in sizes.values()})
        raise _invalid(f"{what} does not take aspect ratio {aspect}; use {', '.join(shapes)}")
    return min(close, key=lambda r: abs(math.log(sizes[r][0] * sizes[r][1] / target)))


def _aspect_of(w: int, h: int) -> str:
    known = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "9:21", "3:2", "2:3", "5:4", "4:5", "4:1", "1:4", "8:1",
             "1:8")
    return min(known, key=lambda k: abs(math.log(w / h) - math.log(float(k.split(":")[0]) / float(k.split(":")[1]))))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _mime(raw: bytes, path: Path) -> str:
    sniffed = downloads.sniff(raw[:64])
    return sniffed[1] if sniffed else (mimetypes.guess_type(str(path))[0] or "application/octet-stream")


def _data_uri(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"


def _uri_length(data: bytes, mime: str) -> int:
    return len(f"data:{mime};base64,") + 4 * math.ceil(len(data) / 3)


IMAGES = media_fit.ImageRules(vendor=LABEL, formats=None, max_bytes=IMAGE_URI_MAX, measure=_uri_length,
                              limit_text="Runway takes images up to 5 MB as data URIs")


def image_uri(path: Path, role: str, notes: list[str]) -> str:
    """A still as a data URI under Runway's 5 MB limit (re-encoded, and made smaller if need be, with a note in
    ``notes`` for each change)."""
    fitted = media_fit.fit_image(path, role, IMAGES)
    notes.extend(fitted.notes)
    return _data_uri(fitted.data, fitted.mime)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Created(_Loose):
    id: str
    estimatedCost: dict[str, Any] | None = None


class Task(_Loose):
    id: str = ""
    status: str
    progress: float | None = None
    output: list[str] | None = None
    failure: str | None = None
    failureCode: str | None = None
    cost: dict[str, Any] | None = None


class Organization(_Loose):
    creditBalance: float  # types/organization_retrieve_response.py
    tier: dict[str, Any] | None = None


def _organization(response: httpx.Response) -> connection.Said:
    credits = Organization.model_validate(response.json()).creditBalance
    return f"{credits:g} credits (${credits * USD_PER_CREDIT:.2f})", {"credits": f"{credits:g}"}


class UploadSlot(_Loose):
    uploadUrl: str
    fields: dict[str, str] = {}
    runwayUri: str


class RunwayBackend:
    """Runway's task API as a :class:`~blender_canvas.providers.backend.Backend`."""

    id = BACKEND_ID
    poll_interval_s = 6.0  # lib/polling.py POLL_TIME; tasks are not updated more often than every 5 s

    def __init__(self, keys: Mapping[str, str], work_dir: Path | None = None, *, client: httpx.Client | None = None,
                 policy: http.RetryPolicy | None = None) -> None:
        key = (keys.get(KEY_NAME) or "").strip()
        if not key:
            raise BackendError(ErrorKind.AUTH, f"{LABEL} needs {KEY_NAME} (add-on preferences or environment)")
        redaction.register_secret(key)
        self._key = key
        self._work_dir = work_dir
        self._client = client or http.make_client(BACKEND_ID)
        self._policy = policy or http.DEFAULT_POLICY

    def __repr__(self) -> str:  # never show the key
        return f"RunwayBackend(api={self.api_url!r})"

    @property
    def api_url(self) -> str:
        return http.base_url(BACKEND_ID, API_URL)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._key}", "X-Runway-Version": API_VERSION}
        return http.send(self._client, method, url, policy=kwargs.pop("policy", self._policy), backend_label=LABEL,
                         headers=headers, **kwargs)

    def check_connection(self) -> ConnectionReport:
        """``GET /v1/organization`` (runwayml ``resources/organization.py`` ``retrieve``): free, and it answers the
        organisation's ``creditBalance``."""
        return connection.probe(BACKEND_ID, LABEL, KEY_NAME, "GET", f"{self.api_url}/v1/organization",
                                lambda: self._send("GET", "/v1/organization", **connection.CHECK), _organization,
                                classify=_error)

    # -- Backend --
    def submit(self, request: JobRequest) -> RemoteJob:
        path, body, notes = self.build(request)
        response = self._send("POST", path, json=body, refused=_refused)
        created = _parse(Created, _check(response))
        credits = (created.estimatedCost or {}).get("credits")
        for note in notes:
            log.info("%s: %s", LABEL, note)
        data: dict[str, Any] = {"media": request.media, "endpoint": path, "model": body["model"],
                                "input_notes": notes}
        if isinstance(credits, int | float):
            data["estimated_credits"] = credits
            data["estimated_usd"] = round(credits * USD_PER_CREDIT, 4)
        log.info("%s: %s task %s created (estimated %s credits)", LABEL, body["model"], created.id, credits)
        return RemoteJob(backend=BACKEND_ID, remote_id=created.id, data=data)

    def poll(self, job: RemoteJob) -> JobStatus:
        task = self._task(job)
        media = _media(job)
        if task.status == "PENDING":
            return JobStatus(state=JobState.QUEUED, message="queued")
        if task.status == "THROTTLED":
            return JobStatus(state=JobState.QUEUED, message="queued: the account's concurrent task limit for this "
                                                            "model is reached (THROTTLED)")
        if task.status == "RUNNING":
            progress = min(1.0, max(0.0, task.progress)) if task.progress is not None else None
            return JobStatus(state=JobState.RUNNING, progress=progress, message="running")
        if task.status == "CANCELLED":
            return JobStatus(state=JobState.CANCELLED, error_kind=ErrorKind.CANCELLED, message=f"{LABEL}: cancelled")
        if task.status == "FAILED":
            return _failed(task.failure or "the task failed", task.failureCode, media)
        if task.status != "SUCCEEDED":
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: unknown task status {task.status!r}")
        urls = [u for u in task.output or [] if isinstance(u, str) and u]
        if not urls:
            return JobStatus(state=JobState.FAILED, error_kind=ErrorKind.UNKNOWN,
                             message=f"{LABEL}: the task succeeded without an output file")
        charged = (task.cost or {}).get("credits")
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, artifacts=[Artifact(media=media, url=u) for u in urls],
                         message=f"done ({charged} credits)" if charged is not None else "done")

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        """Download an output; a signed URL that answers 403 / 404 / 410 is re-signed by reading the task once."""
        if artifact.url is None:
            raise BackendError(ErrorKind.UNKNOWN, f"{LABEL}: the artifact has no URL")
        try:
            return self._download(artifact.url, artifact.media, dest)
        except BackendError as error:
            if error.kind != ErrorKind.RESULT_EXPIRED:
                raise
        log.info("%s: the output URL of %s expired; asking the task for fresh ones", LABEL, job.remote_id)
        try:
            task = self._task(job)
        except BackendError as error:
            if error.kind.retryable:
                raise
            raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output link expired and the task could not "
                               f"be read again: {error.message}") from None
        fresh = _same_output(artifact.url, task.output or []) if task.status == "SUCCEEDED" else None
        if fresh is None:
            raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output link expired and task "
                               f"{job.remote_id} no longer offers the file (status {task.status})")
        try:
            return self._download(fresh, artifact.media, dest)
        except BackendError as error:
            if error.kind == ErrorKind.RESULT_EXPIRED:
                raise BackendError(ErrorKind.RESULT_EXPIRED, f"{LABEL}: the output file is gone even with a freshly "
                                   f"signed link (HTTP {error.status}); outputs are kept 24-48 hours",
                                   status=error.status) from None
            raise

    def cancel(self, job: RemoteJob) -> bool:
        """Cancel a task that is still pending or running. A finished task is left alone: Runway's DELETE would
        delete it, and its output, without a refund."""
        if self._task(job).status not in ("PENDING", "THROTTLED", "RUNNING"):
            return False
        response = self._send("DELETE", f"/v1/tasks/{job.remote_id}")
        if response.status_code in (404, 410):
            return False
        _check(response)
        return True

    def close(self) -> None:
        self._client.close()

    # -- requests --
    def build(self, request: JobRequest) -> tuple[str, dict[str, Any], list[str]]:
        """The endpoint path and JSON body for a request, and a note for each input changed to fit Runway."""
        model, notes = request.backend_model_id, list[str]()
        if model == ALEPH:
            return "/v1/video_to_video", self._aleph(request, notes), notes
        if model in IMAGE:
            return "/v1/text_to_image", self._image(request, IMAGE[model], notes), notes
        spec = VIDEO.get(model)
        if spec is None:
            raise _invalid(f"no adapter for Runway model {model!r}")
        return (*self._video(request, spec, notes), notes)

    def _prompt(self, request: JobRequest, spec: Spec, *, required: bool) -> dict[str, Any]:
        text = request.prompt.strip()
        if not text:
            if required:
                raise _invalid(f"{spec.label} needs a prompt (promptText)")
            return {}
        if spec.prompt_max is not None and _utf16(text) > spec.prompt_max:
            raise _invalid(f"{spec.label}: the prompt (promptText) is {_utf16(text)} characters; Runway takes at "
                           f"most {spec.prompt_max}")
        return {"promptText": text}

    def _video(self, request: JobRequest, spec: Spec, notes: list[str]) -> tuple[str, dict[str, Any]]:
        model, params, inputs = request.backend_model_id, request.params, request.inputs
        first, last = inputs.get("image") or [], inputs.get("last_frame") or []
        refs, audio = inputs.get("images") or [], inputs.get("audio") or []
        _refuse_inputs(spec, inputs, ("video",))
        if last and not spec.last_frame:
            raise _invalid(f"{spec.label} takes no last frame")
        if last and not first:
            raise _invalid(f"{spec.label} needs a first frame to go with the last frame")
        if refs and (first or last):
            raise _invalid(f"{spec.label}: reference images cannot be combined with first / last frames")
        if len(refs) > spec.references:
            raise _invalid(f"{spec.label} takes {spec.references or 'no'} reference images, not {len(refs)}")
        if audio and not spec.reference_audio:
            raise _invalid(f"{spec.label} takes no audio input")
        body: dict[str, Any] = {"model": model}
        body.update(self._prompt(request, spec, required=spec.prompt_required or not first))
        if first:
            frames = [{"uri": image_uri(first[0], "first frame", notes), "position": "first"}]
            frames += [{"uri": image_uri(last[0], "last frame", notes), "position": "last"}] if last else []
            body["promptImage"] = frames
        elif refs:
            body["references"] = [{"uri": image_uri(p, _nth("reference image", i, refs), notes)}
                                  for i, p in enumerate(refs)]
        aspect = params.get("aspect_ratio") or (_shape(first[0], video=False) if first else None)
        if aspect and (spec.ratio_with_image or not first):
            allowed = spec.ratios if first or not spec.t2v_ratios else spec.t2v_ratios
            what = f"{spec.label} {'image' if first else 'text'} to video"
            body["ratio"] = pick_ratio(str(aspect), params.get("resolution"), allowed, default="720p", what=what)
        elif not first:
            raise _invalid(f"{spec.label} needs an aspect ratio (ratio)")
        duration = params.get("duration_s")
        if duration is not None:
            if spec.durations and int(duration) not in spec.durations:
                steps = ", ".join(map(str, spec.durations)) if len(spec.durations) < 4 else \
                    f"{spec.durations[0]}-{spec.durations[-1]}"
                raise _invalid(f"{spec.label}: duration {duration} s is not allowed, use {steps} s")
            body["duration"] = int(duration)
        elif spec.durations:
            raise _invalid(f"{spec.label} needs a duration")
        if spec.audio and params.get("audio") is not None:
            body["audio"] = bool(params["audio"])
        if audio:
            body["referenceAudio"] = [{"type": "audio", "uri": self._media_uri(p, "audio")} for p in audio]
        if spec.seed and params.get("seed") is not None:
            body["seed"] = int(params["seed"])
        if params.get("negative_prompt") and model.startswith("veo"):
            body["negativePrompt"] = str(params["negative_prompt"])
        body.update(request.fixed)
        return ("/v1/image_to_video" if first else "/v1/text_to_video"), body

    def _aleph(self, request: JobRequest, notes: list[str]) -> dict[str, Any]:
        spec = Spec("Aleph", (), prompt_max=None)
        _refuse_inputs(spec, request.inputs, ("image", "last_frame", "audio"))
        videos, refs = request.inputs.get("video") or [], request.inputs.get("images") or []
        if not videos:
            raise _invalid("Aleph needs an input video (videoUri)")
        if len(refs) > 5:
            raise _invalid(f"Aleph takes at most 5 keyframe images, not {len(refs)}")
        body: dict[str, Any] = {"model": ALEPH, "videoUri": self._media_uri(videos[0], "video")}
        body.update(self._prompt(request, spec, required=False))
        if refs:  # spread over the clip: one at the start, the last at the end
            body["keyframes"] = [{"uri": image_uri(p, _nth("keyframe", i, refs), notes),
                                  "at": round(i / max(1, len(refs) - 1), 4)} for i, p in enumerate(refs)]
        aspect = request.params.get("aspect_ratio")
        if aspect and str(aspect) != _shape(videos[0], video=True):
            if aspect not in ALEPH_ASPECTS:
                raise _invalid(f"Aleph cannot reframe to {aspect} (targetAspectRatio: {', '.join(ALEPH_ASPECTS)})")
            body["targetAspectRatio"] = str(aspect)  # letterbox / outpaint the input to the asked framing
        if request.params.get("seed") is not None:
            body["seed"] = int(request.params["seed"])
        body.update(request.fixed)
        return body

    def _image(self, request: JobRequest, spec: Spec, notes: list[str]) -> dict[str, Any]:
        _refuse_inputs(spec, request.inputs, ("image", "last_frame", "audio", "video"))
        refs = request.inputs.get("images") or []
        if len(refs) > spec.references:
            raise _invalid(f"{spec.label} takes at most {spec.references} reference images, not {len(refs)}")
        body: dict[str, Any] = {"model": request.backend_model_id}
        body.update(self._prompt(request, spec, required=True))
        body["ratio"] = pick_ratio(str(request.params.get("aspect_ratio") or "1:1"), request.params.get("resolution"),
                                   spec.ratios, default="1K", what=spec.label)
        if refs:
            body["referenceImages"] = [{"uri": image_uri(p, _nth("reference image", i, refs), notes)}
                                       for i, p in enumerate(refs)]
        if request.backend_model_id == "gpt_image_2" and request.variant in ("low", "medium", "high"):
            body["quality"] = request.variant  # Runway's default is "high": the variant decides the bill
        body.update(request.fixed)
        return body

    def _media_uri(self, path: Path, kind: str) -> str:
        """A video / audio input: a data URI up to 16 MB, else an ephemeral upload (``runway://``) up to 200 MB."""
        raw = Path(path).read_bytes()
        uri = _data_uri(raw, _mime(raw, path))
        if len(uri) <= MEDIA_URI_MAX:
            return uri
        if len(raw) > UPLOAD_MAX:
            raise _invalid(f"the {kind} {Path(path).name} is {len(raw) >> 20} MB; Runway takes at most 200 MB")
        name = Path(path).name
        slot = _parse(UploadSlot, _check(self._send("POST", "/v1/uploads", json={"filename": name,
                                                                                  "type": "ephemeral"},
                                                    retry_safe=True)))
        # the pre-signed upload URL is storage, not Runway's API: no key goes there
        response = http.send(self._client, "POST", slot.uploadUrl, policy=self._policy, retry_safe=True,
                             backend_label=f"{LABEL} upload", data=slot.fields,
                             files={"file": (name, raw, _mime(raw, path))})
        if response.status_code >= 300:
            raise http.error_for(response, f"{LABEL} upload")
        log.info("%s: uploaded %s (%d bytes) as an ephemeral input", LABEL, name, len(raw))
        return slot.runwayUri

    # -- helpers --
    def _task(self, job: RemoteJob) -> Task:
        return _parse(Task, _check(self._send("GET", f"/v1/tasks/{job.remote_id}")))

    def _download(self, url: str, media: Media, dest: Path) -> Path:
        return downloads.download(self._client, url, dest, media=media, max_bytes=MAX_BYTES[media],
                                  policy=self._policy, backend_label=LABEL)


def _nth(role: str, index: int, items: Sequence[Any]) -> str:
    return role if len(items) == 1 else f"{role} {index + 1}"


def _media(job: RemoteJob) -> Media:
    value = job.data.get("media")
    return value if value in ("image", "video", "audio") else "video"


def _refuse_inputs(spec: Spec, inputs: Mapping[str, Sequence[Path]], names: Sequence[str]) -> None:
    extra = [n for n in names if inputs.get(n)]
    if extra:
        raise _invalid(f"{spec.label} takes no {', '.join(extra)} input")


def _shape(path: Path, *, video: bool) -> str | None:
    """The nearest common aspect ratio of a still or a clip (None when it cannot be read: Runway will judge it)."""
    from PIL import Image

    from .media_probe import probe

    try:
        if video:
            info = probe(path)
            return _aspect_of(info.width, info.height) if info.width and info.height else None
        with Image.open(path) as img:
            return _aspect_of(*img.size)
    except Exception:
        return None


def _same_output(old: str, fresh: Sequence[str]) -> str | None:
    """The re-signed URL of the same output file: same path, new signature; else the only / first one."""
    path = httpx.URL(old).path
    return next((u for u in fresh if httpx.URL(u).path == path), fresh[0] if fresh else None)


def _refused(response: httpx.Response) -> bool:
    """A create Runway turned away before a task existed (docs: 429, and 502 / 503 "shedding load", 504)."""
    return response.status_code in (429, 502, 503, 504)


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code < 400:
        return http.check(response, LABEL)
    raise _error(response)


def _error(response: httpx.Response) -> BackendError:
    error = http.error_for(response, LABEL)  # Runway's 400s carry {"error": "<field>: <reason>"}
    if error.kind == ErrorKind.INVALID_REQUEST and "credit" in error.message.lower():
        error.kind = ErrorKind.OUT_OF_CREDITS  # a 400 "not enough credits" (wording UNCONFIRMED)
    return error


def _parse(model: type[_M], response: httpx.Response) -> _M:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):
        raise BackendError(ErrorKind.VENDOR_DOWN, f"{LABEL}: unexpected answer (HTTP {response.status_code})",
                           status=response.status_code) from None


def _failed(failure: str, code: str | None, media: str) -> JobStatus:
    code_text = code or ""
    reason = redaction.redact(failure)
    if code_text.startswith(MODERATION):
        on_output = code_text.startswith("SAFETY.OUTPUT")
        kind = ErrorKind.MODERATED_OUTPUT if on_output else ErrorKind.MODERATED_INPUT
        what = f"the generated {media} was" if on_output else "an input (prompt or media) was"
        message = f"{LABEL}: {what} rejected by Runway's content moderation: {reason}"
    elif code_text.startswith("INTERNAL.BAD_OUTPUT"):
        kind = ErrorKind.VENDOR_DOWN
        message = (f"{LABEL}: Runway discarded the result in its quality check ({reason}); rendering again may work, "
                   "and overlaid text or graphics in the input images make this more likely")
    elif code_text.startswith(("ASSET.", "INPUT_PREPROCESSING.")) and "INTERNAL" not in code_text:
        kind, message = ErrorKind.INVALID_REQUEST, f"{LABEL}: an input could not be used: {reason}"
    elif "INTERNAL" in code_text:
        kind, message = ErrorKind.VENDOR_DOWN, f"{LABEL}: the task failed on Runway's side: {reason}"
    else:
        kind, message = ErrorKind.UNKNOWN, f"{LABEL}: the task failed: {reason}"
    return JobStatus(state=kind.state, error_kind=kind, vendor_code=code, message=message)
