"""Side-by-side review on real bpy: the review scene's layouts, a rendered frame, switching takes re-renders nothing."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import bpy
import numpy as np
import pytest
from PIL import Image

from blender_canvas.engine.runner import Runner
from blender_canvas.operators import bridge
from blender_canvas.providers.preview import PreviewBackend
from blender_canvas.vse import review_ops
from blender_canvas.vse.review import ROLE, TAKE, find_review_scene, render_review_still, review_strips
from blender_canvas.vse.review_ops import draw_review_panel, draw_review_toggle, review_sources
from tests.blender.helpers import run_blender_script
from tests.blender.test_headless_run import cli
from tests.blender.test_nodes import RecordingLayout

FPS = 24
REVIEW_CANVAS = {
    "version": 1, "title": "review", "defaults": {"aspect_ratio": "16:9", "seed": 5, "fps": FPS},
    "nodes": [
        # two stills of different palettes, so takes made from them differ in mean colour too
        {"id": "dawn", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a lighthouse at dawn"}},
        {"id": "night", "kind": "image", "model": "flux", "variant": "2-pro", "seed": 11,
         "prompt": {"subject": "a city street at night in blue neon rain"}},
        {"id": "wide", "kind": "video", "model": "kling-3", "takes": 3, "duration_s": 3, "inputs": {"image": "dawn"},
         "prompt": {"camera": "slow pan right"}},
        {"id": "close", "kind": "video", "model": "veo-3.1", "duration_s": 4, "inputs": {"image": "night"},
         "prompt": {"camera": "push in"}},
        {"id": "tall", "kind": "video", "model": "seedance-2", "variant": "fast", "aspect_ratio": "9:16",
         "duration_s": 4, "inputs": {"image": "night"}, "prompt": {"camera": "tilt up"}},
        {"id": "line", "kind": "audio", "model": "elevenlabs", "text": "Rain again tonight."},
        {"id": "talk", "kind": "video", "model": "kling-avatar", "inputs": {"image": "night", "audio": "line"}},
        {"id": "cut", "kind": "sequence", "shots": ["wide", "close"]},
    ],
}


@pytest.fixture(scope="module")
def review_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("review")
    (folder / "review.json").write_text(json.dumps(REVIEW_CANVAS))
    proc = cli("run", str(folder / "review.json"), "--out", str(folder / "out"), "--draft")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "out"


@pytest.fixture
def tree(review_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The run's .blend, opened from a copy of its project; any submit or runner start fails the test."""
    shutil.copytree(review_run, tmp_path / "out")
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "canvas.blend"))

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the review reached the engine")

    monkeypatch.setattr(PreviewBackend, "submit", refuse)
    monkeypatch.setattr(Runner, "start", refuse)
    yield bpy.data.node_groups["canvas"]
    bridge.close_sessions()


def entry(tree: Any, node: str, index: int = 0) -> Any:
    """Take number index + 1 of the node (takes land in any order, so the tray's order is not the number's)."""
    return next(e for e in tree.nodes[node].tray if e.number == index + 1)


def take_id(tree: Any, node: str, index: int = 0) -> str:
    return str(entry(tree, node, index).take_id)


def take_file(tree: Any, node: str, index: int = 0) -> Path:
    return Path(bpy.path.abspath(entry(tree, node, index).file))


def review(tree: Any, layout: str, *picks: tuple[str, int]) -> Any:
    """Put exactly `picks` in the review set, choose `layout`, build; returns the review scene."""
    tree.canvas_review.takes.clear()
    tree.canvas_review.layout = layout
    for node, index in picks:
        assert bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name=node,
                                            take_id=take_id(tree, node, index)) == {"FINISHED"}
    assert bpy.ops.canvas.review_build(tree_name=tree.name) == {"FINISHED"}
    return find_review_scene(tree.name)


def by_role(scene: Any, role: str) -> list[Any]:
    return sorted((s for s in review_strips(scene) if s[ROLE] == role), key=lambda s: s.channel)


def cut_state() -> dict[str, Any]:
    """Everything about the user's own scene a review could disturb."""
    scene = bpy.data.scenes["Scene"]
    workspace = bpy.context.workspace
    return {
        "strips": sorted((s.name, s.type, s.channel, s.frame_final_start, s.frame_final_end,
                          getattr(s, "filepath", "")) for s in scene.sequence_editor.strips_all),
        "render": (scene.render.resolution_x, scene.render.resolution_y, scene.render.fps, scene.frame_start,
                   scene.frame_end),
        "context_scene": bpy.context.scene.name,
        "sequencer_scene": getattr(getattr(workspace, "sequencer_scene", None), "name", None),
    }


def picture_rect(strip: Any, frame_w: int, frame_h: int) -> tuple[float, float, float, float]:
    """Where a strip's picture lands (x0, y0, x1, y1), read back from Blender's own transform numbers."""
    element = strip.elements[0]
    w, h = element.orig_width * strip.transform.scale_x, element.orig_height * strip.transform.scale_y
    cx, cy = frame_w / 2 + strip.transform.offset_x, frame_h / 2 + strip.transform.offset_y
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def assert_cells_inside_and_apart(scene: Any) -> list[tuple[float, float, float, float]]:
    frame_w, frame_h = scene.render.resolution_x, scene.render.resolution_y
    rects = [picture_rect(s, frame_w, frame_h) for s in by_role(scene, "take")]
    for x0, y0, x1, y1 in rects:
        assert -0.01 <= x0 < x1 <= frame_w + 0.01 and -0.01 <= y0 < y1 <= frame_h + 0.01
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] + 0.01 or b[2] <= a[0] + 0.01 or a[3] <= b[1] + 0.01 or b[3] <= a[1] + 0.01
    return rects


def test_side_by_side_puts_two_takes_left_and_right_in_a_scene_of_their_own(tree: Any) -> None:
    before = cut_state()
    scene = review(tree, "side_by_side", ("wide", 0), ("close", 0))
    assert scene.name == "Canvas Review · canvas" and scene != bpy.data.scenes["Scene"]
    assert (scene.render.resolution_x, scene.render.resolution_y, scene.render.fps) == (1280, 360 + 36, FPS)
    assert (scene.frame_start, scene.frame_end) == (1, 4 * FPS)  # the longest take: close, 4 s
    takes = by_role(scene, "take")
    assert [s.type for s in takes] == ["MOVIE", "MOVIE"]
    assert [s[TAKE] for s in takes] == [take_id(tree, "wide"), take_id(tree, "close")]
    assert all(s.frame_final_start == 1 for s in takes)  # in step
    assert [s.frame_final_duration for s in takes] == [3 * FPS, 4 * FPS]
    assert [(s.transform.scale_x, s.transform.offset_x, s.transform.offset_y) for s in takes] == [
        (1.0, -320.0, 18.0), (1.0, 320.0, 18.0)]
    left, right = assert_cells_inside_and_apart(scene)
    assert left == (0, 36, 640, 396) and right == (640, 36, 1280, 396)  # the labels' band below
    labels = by_role(scene, "label")
    assert [s.type for s in labels] == ["TEXT", "TEXT"]
    assert [s.text for s in labels] == ["wide · Kling 3.0 (std) · take 1", "close · Veo 3.1 · take 1"]
    assert labels[0].location[0] == pytest.approx(0.25) and labels[1].location[0] == pytest.approx(0.75)
    assert [s.type for s in by_role(scene, "background")] == ["COLOR"]
    assert not by_role(scene, "wipe") and not by_role(scene, "sound")  # preview takes carry no sound
    assert cut_state() == before


def test_grid_of_five_takes_from_three_nodes(tree: Any) -> None:
    scene = review(tree, "grid", ("wide", 0), ("wide", 1), ("wide", 2), ("close", 0), ("tall", 0))
    assert (scene.render.resolution_x, scene.render.resolution_y) == (3 * 640, 2 * 396)  # 3 columns, 2 rows
    assert scene.frame_end == 4 * FPS
    takes = by_role(scene, "take")
    assert len(takes) == 5 and len(by_role(scene, "label")) == 5
    rects = assert_cells_inside_and_apart(scene)
    assert rects[0] == (0, 432, 640, 792)  # top-left
    assert rects[3] == (0, 36, 640, 396)  # the second row starts bottom-left, above its labels
    tall = takes[4]
    assert tall.transform.scale_x == tall.transform.scale_y == pytest.approx(360 / 640)  # fitted, aspect kept
    x0, y0, x1, y1 = rects[4]
    assert (x0 + x1) / 2 == pytest.approx(960) and (y1 - y0) == pytest.approx(360)


def test_a_still_is_held_for_the_whole_review(tree: Any) -> None:
    scene = review(tree, "side_by_side", ("dawn", 0), ("close", 0))
    still, movie = by_role(scene, "take")
    assert (still.type, movie.type) == ("IMAGE", "MOVIE")
    assert still.frame_final_start == 1 and still.frame_final_duration == scene.frame_end == 4 * FPS
    # cells take the largest take's size: the 1024x576 still at 1:1, the 640x360 video scaled up to fill its cell
    assert (still.transform.scale_x, movie.transform.scale_x) == (1.0, pytest.approx(1.6))
    assert_cells_inside_and_apart(scene)


def test_wipe_splits_two_takes_and_refuses_a_third(tree: Any) -> None:
    scene = review(tree, "wipe", ("wide", 0), ("close", 0))
    (wipe,) = by_role(scene, "wipe")
    a, b = by_role(scene, "take")
    assert wipe.type == "WIPE" and (wipe.input_1, wipe.input_2) == (a, b)
    assert wipe.channel > b.channel and wipe.frame_final_start == 1
    assert wipe.frame_final_end == 1 + 3 * FPS  # while both play
    assert not wipe.use_default_fade and wipe.effect_fader == pytest.approx(0.5)
    assert (scene.render.resolution_x, scene.render.resolution_y) == (640, 396)
    assert a.transform.offset_x == b.transform.offset_x == 0 and a.transform.offset_y == b.transform.offset_y
    bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name="tall", take_id=take_id(tree, "tall"))
    with pytest.raises(RuntimeError, match=r"Review not built: Wipe shows exactly 2 takes; 3 picked"):
        bpy.ops.canvas.review_build(tree_name=tree.name)
    assert len(by_role(scene, "take")) == 2  # the last good review stays


def frame_of(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number == index:
                return frame.to_ndarray(format="rgb24").astype(float)
    raise AssertionError(f"{path} has no frame {index}")


def test_a_rendered_review_frame_shows_take_a_left_and_take_b_right(tree: Any, tmp_path: Path) -> None:
    scene = review(tree, "side_by_side", ("wide", 0), ("close", 0))
    path = render_review_still(scene, 40, tmp_path / "review.png")  # both strips start at 1: their frame index 39
    rendered = np.asarray(Image.open(path).convert("RGB"), dtype=float)
    assert rendered.shape == (396, 1280, 3)
    top = slice(0, 360)  # the pictures; the labels are in the band below them
    a, b = frame_of(take_file(tree, "wide"), 39)[top], frame_of(take_file(tree, "close"), 39)[top]
    left, right = rendered[top, :640], rendered[top, 640:]
    mean = {name: image.reshape(-1, 3).mean(axis=0) for name, image in
            (("a", a), ("b", b), ("left", left), ("right", right))}
    tolerance = 3.0
    assert np.abs(mean["a"] - mean["b"]).max() > 4 * tolerance, mean  # A and B differ, so the check can fail
    assert np.abs(mean["left"] - mean["a"]).max() < tolerance, mean
    assert np.abs(mean["right"] - mean["b"]).max() < tolerance, mean
    # pixel for pixel too, and the frame in step: closer to frame 39 of the take than to its first frame
    first = frame_of(take_file(tree, "wide"), 0)[top]
    assert np.abs(left - a).mean() < tolerance < np.abs(left - first).mean()
    assert np.abs(right - b).mean() < tolerance


def test_switching_takes_changes_only_the_review_and_renders_nothing(tree: Any) -> None:
    session = bridge.session_for(tree)
    jobs, takes = len(session.ledger.jobs()), len(session.ledger.takes())
    before = cut_state()
    scenes = sorted(s.name for s in bpy.data.scenes)
    scene = review(tree, "side_by_side", ("wide", 0), ("close", 0))
    user_strip = scene.sequence_editor.strips.new_effect(name="my note", type="COLOR", channel=60, frame_start=1,
                                                         **({"length": 10} if bpy.app.version >= (5, 0) else
                                                            {"frame_end": 11}))
    bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name="wide", take_id=take_id(tree, "wide", 0))
    bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name="wide", take_id=take_id(tree, "wide", 1))
    assert [t.take_id for t in tree.canvas_review.takes] == [take_id(tree, "close"), take_id(tree, "wide", 1)]
    assert bpy.ops.canvas.review_build(tree_name=tree.name) == {"FINISHED"}
    assert find_review_scene(tree.name) == scene  # reused, not a second scene
    assert [s[TAKE] for s in by_role(scene, "take")] == [take_id(tree, "close"), take_id(tree, "wide", 1)]
    assert len(review_strips(scene)) == 1 + 2 + 2  # backdrop, takes, labels: the old ones are gone
    assert scene.sequence_editor.strips_all.get(user_strip.name) is not None  # not ours: kept
    assert sorted(s.name for s in bpy.data.scenes) == sorted([*scenes, scene.name])
    assert cut_state() == before  # the cut, the window's scene and the workspace's sequencer scene
    assert (len(session.ledger.jobs()), len(session.ledger.takes())) == (jobs, takes)
    assert not session.runner.busy


def test_missing_files_are_named_and_skipped_and_too_few_takes_is_a_clear_error(tree: Any) -> None:
    for node, index in (("wide", 0), ("wide", 1), ("close", 0)):
        bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name=node, take_id=take_id(tree, node, index))
    take_file(tree, "wide", 1).unlink()
    sources, skipped = review_sources(tree)
    assert [s.label for s in sources] == ["wide · Kling 3.0 (std) · take 1", "close · Veo 3.1 · take 1"]
    assert skipped == ["wide · Kling 3.0 (std) · take 2: file missing"]
    assert bpy.ops.canvas.review_build(tree_name=tree.name) == {"FINISHED"}  # with a warning
    assert len(by_role(find_review_scene(tree.name), "take")) == 2
    take_file(tree, "close").unlink()
    with pytest.raises(RuntimeError, match=r"Side by Side shows 2 to 4 takes; 1 picked \(the others are missing\)"):
        bpy.ops.canvas.review_build(tree_name=tree.name)
    with pytest.raises(RuntimeError, match="'wide' no longer has that take"):
        bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name="wide", take_id="nope")
    with pytest.raises(RuntimeError, match="no picture to review"):
        bpy.ops.canvas.review_toggle(tree_name=tree.name, node_name="line", take_id=take_id(tree, "line"))


def test_only_the_first_takes_sound_plays(tree: Any) -> None:
    scene = review(tree, "side_by_side", ("talk", 0), ("close", 0))
    (sound,) = by_role(scene, "sound")
    assert sound.type == "SOUND" and sound[TAKE] == take_id(tree, "talk") and sound.frame_final_start == 1
    scene = review(tree, "side_by_side", ("close", 0), ("talk", 0))
    assert not by_role(scene, "sound")  # the first take is silent: none, rather than another take's


def test_show_is_ignored_headless_and_clear_deletes_the_review(tree: Any) -> None:
    before = cut_state()
    review(tree, "grid", ("wide", 0), ("tall", 0))
    assert bpy.ops.canvas.review_build(tree_name=tree.name, show=True) == {"FINISHED"}
    assert cut_state() == before  # no window to switch in module mode
    assert bpy.ops.canvas.review_clear(tree_name=tree.name) == {"FINISHED"}
    assert find_review_scene(tree.name) is None and len(tree.canvas_review.takes) == 0
    assert cut_state() == before


def test_show_with_a_window_switches_it_and_remembers_where_it_was(tree: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    scene, cut = review(tree, "wipe", ("wide", 0), ("close", 0)), bpy.data.scenes["Scene"]
    monkeypatch.setattr(review_ops, "_has_window", lambda _context: True)  # as in an interactive Blender
    context = SimpleNamespace(window=SimpleNamespace(scene=cut), workspace=SimpleNamespace(sequencer_scene=cut))
    review_ops.show_scene(context, tree.canvas_review, scene)
    assert context.window.scene == scene and context.workspace.sequencer_scene == scene
    assert (tree.canvas_review.return_scene, tree.canvas_review.return_sequencer_scene) == ("Scene", "Scene")
    assert bpy.context.scene == cut  # the real (headless) context was not touched


def test_the_review_set_survives_save_and_reopen(tree: Any, tmp_path: Path) -> None:
    review(tree, "grid", ("wide", 2), ("close", 0), ("tall", 0))
    picked = [(t.node_name, t.take_id) for t in tree.canvas_review.takes]
    saved = tmp_path / "out" / "saved.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(saved))
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(saved))
    reopened = bpy.data.node_groups["canvas"]
    assert [(t.node_name, t.take_id) for t in reopened.canvas_review.takes] == picked
    assert reopened.canvas_review.layout == "grid"
    assert len(by_role(find_review_scene("canvas"), "take")) == 3


def test_draw_helpers_show_the_toggle_state_and_the_panel(tree: Any) -> None:
    wide = tree.nodes["wide"]
    review(tree, "side_by_side", ("wide", 0), ("close", 0))
    for index, pressed in ((0, True), (1, False)):
        layout = RecordingLayout()
        draw_review_toggle(layout, tree, wide, entry(tree, "wide", index))
        ((kind, idname, kwargs),) = layout.calls
        assert (kind, idname, kwargs["depress"]) == ("operator", "canvas.review_toggle", pressed)
        assert (kwargs["op"].node_name, kwargs["op"].take_id) == ("wide", take_id(tree, "wide", index))
    panel = RecordingLayout()
    draw_review_panel(panel, tree)
    assert "wide · Kling 3.0 (std) · take 1" in panel.of("label")
    assert ("prop", "layout") in [(kind, arg) for kind, arg, _ in panel.calls]
    assert {"canvas.review_toggle", "canvas.review_build", "canvas.review_clear"} <= set(panel.of("operator"))
    tree.canvas_review.layout = "wipe"
    tree.canvas_review.takes.add()
    warning = RecordingLayout()
    draw_review_panel(warning, tree)
    assert "Wipe shows exactly 2 takes; 3 picked" in warning.of("label")


REGISTER_SCRIPT = """
import json
import bpy
import blender_canvas
from blender_canvas.nodes import review_props
from blender_canvas.nodes.tree import CanvasNodeTree
from blender_canvas.vse import review_ops
def state():
    # the pointer is a class annotation of the tree: it exists exactly while the tree class is registered
    return {"property": bool(CanvasNodeTree.is_registered and "canvas_review" in CanvasNodeTree.bl_rna.properties),
            "classes": [c.__name__ for c in (*review_props.CLASSES, *review_ops.CLASSES) if c.is_registered],
            "operator": hasattr(bpy.types, "CANVAS_OT_review_build")}
steps = {"fresh": state()}
blender_canvas.register()
tree = bpy.data.node_groups.new("c", "BlenderCanvasTree")
tree.canvas_review.layout = "grid"
steps["registered"] = state()
blender_canvas.unregister(); steps["unregistered"] = state()
blender_canvas.register(); steps["again"] = state()
steps["layout_again"] = bpy.data.node_groups["c"].canvas_review.layout
bpy.data.node_groups.remove(bpy.data.node_groups["c"])
blender_canvas.unregister(); steps["unregistered_again"] = state()
print("RESULT " + json.dumps(steps))
"""


def test_register_unregister_register_adds_and_removes_the_review_property() -> None:
    steps = run_blender_script(REGISTER_SCRIPT)
    clean = {"property": False, "classes": [], "operator": False}
    assert steps["fresh"] == steps["unregistered"] == steps["unregistered_again"] == clean
    for name in ("registered", "again"):
        assert steps[name]["property"] and len(steps[name]["classes"]) == 6 and steps[name]["operator"], name
    assert steps["layout_again"] == "grid"
