"""The cut as an OpenTimelineIO timeline, built from the same `Timeline` the VSE gets, so an editor can conform it in
Resolve or Premiere from the take files and land on the film frame for frame.

How the VSE's overlaps become OTIO: the VSE lays shots on an A/B pair of channels, the shot fading in starting
``crossfade`` frames before the previous one ends. OTIO keeps clips back to back on one track and expresses the
overlap with a transition between them: the cut point sits ``in_offset`` frames into the crossfade, the outgoing
clip's media runs ``out_offset`` frames past the cut (its tail handle) and the incoming clip's ``in_offset`` frames
before it (its head handle). So each clip's range in the track *plus its handles* is exactly its VSE strip, and
the track lasts as long as the film.

Media references are relative URLs (``takes/wide/1234.mp4``), relative to the folder of the file that holds them,
so the project folder can move as one; `resolve_target` turns one back into a path.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import opentimelineio as otio

from .files import atomic_write_text
from .timeline import FIRST_FRAME, Timeline

CARD_NAME = "end card"


def _range(start: int, duration: int, fps: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(start_time=otio.opentime.RationalTime(start, fps),
                                   duration=otio.opentime.RationalTime(duration, fps))


def relative_url(file: Path, base: Path) -> str:
    """`file` as a URL relative to the folder `base` (percent-encoded, forward slashes)."""
    import os

    try:
        relative = os.path.relpath(os.path.abspath(file), os.path.abspath(base))
    except ValueError:  # another drive on Windows: nothing relative exists
        return Path(os.path.abspath(file)).as_uri()
    return quote(Path(relative).as_posix())


def resolve_target(url: str, base: Path) -> Path:
    """The file a target URL names: a relative URL against `base`, a file:// URL or a bare path as it is."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"not a file reference: {url}")
    path = Path(unquote(url))
    return path if path.is_absolute() else base / path


def transition_offsets(crossfade: int) -> tuple[int, int]:
    """(in_offset, out_offset) of a crossfade of `crossfade` frames: the cut point in its middle."""
    half = crossfade // 2
    return half, crossfade - half


def _media(file: Path, base: Path, frames: int, fps: int) -> otio.schema.ExternalReference:
    return otio.schema.ExternalReference(target_url=relative_url(file, base), available_range=_range(0, frames, fps))


def _shot_items(timeline: Timeline, base: Path, sound: bool) -> list[otio.core.Composable]:
    """The shots of the picture track (or of the shots' own sound): clips, transitions where two clips cross-fade,
    and gaps where the sound track has no shot sound. Each clip's range plus its handles is its VSE strip."""
    fps, items, cursor = timeline.fps, [], FIRST_FRAME
    shots = timeline.shots

    def present(index: int) -> bool:
        return 0 <= index < len(shots) and (shots[index].has_audio or not sound)

    for shot in shots:
        if not present(shot.index):
            continue
        fades_in = bool(shot.crossfade) and present(shot.index - 1)
        following = shots[shot.index + 1] if shot.index + 1 < len(shots) else None
        fades_out = following is not None and bool(following.crossfade) and present(following.index)
        head = transition_offsets(shot.crossfade)[0] if fades_in else 0
        tail = transition_offsets(following.crossfade)[1] if fades_out and following is not None else 0
        start, end = shot.start + head, shot.end - tail  # record frames of the clip itself, handles outside
        if start > cursor:
            items.append(otio.schema.Gap(source_range=_range(0, start - cursor, fps)))
        if fades_in:
            in_offset, out_offset = transition_offsets(shot.crossfade)
            items.append(otio.schema.Transition(
                name=f"crossfade into {shot.node_id}", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=otio.opentime.RationalTime(in_offset, fps),
                out_offset=otio.opentime.RationalTime(out_offset, fps)))
        clip = otio.schema.Clip(name=f"{shot.node_id} {shot.take_id}",
                                media_reference=_media(shot.file, base, shot.source_frames, fps),
                                source_range=_range(shot.trim_in + head, end - start, fps))
        clip.metadata["blender_canvas"] = {"node": shot.node_id, "take_id": shot.take_id, "index": shot.index,
                                           "record_start": shot.start, "record_frames": shot.length}
        clip.metadata["cmx_3600"] = _reel(shot.take_id)
        items.append(clip)
        cursor = end
    return items


def _card_clip(timeline: Timeline, base: Path, still: Path | None) -> otio.schema.Clip | None:
    card = timeline.end_card
    if card is None:
        return None
    fps = timeline.fps
    reference: otio.core.MediaReference
    if still is not None:  # the card as the film shows it, rendered to one still
        reference = _media(still, base, card.length, fps)
    else:  # no still rendered (the sequencer does not hold the card): described, for the editor to rebuild
        reference = otio.schema.MissingReference(name=CARD_NAME, available_range=_range(0, card.length, fps))
    clip = otio.schema.Clip(name=CARD_NAME, media_reference=reference, source_range=_range(0, card.length, fps))
    clip.metadata["blender_canvas"] = {"role": "end_card", "text": card.card.text, "record_start": card.start,
                                       "record_frames": card.length, "background": list(card.card.background)}
    clip.metadata["cmx_3600"] = {"reel": "ENDCARD"}
    return clip


def _reel(take_id: str) -> dict[str, str]:
    """The EDL reel of a take: its id's first 8 letters and digits (a file name with spaces or dots would make
    a reel no EDL reader splits right)."""
    return {"reel": re.sub(r"[^A-Za-z0-9]", "", take_id)[:8] or "AX"}


def to_otio(timeline: Timeline, name: str, base: Path, card_still: Path | None = None) -> otio.schema.Timeline:
    """The picture track (shots, crossfades as overlapping transitions, the end card), then the shots' own sound,
    then one track per voice or music placement. Media URLs are relative to the folder `base`."""
    fps = timeline.fps
    result = otio.schema.Timeline(name=name, global_start_time=otio.opentime.RationalTime(FIRST_FRAME, fps))
    result.metadata["blender_canvas"] = {"sequence": timeline.sequence_id, "frames": timeline.frames, "fps": fps,
                                         "width": timeline.width, "height": timeline.height}
    video = otio.schema.Track(name="Shots", kind=otio.schema.TrackKind.Video)
    video.extend(_shot_items(timeline, base, sound=False))
    card = _card_clip(timeline, base, card_still)
    if card is not None:
        video.append(card)
    result.tracks.append(video)
    if any(shot.has_audio for shot in timeline.shots):
        shot_sound = otio.schema.Track(name="Shot sound", kind=otio.schema.TrackKind.Audio)
        shot_sound.extend(_shot_items(timeline, base, sound=True))
        result.tracks.append(shot_sound)
    # one track per sound, each led by a gap to its start, so overlapping voice and music stay where they were put
    for placement in timeline.sounds:
        sound = otio.schema.Track(name=f"Sound {placement.node_id}", kind=otio.schema.TrackKind.Audio)
        if placement.start > FIRST_FRAME:
            sound.append(otio.schema.Gap(source_range=_range(0, placement.start - FIRST_FRAME, fps)))
        clip = otio.schema.Clip(name=f"{placement.node_id} {placement.take_id}",
                                media_reference=_media(placement.file, base, placement.length, fps),
                                source_range=_range(0, placement.length, fps))
        clip.metadata["blender_canvas"] = {"node": placement.node_id, "take_id": placement.take_id,
                                           "volume": placement.volume, "record_start": placement.start,
                                           "record_frames": placement.length}
        clip.metadata["cmx_3600"] = _reel(placement.take_id)
        sound.append(clip)
        result.tracks.append(sound)
    return result


def write_otio(timeline: Timeline, path: Path, name: str, card_still: Path | None = None) -> Path:
    """`cut.otio` only (the Export Timeline operator's default); see `interchange.write_exports` for all three."""
    document = to_otio(timeline, name, path.parent, card_still)
    atomic_write_text(path, otio.adapters.write_to_string(document, "otio_json"))
    return path
