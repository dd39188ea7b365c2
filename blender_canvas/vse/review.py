"""The review scene: two or more takes playing in step, side by side, in a grid, or split by a wipe.

A scene of its own ("Canvas Review · <canvas>"), so the user's cut scene and the workspace's sequencer scene stay
as they are. Building it only reads take files already on disk: nothing is submitted or rendered by the engine, so
changing which takes are reviewed costs nothing. The numbers come from engine/review_layout.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bpy
from pydantic import BaseModel, ValidationError

from ..engine.review_layout import FIRST_FRAME, ReviewLayout, ReviewTake, plan_review
from ..providers.media_probe import MediaInfo, probe
from .build import _effect, blend_path, paused_prefetch

SCENE_TAG = "canvas_review"  # on the review scene: the canvas (tree) it reviews, found by this, not by its name
ROLE, NODE, TAKE = "canvas_review_role", "canvas_node", "canvas_take_id"
SCENE_PREFIX = "Canvas Review · "
# Bottom to top: a dark backdrop (so gaps and letterboxes are not transparent), the takes, the wipe, the labels.
BACKGROUND_CHANNEL = 1
FIRST_TAKE_CHANNEL = 2  # up to 16 takes: channels 2-17
WIPE_CHANNEL = 18
FIRST_LABEL_CHANNEL = 20  # 20-35
SOUND_CHANNEL = 40
BACKDROP = (0.06, 0.06, 0.06)


class ReviewError(ValueError):
    """The review cannot be built; the message says which take or setting is at fault."""


class ReviewSource(BaseModel):
    """A take to review: where its file is and how its cell is labelled."""

    node: str
    take_id: str
    file: Path
    label: str


class ReviewReport(BaseModel):
    scene: str
    layout: str
    width: int
    height: int
    fps: float
    frame_start: int
    frame_end: int
    shown: list[str]  # labels, in cell order
    take_ids: list[str]
    strips: int  # strips the review scene holds now
    sound_from: str | None  # the label of the one take whose sound plays, None when none has sound
    sound_note: str


def scene_name(canvas_name: str) -> str:
    return SCENE_PREFIX + canvas_name


def find_review_scene(canvas_name: str) -> Any:
    """The review scene of a canvas, or None (found by its tag: a long name may have been cut short by Blender)."""
    return next((s for s in bpy.data.scenes if s.get(SCENE_TAG) == canvas_name), None)


def review_scene(canvas_name: str) -> Any:
    scene = find_review_scene(canvas_name)
    if scene is None:
        # bpy.data.scenes.new leaves context.scene, the window and the workspace's sequencer scene alone
        scene = bpy.data.scenes.new(scene_name(canvas_name))
        scene[SCENE_TAG] = canvas_name
    return scene


def describe(source: ReviewSource) -> MediaInfo:
    if not source.file.is_file():
        raise ReviewError(f"{source.label}: its file is missing ({source.file})")
    try:
        info = probe(source.file)
    except ValueError as error:
        raise ReviewError(f"{source.label}: {error}") from error
    if info.kind == "audio" or not info.width or not info.height:
        raise ReviewError(f"{source.label}: has no picture to review (audio takes cannot be shown)")
    return info


def _layout_take(source: ReviewSource, info: MediaInfo) -> ReviewTake:
    size = {"label": source.label, "width": info.width or 1, "height": info.height or 1}
    if info.kind == "image":  # a still is held for the whole review; it adds nothing to the length
        return ReviewTake(**size, frames=1)
    return ReviewTake(**size, duration_s=info.duration_s or 1.0)


def _configure(scene: Any, plan: ReviewLayout) -> None:
    rate = max(1, round(plan.fps))
    scene.render.fps, scene.render.fps_base = rate, rate / plan.fps
    scene.render.resolution_x, scene.render.resolution_y = plan.width, plan.height
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = plan.frame_start, plan.frame_end
    scene.frame_current = plan.frame_start
    scene.view_settings.view_transform = "Standard"  # takes look as they are, not through a filmic curve
    scene.render.use_sequencer = True


def _tag(strip: Any, role: str, source: ReviewSource | None = None) -> Any:
    strip[ROLE] = role
    strip[NODE], strip[TAKE] = (source.node, source.take_id) if source else ("", "")
    return strip


def review_strips(scene: Any) -> list[Any]:
    editor = scene.sequence_editor
    return [s for s in editor.strips_all if ROLE in s] if editor is not None else []


def _take_strip(editor: Any, source: ReviewSource, info: MediaInfo, index: int, length: int) -> Any:
    name, channel = f"review {index + 1} · {source.label}"[:60], FIRST_TAKE_CHANNEL + index
    if info.kind == "image":
        strip = editor.strips.new_image(name=name, filepath=blend_path(source.file), channel=channel,
                                        frame_start=FIRST_FRAME, fit_method="ORIGINAL")
        strip.frame_final_duration = length
    else:  # ORIGINAL: the picture at its own size, centred; the layout's scale and offsets do the rest
        strip = editor.strips.new_movie(name=name, filepath=blend_path(source.file), channel=channel,
                                        frame_start=FIRST_FRAME, fit_method="ORIGINAL")
    return _tag(strip, "take", source)


def _label(editor: Any, plan: ReviewLayout, index: int, source: ReviewSource) -> Any:
    cell = plan.cells[index]
    text = _effect(editor, f"label {index + 1}", "TEXT", FIRST_LABEL_CHANNEL + index, FIRST_FRAME,
                   plan.frame_end - FIRST_FRAME + 1)
    text.text = source.label
    text.font_size = plan.font_size
    text.location = (cell.label_x, cell.label_y)
    text.anchor_x, text.anchor_y = cell.label_anchor, "BOTTOM"
    text.color = (0.92, 0.92, 0.92, 1.0)  # in the dark band under the picture, covering none of it
    return _tag(text, "label", source)


def build_review(canvas_name: str, takes: Sequence[ReviewSource], layout: str, fps: float) -> ReviewReport:
    """Build (or rebuild) the canvas's review scene from `takes`. Main thread only; never touches the engine.

    Raises ReviewError for a missing or picture-less file, ReviewLayoutError for a wrong count or layout.
    """
    infos = [describe(source) for source in takes]
    try:
        plan = plan_review([_layout_take(s, i) for s, i in zip(takes, infos, strict=True)], layout, fps)
    except ValidationError as error:  # a take's numbers (a count or layout problem raises ReviewLayoutError)
        raise ReviewError(str(error)) from error
    scene = review_scene(canvas_name)
    _configure(scene, plan)  # the frame rate first: a new movie strip takes its length from it
    editor = scene.sequence_editor or scene.sequence_editor_create()
    with paused_prefetch(editor):
        for strip in review_strips(scene):  # only our strips: anything the user added to the scene stays
            editor.strips.remove(strip)
        length = plan.frame_end - FIRST_FRAME + 1
        backdrop = _effect(editor, "review backdrop", "COLOR", BACKGROUND_CHANNEL, FIRST_FRAME, length)
        backdrop.color = BACKDROP
        _tag(backdrop, "background")
        strips = []
        for index, (source, info) in enumerate(zip(takes, infos, strict=True)):
            strip = _take_strip(editor, source, info, index, length)
            cell = plan.cells[index]
            strip.transform.scale_x = strip.transform.scale_y = cell.scale
            strip.transform.offset_x, strip.transform.offset_y = cell.offset_x, cell.offset_y
            strips.append(strip)
            _label(editor, plan, index, source)
        if plan.layout == "wipe":
            wipe = _effect(editor, "review wipe", "WIPE", WIPE_CHANNEL, FIRST_FRAME, plan.wipe_frames,
                           input1=strips[0], input2=strips[1])
            wipe.transition_type, wipe.angle, wipe.blur_width = "SINGLE", math.pi / 2, 0.0  # A left, B right
            wipe.use_default_fade, wipe.effect_fader = False, 0.5  # a still split down the middle
            _tag(wipe, "wipe")
        sound_from = None
        if infos[0].has_audio:  # one soundtrack only: several takes talking at once helps no one
            sound = editor.strips.new_sound(name="review sound", filepath=blend_path(takes[0].file),
                                            channel=SOUND_CHANNEL, frame_start=FIRST_FRAME)
            _tag(sound, "sound", takes[0])
            sound_from = takes[0].label
    note = f"sound from the first take ({sound_from})" if sound_from else "no sound: the first take has none"
    return ReviewReport(scene=scene.name, layout=plan.layout, width=plan.width, height=plan.height, fps=plan.fps,
                        frame_start=plan.frame_start, frame_end=plan.frame_end, shown=[s.label for s in takes],
                        take_ids=[s.take_id for s in takes], strips=len(review_strips(scene)),
                        sound_from=sound_from, sound_note=note)


def render_review_still(scene: Any, frame: int, path: Path) -> Path:
    """One frame of the review to a PNG (a contact sheet, a report). Main thread, blocking."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):  # Blender 5: an image, not a video
        settings.media_type = "IMAGE"
    settings.file_format, settings.color_mode = "PNG", "RGB"
    scene.render.filepath, scene.render.use_file_extension = blend_path(path), False
    scene.frame_current = frame
    # render(scene=...) of a scene that is not the context's renders the context scene's frame (4.5 and 5.0)
    with bpy.context.temp_override(scene=scene):
        bpy.ops.render.render(write_still=True, scene=scene.name)
    return path


def remove_review(canvas_name: str) -> bool:
    """Delete the canvas's review scene (the caller moves any window off it first). True if there was one."""
    scene = find_review_scene(canvas_name)
    if scene is None or len(bpy.data.scenes) < 2:
        return False
    bpy.data.scenes.remove(scene)
    return True
