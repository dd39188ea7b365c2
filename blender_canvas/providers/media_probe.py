"""What a media file is: :class:`MediaInfo` and :func:`probe`, read with Pillow (stills) or PyAV (video, audio).

Used by the offline preview backend and by the engine to describe inputs and results; needs no network and no bpy.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Literal

import av
from PIL import Image
from pydantic import BaseModel, ConfigDict

MediaKind = Literal["image", "video", "audio"]


# --- probing -------------------------------------------------------------------------------------------------------

class MediaInfo(BaseModel):
    """What a media file is: its kind, size, length, rate and streams."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MediaKind
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None  # where the container states it (MP4 does); None otherwise
    has_audio: bool = False
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None


def _stream_seconds(stream: av.stream.Stream, fallback: float | None) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return fallback


_PROBED: dict[tuple[str, int, int], MediaInfo] = {}
_PROBED_LOCK = threading.Lock()
_PROBED_MAX = 4096


def probe(path: Path) -> MediaInfo:
    """Describe a still (with Pillow) or a video or audio file (with PyAV); ValueError when it is neither.

    Results are remembered by (path, size, mtime), as file hashes are: sending a 200-shot cut again after one swap
    opens only the new take's file. A file rewritten in place gets a new mtime (or size) and is probed again."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as exc:  # a missing file: the same ValueError the readers gave
        raise ValueError(f"{path.name} is not a still, video or audio file PyAV or Pillow can read: {exc}") from exc
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _PROBED_LOCK:
        known = _PROBED.get(key)
    if known is not None:
        return known
    info = _probe(path)
    with _PROBED_LOCK:
        if len(_PROBED) >= _PROBED_MAX:
            _PROBED.clear()
        _PROBED[key] = info
    return info


def _probe(path: Path) -> MediaInfo:
    try:
        with Image.open(path) as img:
            frames = int(getattr(img, "n_frames", 1))
            return MediaInfo(kind="image", width=img.width, height=img.height, frames=frames)
    except (OSError, Image.DecompressionBombError, SyntaxError):
        pass
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a still, video or audio file PyAV or Pillow can read: {exc}") from exc
    with container:
        videos = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        audios = list(container.streams.audio)
        container_s = container.duration / 1_000_000 if container.duration is not None else None
        audio_codec = audios[0].codec_context.name if audios else None
        sample_rate = audios[0].codec_context.sample_rate if audios else None
        if videos:
            video = videos[0]
            fps = float(video.average_rate) if video.average_rate else None
            return MediaInfo(kind="video", width=video.codec_context.width, height=video.codec_context.height,
                             duration_s=_stream_seconds(video, container_s), fps=fps, frames=video.frames or None,
                             has_audio=bool(audios), video_codec=video.codec_context.name, audio_codec=audio_codec,
                             sample_rate=sample_rate)
        if audios:
            duration = _stream_seconds(audios[0], container_s)
            return MediaInfo(kind="audio", duration_s=duration, has_audio=True, audio_codec=audio_codec,
                             sample_rate=sample_rate)
    raise ValueError(f"{path.name} has no video or audio stream")
