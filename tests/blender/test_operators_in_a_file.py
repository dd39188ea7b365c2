"""Operators the way a person drives them, in a saved file with a rendered canvas (draft mode unless a fake vendor
stands in): keys typed into the preferences count at once, cancel wears off, undo agrees with the ledger, write
failures are reports naming the folder, Send to VSE refuses a missing take, and every operator runs through its
invoke and execute (with a context override) without a traceback."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest
from PIL import Image

from blender_canvas.operators import bridge, preferences
from blender_canvas.operators.canvas_io import import_canvas_file
from tests.blender.helpers import CANVASES
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal

TRACEBACK = re.compile(r"Traceback|\b\w+(Error|Exception)\b|Errno|--[a-z]")


def drain_until_idle(tree: Any, timeout: float = 120) -> None:
    session = bridge.session_for(tree)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = session.runner.busy
        bridge.apply_events(tree, session, session.runner.drain())
        if not busy and session.runner.events.empty():
            return
        time.sleep(0.02)
    raise AssertionError("the runner did not finish")


@pytest.fixture
def saved(tmp_path: Path) -> Iterator[Path]:
    blend = tmp_path / "film.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    yield blend
    bridge.close_sessions()


@pytest.fixture
def draft_tree(saved: Path) -> Any:
    tree, _ = import_canvas_file(CANVASES / "spokesperson-in-place.json")
    tree.draft = True
    return tree


@pytest.fixture
def addon_prefs() -> Iterator[Any]:
    addons = bpy.context.preferences.addons
    added = addons.get(preferences.ADDON_ID) is None
    if added:
        addons.new().module = preferences.ADDON_ID
    prefs = addons[preferences.ADDON_ID].preferences
    yield prefs
    prefs.fal_key = ""
    if added:
        addons.remove(addons[preferences.ADDON_ID])


def error_of(call: Any) -> str:
    """The message of an operator that reported an error (bpy.ops raises it as a RuntimeError)."""
    with pytest.raises(RuntimeError) as caught:
        call()
    return str(caught.value)


def test_a_key_typed_into_the_preferences_is_used_at_the_next_render(
        saved: Path, addon_prefs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    Image.new("RGB", (640, 360), (200, 120, 40)).save(saved.parent / "still.png")
    canvas = {"version": 1, "nodes": [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "walk", "kind": "video", "model": "kling-3", "variant": "3.0", "route": "fal", "duration_s": 5,
         "inputs": {"image": "still"}, "prompt": {"action": "she turns to camera"}}]}
    (saved.parent / "canvas.json").write_text(json.dumps(canvas), encoding="utf-8")
    tree, _ = import_canvas_file(saved.parent / "canvas.json")
    monkeypatch.delenv("FAL_KEY", raising=False)
    online = bpy.context.preferences.system.use_online_access
    bpy.context.preferences.system.use_online_access = True
    try:
        with FakeFal(latency_s=0.01) as fal:
            monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fal.base_url)
            message = error_of(lambda: bpy.ops.canvas.render(mode="NODE", node_name="walk", tree_name=tree.name))
            assert "no key for Kling 3.0" in message and "turn on Draft in the Canvas panel" in message
            assert not TRACEBACK.search(message), message
            addon_prefs.fal_key = DEFAULT_KEY  # typed into the preferences; the file stays open
            assert bpy.ops.canvas.render(mode="NODE", node_name="walk", tree_name=tree.name) == {"FINISHED"}
            drain_until_idle(tree)
            walk = tree.nodes["walk"]
            assert walk.render_state == "done" and len(walk.tray) == 1, walk.status_message
            assert any(r.headers.get("authorization") == f"Key {DEFAULT_KEY}" for r in fal.requests_to("api"))
    finally:
        bpy.context.preferences.system.use_online_access = online


def test_cancel_then_new_take_lands_one_take(draft_tree: Any) -> None:
    line = draft_tree.nodes["line"]
    assert bpy.ops.canvas.render(mode="NODE", node_name="line", new_take=True,
                                 tree_name=draft_tree.name) == {"FINISHED"}
    if bridge.session_for(draft_tree).runner.busy:  # cancel while it runs (the preview may already be done)
        bpy.ops.canvas.cancel(node_name="line", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    before = len(line.tray)
    bpy.ops.canvas.render(mode="NODE", node_name="line", new_take=True, tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    assert len(line.tray) == before + 1 and line.render_state == "done", line.status_message
    with pytest.raises(RuntimeError, match="Nothing of this canvas is rendering"):
        bpy.ops.canvas.cancel(tree_name=draft_tree.name)  # greyed out, with the reason
    bridge.session_for(draft_tree).runner.cancel()  # Cancel All...
    bpy.ops.canvas.render(mode="NODE", node_name="line", new_take=True, tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    assert len(line.tray) == before + 2  # ...wears off too


def agree(tree: Any, node_name: str) -> tuple[list[str], str]:
    """(tray take ids, chosen take) after checking the node, its tray and the ledger say the same."""
    ledger = bridge.session_for(tree).ledger
    node = tree.nodes[node_name]
    tray = [t.take_id for t in node.tray]
    assert tray == [t.take_id for t in sorted(ledger.takes(node_name), key=lambda t: ledger.take_number(t.take_id))]
    chosen = ledger.chosen(node_name)
    assert node.chosen_take == (chosen.take_id if chosen else "")
    assert [t.number for t in node.tray] == sorted(t.number for t in node.tray)
    return tray, node.chosen_take


def edit_and_undo(tree_name: str) -> Any:
    """An unrelated edit with its own undo step, then Ctrl+Z (what undid the tray before)."""
    bpy.ops.ed.undo_push(message="before the edit")
    bpy.data.node_groups[tree_name].nodes["portrait"].takes = 3
    bpy.ops.ed.undo_push(message="the edit")
    bpy.ops.ed.undo()
    return bpy.data.node_groups[tree_name]


def test_render_pick_remove_and_axis_rename_then_undo_agree_with_the_ledger(draft_tree: Any) -> None:
    name = draft_tree.name
    bpy.ops.ed.undo_push(message="imported")
    for _ in range(3):
        bpy.ops.canvas.render(mode="NODE", node_name="line", new_take=True, tree_name=name)
        drain_until_idle(draft_tree)
    tree = edit_and_undo(name)  # Render: the next edit's undo must not empty the tray
    takes, chosen = agree(tree, "line")
    assert len(takes) == 3 and chosen == takes[-1]
    bpy.ops.canvas.pick_take(tree_name=name, node_name="line", take_id=takes[0])
    tree = edit_and_undo(name)
    assert agree(tree, "line") == (takes, takes[0])  # the pick stands in both
    removed_file = Path(bpy.path.abspath(tree.nodes["line"].tray[1].file))
    bpy.ops.canvas.remove_take(tree_name=name, node_name="line", take_id=takes[1])
    tree = edit_and_undo(name)
    assert agree(tree, "line")[0] == [takes[0], takes[2]]  # the row does not come back while its file is in trash
    assert not removed_file.exists()
    session = bridge.session_for(tree)
    session.ledger.set_verdict(takes[0], {"look": 4})
    tree.canvas_bakeoff.axes.clear()
    tree.canvas_bakeoff.axes.add().name = "look"
    tree.canvas_bakeoff.axis_index = 0
    bpy.ops.ed.undo_push(message="axes")
    bpy.ops.canvas.bakeoff_axis(tree_name=name, action="RENAME", axis="appeal")
    bpy.ops.ed.undo_push(message="renamed")
    bpy.ops.ed.undo()
    tree = bpy.data.node_groups[name]
    axes = [a.name for a in tree.canvas_bakeoff.axes]
    assert axes == ["appeal"] and session.ledger.verdict(takes[0]).scores == {"appeal": 4}  # no orphaned score
    assert tree.nodes["line"].tray[0].verdict_text == "appeal: 4"


def test_write_failures_are_reports_that_name_the_folder(draft_tree: Any, saved: Path) -> None:
    bpy.ops.canvas.render(mode="ALL", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    missing = saved.parent / "no such folder"
    a_file = saved.parent / "notes.txt"
    a_file.write_text("x", encoding="utf-8")
    cases = [
        (lambda: bpy.ops.canvas.export_json(filepath=str(missing / "c.json"), tree_name=draft_tree.name),
         f"the folder {missing} does not exist"),
        (lambda: bpy.ops.canvas.export_timeline(filepath=str(a_file / "cut.otio"), tree_name=draft_tree.name),
         f"{a_file} is a file, not a folder"),
    ]
    for call, expected in cases:
        message = error_of(call)
        assert expected in message and not TRACEBACK.search(message), message
    # the timeline's exports make their folder (its media/ subfolder holds the end card), like Render Cut
    assert bpy.ops.canvas.export_timeline(filepath=str(missing / "cut.otio"), tree_name=draft_tree.name) == {"FINISHED"}
    assert all((missing / f"cut.{suffix}").is_file() for suffix in ("otio", "xml", "edl"))
    bridge.close_sessions()
    draft_tree.project_dir = str(a_file / "project")
    message = error_of(lambda: bpy.ops.canvas.render(mode="ALL", tree_name=draft_tree.name))
    assert f"{a_file} is a file, not a folder" in message and "Project Folder" in message
    assert not TRACEBACK.search(message), message


def test_send_to_vse_refuses_a_missing_take_on_its_node(draft_tree: Any) -> None:
    bpy.ops.canvas.render(mode="ALL", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    plate = draft_tree.nodes["plate"]
    chosen = next(t for t in plate.tray if t.take_id == plate.chosen_take)
    source = Path(bpy.path.abspath(chosen.file))
    shutil.move(source, source.with_suffix(".moved"))
    message = error_of(lambda: bpy.ops.canvas.send_to_vse(tree_name=draft_tree.name, node_name="cut"))
    assert "'plate'" in message and "missing" in message and not TRACEBACK.search(message)
    assert plate.render_state == "failed" and "missing" in plate.status_message
    scene = bpy.context.scene
    assert scene.sequence_editor is None or not list(scene.sequence_editor.strips_all)  # nothing was placed
    shutil.move(source.with_suffix(".moved"), source)
    assert bpy.ops.canvas.send_to_vse(tree_name=draft_tree.name, node_name="cut") == {"FINISHED"}


def test_an_unsaved_file_exports_into_the_project_folder_not_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    tree, _ = import_canvas_file(CANVASES / "spokesperson-in-place.json")
    tree.draft = True
    try:
        bpy.ops.canvas.render(mode="ALL", tree_name=tree.name)
        drain_until_idle(tree)
        assert bpy.ops.canvas.export_timeline(tree_name=tree.name, node_name="cut") == {"FINISHED"}
        project = bridge.project_dir_for(tree)
        assert (project / "cut.otio").is_file() and not (tmp_path / "cut.otio").exists()
    finally:
        bridge.close_sessions()


# --- every operator, through invoke and execute ---------------------------------------------------------------
def canvas_operators() -> list[str]:
    from blender_canvas import operators, vse

    return sorted(cls.bl_idname for cls in (*operators._CLASSES, *vse._CLASSES)
                  if issubclass(cls, bpy.types.Operator))


def arguments(idname: str, tree: Any, folder: Path) -> dict[str, Any]:
    line = tree.nodes["line"]
    take = line.tray[0].take_id if len(line.tray) else ""
    per_take = {"tree_name": tree.name, "node_name": "line", "take_id": take}
    return {
        "canvas.render": {"tree_name": tree.name, "mode": "NODE", "node_name": "line"},
        "canvas.cancel": {"tree_name": tree.name},
        "canvas.pick_take": per_take, "canvas.remove_take": per_take, "canvas.pin_take": per_take,
        "canvas.score_take": per_take, "canvas.review_toggle": per_take,
        "canvas.open_take": {**per_take, "take_id": "gone"},  # a real one would open the system's player
        "canvas.add_input_slot": {"tree_name": tree.name, "node_name": "cut", "prefix": "shots"},
        "canvas.import_json": {"filepath": str(CANVASES / "spokesperson-in-place.json")},
        "canvas.export_json": {"tree_name": tree.name, "filepath": str(folder / "out.json")},
        "canvas.export_timeline": {"tree_name": tree.name, "node_name": "cut", "filepath": str(folder / "c.otio")},
        "canvas.send_to_vse": {"tree_name": tree.name, "node_name": "cut"},
        "canvas.render_cut": {"tree_name": tree.name, "node_name": "nothing"},  # refused: no such Sequence
        "canvas.test_connection": {"backend": "fal"},
        "canvas.bakeoff_axis": {"tree_name": tree.name, "action": "ADD", "axis": "look"},
        "canvas.bakeoff_candidate": {"tree_name": tree.name},
        "canvas.bakeoff_build": {"tree_name": tree.name},
        "canvas.bakeoff_report": {"tree_name": tree.name, "open_browser": False},
        "canvas.review_build": {"tree_name": tree.name},
        "canvas.review_clear": {"tree_name": tree.name},
    }.get(idname, {})


def test_every_operator_runs_through_invoke_and_execute_without_a_traceback(draft_tree: Any, saved: Path) -> None:
    bpy.context.preferences.system.use_online_access = False  # Test Connection must not reach a real vendor
    bpy.ops.canvas.render(mode="ALL", tree_name=draft_tree.name)
    drain_until_idle(draft_tree)
    draft_tree.canvas_bakeoff.enabled = True
    ran: dict[str, list[str]] = {}
    for idname in canvas_operators():
        module, name = idname.split(".")
        operator = getattr(getattr(bpy.ops, module), name)
        for mode in ("EXEC_DEFAULT", "INVOKE_DEFAULT"):
            with bpy.context.temp_override(scene=bpy.context.scene):
                try:
                    result = operator(mode, **arguments(idname, draft_tree, saved.parent))
                except RuntimeError as error:  # the operator's own report, or its poll's reason
                    message = str(error)
                    assert not TRACEBACK.search(message), f"{idname} {mode}: {message}"
                    assert message.strip(), f"{idname} {mode} refused without a word"
                    result = {"REFUSED"}
            ran.setdefault(idname, []).append(next(iter(result)))
        drain_until_idle(draft_tree)
    assert set(ran) == set(canvas_operators()) and len(ran) >= 20
    assert ran["canvas.send_to_vse"] == ["FINISHED", "FINISHED"]
    assert ran["canvas.export_timeline"][0] == "FINISHED" and (saved.parent / "c.otio").is_file()
    assert ran["canvas.open_take"] == ["REFUSED", "REFUSED"]


def test_buttons_that_cannot_run_are_greyed_out_with_the_reason(draft_tree: Any) -> None:
    name = draft_tree.name
    refusals = {
        "score_take": (lambda: bpy.ops.canvas.score_take(tree_name=name), "has no bake-off"),
        "bakeoff_report": (lambda: bpy.ops.canvas.bakeoff_report(tree_name=name), "has no bake-off"),
        "pick_take": (lambda: bpy.ops.canvas.pick_take(tree_name=name), "No takes yet: render a node first"),
        "review_build": (lambda: bpy.ops.canvas.review_build(tree_name=name), "at least two takes"),
        "cancel": (lambda: bpy.ops.canvas.cancel(tree_name=name), "Nothing of this canvas is rendering"),
    }
    for operator, (call, reason) in refusals.items():
        message = error_of(call)
        assert ".poll()" in message and reason in message, (operator, message)
    message = error_of(lambda: bpy.ops.canvas.add_input_slot(tree_name=name, node_name="gone", prefix="shots"))
    assert "No node named 'gone'" in message  # a report, where it used to cancel without a word
    draft_tree.canvas_bakeoff.enabled = True
    message = error_of(lambda: bpy.ops.canvas.bakeoff_report(tree_name=name))
    assert "not built yet" in message
    bpy.data.node_groups.remove(draft_tree)
    message = error_of(lambda: bpy.ops.canvas.render(mode="ALL"))
    assert "No Generation Canvas here" in message
