"""The finishing room on real bpy: strips from a headless run, swapping a take in place, the render, the grade, OTIO."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import numpy as np
import opentimelineio as otio
import pytest

from tests.blender.helpers import CANVASES, run_blender_script
from tests.blender.test_headless_run import cli

CUT_CANVAS = {
    "version": 1, "title": "cut", "defaults": {"aspect_ratio": "16:9", "seed": 3, "fps": 24},
    "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a harbour at dusk"}},
        {"id": "wide", "kind": "video", "model": "kling-3", "takes": 2, "duration_s": 4,
         "inputs": {"image": "still"}, "prompt": {"camera": "slow pan right"}},
        {"id": "close", "kind": "video", "model": "veo-3.1", "duration_s": 4,
         "inputs": {"image": "still"}, "prompt": {"camera": "push in"}},
        {"id": "line", "kind": "audio", "model": "elevenlabs", "text": "Every city has a skyline."},
        {"id": "cut", "kind": "sequence",
         "shots": [{"node": "wide", "trim_in_s": 0.5, "trim_out_s": 0.25},
                   {"node": "close", "crossfade_frames": 12, "gain": [1.1, 1.0, 1.0]}],
         "audio": [{"node": "line", "under": "close", "volume": 0.9}],
         "grade": {"gain": [1.3, 1.0, 0.9], "saturation": 1.1, "contrast": 1.05},
         "end_card": {"text": "HARBOUR", "image": "logo.png", "seconds": 1.5}},
    ],
}
FPS = 24
WIDE, CLOSE, CARD = 4 * FPS - 12 - 6, 4 * FPS, round(1.5 * FPS)  # trimmed wide, close, end card (frames)
EXPECTED_FRAMES = WIDE + CLOSE - 12 + CARD


@pytest.fixture(scope="module")
def cut_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cut")
    (folder / "logo.png").write_bytes((CANVASES / "assets" / "logo.png").read_bytes())
    (folder / "cut.json").write_text(json.dumps(CUT_CANVAS))
    proc = cli("run", str(folder / "cut.json"), "--out", str(folder / "out"), "--draft")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "out"


STRIPS_SCRIPT = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = bpy.context.scene
strips = []
for s in scene.sequence_editor.strips_all:
    if "canvas_role" not in s:
        continue
    strips.append({"name": s.name, "role": s["canvas_role"], "node": s["canvas_node"], "take": s["canvas_take_id"],
                   "channel": s.channel, "start": s.frame_final_start, "end": s.frame_final_end,
                   "offsets": [s.frame_offset_start, s.frame_offset_end] if hasattr(s, "frame_offset_start") else None,
                   "file": getattr(s, "filepath", None) or (s.sound.filepath if getattr(s, "sound", None) else None),
                   "modifiers": [m.type for m in s.modifiers]})
print("RESULT " + json.dumps({"strips": strips, "frame_end": scene.frame_end, "fps": scene.render.fps,
                              "size": [scene.render.resolution_x, scene.render.resolution_y]}))
"""


def strips_of(blend: Path) -> dict[str, Any]:
    return run_blender_script(STRIPS_SCRIPT, str(blend))


def by_role(result: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return sorted((s for s in result["strips"] if s["role"] == role), key=lambda s: s["start"])


def test_reopened_blend_has_the_cut_laid_out(cut_run: Path) -> None:
    result = strips_of(cut_run / "canvas.blend")
    manifest = {t["id"]: t for t in json.loads((cut_run / "manifest.json").read_text())["takes"]}
    shots = by_role(result, "shot")
    assert [s["node"] for s in shots] == ["wide", "close"]
    assert [s["channel"] for s in shots] == [1, 2]
    assert (shots[0]["start"], shots[0]["end"]) == (1, 1 + WIDE)
    assert (shots[1]["start"], shots[1]["end"]) == (1 + WIDE - 12, 1 + WIDE - 12 + CLOSE)
    assert shots[0]["offsets"] == [12, 6]  # 0.5 s in, 0.25 s out
    assert all(s["take"] in manifest and manifest[s["take"]]["node"] == s["node"] for s in shots)
    assert shots[1]["modifiers"] == ["COLOR_BALANCE"]  # the per-shot trim
    fades = by_role(result, "fade")
    assert [(f["start"], f["end"], f["channel"]) for f in fades] == [(1 + WIDE - 12, 1 + WIDE, 3)]
    sounds = by_role(result, "sound")
    assert [(s["node"], s["start"], s["channel"]) for s in sounds] == [("line", 1 + WIDE - 12, 6)]
    grade = by_role(result, "grade")
    assert len(grade) == 1 and (grade[0]["start"], grade[0]["end"]) == (1, 1 + EXPECTED_FRAMES)
    assert grade[0]["channel"] == max(s["channel"] for s in result["strips"])  # on top
    assert {"COLOR_BALANCE", "BRIGHT_CONTRAST"} <= set(grade[0]["modifiers"])
    card_start = 1 + WIDE - 12 + CLOSE
    for role in ("card_background", "card_logo", "card_text"):
        (card,) = by_role(result, role)
        assert (card["start"], card["end"]) == (card_start, card_start + CARD), role
    assert result["frame_end"] == EXPECTED_FRAMES and result["fps"] == FPS and result["size"] == [640, 360]


def test_final_mp4_decodes_at_the_expected_size_rate_and_length_with_sound(cut_run: Path) -> None:
    with av.open(str(cut_run / "final.mp4")) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert video.average_rate == FPS and video.codec_context.name == "h264"
        assert container.streams.audio, "no audio stream"
        frames = sum(1 for _ in container.decode(video))
    assert abs(frames - EXPECTED_FRAMES) <= 1


def test_otio_reads_back_the_same_cut(cut_run: Path) -> None:
    timeline = otio.adapters.read_from_file(str(cut_run / "cut.otio"))
    manifest = {t["node"]: t for t in json.loads((cut_run / "manifest.json").read_text())["takes"]
                if t["node"] in ("close",)}
    *shots, card = list(timeline.tracks[0].find_clips())
    assert [c.metadata["blender_canvas"]["node"] for c in shots] == ["wide", "close"]
    # the 12-frame crossfade cuts in its middle: each side gives up 6 frames to the transition's handles
    assert shots[0].source_range.start_time.value == 12 and shots[0].source_range.duration.value == WIDE - 6
    assert shots[1].source_range.start_time.value == 6 and shots[1].source_range.duration.value == CLOSE - 6
    assert shots[1].media_reference.target_url == manifest["close"]["file"]  # relative to cut.otio's folder
    transitions = [t for t in timeline.tracks[0] if isinstance(t, otio.schema.Transition)]
    assert [(t.in_offset.value, t.out_offset.value) for t in transitions] == [(6, 6)]
    assert card.name == "end card" and card.source_range.duration.value == CARD
    assert timeline.tracks[0].duration().value == EXPECTED_FRAMES  # the film's length, not 12 frames more
    (voice,) = timeline.tracks[1].find_clips()
    assert voice.metadata["blender_canvas"]["node"] == "line"


SWAP_SCRIPT = """
import json, sys
from pathlib import Path
import bpy
import blender_canvas
blender_canvas.register()
from blender_canvas.engine.session import Session
from blender_canvas.engine.validation import load_canvas
from blender_canvas.engine.timeline import build_timeline
from blender_canvas.providers.catalog import load_catalog
from blender_canvas.vse.build import send_to_vse, sequencer_scene
out = Path(sys.argv[1]); canvas_file = Path(sys.argv[2])
bpy.ops.wm.open_mainfile(filepath=str(out / "canvas.blend"))
canvas = load_canvas(json.loads(canvas_file.read_text()), load_catalog(), canvas_file.parent).canvas
session = Session(out)
scene = sequencer_scene()
editor = scene.sequence_editor
other = [s for s in editor.strips_all if s.get("canvas_node") == "close" and s.get("canvas_role") == "shot"][0]
other.frame_offset_end = 10  # the user's own edit to another strip
wide = [t for t in session.ledger.takes("wide")]
chosen = session.ledger.chosen("wide")
another = next(t for t in wide if t.take_id != chosen.take_id)
session.ledger.choose("wide", another.take_id)
sequence = canvas.node("cut")
report = send_to_vse(scene, build_timeline(canvas, sequence, session.ledger, canvas_file.parent))
strips = [{"role": s["canvas_role"], "node": s["canvas_node"], "take": s["canvas_take_id"],
           "start": s.frame_final_start, "end": s.frame_final_end, "channel": s.channel,
           "file": getattr(s, "filepath", None), "offsets": [s.frame_offset_start, s.frame_offset_end]}
          for s in editor.strips_all if "canvas_role" in s]
print("RESULT " + json.dumps({"strips": strips, "swapped": report.swapped, "rebuilt": report.rebuilt,
                              "old_take": chosen.take_id, "new_take": another.take_id}))
"""


def test_picking_another_take_swaps_its_strip_in_place(cut_run: Path, tmp_path: Path) -> None:
    before = strips_of(cut_run / "canvas.blend")
    canvas_file = cut_run.parent / "cut.json"
    after = run_blender_script(SWAP_SCRIPT, str(cut_run), str(canvas_file))
    assert after["rebuilt"] is False and after["swapped"] == ["wide"]
    assert len(after["strips"]) == len(before["strips"])
    old = next(s for s in by_role(before, "shot") if s["node"] == "wide")
    new = next(s for s in by_role(after, "shot") if s["node"] == "wide")
    assert (new["start"], new["end"], new["channel"], new["offsets"]) == (old["start"], old["end"], old["channel"],
                                                                          old["offsets"])
    assert new["take"] == after["new_take"] != old["take"]
    assert new["file"] != old["file"] and after["new_take"] in new["file"]
    close = next(s for s in by_role(after, "shot") if s["node"] == "close")
    assert close["offsets"][1] == 10  # the user's edit to the other strip survived
    assert len(by_role(after, "fade")) == 1


GRADE_SCRIPT = """
import json, sys
from pathlib import Path
import bpy
import blender_canvas
blender_canvas.register()
from blender_canvas.vse.build import sequencer_scene
from blender_canvas.vse.render import render_cut
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
scene = sequencer_scene()
scene.frame_start = scene.frame_end = int(sys.argv[3])
grade = [s for s in scene.sequence_editor.strips_all if s.get("canvas_role") == "grade"][0]
grade.mute = sys.argv[4] == "off"
render_cut(scene, Path(sys.argv[2]))
print("RESULT {}")
"""


def frame_mean(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0)


def test_the_grade_moves_the_picture_the_way_the_gain_says(cut_run: Path, tmp_path: Path) -> None:
    frame = 30  # inside the first shot
    graded, ungraded = tmp_path / "graded.mp4", tmp_path / "ungraded.mp4"
    run_blender_script(GRADE_SCRIPT, str(cut_run / "canvas.blend"), str(graded), str(frame), "on")
    run_blender_script(GRADE_SCRIPT, str(cut_run / "canvas.blend"), str(ungraded), str(frame), "off")
    on, off = frame_mean(graded), frame_mean(ungraded)
    assert on[0] > off[0] + 3, (on, off)  # red gain 1.3: redder
    assert on[2] < off[2] + 1, (on, off)  # blue gain 0.9: not bluer


EXPORT_SCRIPT = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
result = bpy.ops.canvas.export_timeline(tree_name="canvas", filepath="//exported/edit.otio")
print("RESULT " + json.dumps({"result": sorted(result)}))
"""


def test_export_timeline_writes_all_three_beside_each_other_relative_to_their_folder(cut_run: Path) -> None:
    from blender_canvas.engine.otio_export import resolve_target

    assert run_blender_script(EXPORT_SCRIPT, str(cut_run / "canvas.blend"))["result"] == ["FINISHED"]
    folder = cut_run / "exported"
    assert (folder / "media" / "edit-end-card.png").is_file()  # the card was in place: its still is the film's
    for name, adapter in (("edit.otio", "otio_json"), ("edit.xml", "fcp_xml"), ("edit.edl", "cmx_3600")):
        timeline = otio.adapters.read_from_file(str(folder / name), adapter_name=adapter,
                                                **({"rate": FPS} if adapter == "cmx_3600" else {}))
        assert timeline.duration().to_frames() == EXPECTED_FRAMES, name
        for clip in timeline.find_clips():
            url = clip.media_reference.target_url
            assert url.startswith(("../takes/", "media/")), url  # relative to the exported file's own folder
            assert resolve_target(url, folder).is_file(), url


RENDER_CUT_SCRIPT = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
result = bpy.ops.canvas.render_cut(tree_name="canvas", filepath="//again.mp4")
print("RESULT " + json.dumps({"result": sorted(result), "output": bpy.context.scene.render.filepath}))
"""


def test_render_cut_in_a_script_renders_the_film_whole_and_keeps_a_relative_output(cut_run: Path) -> None:
    result = run_blender_script(RENDER_CUT_SCRIPT, str(cut_run / "canvas.blend"))
    assert result == {"result": ["FINISHED"], "output": "//again.mp4"}
    with av.open(str(cut_run / "again.mp4")) as container:
        assert abs(sum(1 for _ in container.decode(video=0)) - EXPECTED_FRAMES) <= 1
    assert not [p for p in cut_run.iterdir() if ".part" in p.name]
