"""The render operators and the main-thread drain on real bpy (draft mode: the offline preview backend)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bpy
import pytest

from blender_canvas.nodes.panel import CANVAS_UL_tray, draw_tray
from blender_canvas.operators import bridge
from blender_canvas.operators.canvas_io import import_canvas_file
from tests.blender.helpers import CANVASES
from tests.blender.test_nodes import RecordingLayout


@pytest.fixture
def draft_tree(tmp_path: Path) -> Any:
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "film.blend"))
    tree, _ = import_canvas_file(CANVASES / "spokesperson-in-place.json")
    tree.draft = True
    yield tree
    bridge.close_sessions()


def drain_until_idle(tree: Any, timeout: float = 120) -> int:
    """What the add-on's timer does, called in a loop (timers never fire in module mode)."""
    session = bridge.session_for(tree)
    applied = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = session.runner.busy
        applied += bridge.apply_events(tree, session, session.runner.drain())
        if not busy and session.runner.events.empty():
            return applied
        time.sleep(0.02)
    raise AssertionError("the runner did not finish")


def test_render_node_fills_its_tray_and_leaves_others_alone(draft_tree: Any) -> None:
    assert bpy.ops.canvas.render(mode="NODE", node_name="line", tree_name=draft_tree.name) == {"FINISHED"}
    assert drain_until_idle(draft_tree) > 0
    line = draft_tree.nodes["line"]
    assert line.render_state == "done" and len(line.tray) == 1
    assert line.chosen_take == line.tray[0].take_id
    assert line.tray[0].file.startswith("//film_canvas/")  # the project folder beside the .blend
    assert Path(bpy.path.abspath(line.tray[0].file)).is_file()
    assert len(draft_tree.nodes["plate"].tray) == 0 and draft_tree.nodes["plate"].render_state == "idle"


def test_render_all_then_pick_take_marks_downstream_stale_without_rendering(draft_tree: Any) -> None:
    bpy.ops.canvas.render(mode="ALL", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    portrait, speaker = draft_tree.nodes["portrait"], draft_tree.nodes["speaker"]
    assert len(speaker.tray) == 2 and speaker.render_state == "done"
    bpy.ops.canvas.render(mode="NODE", node_name="portrait", new_take=True, tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    assert len(portrait.tray) == 2
    assert speaker.render_state == "stale" and len(speaker.tray) == 2  # marked, not re-run
    first = portrait.tray[0].take_id
    bpy.ops.canvas.pick_take(tree_name=draft_tree.name, node_name="portrait", take_id=first)
    assert portrait.chosen_take == first
    session = bridge.session_for(draft_tree)
    assert session.ledger.chosen("portrait").take_id == first


def test_remove_take_moves_the_file_to_trash(draft_tree: Any) -> None:
    bpy.ops.canvas.render(mode="NODE", node_name="line", new_take=True, tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    line = draft_tree.nodes["line"]
    take = line.tray[0]
    take_id, source = take.take_id, Path(bpy.path.abspath(take.file))
    bpy.ops.canvas.remove_take(tree_name=draft_tree.name, node_name="line", take_id=take_id)
    assert len(line.tray) == 0 and line.chosen_take == ""
    session = bridge.session_for(draft_tree)
    assert not source.exists()
    assert (session.project_dir / "trash" / "takes" / "line" / source.name).is_file()  # kept, not deleted


def test_a_bad_node_is_reported_on_the_node_not_as_a_traceback(draft_tree: Any) -> None:
    plate = draft_tree.nodes["plate"]
    plate.duration_s = 7  # Sora allows 4, 8 or 12
    with pytest.raises(RuntimeError, match=r"'plate': Duration: Sora 2 does not allow 7 s \(allowed: 4, 8 or 12 s\)"):
        bpy.ops.canvas.render(mode="NODE", node_name="plate", tree_name=draft_tree.name)
    assert plate.render_state == "failed" and plate.status_message.startswith("Duration: Sora 2 does not allow 7 s")
    assert "_" not in plate.status_message


def test_paid_render_needs_a_key_and_online_access(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree, _ = import_canvas_file(CANVASES / "spokesperson-composited.json")
    bpy.context.preferences.system.use_online_access = False
    monkeypatch.delenv("FAL_KEY", raising=False)
    # walk and the three nodes upstream of it: every missing key in one refusal, with the keys that would also do
    with pytest.raises(RuntimeError, match=r"no key for 4 nodes: set .* for walk \(or FAL_KEY \(fal\)"):
        bpy.ops.canvas.render(mode="NODE", node_name="walk", tree_name=tree.name)
    bridge.close_sessions()
    monkeypatch.setenv("FAL_KEY", "fal-test-key")
    with pytest.raises(RuntimeError, match="online access is off"):
        bpy.ops.canvas.render(mode="NODE", node_name="walk", tree_name=tree.name)
    assert tree.nodes["walk"].render_state == "idle"  # nothing was queued
    bridge.close_sessions()


def test_the_tray_panel_draws_takes_and_actions(draft_tree: Any) -> None:
    bpy.ops.canvas.render(mode="NODE", node_name="line", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    layout = RecordingLayout()
    draw_tray(layout, draft_tree.nodes["line"])
    operators = [arg for kind, arg, _ in layout.calls if kind == "operator"]
    assert {"canvas.render", "canvas.cancel", "canvas.open_take", "canvas.remove_take"} <= set(operators)
    assert any(kind == "label" and arg == "1 take" for kind, arg, _ in layout.calls)
    assert ("template_list", "CANVAS_UL_tray") in [(kind, arg) for kind, arg, _ in layout.calls]
    line = draft_tree.nodes["line"]
    row = RecordingLayout()
    CANVAS_UL_tray.draw_item(None, bpy.context, row, line, line.tray[0], 0, line, "tray_index")
    labels = row.of("label")
    assert labels and labels[0].startswith("#1 ") and "$0.00" in labels[0]
    assert "multilingual-v2" not in labels[0]  # the variant's label, never its id
    pick = next(kwargs["op"] for kind, _, kwargs in row.calls if kind == "operator")
    assert (pick.node_name, pick.take_id) == ("line", line.chosen_take)


SAVE_ADOPTS_SCRIPT = """
import json, sys, time
from pathlib import Path
import bpy
import blender_canvas
blender_canvas.register()
from blender_canvas.operators import bridge
from blender_canvas.operators.canvas_io import import_canvas_file
tree, _ = import_canvas_file(Path(sys.argv[1]))
tree.draft = True
bpy.ops.canvas.render(mode="NODE", node_name="line", tree_name=tree.name)
session = bridge.session_for(tree)
while session.runner.busy or not session.runner.events.empty():
    bridge.apply_events(tree, session, session.runner.drain()); time.sleep(0.02)
before = {"project_dir": tree.project_dir, "file": tree.nodes["line"].tray[0].file}
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[2])
after = {"project_dir": tree.project_dir, "file": tree.nodes["line"].tray[0].file,
         "exists": Path(bpy.path.abspath(tree.nodes["line"].tray[0].file)).is_file(),
         "old_gone": not Path(before["project_dir"]).exists()}
name = tree.name
bpy.ops.wm.open_mainfile(filepath=sys.argv[2])
reopened = bpy.data.node_groups[name]
print("RESULT " + json.dumps({"before": before, "after": after,
                              "reopened_file": reopened.nodes["line"].tray[0].file,
                              "user_resources": bpy.utils.resource_path("USER")}))
"""


def test_first_save_moves_an_unsaved_project_beside_the_blend(tmp_path: Path) -> None:
    from tests.blender.helpers import run_blender_script

    result = run_blender_script(SAVE_ADOPTS_SCRIPT, str(CANVASES / "spokesperson-in-place.json"),
                                str(tmp_path / "film.blend"))
    before, after = result["before"], result["after"]
    assert "/unsaved/" in before["project_dir"] and before["file"].startswith(before["project_dir"])
    assert after["project_dir"] == "//film_canvas/spokesperson-in-place"
    assert after["file"].startswith("//film_canvas/spokesperson-in-place/takes/line/")
    assert after["exists"] and after["old_gone"]
    assert result["reopened_file"] == after["file"]
    assert (tmp_path / "film_canvas" / "spokesperson-in-place" / "ledger.sqlite").is_file()


CRASH_BEFORE_SAVE_SCRIPT = """
import os, sys, time
from pathlib import Path
import bpy
import blender_canvas
blender_canvas.register()
from blender_canvas.operators import bridge
from blender_canvas.operators.canvas_io import import_canvas_file
tree, _ = import_canvas_file(Path(sys.argv[1]))
tree.draft = True
bpy.ops.canvas.render(mode="ALL", tree_name=tree.name)
session = bridge.session_for(tree)
while session.runner.busy or not session.runner.events.empty():
    bridge.apply_events(tree, session, session.runner.drain()); time.sleep(0.02)
print("RESULT {}", flush=True)
os._exit(9)  # Blender dies: the file was never saved
"""

RECOVER_SCRIPT = """
import json
import bpy
import blender_canvas
blender_canvas.register()
result = bpy.ops.canvas.recover_unsaved()
tree = [t for t in bpy.data.node_groups if t.bl_idname == "BlenderCanvasTree"][0]
print("RESULT " + json.dumps({"result": sorted(result), "trays": {n.name: len(n.tray) for n in tree.nodes
                                                                     if hasattr(n, "tray")}}))
"""


def test_a_crash_before_the_first_save_loses_no_take(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.blender.helpers import ROOT, run_blender_script

    user = tmp_path / "user"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BLENDER_USER_RESOURCES": str(user)}
    canvas = str(CANVASES / "spokesperson-in-place.json")
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_SAVE_SCRIPT, canvas],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 9, proc.stderr
    result = run_blender_script(RECOVER_SCRIPT, env_extra={"BLENDER_USER_RESOURCES": str(user)})
    assert result["result"] == ["FINISHED"]
    assert result["trays"] == {"portrait": 1, "plate": 2, "line": 1, "speaker": 2}


def test_the_crash_snapshot_names_its_files_relative_to_itself(tmp_path: Path) -> None:
    """The snapshot beside the takes gives a reference still and an end-card logo relative to its own folder,
    not as absolute paths into the machine it was made on (and recovery still finds them)."""
    import os
    import shutil
    import subprocess
    import sys

    from PIL import Image

    from tests.blender.helpers import ROOT, run_blender_script

    source = tmp_path / "source"
    source.mkdir()
    Image.new("RGB", (640, 360), (200, 120, 40)).save(source / "still.png")
    shutil.copy(CANVASES / "assets" / "logo.png", source / "logo.png")
    (source / "canvas.json").write_text(json.dumps({"version": 1, "nodes": [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "wide", "kind": "video", "model": "kling-3", "duration_s": 5, "inputs": {"image": "still"}},
        {"id": "cut", "kind": "sequence", "shots": ["wide"], "end_card": {"text": "X", "image": "logo.png"}}]}))
    user = tmp_path / "user"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BLENDER_USER_RESOURCES": str(user)}
    proc = subprocess.run([sys.executable, "-c", CRASH_BEFORE_SAVE_SCRIPT, str(source / "canvas.json")],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 9, proc.stderr
    (snapshot,) = user.rglob("canvas.json")
    nodes = {n["id"]: n for n in json.loads(snapshot.read_text())["nodes"]}
    paths = [nodes["still"]["path"], nodes["cut"]["end_card"]["image"]]
    assert not [p for p in paths if Path(p).is_absolute()], paths
    assert [os.path.realpath(snapshot.parent / p) for p in paths] == [
        os.path.realpath(source / "still.png"), os.path.realpath(source / "logo.png")]
    result = run_blender_script(RECOVER_SCRIPT, env_extra={"BLENDER_USER_RESOURCES": str(user)})
    assert result["result"] == ["FINISHED"] and result["trays"] == {"wide": 1}


def test_the_node_shows_what_the_adapter_changed_in_its_inputs(tmp_path: Path) -> None:
    from blender_canvas.engine.runner import Event
    from blender_canvas.engine.session import Session
    from blender_canvas.nodes.convert import new_canvas_tree

    tree = new_canvas_tree("notes")
    node = tree.nodes.new("CanvasVideoNode")
    session = Session(tmp_path / "project")
    note = "first frame upscaled from 240x240 to 300x300"
    bridge.apply_events(tree, session, [Event(kind="queued", node_id=node.name),
                                        Event(kind="submitted", node_id=node.name, message=note),
                                        Event(kind="progress", node_id=node.name, state="running", progress=0.4)])
    assert (node.render_state, node.status_message, round(node.progress, 2)) == ("running", note, 0.4)
    body = RecordingLayout()
    node.draw_buttons(bpy.context, body)
    assert body.of("progress") == ["40 %"] and body.of("label")[-1].startswith("Running: first frame upscaled")
    sidebar = RecordingLayout()
    node.draw_buttons_ext(bpy.context, sidebar)
    assert note in " ".join(sidebar.of("label"))  # the whole note, wrapped
    session.close()
