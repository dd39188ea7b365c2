"""The final render: the sequencer scene through Blender's own FFmpeg to H.264 + AAC in an MP4."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy


def configure_output(scene: Any, path: Path) -> None:
    render = scene.render
    settings = render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5: pick "video" before the container
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    render.ffmpeg.format = "MPEG4"
    render.ffmpeg.codec = "H264"
    render.ffmpeg.constant_rate_factor = "HIGH"
    render.ffmpeg.ffmpeg_preset = "GOOD"
    render.ffmpeg.audio_codec = "AAC"
    render.ffmpeg.audio_channels = "STEREO"
    render.ffmpeg.audio_mixrate = 48000
    render.ffmpeg.audio_bitrate = 192
    render.use_sequencer = True
    render.use_file_extension = False
    render.filepath = str(path)


def render_cut(scene: Any, path: Path, *, quiet: bool = True) -> Path:
    """Render the whole frame range of `scene` to `path` (blocking; headless and tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_output(scene, path)
    with _quiet_stdout(quiet):
        bpy.ops.render.render(animation=True, scene=scene.name)
    return path


@contextmanager
def _quiet_stdout(enabled: bool) -> Iterator[None]:
    """Blender prints a line per rendered frame straight to file descriptor 1; a headless run has its own progress."""
    if not enabled:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
