"""Send a cut to the Video Sequence Editor: shots as strips, their sound, voice and music, the end card, the grade.

Every strip the add-on makes carries custom properties (sequence, role, node, take id), so sending again can tell
its strips from the user's: an unchanged layout keeps every strip (and the user's edits to it) and only swaps the
strips whose chosen take changed, in place; a changed shot list rebuilds the add-on's strips and nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bpy
from pydantic import BaseModel

from ..engine.timeline import FIRST_FRAME, ShotPlacement, Timeline
from .grade import apply_grade, apply_shot_trim

SEQUENCE, ROLE, NODE, TAKE, INDEX = "canvas_sequence", "canvas_role", "canvas_node", "canvas_take_id", "canvas_index"
# Channel layout, bottom to top: shots on an A/B pair (so crossfades can overlap), the crossfades, the shots' own
# sound, voice and music, the end card, and the grade over everything.
SHOT_CHANNELS = (1, 2)
FADE_CHANNEL = 3
SHOT_SOUND_CHANNELS = (4, 5)
SOUND_CHANNELS = range(6, 10)
CARD_CHANNELS = {"card_background": 10, "card_logo": 11, "card_text": 12}
GRADE_CHANNEL = 13


class SendReport(BaseModel):
    added: int = 0
    swapped: list[str] = []
    kept: int = 0
    rebuilt: bool = False


def sequencer_scene(context: Any = None) -> Any:
    """The scene the VSE edits: `context.sequencer_scene` in Blender 5 (made the scene's own if unset), else the scene.

    Strip modifiers crash bpy 5.0 while the workspace has no sequencer scene (blender-notes.md).
    """
    context = context or bpy.context
    scene = getattr(context, "sequencer_scene", None) or context.scene
    workspace = getattr(context, "workspace", None)
    if workspace is not None and hasattr(workspace, "sequencer_scene") and workspace.sequencer_scene is None:
        workspace.sequencer_scene = scene
    return scene


@contextmanager
def paused_prefetch(editor: Any) -> Iterator[None]:
    """Prefetch reads strips on a background thread; it must not run while strips change under it."""
    was = editor.use_prefetch
    editor.use_prefetch = False
    try:
        yield
    finally:
        editor.use_prefetch = was


def blend_path(file: os.PathLike[str] | str) -> str:
    """`file` as Blender stores it: `//`-relative to the saved .blend, so the project folder moves as one.

    Made absolute first (a run's `--out` may be relative to the shell's folder, which means nothing to the .blend);
    stays absolute only while the .blend is unsaved, or on another drive (Windows).
    """
    absolute = os.path.abspath(file)
    if bpy.data.filepath:
        try:
            return str(bpy.path.relpath(absolute))
        except ValueError:
            pass
    return absolute


def _ours(editor: Any, sequence_id: str) -> list[Any]:
    return [s for s in editor.strips_all if s.get(SEQUENCE) == sequence_id]


def _tag(strip: Any, sequence_id: str, role: str, node: str = "", take: str = "", index: int = -1) -> Any:
    strip[SEQUENCE], strip[ROLE], strip[NODE], strip[TAKE], strip[INDEX] = sequence_id, role, node, take, index
    return strip


def _effect(editor: Any, name: str, kind: str, channel: int, start: int, length: int, **inputs: Any) -> Any:
    """`new_effect` takes `length` in Blender 5 and `frame_end` in 4.5."""
    try:
        return editor.strips.new_effect(name=name, type=kind, channel=channel, frame_start=start, length=length,
                                        **inputs)
    except TypeError:
        return editor.strips.new_effect(name=name, type=kind, channel=channel, frame_start=start,
                                        frame_end=start + length, **inputs)


def _place(strip: Any, shot: ShotPlacement) -> None:
    strip.frame_start = shot.start - shot.trim_in
    strip.frame_offset_start = shot.trim_in
    strip.frame_offset_end = max(0, strip.frame_duration - shot.trim_in - shot.length)


def _shot_strips(editor: Any, timeline: Timeline, shot: ShotPlacement, frame_start: int | None = None,
                 offsets: tuple[int, int] | None = None) -> list[Any]:
    name = f"{shot.node_id}·{shot.take_id[:8]}"
    channel = SHOT_CHANNELS[shot.track]
    # made where it will sit, not at the first frame and moved: 200 strips piled on one frame cost Blender an
    # overlap check against every one before them
    at = shot.start - shot.trim_in if frame_start is None else round(frame_start)
    movie = editor.strips.new_movie(name=name, filepath=blend_path(shot.file), channel=channel, frame_start=at)
    strips = [movie]
    if shot.has_audio:
        strips.append(editor.strips.new_sound(name=f"{name} sound", filepath=blend_path(shot.file),
                                              channel=SHOT_SOUND_CHANNELS[shot.track], frame_start=at))
    for strip in strips:
        if frame_start is None or offsets is None:
            _place(strip, shot)
        else:  # a swap keeps the old strip's position and trims, including the user's own
            strip.frame_start = frame_start
            strip.frame_offset_start, strip.frame_offset_end = offsets
        _tag(strip, timeline.sequence_id, "shot" if strip is movie else "shot_sound", shot.node_id, shot.take_id,
             shot.index)
    apply_shot_trim(movie, shot.gain)
    return strips


def _remove_fades(editor: Any, sequence_id: str) -> None:
    """Crossfades are derived from their two shots; removed before shots change, made again after."""
    for strip in [s for s in _ours(editor, sequence_id) if s.get(ROLE) == "fade"]:
        editor.strips.remove(strip)


def _fades(editor: Any, timeline: Timeline) -> None:
    movies = {s.get(INDEX): s for s in _ours(editor, timeline.sequence_id) if s.get(ROLE) == "shot"}
    for shot in timeline.shots:
        before, after = movies.get(shot.index - 1), movies.get(shot.index)
        if shot.crossfade and before is not None and after is not None:
            start = after.frame_final_start
            fade = _effect(editor, f"crossfade·{shot.node_id}", "CROSS", FADE_CHANNEL, start, shot.crossfade,
                           input1=before, input2=after)
            _tag(fade, timeline.sequence_id, "fade", shot.node_id, index=shot.index)


def _sounds(editor: Any, timeline: Timeline) -> None:
    for index, sound in enumerate(timeline.sounds):
        channel = SOUND_CHANNELS[index % len(SOUND_CHANNELS)]
        strip = editor.strips.new_sound(name=f"{sound.node_id}·{sound.take_id[:8]}", filepath=blend_path(sound.file),
                                        channel=channel, frame_start=sound.start)
        strip.volume = sound.volume
        _tag(strip, timeline.sequence_id, "sound", sound.node_id, sound.take_id, index)


def _end_card(editor: Any, timeline: Timeline) -> None:
    card = timeline.end_card
    if card is None:
        return
    background = _effect(editor, "end card", "COLOR", CARD_CHANNELS["card_background"], card.start, card.length)
    background.color = card.card.background
    _tag(background, timeline.sequence_id, "card_background")
    if card.image is not None and card.image.is_file():
        logo = editor.strips.new_image(name="end card logo", filepath=blend_path(card.image),
                                       channel=CARD_CHANNELS["card_logo"], frame_start=card.start)
        logo.frame_final_duration = card.length
        logo.transform.scale_x = logo.transform.scale_y = 0.45
        logo.transform.offset_y = timeline.height * 0.12 if card.card.text else 0.0
        _tag(logo, timeline.sequence_id, "card_logo")
    if card.card.text:
        text = _effect(editor, "end card text", "TEXT", CARD_CHANNELS["card_text"], card.start, card.length)
        text.text = card.card.text
        text.font_size = max(24, timeline.height // 9)
        text.location = (0.5, 0.28 if card.image is not None else 0.5)
        text.anchor_x = "CENTER"
        text.anchor_y = "CENTER"
        text.color = (1.0, 1.0, 1.0, 1.0)
        _tag(text, timeline.sequence_id, "card_text")


def _grade(editor: Any, timeline: Timeline) -> None:
    strips = [s for s in _ours(editor, timeline.sequence_id) if s.get(ROLE) == "grade"]
    strip = strips[0] if strips else _tag(
        _effect(editor, "grade", "ADJUSTMENT", GRADE_CHANNEL, FIRST_FRAME, max(1, timeline.frames)),
        timeline.sequence_id, "grade")
    strip.frame_start = FIRST_FRAME
    strip.frame_final_duration = max(1, timeline.frames)
    apply_grade(strip, timeline.grade)


def _configure(scene: Any, timeline: Timeline) -> None:
    scene.render.fps, scene.render.fps_base = timeline.fps, 1.0
    scene.render.resolution_x, scene.render.resolution_y = timeline.width, timeline.height
    scene.render.resolution_percentage = 100
    scene.frame_start, scene.frame_end = FIRST_FRAME, max(FIRST_FRAME, timeline.end - 1)


def send_to_vse(scene: Any, timeline: Timeline) -> SendReport:
    """Build the cut in `scene`'s sequencer, or update the one sent before. Main thread only."""
    editor = scene.sequence_editor or scene.sequence_editor_create()
    report = SendReport()
    _configure(scene, timeline)  # the scene's frame rate first: new movie strips take their length from it
    layout_key = f"canvas_layout_{timeline.sequence_id}"
    layout = json.dumps([s.node_id for s in timeline.shots] + ["|"] + [s.node_id for s in timeline.sounds]
                        + ["|", bool(timeline.end_card)])
    with paused_prefetch(editor):
        _remove_fades(editor, timeline.sequence_id)
        if scene.get(layout_key) != layout:
            for strip in _ours(editor, timeline.sequence_id):
                editor.strips.remove(strip)
            for shot in timeline.shots:
                report.added += len(_shot_strips(editor, timeline, shot))
            _sounds(editor, timeline)
            _end_card(editor, timeline)
            report.rebuilt = True
            scene[layout_key] = layout
        else:
            _swap_changed(editor, timeline, report)
        _fades(editor, timeline)
        _grade(editor, timeline)
    return report


def _shot_index(editor: Any, sequence_id: str) -> dict[int, list[Any]]:
    """Our shot and shot-sound strips by shot index, from one pass over the strips (a swap then touches only its
    own shot's entries, so the index stays true for every other shot)."""
    index: dict[int, list[Any]] = {}
    for strip in _ours(editor, sequence_id):
        if strip.get(ROLE) in ("shot", "shot_sound"):
            index.setdefault(strip.get(INDEX), []).append(strip)
    return index


def _swap_changed(editor: Any, timeline: Timeline, report: SendReport) -> None:
    by_index = _shot_index(editor, timeline.sequence_id)
    for shot in timeline.shots:
        olds = by_index.get(shot.index, [])
        movie = next((s for s in olds if s.get(ROLE) == "shot"), None)
        if movie is not None and movie.get(TAKE) == shot.take_id:
            report.kept += len(olds)
            continue
        position = (movie.frame_start, (movie.frame_offset_start, movie.frame_offset_end)) if movie else (None, None)
        for old in olds:
            editor.strips.remove(old)
        _shot_strips(editor, timeline, shot, frame_start=position[0], offsets=position[1])
        report.swapped.append(shot.node_id)
    for sound in [s for s in _ours(editor, timeline.sequence_id) if s.get(ROLE) == "sound"]:
        placement = timeline.sounds[sound.get(INDEX)] if 0 <= sound.get(INDEX, -1) < len(timeline.sounds) else None
        if placement is not None and placement.take_id != sound.get(TAKE):
            start, channel = sound.frame_start, sound.channel
            editor.strips.remove(sound)
            new = editor.strips.new_sound(name=f"{placement.node_id}·{placement.take_id[:8]}",
                                          filepath=blend_path(placement.file), channel=channel, frame_start=start)
            new.volume = placement.volume
            _tag(new, timeline.sequence_id, "sound", placement.node_id, placement.take_id, sound.get(INDEX))
            report.swapped.append(placement.node_id)
