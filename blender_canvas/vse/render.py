"""The final render: the sequencer scene through Blender's own FFmpeg to H.264 + AAC in an MP4."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bpy

from .build import blend_path


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
    render.filepath = blend_path(path)  # `//final.mp4`: the .blend renders into its own folder wherever it goes


def render_cut(scene: Any, path: Path, *, quiet: bool = True) -> Path:
    """Render the whole frame range of `scene` to `path` (blocking; headless and tests).

    The film is rendered beside `path` under a temporary name and renamed over it, so a player, a sync client or
    an interrupted render never sees half a film; the scene's output path is `path` again afterwards.
    """
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.part{path.suffix}")
    configure_output(scene, partial)
    try:
        with quiet_stdout(quiet):
            bpy.ops.render.render(animation=True, scene=scene.name)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        configure_output(scene, path)
    return path


def render_frame(scene: Any, frame: int, path: Path, *, quiet: bool = True) -> Path:
    """One frame of the cut, as the film shows it (grade included), to a PNG: the end card's still for the
    interchange files. The scene's film output settings are put back afterwards."""
    path = Path(os.path.abspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    render, settings = scene.render, scene.render.image_settings
    film_path, current = render.filepath, scene.frame_current
    partial = path.with_name(f".{path.stem}.{os.getpid()}.part.png")
    try:
        if hasattr(settings, "media_type"):  # Blender 5: an image, not a video
            settings.media_type = "IMAGE"
        settings.file_format, settings.color_mode = "PNG", "RGB"
        render.filepath, render.use_file_extension = str(partial), False
        scene.frame_current = frame
        with quiet_stdout(quiet), bpy.context.temp_override(scene=scene):
            bpy.ops.render.render(write_still=True, scene=scene.name)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
        scene.frame_current = current
        configure_output(scene, path)
        render.filepath = film_path
    return path


@contextmanager
def quiet_stdout(enabled: bool) -> Iterator[None]:
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
