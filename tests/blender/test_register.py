"""register / unregister / register in one process leaves no duplicate or orphan classes, menus or handlers."""

from __future__ import annotations

from conftest import run_blender_script

SCRIPT = """
import json
import bpy
import blender_canvas
from blender_canvas import blender_registration, nodes, operators
from blender_canvas.nodes import menus
from blender_canvas.operators import canvas_io

CLASSES = [*nodes._CLASSES, *operators._CLASSES]
MENUS = {"NODE_MT_add": menus.draw_add_menu, "TOPBAR_MT_file_import": canvas_io.draw_import_menu,
         "TOPBAR_MT_file_export": canvas_io.draw_export_menu}

def state():
    def can_make_tree():
        try:
            bpy.data.node_groups.remove(bpy.data.node_groups.new("probe", "BlenderCanvasTree"))
            return True
        except TypeError:
            return False
    return {
        "registered": sorted(c.__name__ for c in CLASSES if c.is_registered),
        "menu_draws": {m: sum(1 for f in getattr(bpy.types, m)._dyn_ui_initialize() if f is fn)
                       for m, fn in MENUS.items()},
        "save_pre": sum(1 for h in bpy.app.handlers.save_pre if h.__name__ == "keep_canvases_on_save"),
        "tree_type": can_make_tree(),
    }

steps = {"fresh": state()}
blender_canvas.register(); steps["registered"] = state()
blender_canvas.unregister(); steps["unregistered"] = state()
blender_canvas.register(); steps["registered_again"] = state()
bpy.ops.wm.read_homefile(use_empty=True); steps["after_new_file"] = state()
blender_canvas.unregister(); steps["unregistered_again"] = state()
print("RESULT " + json.dumps({"steps": steps, "class_count": len(CLASSES)}))
"""


def test_register_unregister_register_leaves_blender_clean() -> None:
    result = run_blender_script(SCRIPT)
    steps, count = result["steps"], result["class_count"]
    clean = {"registered": [], "menu_draws": {"NODE_MT_add": 0, "TOPBAR_MT_file_import": 0,
                                              "TOPBAR_MT_file_export": 0}, "save_pre": 0, "tree_type": False}
    assert steps["fresh"] == clean
    assert steps["unregistered"] == clean
    assert steps["unregistered_again"] == clean
    for name in ("registered", "registered_again", "after_new_file"):
        step = steps[name]
        assert len(step["registered"]) == count, name
        assert step["menu_draws"] == {"NODE_MT_add": 1, "TOPBAR_MT_file_import": 1, "TOPBAR_MT_file_export": 1}
        assert step["save_pre"] == 1
        assert step["tree_type"] is True
