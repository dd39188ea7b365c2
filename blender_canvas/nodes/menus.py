"""Shift+A in a Canvas tree: inputs, then image / video / voice models grouped by vendor, then the cut."""

from __future__ import annotations

import ast
from itertools import groupby
from typing import Any

import bpy
from bl_operators.node import NODE_OT_add_node

from ..providers.catalog import Kind, load_catalog
from .base import TREE_ID

KIND_NODE = {Kind.IMAGE: "CanvasImageNode", Kind.VIDEO: "CanvasVideoNode", Kind.AUDIO: "CanvasAudioNode"}


def model_tooltip(model_id: str) -> str:
    """What a Shift+A entry says of its model: vendor, variants, and whether it still runs."""
    model = load_catalog().model(model_id)
    if model is None:
        return "Add a model node"
    variants = ", ".join(v.label for v in model.variants)
    retired = all(v.status.status == "retired" for v in model.variants)
    status = " Retired: runs as a draft only." if retired else ""
    return f"Add a {model.label} node ({model.vendor}). Variants: {variants}.{status}"


class CANVAS_OT_add_model_node(NODE_OT_add_node):
    """Add a model node to the canvas"""

    # Blender's own Add Node (placement, the grab after adding, settings), with a tooltip per model.
    bl_idname = "canvas.add_model_node"
    bl_label = "Add Model Node"

    @classmethod
    def description(cls, context: Any, properties: Any) -> str:
        for setting in properties.settings:
            if setting.name == "model_id":
                try:
                    return model_tooltip(str(ast.literal_eval(setting.value)))
                except (ValueError, SyntaxError):
                    break
        return "Add a model node to the canvas"


def add_node_entry(layout: Any, node_type: str, text: str, model_id: str | None = None, icon: str = "NONE") -> Any:
    op = layout.operator("node.add_node" if model_id is None else CANVAS_OT_add_model_node.bl_idname, text=text,
                         icon=icon)
    op.type = node_type
    op.use_transform = True
    if model_id is not None:
        setting = op.settings.add()
        setting.name = "model_id"
        setting.value = repr(model_id)
    return op


def draw_models_of_kind(layout: Any, kind: Kind) -> None:
    """One labelled group per vendor, one entry per model, in catalog order."""
    models = [m for m in load_catalog().models if m.kind == kind]
    for vendor, group in groupby(sorted(models, key=lambda m: (m.preview_only, m.vendor)), key=lambda m: m.vendor):
        layout.label(text=vendor)
        for model in group:
            retired = all(v.status.status == "retired" for v in model.variants)
            add_node_entry(layout, KIND_NODE[kind], f"{model.label} (retired)" if retired else model.label, model.id)


class NODE_MT_canvas_image(bpy.types.Menu):
    bl_idname = "NODE_MT_canvas_image"
    bl_label = "Image"

    def draw(self, context: Any) -> None:
        draw_models_of_kind(self.layout, Kind.IMAGE)


class NODE_MT_canvas_video(bpy.types.Menu):
    bl_idname = "NODE_MT_canvas_video"
    bl_label = "Video"

    def draw(self, context: Any) -> None:
        draw_models_of_kind(self.layout, Kind.VIDEO)


class NODE_MT_canvas_audio(bpy.types.Menu):
    bl_idname = "NODE_MT_canvas_audio"
    bl_label = "Voice"

    def draw(self, context: Any) -> None:
        draw_models_of_kind(self.layout, Kind.AUDIO)


def draw_add_menu(self: Any, context: Any) -> None:
    """Appended to NODE_MT_add; draws only in a Canvas tree."""
    space = getattr(context, "space_data", None)
    if getattr(space, "tree_type", None) != TREE_ID:
        return
    layout = self.layout
    add_node_entry(layout, "CanvasReferenceNode", "Reference", icon="FILE_IMAGE")
    add_node_entry(layout, "CanvasShotNode", "Shot", icon="OUTLINER_OB_CAMERA")
    layout.separator()
    layout.menu(NODE_MT_canvas_image.bl_idname, icon="IMAGE_DATA")
    layout.menu(NODE_MT_canvas_video.bl_idname, icon="FILE_MOVIE")
    layout.menu(NODE_MT_canvas_audio.bl_idname, icon="SOUND")
    layout.separator()
    add_node_entry(layout, "CanvasSequenceNode", "Sequence", icon="SEQUENCE")


CLASSES: tuple[type, ...] = (CANVAS_OT_add_model_node, NODE_MT_canvas_image, NODE_MT_canvas_video, NODE_MT_canvas_audio)


def register_menus() -> None:
    bpy.types.NODE_MT_add.append(draw_add_menu)  # type: ignore[arg-type]


def unregister_menus() -> None:
    bpy.types.NODE_MT_add.remove(draw_add_menu)  # type: ignore[arg-type]
