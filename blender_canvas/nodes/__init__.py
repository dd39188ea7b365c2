"""The Canvas node tree: thin Blender views over the canvas document."""

from __future__ import annotations

import bpy

from . import bakeoff_props, canvas_nodes, menus, model_nodes, panel, sockets, tray
from .base import TREE_ID, CanvasNodeTree

_CLASSES: tuple[type, ...] = (
    *tray.CLASSES,
    *bakeoff_props.CLASSES,
    CanvasNodeTree,
    *sockets.CLASSES,
    *model_nodes.CLASSES,
    *canvas_nodes.CLASSES,
    *menus.CLASSES,
    *panel.CLASSES,
)

__all__ = ["TREE_ID", "register", "unregister"]


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    # the bake-off settings hang off the tree (added after both are registered: a pointer needs its type known)
    CanvasNodeTree.canvas_bakeoff = bpy.props.PointerProperty(  # type: ignore[attr-defined]
        type=bakeoff_props.CanvasBakeOffSettings)
    menus.register_menus()


def unregister() -> None:
    panel.free_previews()
    menus.unregister_menus()
    del CanvasNodeTree.canvas_bakeoff  # type: ignore[attr-defined]
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
