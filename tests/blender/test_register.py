"""register / unregister / register in one process leaves no duplicate or orphan classes, menus or handlers."""

from __future__ import annotations

from tests.blender.helpers import run_blender_script

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
        "handlers": sum(1 for name, fn in blender_registration.HANDLERS for h in getattr(bpy.app.handlers, name)
                        if h.__name__ == fn.__name__),
        "tree_type": can_make_tree(),
    }

steps = {"fresh": state()}
blender_canvas.register(); steps["registered"] = state()
blender_canvas.unregister(); steps["unregistered"] = state()
blender_canvas.register(); steps["registered_again"] = state()
bpy.ops.wm.read_homefile(use_empty=True); steps["after_new_file"] = state()
from blender_canvas.operators import bridge
bpy.app.timers.register(bridge.drain_all, first_interval=60)  # as the add-on does in a real Blender
bridge.ensure_timer()
timer_armed = bpy.app.timers.is_registered(bridge.drain_all)
blender_canvas.unregister(); steps["unregistered_again"] = state()
steps["timer_left"] = bpy.app.timers.is_registered(__import__("blender_canvas.operators.bridge",
                                                               fromlist=["drain_all"]).drain_all)
print("RESULT " + json.dumps({"steps": steps, "class_count": len(CLASSES), "timer_armed": timer_armed}))
"""


def test_register_unregister_register_leaves_blender_clean() -> None:
    result = run_blender_script(SCRIPT)
    steps, count = result["steps"], result["class_count"]
    assert result["timer_armed"] is True
    assert steps.pop("timer_left") is False  # unregister stops the drain timer
    clean = {"registered": [], "menu_draws": {"NODE_MT_add": 0, "TOPBAR_MT_file_import": 0,
                                              "TOPBAR_MT_file_export": 0}, "handlers": 0, "tree_type": False}
    assert steps["fresh"] == clean
    assert steps["unregistered"] == clean
    assert steps["unregistered_again"] == clean
    for name in ("registered", "registered_again", "after_new_file"):
        step = steps[name]
        assert len(step["registered"]) == count, name
        assert step["menu_draws"] == {"NODE_MT_add": 1, "TOPBAR_MT_file_import": 1, "TOPBAR_MT_file_export": 1}
        assert step["handlers"] == 4  # save_pre, load_post, undo_post, redo_post
        assert step["tree_type"] is True
