"""Kling's request bodies (3.0 / O3 video, Avatar, lip-sync) and the inputs fitted to Kling's limits: stills by
:mod:`.media_fit` (short side >= 300 px, <= 10 MB, aspect 1:2.5 to 2.5:1 by centre-cropping), voice clips re-encoded
to AAC when Kling cannot take them, a note for every change. The sources are listed in :mod:`.kling`, which does the
signing, transport, polling and answers.
"""

from __future__ import annotations

import base64
import io
import itertools
from pathlib import Path
from typing import Any

from . import downloads, media_fit
from .backend import BackendError, ErrorKind, JobRequest

LABEL = "Kling"
PROMPT_MAX = 2500
MIN_SIDE = 300
MAX_IMAGE_BYTES = 10 << 20
MAX_ASPECT = 2.5
MAX_AUDIO_BYTES = 5 << 20
AUDIO_SECONDS = (2.0, 300.0)


# --- inputs ----------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"


IMAGES = media_fit.ImageRules(vendor=LABEL, formats=("JPEG", "PNG"), max_bytes=MAX_IMAGE_BYTES,
                              limit_text="Kling takes up to 10 MB", max_aspect=MAX_ASPECT, min_side=MIN_SIDE)


def prepare_image(path: Path, role: str) -> tuple[str, list[str]]:
    """``path`` as raw base64 fitted to Kling's limits, and a note for each change made."""
    fitted = media_fit.fit_image(path, role, IMAGES)
    return _b64(fitted.data), list(fitted.notes)


def prepare_audio(path: Path) -> tuple[str, list[str]]:
    """A voice clip as raw base64: mp3 / wav / m4a / aac up to 5 MB as-is, anything else re-encoded to AAC (m4a)."""
    import av

    raw = Path(path).read_bytes()
    sniffed = downloads.sniff(raw[:64])
    try:
        with av.open(str(path)) as container:
            container.streams.audio[0]  # IndexError when there is no sound in it
            seconds = float(container.duration or 0) / 1e6  # microseconds (AV_TIME_BASE)
    except (av.error.FFmpegError, IndexError, OSError):
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: the voice clip is not a readable audio file") from None
    if seconds and not AUDIO_SECONDS[0] <= seconds <= AUDIO_SECONDS[1]:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: the voice clip is {seconds:.1f} s long; Kling "
                           f"takes {AUDIO_SECONDS[0]:g} to {AUDIO_SECONDS[1]:g} s")
    ok = sniffed is not None and sniffed[1] in ("audio/wav", "audio/mpeg", "audio/mp4")
    if ok and len(raw) <= MAX_AUDIO_BYTES:
        return _b64(raw), []
    data = _to_m4a(path)
    if len(data) > MAX_AUDIO_BYTES:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: the voice clip is over 5 MB even as AAC")
    what = sniffed[1] if sniffed else "an unknown format"
    return _b64(data), [f"voice clip re-encoded from {what} ({_mb(len(raw))}) to AAC m4a ({_mb(len(data))}); "
                        "Kling takes mp3 / wav / m4a / aac up to 5 MB"]


def _to_m4a(path: Path) -> bytes:
    import av

    buf = io.BytesIO()
    with av.open(str(path)) as src, av.open(buf, "w", format="ipod") as dst:
        out = dst.add_stream("aac", rate=44100, layout="mono")
        out.bit_rate = 96000
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=44100)
        for frame in itertools.chain(src.decode(audio=0), [None]):  # None flushes the resampler
            for chunk in resampler.resample(frame):
                dst.mux(out.encode(chunk))
        dst.mux(out.encode(None))
    return buf.getvalue()


# --- request bodies --------------------------------------------------------------------------------------------------

_Body = tuple[str, dict[str, Any], list[str]]  # (create path under /v1/videos, JSON body, input notes)


def _first(request: JobRequest, name: str) -> Path | None:
    files = request.inputs.get(name) or []
    return Path(files[0]) if files else None


def _refuse_extra(request: JobRequest, takes: set[str]) -> None:
    extra = sorted(n for n, files in request.inputs.items() if files and n not in takes)
    if extra:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: {request.backend_model_id} takes no "
                           f"{', '.join(extra)} input")


def _prompt(request: JobRequest) -> str:
    if len(request.prompt) > PROMPT_MAX:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: the prompt is {len(request.prompt)} characters; "
                           f"Kling takes at most {PROMPT_MAX}")
    return request.prompt


def _video_body(request: JobRequest, omni: bool) -> _Body:
    _refuse_extra(request, {"image", "last_frame"})
    params, notes = request.params, []
    first, last = _first(request, "image"), _first(request, "last_frame")
    if last is not None and first is None:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: a last frame needs a first frame too")
    body: dict[str, Any] = {"model_name": request.backend_model_id}
    if request.prompt:
        body["prompt"] = _prompt(request)
    if params.get("negative_prompt"):
        body["negative_prompt"] = str(params["negative_prompt"])[:PROMPT_MAX]
    if params.get("duration_s") is not None:
        body["duration"] = str(int(params["duration_s"]))
    if first is None and params.get("aspect_ratio"):
        body["aspect_ratio"] = str(params["aspect_ratio"])
    if params.get("audio") is not None:
        body["sound"] = "on" if params["audio"] else "off"
    frames: list[tuple[str, str]] = []
    for file, role, kind in ((first, "first frame", "first_frame"), (last, "last frame", "end_frame")):
        if file is not None:
            data, more = prepare_image(file, role)
            frames.append((kind, data))
            notes += more
    if omni:
        if frames:  # omni-video: frames go in image_list with a type (secondary sources, see module docstring)
            body["image_list"] = [{"image_url": data, "type": kind} for kind, data in frames]
        endpoint = "omni-video"
    elif frames:
        body["image"] = frames[0][1]
        if len(frames) > 1:
            body["image_tail"] = frames[1][1]
        endpoint = "image2video"
    else:
        endpoint = "text2video"
    body.update(request.fixed)
    return endpoint, body, notes


def _avatar_body(request: JobRequest) -> _Body:
    _refuse_extra(request, {"image", "audio"})
    image, audio = _first(request, "image"), _first(request, "audio")
    if image is None or audio is None:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: Kling Avatar needs a portrait and a voice clip")
    image_b64, notes = prepare_image(image, "portrait")
    sound_b64, more = prepare_audio(audio)
    body: dict[str, Any] = {"image": image_b64, "sound_file": sound_b64}
    if request.prompt:
        body["prompt"] = _prompt(request)
    body.update(request.fixed)
    return "avatar/image2video", body, notes + more


def _lip_sync_body(request: JobRequest) -> _Body:
    """Kling lip-sync takes the video only as ``video_id`` (a Kling take) or a public ``video_url``: it has no
    upload. A caller that knows either passes it in ``params``; a local file alone cannot be sent."""
    _refuse_extra(request, {"video", "audio"})
    audio = _first(request, "audio")
    if audio is None:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: lip-sync needs a voice clip")
    source = {k: str(request.params[k]) for k in ("video_id", "video_url") if request.params.get(k)}
    if not source:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: lip-sync cannot send a local video file: the Kling "
                           "API takes the video only as a public URL or as the id of a video Kling made in the last "
                           "30 days. Use the fal route for kling-lipsync, which accepts the file itself")
    sound_b64, notes = prepare_audio(audio)
    body = {"input": {"mode": "audio2video", **source, "audio_type": "file", "audio_file": sound_b64}}
    body["input"].update(request.fixed)
    return "lip-sync", body, notes


def build_request(request: JobRequest) -> _Body:
    """(path under ``/v1/videos``, JSON body, input notes) for a request, chosen by the route's model id."""
    model = request.backend_model_id
    if model == "avatar":
        return _avatar_body(request)
    if model == "lip-sync":
        return _lip_sync_body(request)
    if model.startswith("kling-"):
        return _video_body(request, omni="omni" in model or model.startswith("kling-video-o"))
    raise BackendError(ErrorKind.INVALID_REQUEST, f"{LABEL}: unknown Kling model id {model!r}")
