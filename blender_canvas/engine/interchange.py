"""The cut for other editors: OTIO, FCP 7 XML (Premiere, Resolve) and a CMX 3600 EDL, each written through
OpenTimelineIO's own adapters from one `to_otio` timeline, each replaced atomically."""

from __future__ import annotations

import re
from pathlib import Path

import opentimelineio as otio
from pydantic import BaseModel

from .files import atomic_write_text
from .otio_export import to_otio
from .timeline import Timeline

EDL_AUDIO_TRACKS = 2  # CMX 3600 has room for two audio channels next to the picture
_EVENT = re.compile(r"^(?P<number>\d{3})(?P<reel>\s+\S+\s+)A\s+")  # a sound event line, as the writer makes it


class Exports(BaseModel):
    otio: Path
    fcp_xml: Path
    edl: Path
    edl_note: str


def edl_text(timeline: otio.schema.Timeline, style: str = "avid") -> tuple[str, str]:
    """A CMX 3600 EDL of the picture and the first two sound tracks, through the OTIO adapter's own writer, and a
    sentence saying what it carries (the adapter writes one track per call; the sound events are renumbered to
    follow the picture's and put on A and A2, as a two-channel EDL lists them)."""
    from otio_cmx3600_adapter.cmx_3600 import EDLWriter

    video = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Video]
    audio = [t for t in timeline.tracks if t.kind == otio.schema.TrackKind.Audio]
    carried, left = audio[:EDL_AUDIO_TRACKS], audio[EDL_AUDIO_TRACKS:]
    picture = otio.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    for track in (*video, *carried):
        picture.tracks.append(track.deepcopy())
    rate = timeline.duration().rate
    note = ("picture (V)" + "".join(f", {channel} = {track.name}" for channel, track in
                                    zip(("A", "A2"), carried, strict=False))
            + (f"; not carried (an EDL has two sound channels): {', '.join(t.name for t in left)}" if left else ""))
    text = otio.adapters.write_to_string(picture, "cmx_3600", style=style).rstrip("\n").splitlines()
    events = len({line[:3] for line in text if line[:3].isdigit()})
    # the note rides on the first event (readers keep an event's comments; a comment in the header is an error)
    first = next((i for i, line in enumerate(text) if line[:3].isdigit()), len(text))
    lines = [*text[:1], "FCM: NON-DROP FRAME", *text[1:first + 1], f"* BLENDER CANVAS: {note}", *text[first + 1:]]
    writer = EDLWriter(tracks=picture.tracks, rate=rate, style=style)
    for index, channel in zip(range(len(video), len(picture.tracks)), ("A", "A2"), strict=False):
        body = writer.get_content_for_track_at_index(index, title=None).rstrip("\n")
        renumbered: dict[str, str] = {}
        for line in body.splitlines():
            event = _EVENT.match(line)
            if event is not None:
                number = renumbered.setdefault(event["number"], f"{events + len(renumbered) + 1:03d}")
                line = f"{number}{event['reel']}{channel:<6}{line[event.end():]}"
            lines.append(line)
        events += len(renumbered)
    return "\n".join(lines) + "\n", note


def write_exports(timeline: Timeline, folder: Path, stem: str, name: str, card_still: Path | None = None) -> Exports:
    """`<stem>.otio`, `<stem>.xml` (FCP 7) and `<stem>.edl` in `folder`, media referenced relative to it."""
    document = to_otio(timeline, name, folder, card_still)
    otio_path = atomic_write_text(folder / f"{stem}.otio", otio.adapters.write_to_string(document, "otio_json"))
    xml_path = atomic_write_text(folder / f"{stem}.xml", otio.adapters.write_to_string(document, "fcp_xml"))
    edl, note = edl_text(document)
    edl_path = atomic_write_text(folder / f"{stem}.edl", edl)
    return Exports(otio=otio_path, fcp_xml=xml_path, edl=edl_path, edl_note=note)
