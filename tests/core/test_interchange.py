"""The cut for other editors, without Blender: a Timeline laid out as the VSE lays it, written as OTIO, FCP 7 XML
and CMX 3600 through OpenTimelineIO's adapters, read back, and compared frame by frame."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import opentimelineio as otio
import pytest

from blender_canvas.engine.document import EndCard
from blender_canvas.engine.files import atomic_write_text
from blender_canvas.engine.interchange import edl_text, write_exports
from blender_canvas.engine.otio_export import relative_url, resolve_target, to_otio
from blender_canvas.engine.timeline import FIRST_FRAME, CardPlacement, ShotPlacement, SoundPlacement, Timeline

FPS = 24


def layout(tmp_path: Path, lengths: list[int], fades: list[int], audio: list[bool], sounds: int = 1) -> Timeline:
    """Shots placed as `build_timeline` places them: each crossfade starts that many frames before the last end."""
    shots, cursor = [], FIRST_FRAME
    for index, (length, fade, has_audio) in enumerate(zip(lengths, fades, audio, strict=True)):
        start = cursor - fade
        shots.append(ShotPlacement(index=index, node_id=f"s{index}", take_id=f"t{index}" * 4,
                                   file=tmp_path / "takes" / f"s{index}" / f"take {index}.mp4", has_audio=has_audio,
                                   track=index % 2, source_frames=length + 10, trim_in=5, trim_out=5, start=start,
                                   length=length, crossfade=fade))
        cursor = start + length
    placed = [SoundPlacement(node_id=f"v{i}", take_id=f"v{i}" * 4, file=tmp_path / "takes" / f"v{i}.wav",
                             start=shots[min(i, len(shots) - 1)].start, length=30 + i, volume=1.0)
              for i in range(sounds)]
    card = CardPlacement(start=cursor, length=36, card=EndCard(text="END"))
    return Timeline(sequence_id="cut", fps=FPS, width=640, height=360, shots=shots, sounds=placed, end_card=card)


def strip_ranges(timeline: Timeline) -> dict[tuple[str, str], tuple[int, int]]:
    expected = {("Video", s.node_id): (s.start, s.end) for s in timeline.shots}
    expected |= {("Audio", s.node_id): (s.start, s.end) for s in timeline.shots if s.has_audio}
    expected |= {("Audio", s.node_id): (s.start, s.start + s.length) for s in timeline.sounds}
    assert timeline.end_card is not None
    expected[("Video", "end card")] = (timeline.end_card.start, timeline.end_card.start + timeline.end_card.length)
    return expected


def read_ranges(document: otio.schema.Timeline) -> dict[tuple[str, str], tuple[int, int]]:
    ranges = {}
    for track in document.tracks:
        for clip in track.find_clips():
            placed = clip.transformed_time_range(clip.trimmed_range(), document.tracks)
            head, tail = track.handles_of_child(clip)
            start = placed.start_time.to_frames() - (head.to_frames() if head else 0)
            end = placed.end_time_exclusive().to_frames() + (tail.to_frames() if tail else 0)
            name = clip.name if clip.name == "end card" else clip.name.split(" ")[0]
            ranges[(track.kind, name)] = (FIRST_FRAME + start, FIRST_FRAME + end)
    return ranges


@pytest.mark.parametrize("fades, audio", [([0, 12, 9], [False, True, True]), ([0, 0, 0], [True, False, True]),
                                          ([0, 1, 24], [True, True, False]), ([0, 13, 0], [False, False, False])])
@pytest.mark.parametrize("adapter, suffix", [("otio_json", "otio"), ("fcp_xml", "xml"), ("cmx_3600", "edl")])
def test_every_format_reads_back_as_long_as_the_film_with_every_strip_in_place(
        tmp_path: Path, fades: list[int], audio: list[bool], adapter: str, suffix: str) -> None:
    timeline = layout(tmp_path, [60, 50, 40], fades, audio)
    write_exports(timeline, tmp_path, "cut", "cut")
    options = {"rate": FPS} if adapter == "cmx_3600" else {}
    document = otio.adapters.read_from_file(str(tmp_path / f"cut.{suffix}"), adapter_name=adapter, **options)
    assert document.duration().to_frames() == timeline.frames == 60 + 50 + 40 - sum(fades) + 36
    expected = strip_ranges(timeline)
    if adapter == "cmx_3600":  # the picture and the first two sound tracks
        written = to_otio(timeline, "cut", tmp_path)  # held: a temporary OTIO timeline drops its tracks
        audio_tracks = [t.name for t in written.tracks if t.kind == otio.schema.TrackKind.Audio][:2]
        carried = {"Shot sound": {s.node_id for s in timeline.shots if s.has_audio}, "Sound v0": {"v0"}}
        keep = set().union(*(carried[name] for name in audio_tracks))
        expected = {k: v for k, v in expected.items() if k[0] == "Video" or k[1] in keep}
    assert read_ranges(document) == expected


def test_the_otio_cuts_each_crossfade_in_its_middle_with_handles_from_both_takes(tmp_path: Path) -> None:
    timeline = layout(tmp_path, [60, 50], [0, 9], [False, False], sounds=0)
    picture = to_otio(timeline, "cut", tmp_path).tracks[0]
    first, fade, second, card = list(picture)
    assert isinstance(fade, otio.schema.Transition) and (fade.in_offset.value, fade.out_offset.value) == (4, 5)
    assert first.source_range.start_time.value == 5 and first.source_range.duration.value == 60 - 5
    assert second.source_range.start_time.value == 5 + 4 and second.source_range.duration.value == 50 - 4
    assert card.name == "end card" and isinstance(card.media_reference, otio.schema.MissingReference)
    assert picture.duration().value == 60 + 50 - 9 + 36  # the old export said 60 + 50 + 36


def test_media_references_are_relative_urls_that_resolve_from_the_files_folder(tmp_path: Path) -> None:
    timeline = layout(tmp_path, [30, 30], [0, 6], [True, True])
    document = to_otio(timeline, "cut", tmp_path)
    urls = [c.media_reference.target_url for c in document.find_clips() if c.name != "end card"]
    assert "takes/s0/take%200.mp4" in urls and all(not u.startswith(("/", "file:")) for u in urls)
    assert {resolve_target(u, tmp_path) for u in urls} >= {s.file for s in timeline.shots}
    assert relative_url(tmp_path / "a b.png", tmp_path / "sub") == "../a%20b.png"
    assert resolve_target("file:///x/a%20b.png", tmp_path) == Path("/x/a b.png")
    with pytest.raises(ValueError):
        resolve_target("https://example.com/a.mp4", tmp_path)


def test_an_edl_says_which_sound_tracks_it_carries_and_which_it_leaves_out(tmp_path: Path) -> None:
    timeline = layout(tmp_path, [40, 40], [0, 8], [True, True], sounds=2)
    text, note = edl_text(to_otio(timeline, "cut", tmp_path))
    assert note == ("picture (V), A = Shot sound, A2 = Sound v0; not carried (an EDL has two sound channels): "
                    "Sound v1")
    assert f"* BLENDER CANVAS: {note}" in text
    document = otio.adapters.read_from_string(text, "cmx_3600", rate=FPS)
    assert [t.name for t in document.tracks] == ["V", "A1", "A2"]
    numbers = [line[:3] for line in text.splitlines() if line[:3].isdigit()]
    assert numbers == sorted(numbers)  # events numbered on from the picture's


def test_atomic_writes_honour_the_umask_and_leave_nothing_behind(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "deep" / "cut.otio", "one")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # readable by a colleague, like every other file
        os.umask(0o027)
        atomic_write_text(path, "two")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    assert path.read_text() == "two" and os.listdir(path.parent) == ["cut.otio"]
