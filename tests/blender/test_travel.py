"""A cut that travels: a run's output folder copied elsewhere (the original deleted) and opened from a third folder
keeps every strip's media and the render output inside the copy, and the OTIO, FCP 7 XML and EDL read back with
OpenTimelineIO land on the film frame for frame."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import opentimelineio as otio
import pytest

from blender_canvas.engine.otio_export import resolve_target
from tests.blender.helpers import CANVASES, ROOT, run_blender_script

FPS = 24
# three shots, two crossfades of different parity, a talking shot with its own sound, a voice under the second
# shot, an end card with a logo from beside the canvas file
TRAVEL_CANVAS: dict[str, Any] = {
    "version": 1, "title": "travel", "defaults": {"aspect_ratio": "16:9", "seed": 5, "fps": FPS},
    "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a lighthouse at dusk"}},
        {"id": "wide", "kind": "video", "model": "kling-3", "duration_s": 4, "inputs": {"image": "still"},
         "prompt": {"camera": "slow pan right"}},
        {"id": "close", "kind": "video", "model": "veo-3.1", "duration_s": 4, "inputs": {"image": "still"},
         "prompt": {"camera": "push in"}},
        {"id": "line", "kind": "audio", "model": "elevenlabs", "text": "The light stays on."},
        {"id": "hook", "kind": "video", "model": "kling-avatar", "inputs": {"image": "still", "audio": "line"}},
        {"id": "cut", "kind": "sequence",
         "shots": [{"node": "wide", "trim_in_s": 0.5}, {"node": "close", "crossfade_frames": 12},
                   {"node": "hook", "crossfade_frames": 9}],
         "audio": [{"node": "line", "under": "close", "volume": 0.8}],
         "end_card": {"text": "LIGHT", "image": "brand/logo.png", "seconds": 1.5}},
    ],
}


def run_from(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300, check=False)


MEDIA_SCRIPT = """
import json, os, sys
import bpy
import blender_canvas
blender_canvas.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
strips = []
for s in scene.sequence_editor.strips_all:
    if s.type == "MOVIE":
        stored = s.filepath
    elif s.type == "SOUND":
        stored = s.sound.filepath
    elif s.type == "IMAGE":
        stored = s.directory + s.elements[0].filename
    else:
        stored = None
    strips.append({"name": s.name, "type": s.type, "role": s.get("canvas_role"), "node": s.get("canvas_node"),
                   "start": s.frame_final_start, "end": s.frame_final_end, "stored": stored,
                   "file": os.path.realpath(bpy.path.abspath(stored)) if stored else None})
print("RESULT " + json.dumps({"strips": strips, "render": scene.render.filepath,
                              "render_file": os.path.realpath(bpy.path.abspath(scene.render.filepath)),
                              "frames": [scene.frame_start, scene.frame_end], "cwd": os.getcwd()}))
"""


def moved_project(tmp_path: Path, absolute: bool) -> Path:
    """Run the canvas from one folder, copy the output elsewhere, delete the original (and the canvas folder)."""
    source = tmp_path / "source"
    (source / "brand").mkdir(parents=True)
    shutil.copy(CANVASES / "assets" / "logo.png", source / "brand" / "logo.png")
    (source / "travel.json").write_text(json.dumps(TRAVEL_CANVAS))
    out = (tmp_path / "renders" / "out") if absolute else Path("out")
    proc = run_from(source, "run", "travel.json", "--out", str(out), "--draft")
    assert proc.returncode == 0, proc.stderr[-3000:]
    written = out if absolute else source / out
    assert (written / "final.mp4").is_file()
    copy = tmp_path / "elsewhere" / "project copy"  # a space in the name: URLs must encode it
    shutil.copytree(written, copy)
    shutil.rmtree(written)
    shutil.rmtree(source)
    return copy


def open_from_third_folder(tmp_path: Path, blend: Path) -> dict[str, Any]:
    third = tmp_path / "third"
    third.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", MEDIA_SCRIPT, str(blend)], capture_output=True, text=True, env=env,
                          cwd=third, timeout=180, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    assert result["cwd"] == str(third)
    return result


@pytest.fixture(scope="module", params=["relative-out", "absolute-out"])
def travelled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    tmp_path = tmp_path_factory.mktemp(request.param)
    copy = moved_project(tmp_path, absolute=request.param == "absolute-out")
    return copy, open_from_third_folder(tmp_path, copy / "canvas.blend")


def inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def test_every_strip_and_the_render_output_are_found_inside_the_moved_copy(travelled: tuple[Path, Any]) -> None:
    copy, result = travelled
    media = [s for s in result["strips"] if s["stored"]]
    roles = sorted(s["role"] for s in media)
    assert roles == ["card_logo", "shot", "shot", "shot", "shot_sound", "sound"], roles
    for strip in media:
        assert strip["stored"].startswith("//"), strip  # relative to the .blend, not to a shell's folder
        assert Path(strip["file"]).is_file(), strip
        assert inside(Path(strip["file"]), copy), strip
    assert result["render"] == "//final.mp4"
    assert Path(result["render_file"]) == Path(os.path.realpath(copy / "final.mp4"))


def test_the_output_folder_holds_no_blend1_and_no_partial_files(travelled: tuple[Path, Any]) -> None:
    copy, _ = travelled
    names = sorted(p.name for p in copy.iterdir())
    assert "canvas.blend1" not in names and not [n for n in names if ".part" in n], names
    assert {"cut.otio", "cut.xml", "cut.edl", "final.mp4", "manifest.json"} <= set(names)


def test_the_manifest_names_its_project_and_takes_relative_to_itself(travelled: tuple[Path, Any]) -> None:
    copy, _ = travelled
    manifest = json.loads((copy / "manifest.json").read_text())
    assert manifest["project"] == "."
    for take in manifest["takes"]:
        assert not Path(take["file"]).is_absolute() and (copy / take["file"]).is_file(), take["file"]


def film_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def record_ranges(timeline: otio.schema.Timeline) -> list[tuple[str, str, int, int]]:
    """(track kind, clip name, first frame, end frame) of every clip, in VSE frames, its transition handles
    included: in the VSE a crossfade is two overlapping strips, in OTIO a transition borrowing from both."""
    ranges = []
    for track in timeline.tracks:
        for clip in track.find_clips():
            placed = clip.transformed_time_range(clip.trimmed_range(), timeline.tracks)
            head, tail = track.handles_of_child(clip)
            start = placed.start_time.to_frames() - (head.to_frames() if head else 0)
            end = placed.end_time_exclusive().to_frames() + (tail.to_frames() if tail else 0)
            ranges.append((track.kind, clip.name, 1 + start, 1 + end))  # the VSE's first frame is 1
    return ranges


def vse_ranges(result: dict[str, Any]) -> dict[tuple[str, str], tuple[int, int]]:
    kinds = {"shot": otio.schema.TrackKind.Video, "card_background": otio.schema.TrackKind.Video,
             "shot_sound": otio.schema.TrackKind.Audio, "sound": otio.schema.TrackKind.Audio}
    ranges = {}
    for strip in result["strips"]:
        if strip["role"] in kinds:
            node = "end card" if strip["role"] == "card_background" else strip["node"]
            ranges[(kinds[strip["role"]], node)] = (strip["start"], strip["end"])
    return ranges


@pytest.mark.parametrize("name, adapter", [("cut.otio", "otio_json"), ("cut.xml", "fcp_xml"),
                                           ("cut.edl", "cmx_3600")])
def test_interchange_reads_back_as_the_film(travelled: tuple[Path, Any], name: str, adapter: str) -> None:
    copy, result = travelled
    options = {"rate": FPS} if adapter == "cmx_3600" else {}
    timeline = otio.adapters.read_from_file(str(copy / name), adapter_name=adapter, **options)
    frames = film_frames(copy / "final.mp4")
    assert frames == result["frames"][1]  # the scene's range and the film agree
    assert abs(timeline.duration().to_frames() - frames) <= 1, (name, timeline.duration(), frames)
    expected = vse_ranges(result)
    seen = {}
    for kind, clip_name, start, end in record_ranges(timeline):
        node = clip_name if clip_name == "end card" else clip_name.split(" ")[0]
        seen[(kind, node)] = (start, end)
    if adapter == "cmx_3600":  # an EDL carries the picture and the first two sound tracks only
        assert [t.kind for t in timeline.tracks].count(otio.schema.TrackKind.Audio) == 2
    assert seen == expected, name
    clips = list(timeline.find_clips())
    assert len(clips) == len(expected)
    for clip in clips:
        urls = [clip.media_reference.target_url]
        # the EDL reader gives a dissolve's incoming clip the outgoing clip's FROM CLIP; its own is TO CLIP
        urls += [c.split(":", 1)[1].strip() for c in clip.metadata.get("cmx_3600", {}).get("comments", [])
                 if c.startswith("TO CLIP:")]
        for url in urls:
            assert not url.startswith(("/", "file:")), url  # relative: the folder moves as one
            assert inside(resolve_target(url, copy), copy) and resolve_target(url, copy).is_file(), url


def test_the_otio_transitions_are_the_vse_crossfades(travelled: tuple[Path, Any]) -> None:
    copy, result = travelled
    timeline = otio.adapters.read_from_file(str(copy / "cut.otio"))
    fades = sorted((s["start"], s["end"]) for s in result["strips"] if s["role"] == "fade")
    picture = timeline.tracks[0]
    transitions = [(1 + picture.range_of_child(t).start_time.to_frames(),
                    1 + picture.range_of_child(t).end_time_exclusive().to_frames())
                   for t in picture if isinstance(t, otio.schema.Transition)]
    assert fades == transitions and [b - a for a, b in fades] == [12, 9]


def test_the_edl_says_what_it_carries(travelled: tuple[Path, Any]) -> None:
    copy, _ = travelled
    text = (copy / "cut.edl").read_text()
    assert "* BLENDER CANVAS: picture (V), A = Shot sound, A2 = Sound line" in text


def test_a_frame_of_the_cut_shows_the_end_card(travelled: tuple[Path, Any]) -> None:
    """The end-card still the interchange files reference is the film's own last frames."""
    copy, _ = travelled
    import numpy as np
    from PIL import Image

    still = np.asarray(Image.open(copy / "media" / "end-card.png").convert("RGB"), dtype=float)
    with av.open(str(copy / "final.mp4")) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="rgb24").astype(float)
    assert still.shape == last.shape and np.abs(still - last).mean() < 6
    assert still.mean() < 60 and still.max() > 150  # a dark card with light lettering


def test_review_render_path_is_relative(tmp_path: Path) -> None:
    """A review scene's still output path is kept `//`-relative too (the helper all VSE writers share)."""
    script = """
import json, sys, os
import bpy
from blender_canvas.vse.build import blend_path
bpy.ops.wm.read_homefile(use_empty=True)
os.chdir(sys.argv[2])
bpy.ops.wm.save_as_mainfile(filepath=os.path.join(sys.argv[1], "x.blend"))
print("RESULT " + json.dumps([blend_path(os.path.join(sys.argv[1], "takes", "a.mp4")), blend_path("rel/b.png")]))
"""
    project, shell = tmp_path / "p", tmp_path / "shell"
    project.mkdir()
    shell.mkdir()
    stored = run_blender_script(script, str(project), str(shell))
    assert stored[0] == "//takes/a.mp4"
    assert stored[1] == "//../shell/rel/b.png"  # a shell-relative path made absolute first, then relative


def test_a_second_run_replaces_the_film_and_the_exports_whole(tmp_path: Path) -> None:
    """The film, the interchange files and the manifest are renamed over the old ones, never rewritten in place:
    a hard link to the old file (a player, a sync client, an editor holding it open) keeps the old file whole."""
    source = tmp_path / "source"
    (source / "brand").mkdir(parents=True)
    shutil.copy(CANVASES / "assets" / "logo.png", source / "brand" / "logo.png")
    (source / "travel.json").write_text(json.dumps(TRAVEL_CANVAS))
    first = run_from(source, "run", "travel.json", "--out", "out", "--draft")
    assert first.returncode == 0, first.stderr[-3000:]
    out = source / "out"
    names = ("final.mp4", "cut.otio", "cut.xml", "cut.edl", "manifest.json", "media/end-card.png")
    held = {}
    for name in names:
        held[name] = tmp_path / f"held-{Path(name).name}"
        os.link(out / name, held[name])
    before = {name: held[name].read_bytes() for name in names}
    second = run_from(source, "run", "travel.json", "--out", "out", "--draft")
    assert second.returncode == 0, second.stderr[-3000:]
    for name in names:
        assert (out / name).stat().st_ino != held[name].stat().st_ino, f"{name} was rewritten in place"
        assert held[name].read_bytes() == before[name], f"the old {name} changed under its reader"
    assert film_frames(out / "final.mp4") == film_frames(held["final.mp4"])
    assert not [p for p in out.rglob("*") if ".part" in p.name]
