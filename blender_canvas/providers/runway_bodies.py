"""Runway's request bodies: what each model takes (fields, ``ratio`` pixel strings, durations, prompt limits,
reference counts), checked before anything is sent, and the still inputs fitted to Runway's data-URI limit with a
note for each change. The sources are listed in :mod:`.runway`, which does the transport, polling and answers.
"""

from __future__ import annotations

import base64
import math
import mimetypes
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import downloads, media_fit
from .backend import BackendError, ErrorKind, JobRequest

LABEL = "Runway"
IMAGE_URI_MAX = 5 * 1024 * 1024  # length of the data URI, not of the file
MEDIA_URI_MAX = 16 * 1024 * 1024
UPLOAD_MAX = 200 * 1024 * 1024
MediaUri = Callable[[Path, str], str]  # (a video or audio file, "video" | "audio") -> what Runway reads


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


def invalid(message: str) -> BackendError:
    return BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {message}")


def pick_ratio(aspect: str, resolution: str | None, allowed: Sequence[str], *, default: str, what: str) -> str:
    """Runway's ``W:H`` pixel string for an aspect ratio ("16:9") at a resolution tier ("720p", "2K")."""
    try:
        a, b = (float(x) for x in aspect.split(":"))
        wanted = math.log(a / b)
    except ValueError:
        raise invalid(f"aspect ratio {aspect!r} is not W:H") from None
    target = PIXELS.get(resolution or default, PIXELS[default])
    sizes = {r: (int(r.split(":")[0]), int(r.split(":")[1])) for r in allowed if ":" in r}
    close = [r for r, (w, h) in sizes.items() if abs(math.log(w / h) - wanted) < 0.035]
    if not close:
        shapes = sorted({_aspect_of(w, h) for w, h in sizes.values()})
        raise invalid(f"{what} does not take aspect ratio {aspect}; use {', '.join(shapes)}")
    return min(close, key=lambda r: abs(math.log(sizes[r][0] * sizes[r][1] / target)))


def _aspect_of(w: int, h: int) -> str:
    known = ("16:9", "9:16", "4:3", "3:4", "1:1", "21:9", "9:21", "3:2", "2:3", "5:4", "4:5", "4:1", "1:4", "8:1",
             "1:8")
    return min(known, key=lambda k: abs(math.log(w / h) - math.log(float(k.split(":")[0]) / float(k.split(":")[1]))))


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def file_mime(raw: bytes, path: Path) -> str:
    sniffed = downloads.sniff(raw[:64])
    return sniffed[1] if sniffed else (mimetypes.guess_type(str(path))[0] or "application/octet-stream")


def data_uri(raw: bytes, mime: str) -> str:
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
    return data_uri(fitted.data, fitted.mime)


def build_request(request: JobRequest, media_uri: MediaUri) -> tuple[str, dict[str, Any], list[str]]:
    """The endpoint path and JSON body for a request, and a note for each input changed to fit Runway.
    ``media_uri`` turns a video or audio file into what Runway reads (a data URI, or an upload it needs the API
    for)."""
    model, notes = request.backend_model_id, list[str]()
    if model == ALEPH:
        return "/v1/video_to_video", _aleph(request, media_uri, notes), notes
    if model in IMAGE:
        return "/v1/text_to_image", _image(request, IMAGE[model], notes), notes
    spec = VIDEO.get(model)
    if spec is None:
        raise invalid(f"no adapter for Runway model {model!r}")
    return (*_video(request, spec, media_uri, notes), notes)


def _prompt(request: JobRequest, spec: Spec, *, required: bool) -> dict[str, Any]:
    text = request.prompt.strip()
    if not text:
        if required:
            raise invalid(f"{spec.label} needs a prompt (promptText)")
        return {}
    if spec.prompt_max is not None and _utf16(text) > spec.prompt_max:
        raise invalid(f"{spec.label}: the prompt (promptText) is {_utf16(text)} characters; Runway takes at "
                      f"most {spec.prompt_max}")
    return {"promptText": text}


def _video(request: JobRequest, spec: Spec, media_uri: MediaUri, notes: list[str]) -> tuple[str, dict[str, Any]]:
    model, params, inputs = request.backend_model_id, request.params, request.inputs
    first, last = inputs.get("image") or [], inputs.get("last_frame") or []
    refs, audio = inputs.get("images") or [], inputs.get("audio") or []
    _refuse_inputs(spec, inputs, ("video",))
    if last and not spec.last_frame:
        raise invalid(f"{spec.label} takes no last frame")
    if last and not first:
        raise invalid(f"{spec.label} needs a first frame to go with the last frame")
    if refs and (first or last):
        raise invalid(f"{spec.label}: reference images cannot be combined with first / last frames")
    if len(refs) > spec.references:
        raise invalid(f"{spec.label} takes {spec.references or 'no'} reference images, not {len(refs)}")
    if audio and not spec.reference_audio:
        raise invalid(f"{spec.label} takes no audio input")
    body: dict[str, Any] = {"model": model}
    body.update(_prompt(request, spec, required=spec.prompt_required or not first))
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
        raise invalid(f"{spec.label} needs an aspect ratio (ratio)")
    duration = params.get("duration_s")
    if duration is not None:
        if spec.durations and int(duration) not in spec.durations:
            steps = ", ".join(map(str, spec.durations)) if len(spec.durations) < 4 else \
                f"{spec.durations[0]}-{spec.durations[-1]}"
            raise invalid(f"{spec.label}: duration {duration} s is not allowed, use {steps} s")
        body["duration"] = int(duration)
    elif spec.durations:
        raise invalid(f"{spec.label} needs a duration")
    if spec.audio and params.get("audio") is not None:
        body["audio"] = bool(params["audio"])
    if audio:
        body["referenceAudio"] = [{"type": "audio", "uri": media_uri(p, "audio")} for p in audio]
    if spec.seed and params.get("seed") is not None:
        body["seed"] = int(params["seed"])
    if params.get("negative_prompt") and model.startswith("veo"):
        body["negativePrompt"] = str(params["negative_prompt"])
    body.update(request.fixed)
    return ("/v1/image_to_video" if first else "/v1/text_to_video"), body


def _aleph(request: JobRequest, media_uri: MediaUri, notes: list[str]) -> dict[str, Any]:
    spec = Spec("Aleph", (), prompt_max=None)
    _refuse_inputs(spec, request.inputs, ("image", "last_frame", "audio"))
    videos, refs = request.inputs.get("video") or [], request.inputs.get("images") or []
    if not videos:
        raise invalid("Aleph needs an input video (videoUri)")
    if len(refs) > 5:
        raise invalid(f"Aleph takes at most 5 keyframe images, not {len(refs)}")
    body: dict[str, Any] = {"model": ALEPH, "videoUri": media_uri(videos[0], "video")}
    body.update(_prompt(request, spec, required=False))
    if refs:  # spread over the clip: one at the start, the last at the end
        body["keyframes"] = [{"uri": image_uri(p, _nth("keyframe", i, refs), notes),
                              "at": round(i / max(1, len(refs) - 1), 4)} for i, p in enumerate(refs)]
    aspect = request.params.get("aspect_ratio")
    if aspect and str(aspect) != _shape(videos[0], video=True):
        if aspect not in ALEPH_ASPECTS:
            raise invalid(f"Aleph cannot reframe to {aspect} (targetAspectRatio: {', '.join(ALEPH_ASPECTS)})")
        body["targetAspectRatio"] = str(aspect)  # letterbox / outpaint the input to the asked framing
    if request.params.get("seed") is not None:
        body["seed"] = int(request.params["seed"])
    body.update(request.fixed)
    return body


def _image(request: JobRequest, spec: Spec, notes: list[str]) -> dict[str, Any]:
    _refuse_inputs(spec, request.inputs, ("image", "last_frame", "audio", "video"))
    refs = request.inputs.get("images") or []
    if len(refs) > spec.references:
        raise invalid(f"{spec.label} takes at most {spec.references} reference images, not {len(refs)}")
    body: dict[str, Any] = {"model": request.backend_model_id}
    body.update(_prompt(request, spec, required=True))
    body["ratio"] = pick_ratio(str(request.params.get("aspect_ratio") or "1:1"), request.params.get("resolution"),
                               spec.ratios, default="1K", what=spec.label)
    if refs:
        body["referenceImages"] = [{"uri": image_uri(p, _nth("reference image", i, refs), notes)}
                                   for i, p in enumerate(refs)]
    if request.backend_model_id == "gpt_image_2" and request.variant in ("low", "medium", "high"):
        body["quality"] = request.variant  # Runway's default is "high": the variant decides the bill
    body.update(request.fixed)
    return body


def _nth(role: str, index: int, items: Sequence[Any]) -> str:
    return role if len(items) == 1 else f"{role} {index + 1}"


def _refuse_inputs(spec: Spec, inputs: Mapping[str, Sequence[Path]], names: Sequence[str]) -> None:
    extra = [n for n in names if inputs.get(n)]
    if extra:
        raise invalid(f"{spec.label} takes no {', '.join(extra)} input")


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
