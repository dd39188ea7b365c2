"""The Resubmit button, as a person meets it: Blender died while a paid take was being submitted to fal (which offers
no way to find a job by our id), so on reopening the node says it needs a decision. Render sends nothing for that
take; Resubmit is refused (with the reason) until online access is on, then sends it exactly once and it lands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bpy
import pytest
from PIL import Image

from blender_canvas.engine.ledger import SUPERSEDED, UNKNOWN
from blender_canvas.nodes.tray import draw_render_state
from blender_canvas.operators import bridge
from blender_canvas.operators.canvas_io import import_canvas_file
from blender_canvas.operators.render import tree_canvas
from tests.blender.test_operators_in_a_file import TRACEBACK, drain_until_idle, error_of
from tests.blender.ui_harness import RecordingLayout
from tests.core.test_exactly_once import cut_off
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal


@pytest.fixture
def online_access() -> Iterator[Any]:
    system = bpy.context.preferences.system
    before = system.use_online_access
    yield system
    system.use_online_access = before


def test_a_cut_off_submit_waits_for_resubmit_then_lands_with_one_more_submit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, online_access: Any) -> None:
    blend = tmp_path / "film.blend"
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    Image.new("RGB", (640, 360), (200, 120, 40)).save(tmp_path / "still.png")
    canvas = {"version": 1, "nodes": [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "walk", "kind": "video", "model": "kling-3", "variant": "3.0", "route": "fal", "duration_s": 5,
         "inputs": {"image": "still"}, "prompt": {"action": "she turns to camera"}}]}
    (tmp_path / "canvas.json").write_text(json.dumps(canvas), encoding="utf-8")
    tree, _ = import_canvas_file(tmp_path / "canvas.json")
    with FakeFal(latency_s=0.01) as fal:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fal.base_url)
        monkeypatch.setenv("FAL_KEY", DEFAULT_KEY)
        try:
            session = bridge.session_for(tree)
            cut = cut_off(session, tree_canvas(tree), tmp_path, "walk", 0)  # died between journal and remote id
            bridge.close_sessions()

            session = bridge.session_for(tree)  # reopened: resume finds the job and cannot ask fal about it
            bridge.apply_events(tree, session, session.runner.drain())
            walk = tree.nodes["walk"]
            assert walk.render_state == "needs_decision", walk.status_message
            assert session.ledger.job(cut.job_id).state == UNKNOWN  # type: ignore[union-attr]
            sidebar = RecordingLayout()
            draw_render_state(walk, sidebar, full=True)
            buttons = [c for c in sidebar.drawing.of("operator") if c.get("operator") == "canvas.resubmit"]
            assert len(buttons) == 1 and "bill twice" in str(buttons[0].get("text"))

            online_access.use_online_access = True
            bpy.ops.canvas.render(mode="NODE", node_name="walk", tree_name=tree.name)
            drain_until_idle(tree)
            assert len(fal.jobs) == 0 and len(walk.tray) == 0  # Render leaves the undecided take alone

            online_access.use_online_access = False
            message = error_of(lambda: bpy.ops.canvas.resubmit(node_name="walk", tree_name=tree.name))
            assert "Allow Online Access" in message and not TRACEBACK.search(message), message
            assert session.ledger.job(cut.job_id).state == UNKNOWN  # type: ignore[union-attr]  # nothing decided

            online_access.use_online_access = True
            assert bpy.ops.canvas.resubmit(node_name="walk", tree_name=tree.name) == {"FINISHED"}
            drain_until_idle(tree)
            assert len(fal.jobs) == 1  # exactly one more submit
            assert walk.render_state == "done" and len(walk.tray) == 1, walk.status_message
            assert session.ledger.job(cut.job_id).state == SUPERSEDED  # type: ignore[union-attr]
            with pytest.raises(RuntimeError, match="waits for a decision"):  # greyed out now, with the reason
                bpy.ops.canvas.resubmit(node_name="walk", tree_name=tree.name)
        finally:
            bridge.close_sessions()
