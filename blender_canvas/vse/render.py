"""The final render: the sequencer scene through Blender's own FFmpeg to H.264 + AAC in an MP4."""

from __future__ import annotations

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


def render_cut(scene: Any, path: Path) -> Path:
    """Render the whole frame range of `scene` to `path` (blocking; headless and tests)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    configure_output(scene, path)
    bpy.ops.render.render(animation=True, scene=scene.name)
    return path
