"""The Canvas node tree: thin Blender views over the canvas document."""

from __future__ import annotations

import bpy

from . import bakeoff_props, canvas_nodes, menus, model_nodes, panel, review_props, sockets, tray
from .base import TREE_ID
from .tree import CanvasNodeTree

_CLASSES: tuple[type, ...] = (
    *tray.CLASSES,
    *bakeoff_props.CLASSES,
    *review_props.CLASSES,
    *sockets.CLASSES,
    *model_nodes.CLASSES,
    *canvas_nodes.CLASSES,
    # The tree last: after the property groups its pointers name, and after its node and socket types, so a tree
    # already in the file (the add-on re-enabled) is re-typed with every node defined. Registering a socket or
    # node type after the tree made bpy 5.0.1 update trees whose nodes were still undefined, and crash.
    CanvasNodeTree,
    *menus.CLASSES,
    *panel.CLASSES,
)

__all__ = ["TREE_ID", "register", "unregister"]


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    menus.register_menus()


def unregister() -> None:
    panel.free_previews()
    menus.unregister_menus()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
