"""The request side of OpenAI's API: gpt-image-2 sizes and generation / edit fields, Sora sizes and its multipart
form, and the inputs fitted to them (edit references, Sora's first frame) with a note for every change. The sources
are listed in :mod:`.openai_api`, which does the transport, polling and answers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from . import media_fit
from .backend import BackendError, ErrorKind, JobRequest

LABEL = "OpenAI"
IMAGE_QUALITIES = ("low", "medium", "high", "auto")
SHORT_EDGE = {"1K": 1024, "2K": 1440, "4K": 2160}  # 16:9 -> 1824x1024, 2560x1440, 3840x2160
MAX_EDGE, MAX_PIXELS = 3840, 3840 * 2160
MAX_REFERENCE_IMAGES, MAX_REFERENCE_BYTES = 16, 50 << 20
VIDEO_SECONDS = (4, 8, 12)
VIDEO_SIZES = {"720p": ("1280x720", "720x1280"), "1024p": ("1792x1024", "1024x1792")}
PRO_ONLY_RESOLUTIONS = frozenset({"1024p"})


# --- sizes and bodies -------------------------------------------------------------------------------------------------


def bad(message: str) -> BackendError:
    return BackendError(ErrorKind.INVALID_REQUEST, message)


def _ratio(aspect_ratio: str) -> tuple[int, int]:
    w, _, h = aspect_ratio.partition(":")
    if not (w.isdigit() and h.isdigit() and int(w) and int(h)):
        raise bad(f"{LABEL}: aspect_ratio {aspect_ratio!r} is not like '16:9'")
    return int(w), int(h)


def image_size(aspect_ratio: str = "1:1", resolution: str = "1K") -> str:
    """gpt-image-2's ``WxH``: the short side from the resolution (1K 1024, 2K 1440, 4K 2160), both sides multiples
    of 16, scaled down to fit 3840 px and 3840x2160 worth of pixels; aspect 1:3 to 3:1."""
    w, h = _ratio(aspect_ratio)
    if not 1 / 3 <= w / h <= 3:
        raise bad(f"{LABEL}: aspect_ratio {aspect_ratio} is outside the 1:3 to 3:1 that gpt-image-2 allows")
    if (short := SHORT_EDGE.get(resolution)) is None:
        raise bad(f"{LABEL}: resolution {resolution!r} is not allowed, use {', '.join(SHORT_EDGE)}")
    width, height = (short * w / h, short) if w >= h else (short, short * h / w)
    scale = min(1.0, MAX_EDGE / max(width, height), (MAX_PIXELS / (width * height)) ** 0.5)
    snap = (lambda v: int(v // 16) * 16) if scale < 1 else (lambda v: round(v / 16) * 16)
    return f"{snap(width * scale)}x{snap(height * scale)}"


def video_size(model_id: str, aspect_ratio: str = "16:9", resolution: str = "720p") -> str:
    if (sizes := VIDEO_SIZES.get(resolution)) is None:
        raise bad(f"Sora: resolution {resolution!r} is not allowed, use {' or '.join(VIDEO_SIZES)}")
    if resolution in PRO_ONLY_RESOLUTIONS and "pro" not in model_id:
        raise bad(f"Sora: resolution {resolution} needs Sora 2 Pro; {model_id} renders 720p only")
    w, h = _ratio(aspect_ratio)
    if w == h:
        raise bad(f"Sora: aspect_ratio {aspect_ratio} is not allowed, use 16:9 or 9:16")
    return sizes[0] if w > h else sizes[1]


FRAME = media_fit.ImageRules(vendor="Sora", formats=("PNG", "JPEG", "WEBP"),
                             size_text="Sora takes the first frame at the video's size")
REFERENCES = media_fit.ImageRules(vendor="GPT Image", formats=("PNG", "JPEG", "WEBP"), max_bytes=MAX_REFERENCE_BYTES)


def fit_frame(path: Path, size: str) -> media_fit.FittedImage:
    """The first frame scaled and centre-cropped to exactly ``size`` (Sora wants the reference to match)."""
    width, height = (int(v) for v in size.split("x"))
    return media_fit.fit_image(path, "first frame", dataclasses.replace(FRAME, size=(width, height)))


def _checked(request: JobRequest, allowed: str) -> str:
    """The prompt, after refusing inputs this model cannot take."""
    if extra := sorted(n for n, files in request.inputs.items() if files and n != allowed):
        raise bad(f"{LABEL}: {request.backend_model_id} takes no {', '.join(extra)} input")
    if not request.prompt.strip():
        raise bad(f"{LABEL}: {request.backend_model_id} needs a prompt")
    return request.prompt


def image_fields(request: JobRequest) -> dict[str, Any]:
    """The generation fields (JSON body, or the non-file form fields of an edit)."""
    prompt = _checked(request, "images")
    if (quality := request.fixed.get("quality", request.variant)) not in IMAGE_QUALITIES:
        raise bad(f"{LABEL}: quality {quality!r} is not allowed, use {', '.join(IMAGE_QUALITIES)}")
    size = image_size(str(request.params.get("aspect_ratio") or "1:1"), str(request.params.get("resolution") or "1K"))
    body: dict[str, Any] = {"model": request.backend_model_id, "prompt": prompt, "size": size, "quality": quality,
                            "n": 1, "output_format": "png"}
    return body | {k: v for k, v in request.fixed.items() if k != "quality"}


def reference_parts(paths: list[Path], notes: list[str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """``image[]`` file parts for an edit: png / jpeg / webp, at most 16, each under 50 MB (another format is
    converted, a bigger file re-encoded, with a note in ``notes``)."""
    if len(paths) > MAX_REFERENCE_IMAGES:
        raise bad(f"{LABEL}: images: {len(paths)} reference images, at most {MAX_REFERENCE_IMAGES} allowed")
    parts = []
    for i, path in enumerate(map(Path, paths)):
        fitted = media_fit.fit_image(path, "reference image" + (f" {i + 1}" if len(paths) > 1 else ""), REFERENCES)
        notes.extend(fitted.notes)
        name = f"{path.stem}{fitted.suffix}" if fitted.notes else path.name
        parts.append(("image[]", (name, fitted.data, fitted.mime)))
    return parts


def video_form(request: JobRequest,
               notes: list[str]) -> list[tuple[str, tuple[str | None, Any] | tuple[str, bytes, str]]]:
    """The multipart parts of ``POST /videos`` (every field a part, as the SDK sends them); a note in ``notes`` for
    each change made to the first frame."""
    prompt, params, model = _checked(request, "image"), request.params, request.backend_model_id
    size = video_size(model, str(params.get("aspect_ratio") or "16:9"), str(params.get("resolution") or "720p"))
    fields: dict[str, str] = {"prompt": prompt, "model": model, "size": size}
    if (duration := params.get("duration_s")) is not None:
        if int(duration) not in VIDEO_SECONDS:
            raise bad(f"Sora: duration {duration} s is not allowed, use 4, 8 or 12")
        fields["seconds"] = str(int(duration))
    fields.update(request.fixed)
    parts: list[tuple[str, tuple[str | None, Any] | tuple[str, bytes, str]]] = [
        (name, (None, value)) for name, value in fields.items()]
    if first := request.inputs.get("image"):
        frame = fit_frame(first[0], fields["size"])
        notes.extend(frame.notes)
        parts.append(("input_reference", (f"first_frame{frame.suffix}", frame.data, frame.mime)))
    return parts
