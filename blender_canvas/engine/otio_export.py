"""The cut as an OpenTimelineIO timeline, so an editor can conform it in Resolve or Premiere from the take files."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio

from .timeline import FIRST_FRAME, Timeline


def _range(start: int, duration: int, fps: int) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(start_time=otio.opentime.RationalTime(start, fps),
                                   duration=otio.opentime.RationalTime(duration, fps))


def to_otio(timeline: Timeline, name: str) -> otio.schema.Timeline:
    """A video track (shots, crossfades as transitions, the end card as a gap) and a track per sound."""
    fps = timeline.fps
    result = otio.schema.Timeline(name=name, global_start_time=otio.opentime.RationalTime(FIRST_FRAME, fps))
    video = otio.schema.Track(name="Shots", kind=otio.schema.TrackKind.Video)
    for shot in timeline.shots:
        if shot.crossfade:
            half = shot.crossfade // 2
            video.append(otio.schema.Transition(
                name=f"crossfade into {shot.node_id}", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=otio.opentime.RationalTime(half, fps),
                out_offset=otio.opentime.RationalTime(shot.crossfade - half, fps)))
        # with a transition, each clip keeps its full trimmed range; the overlap is the transition's offsets
        clip = otio.schema.Clip(
            name=f"{shot.node_id} {shot.take_id}",
            media_reference=otio.schema.ExternalReference(
                target_url=shot.file.resolve().as_uri(),
                available_range=_range(0, shot.source_frames, fps)),
            source_range=_range(shot.trim_in, shot.length, fps))
        clip.metadata["blender_canvas"] = {"node": shot.node_id, "take_id": shot.take_id}
        video.append(clip)
    if timeline.end_card is not None:
        video.append(otio.schema.Gap(name="end card", source_range=_range(0, timeline.end_card.length, fps)))
    result.tracks.append(video)
    # one track per sound, each led by a gap to its start, so overlapping voice and music stay where they were put
    for placement in timeline.sounds:
        sound = otio.schema.Track(name=f"Sound {placement.node_id}", kind=otio.schema.TrackKind.Audio)
        if placement.start > FIRST_FRAME:
            sound.append(otio.schema.Gap(source_range=_range(0, placement.start - FIRST_FRAME, fps)))
        clip = otio.schema.Clip(
            name=f"{placement.node_id} {placement.take_id}",
            media_reference=otio.schema.ExternalReference(target_url=placement.file.resolve().as_uri(),
                                                          available_range=_range(0, placement.length, fps)),
            source_range=_range(0, placement.length, fps))
        clip.metadata["blender_canvas"] = {"node": placement.node_id, "take_id": placement.take_id,
                                           "volume": placement.volume}
        sound.append(clip)
        result.tracks.append(sound)
    return result


def write_otio(timeline: Timeline, path: Path, name: str) -> Path:
    otio.adapters.write_to_file(to_otio(timeline, name), str(path))
    return path
