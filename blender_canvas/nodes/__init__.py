"""The Canvas node tree: thin Blender views over the canvas document."""

from __future__ import annotations

import bpy

from . import canvas_nodes, menus, model_nodes, panel, sockets, tray
from .base import TREE_ID, CanvasNodeTree

_CLASSES: tuple[type, ...] = (
    *tray.CLASSES,
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
    menus.register_menus()


def unregister() -> None:
    panel.free_previews()
    menus.unregister_menus()
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
