"""Re-enabling the add-on with a populated canvas in the file never crashes Blender, and keeps every setting.

Each case runs in its own Python (a crash is a non-zero exit that fails the test, not the test run): on bpy 5.0.1
`register(); unregister(); register()` with a canvas holding nodes and links ended in a segmentation fault, because
a PointerProperty added to the registered tree made Blender update trees whose nodes were still undefined.
"""

from __future__ import annotations

from pathlib import Path

from tests.blender.helpers import run_blender_script

BUILD = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()

def build():
    tree = bpy.data.node_groups.new("Canvas", "BlenderCanvasTree")
    ref = tree.nodes.new("CanvasReferenceNode"); ref.name = "still"; ref.filepath = "//still.png"
    image = tree.nodes.new("CanvasImageNode"); image.name = "hero"
    video = tree.nodes.new("CanvasVideoNode"); video.name = "wide"
    shot = tree.nodes.new("CanvasShotNode"); shot.name = "shot"; shot.subject = "a runner"
    cut = tree.nodes.new("CanvasSequenceNode"); cut.name = "cut"
    tree.links.new(ref.outputs[0], image.inputs[0])
    tree.links.new(image.outputs[0], video.inputs["image"])
    tree.links.new(shot.outputs[0], video.inputs["shot"])
    tree.links.new(video.outputs[0], cut.inputs[0])
    take = video.tray.add(); take.take_id = "t1"; take.number = 1; take.media = "video"
    video.chosen_take = "t1"; video.render_state = "done"
    tree.canvas_bakeoff.brief = "a brief"; tree.canvas_bakeoff.axes.add().name = "motion"
    tree.canvas_review.takes.add().take_id = "t1"
    tree.budget_usd = 12.5
    return tree

def state():
    tree = bpy.data.node_groups["Canvas"]
    video = tree.nodes["wide"]
    return {"type": type(tree).__name__,
            "nodes": sorted(n.bl_idname for n in tree.nodes),
            "links": sorted((l.from_node.name, l.to_node.name, l.is_valid) for l in tree.links),
            "tray": [t.take_id for t in video.tray], "chosen": video.chosen_take,
            "brief": tree.canvas_bakeoff.brief, "axes": [a.name for a in tree.canvas_bakeoff.axes],
            "review": [t.take_id for t in tree.canvas_review.takes], "budget_cents": tree.budget_cents,
            "subject": tree.nodes["shot"].subject}
"""

CYCLE = BUILD + """
build()
before = state()
blender_canvas.unregister()
blender_canvas.register()
after = state()
blender_canvas.unregister()
blender_canvas.register()
again = state()
print("RESULT " + json.dumps({"before": before, "after": after, "again": again}))
"""

SAVE = BUILD + """
build()
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
print("RESULT " + json.dumps(state()))
"""

OPEN_WITHOUT_THEN_WITH = """
import json, sys
import bpy
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
tree = bpy.data.node_groups["Canvas"]
without = {"type": tree.bl_idname, "nodes": sorted(n.bl_idname for n in tree.nodes), "links": len(tree.links)}
import blender_canvas
blender_canvas.register()
tree = bpy.data.node_groups["Canvas"]
video = tree.nodes["wide"]
with_addon = {"type": type(tree).__name__, "nodes": sorted(n.bl_idname for n in tree.nodes),
              "links": sorted((l.from_node.name, l.to_node.name, l.is_valid) for l in tree.links),
              "tray": [t.take_id for t in video.tray], "chosen": video.chosen_take,
              "brief": tree.canvas_bakeoff.brief, "review": [t.take_id for t in tree.canvas_review.takes],
              "budget_cents": tree.budget_cents}
blender_canvas.unregister()
blender_canvas.register()
tree = bpy.data.node_groups["Canvas"]
print("RESULT " + json.dumps({"without": without, "with": with_addon, "nodes_again": len(tree.nodes)}))
"""

NODE_TYPES = sorted(["CanvasReferenceNode", "CanvasImageNode", "CanvasVideoNode", "CanvasShotNode",
                     "CanvasSequenceNode"])


def test_register_unregister_register_with_a_populated_canvas_keeps_it_whole() -> None:
    result = run_blender_script(CYCLE)  # exit 0: a segfault fails here
    before = result["before"]
    assert before["type"] == "CanvasNodeTree" and before["nodes"] == NODE_TYPES
    assert len(before["links"]) == 4 and all(valid for _a, _b, valid in before["links"])
    assert before["tray"] == ["t1"] and before["brief"] == "a brief" and before["review"] == ["t1"]
    assert before["budget_cents"] == 1250
    assert result["after"] == before
    assert result["again"] == before


def test_a_file_saved_with_the_addon_opens_without_it_then_with_it(tmp_path: Path) -> None:
    blend = tmp_path / "canvas.blend"
    saved = run_blender_script(SAVE, str(blend))
    assert blend.is_file()
    result = run_blender_script(OPEN_WITHOUT_THEN_WITH, str(blend))
    assert result["without"]["type"] == "NodeTreeUndefined"  # the add-on is off: Blender keeps it as data only
    assert result["without"]["links"] == 4
    opened = result["with"]
    assert opened["type"] == "CanvasNodeTree" and opened["nodes"] == NODE_TYPES
    assert opened["links"] == saved["links"]
    for field in ("tray", "chosen", "brief", "review", "budget_cents"):
        assert opened[field] == saved[field], field
    assert result["nodes_again"] == 5
