"""The Canvas node tree: thin Blender views over the canvas document."""

from __future__ import annotations

import bpy

TREE_ID = "BlenderCanvasTree"


class CanvasNodeTree(bpy.types.NodeTree):
    """A generation canvas: reference stills, shot prompts, image, video and voice models, and the cut"""

    bl_idname = TREE_ID
    bl_label = "Generation Canvas"
    bl_icon = "NODETREE"


_CLASSES: tuple[type, ...] = (CanvasNodeTree,)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
