"""The bake-off on real bpy: the builder wires controlled entrants, verdicts and pins go to the ledger and travel
with the canvas, and judging re-renders nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import pytest

from blender_canvas.engine.document import DEFAULT_AXES
from blender_canvas.nodes.convert import tree_to_data
from blender_canvas.operators import bridge
from blender_canvas.operators.canvas_io import export_canvas_file, import_canvas_file
from blender_canvas.providers.preview import PreviewBackend
from tests.blender.helpers import CANVASES
from tests.blender.test_render_operators import drain_until_idle

PAIRS = (("kling-3", "3.0"), ("kling-3", "o3"), ("seedance-2", "pro"), ("veo-3.1", "standard"))


@pytest.fixture
def bakeoff_tree(tmp_path: Path) -> Any:
    """The shared bake-off canvas cut back to its still and shot, built again with the builder."""
    data = json.loads((CANVASES / "bakeoff-four-models.json").read_text())
    data["nodes"] = [n for n in data["nodes"] if n["kind"] in ("image", "shot")]
    source = tmp_path / "cafe.json"
    source.write_text(json.dumps(data))
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "cafe.blend"))
    tree, _ = import_canvas_file(source)
    tree.draft = True
    settings = tree.canvas_bakeoff
    settings.image_node, settings.shot_node, settings.takes, settings.duration_s = "ref", "shot", 3, 5
    settings.brief = "Warm, believable cafe moment for a coffee brand; hands and face must hold up"
    for model, variant in PAIRS:
        bpy.ops.canvas.bakeoff_candidate(tree_name=tree.name)
        settings.candidates[-1].model_id, settings.candidates[-1].variant_id = model, variant
    assert bpy.ops.canvas.bakeoff_build(tree_name=tree.name) == {"FINISHED"}
    yield tree
    bridge.close_sessions()


def _entrants(tree: Any) -> list[Any]:
    return [tree.nodes[e.name] for e in tree.canvas_bakeoff.entrants]


def test_builder_wires_four_entrants_with_identical_controlled_inputs(bakeoff_tree: Any) -> None:
    tree = bakeoff_tree
    entrants = _entrants(tree)
    assert [(n.model_id, n.variant_id) for n in entrants] == list(PAIRS)
    shot = tree.nodes["shot"]
    assert (shot.aspect_ratio, shot.use_seed, shot.seed, shot.duration_s) == ("16:9", True, 7, 5)
    for node in entrants:
        links = {link.to_socket.identifier: link.from_node.name for link in tree.links if link.to_node == node}
        assert links == {"image": "ref", "shot": "shot"}, node.name
        assert node.takes == 3 and node.aspect_ratio == "" and not node.use_seed
        assert all(not getattr(node, field) for field in ("subject", "action", "camera", "lens", "lighting"))
    # Veo 3.1 cannot run 5 s: its node runs the nearest allowed length and says so; the others inherit 5 s
    durations = {n.model_id + "/" + n.variant_id: n.duration_s for n in entrants}
    assert durations == {"kling-3/3.0": 0, "kling-3/o3": 0, "seedance-2/pro": 0, "veo-3.1/standard": 4}
    flags = tree.canvas_bakeoff.flags.splitlines()
    assert any("Veo 3.1 cannot run 5 s" in f and "runs 4 s" in f for f in flags)
    assert [a.name for a in tree.canvas_bakeoff.axes] == list(DEFAULT_AXES)
    # a second build keeps the same nodes (no doubles) and the canvas validates with the bake-off in it
    bpy.ops.canvas.bakeoff_build(tree_name=tree.name)
    assert len([n for n in tree.nodes if n.bl_idname == "CanvasVideoNode"]) == 4
    data = tree_to_data(tree, Path(bpy.path.abspath("//")))
    assert data["bakeoff"]["entrants"] == [n.name for n in entrants] and data["bakeoff"]["takes"] == 3


def test_builder_refuses_a_model_without_a_first_frame_input_clearly(bakeoff_tree: Any) -> None:
    settings = bakeoff_tree.canvas_bakeoff
    settings.candidates[0].model_id, settings.candidates[0].variant_id = "kling-avatar", ""
    with pytest.raises(RuntimeError, match="runs as long as its audio input"):
        bpy.ops.canvas.bakeoff_build(tree_name=bakeoff_tree.name)


def test_scoring_and_pinning_go_to_the_ledger_and_rerender_nothing(bakeoff_tree: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tree = bakeoff_tree
    bpy.ops.canvas.render(mode="ALL", tree_name=tree.name)
    drain_until_idle(tree)
    session = bridge.session_for(tree)
    jobs_before = len(session.ledger.jobs())
    assert jobs_before == 1 + 4 * 3  # the still and three takes of each entrant
    kling = _entrants(tree)[0]
    first, second = kling.tray[0], kling.tray[1]
    axes = [a.name for a in tree.canvas_bakeoff.axes]
    assert bpy.ops.canvas.score_take(tree_name=tree.name, node_name=kling.name, take_id=first.take_id,
                                     scores=(4, 3, 5, 2, 4, 5) + (0,) * 10, note="hands hold up") == {"FINISHED"}
    bpy.ops.canvas.score_take(tree_name=tree.name, node_name=kling.name, take_id=second.take_id,
                              scores=(2,) * 6 + (0,) * 10)
    bpy.ops.canvas.pin_take(tree_name=tree.name, node_name=kling.name, take_id=first.take_id)
    bpy.ops.canvas.pin_take(tree_name=tree.name, node_name=kling.name, take_id=second.take_id, axis=axes[0])
    verdict = session.ledger.verdict(first.take_id)
    assert verdict is not None and verdict.scores == dict(zip(axes, (4, 3, 5, 2, 4, 5), strict=True))
    assert verdict.note == "hands hold up" and not verdict.sample
    assert session.ledger.pins("node") == {kling.name: first.take_id}
    assert session.ledger.pins("axis") == {axes[0]: second.take_id}
    assert first.scored and abs(first.score_mean - 23 / 6) < 1e-6 and first.best and not second.best
    assert second.best_axes == axes[0]
    # out-of-range and unknown axes are refused with a message, and change nothing
    with pytest.raises(RuntimeError, match="no axis 'smell'"):
        bpy.ops.canvas.pin_take(tree_name=tree.name, node_name=kling.name, take_id=first.take_id, axis="smell")
    # judging re-renders nothing: rendering the whole canvas again is all cache hits, no job reaches a backend
    submits: list[str] = []

    def refuse(_backend: Any, request: Any) -> Any:
        submits.append(request.node_id)
        raise AssertionError("a submit reached the backend after judging")

    monkeypatch.setattr(PreviewBackend, "submit", refuse)
    trays = {n.name: len(n.tray) for n in _entrants(tree)}
    bpy.ops.canvas.render(mode="ALL", tree_name=tree.name)
    drain_until_idle(tree)
    assert len(session.ledger.jobs()) == jobs_before and submits == []
    assert {n.name: len(n.tray) for n in _entrants(tree)} == trays
    assert all(n.render_state == "done" for n in _entrants(tree))
    # verdicts travel with the exported canvas
    exported = tmp_path / "exported.json"
    export_canvas_file(tree, exported)
    bakeoff = json.loads(exported.read_text())["bakeoff"]
    by_take = {v["take_id"]: v for v in bakeoff["verdicts"]}
    assert by_take[first.take_id]["scores"][axes[2]] == 5 and by_take[first.take_id]["take"] == first.number
    assert bakeoff["best"] == {kling.name: first.take_id} and bakeoff["best_per_axis"] == {axes[0]: second.take_id}
    # unpinning is pressing again
    bpy.ops.canvas.pin_take(tree_name=tree.name, node_name=kling.name, take_id=first.take_id)
    assert session.ledger.pins("node") == {} and not first.best


def test_bakeoff_settings_survive_save_and_reopen(bakeoff_tree: Any, tmp_path: Path) -> None:
    names = [e.name for e in bakeoff_tree.canvas_bakeoff.entrants]
    path = tmp_path / "cafe.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bridge.close_sessions()
    bpy.ops.wm.open_mainfile(filepath=str(path))
    tree = next(t for t in bpy.data.node_groups if t.bl_idname == "BlenderCanvasTree")
    settings = tree.canvas_bakeoff
    assert settings.enabled and [e.name for e in settings.entrants] == names
    assert settings.brief.startswith("Warm, believable") and len(settings.axes) == len(DEFAULT_AXES)
    assert [(c.model_id, c.variant_id) for c in settings.candidates] == list(PAIRS)


def test_report_operator_writes_the_report_beside_the_takes_with_the_ledgers_scores(bakeoff_tree: Any) -> None:
    tree = bakeoff_tree
    bpy.ops.canvas.render(mode="ALL", tree_name=tree.name)
    drain_until_idle(tree)
    veo = _entrants(tree)[3]
    bpy.ops.canvas.score_take(tree_name=tree.name, node_name=veo.name, take_id=veo.tray[0].take_id,
                              scores=(5, 4, 3, 2, 1, 5) + (0,) * 10, note="<b>bold</b> claim")
    assert bpy.ops.canvas.bakeoff_report(tree_name=tree.name, open_browser=False) == {"FINISHED"}
    html = Path(tree.canvas_bakeoff.report_path)
    assert html.name == "report.html" and html.is_file()
    assert html.parent == bridge.session_for(tree).project_dir / "report"
    data = json.loads(html.with_name("report.json").read_text())
    takes = {t["take_id"]: t for entrant in data["entrants"] for t in entrant["takes"]}
    assert len(takes) == 12
    axes = [a.name for a in tree.canvas_bakeoff.axes]
    assert takes[veo.tray[0].take_id]["scores"] == dict(zip(axes, (5, 4, 3, 2, 1, 5), strict=True))
    text = html.read_text()
    assert text.count('class="contact-sheet"') == 12 and "&lt;b&gt;bold&lt;/b&gt; claim" in text
    assert "<b>bold</b>" not in text


def test_a_deleted_or_renamed_entrant_never_blocks_the_canvas(bakeoff_tree: Any) -> None:
    from blender_canvas.operators.render import tree_canvas

    tree = bakeoff_tree
    first, second = _entrants(tree)[0], _entrants(tree)[1]
    second.name = "kling-omni-take"  # renamed in the editor: found again by model, variant and wiring
    tree.nodes.remove(first)  # deleted: dropped from the bake-off, the rest still renders
    canvas = tree_canvas(tree)
    assert canvas.bakeoff is not None
    assert canvas.bakeoff.entrants == ["kling-omni-take", "seedance-2-pro", "veo-3.1-standard"]
    from blender_canvas.nodes.bakeoff_props import current_entrants

    assert current_entrants(tree)[1] == ["kling-3-3.0"]
    assert bpy.ops.canvas.render(mode="NODE", node_name="seedance-2-pro", tree_name=tree.name) == {"FINISHED"}
    drain_until_idle(tree)
    assert len(tree.nodes["seedance-2-pro"].tray) == 3


def test_ticking_bakeoff_before_building_changes_nothing(tmp_path: Path) -> None:
    from blender_canvas.operators.render import tree_canvas

    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "plain.blend"))
    tree, _ = import_canvas_file(CANVASES / "bakeoff-four-models.json")
    tree.canvas_bakeoff.enabled = True  # the panel header's checkbox, nothing else set yet
    canvas = tree_canvas(tree)
    assert canvas.bakeoff is None and len(canvas.nodes) == 6
    bridge.close_sessions()


def test_builder_refuses_preview_models_and_flags_retired_ones(bakeoff_tree: Any) -> None:
    settings = bakeoff_tree.canvas_bakeoff
    settings.candidates[0].model_id, settings.candidates[0].variant_id = "preview-video", ""
    with pytest.raises(RuntimeError, match="entrant 1: 'preview-video' is not a video model"):
        bpy.ops.canvas.bakeoff_build(tree_name=bakeoff_tree.name)
    settings.candidates[0].model_id, settings.candidates[0].variant_id = "sora-2", "pro"
    assert bpy.ops.canvas.bakeoff_build(tree_name=bakeoff_tree.name) == {"FINISHED"}
    assert any("Sora 2 Pro was retired" in flag and "draft mode only" in flag
               for flag in settings.flags.splitlines())


def test_renaming_an_axis_carries_its_scores_and_pin_over(bakeoff_tree: Any) -> None:
    tree = bakeoff_tree
    bpy.ops.canvas.render(mode="NODE", node_name="kling-3-o3", tree_name=tree.name)
    drain_until_idle(tree)
    node = tree.nodes["kling-3-o3"]
    take = node.tray[0]
    bpy.ops.canvas.score_take(tree_name=tree.name, node_name=node.name, take_id=take.take_id,
                              scores=(1, 2, 3, 4, 5, 3) + (0,) * 10)
    settings = tree.canvas_bakeoff
    old = settings.axes[1].name
    bpy.ops.canvas.pin_take(tree_name=tree.name, node_name=node.name, take_id=take.take_id, axis=old)
    settings.axis_index = 1
    assert bpy.ops.canvas.bakeoff_axis(tree_name=tree.name, action="RENAME", axis="hands") == {"FINISHED"}
    ledger = bridge.session_for(tree).ledger
    assert settings.axes[1].name == "hands" and ledger.verdict(take.take_id).scores["hands"] == 2
    assert old not in ledger.verdict(take.take_id).scores and ledger.pins("axis") == {"hands": take.take_id}
    assert "hands: 2" in take.verdict_text.splitlines() and take.best_axes == "hands"
    with pytest.raises(RuntimeError, match="'prompt adherence' is empty or already an axis"):
        bpy.ops.canvas.bakeoff_axis(tree_name=tree.name, action="RENAME", axis="prompt adherence")
