"""Media probing and thumbnails for landed takes (PyAV and Pillow; no Blender)."""

from __future__ import annotations

from pathlib import Path

import av
from PIL import Image

from ..providers.media_probe import MediaInfo, probe

THUMBNAIL_LONG_SIDE = 256


def describe_file(path: Path, media: str) -> MediaInfo:
    return probe(path)


def write_thumbnail(path: Path, media: str, dest: Path) -> Path | None:
    """A small PNG for the version tray: the still itself, or the middle frame of a clip; None for sound."""
    try:
        frame: Image.Image | None = None
        if media == "image":
            with Image.open(path) as image:
                frame = image.convert("RGB")
        elif media == "video":
            frame = _middle_frame(path)
        if frame is None:
            return None
        frame.thumbnail((THUMBNAIL_LONG_SIDE, THUMBNAIL_LONG_SIDE))
        temporary = dest.with_name(dest.name + ".part")
        frame.save(temporary, format="PNG")
        temporary.replace(dest)
        return dest
    except (OSError, av.FFmpegError, ValueError):
        return None  # a thumbnail is a convenience; the take itself is already safe


def _middle_frame(path: Path) -> Image.Image | None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or 0
        target = frames // 2
        for index, frame in enumerate(container.decode(stream)):
            if index >= target:
                return frame.to_image()
    return None
