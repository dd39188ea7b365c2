"""The N-panel of the node editor: the active node's version tray, and the canvas's render buttons."""

from __future__ import annotations

import os
from typing import Any

import bpy
import bpy.utils.previews

from ..keys import current_keys
from ..providers.catalog import load_catalog
from .bakeoff_props import current_entrants
from .base import TREE_ID, draw_toggled
from .tray import draw_render_state, wrap_lines

MODEL_NODE_TYPES = ("CanvasImageNode", "CanvasVideoNode", "CanvasAudioNode")
_previews: Any = None  # bpy.utils.previews collection of tray thumbnails


def thumbnail_icon(path: str) -> int:
    """The icon id of a tray thumbnail (0 headless, where Blender makes no icons)."""
    global _previews
    if not path:
        return 0
    if _previews is None:
        _previews = bpy.utils.previews.new()
    absolute = bpy.path.abspath(path)
    if not os.path.isfile(absolute):
        return 0  # moved or deleted: the row draws with the media's icon instead
    if absolute not in _previews:
        _previews.load(absolute, absolute, "IMAGE")
    return int(_previews[absolute].icon_id)


def free_previews() -> None:
    global _previews
    if _previews is not None:
        bpy.utils.previews.remove(_previews)
        _previews = None


def take_words(take: Any) -> tuple[str, str, str]:
    """(model, variant, route) of a tray take as the catalog names them, never as ids."""
    catalog = load_catalog()
    model = catalog.model(take.model)
    variant = model.variant(take.variant or None) if model else None
    backend = catalog.backend(take.backend)
    return (model.label if model else (take.model or "Unknown model"),
            variant.label if variant else (take.variant or ""),
            backend.label if backend else (take.backend or "an unknown service"))


def take_row_label(take: Any) -> str:
    """'#2 Kling 3.0 · 5 s · $0.42 · seed 7 · 4.0/5': what a tray row says of its take."""
    _model, variant, _route = take_words(take)
    parts = [f"#{take.number} {variant}".rstrip()]
    if take.media != "image" and take.duration_s > 0:
        parts.append(f"{take.duration_s:.1f} s")
    parts.append(f"${take.cost_usd:.2f}")
    if take.has_seed:
        parts.append(f"seed {take.seed}")
    if take.scored:
        parts.append(f"{take.score_mean:.1f}/5" + (" (sample)" if take.sample_scores else ""))
    return " · ".join(parts)


class CANVAS_UL_tray(bpy.types.UIList):
    """A node's takes: thumbnail, model, seed, duration, cost; the chosen one is marked"""

    bl_idname = "CANVAS_UL_tray"

    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: int, active_data: Any,
                  active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        chosen = item.take_id == data.chosen_take
        icon_value = thumbnail_icon(item.thumbnail)
        row = layout.row(align=True)
        label = take_row_label(item)
        if item.file and not os.path.isfile(bpy.path.abspath(item.file)):
            row.alert = True
            label += " · file missing"
        if icon_value:
            row.label(text=label, icon_value=icon_value)
        else:
            row.label(text=label, icon="FILE_MOVIE" if item.media == "video" else "IMAGE_DATA"
                      if item.media == "image" else "SOUND")
        op = row.operator("canvas.pin_take", text="", icon="SOLO_ON" if item.best else "SOLO_OFF", emboss=False)
        op.node_name, op.take_id = data.name, item.take_id
        review = getattr(data.id_data, "canvas_review", None)  # the review set (vse/review_ops.py) on the tree
        if review is not None and item.media != "audio":
            reviewed = any(r.take_id == item.take_id for r in review.takes)
            op = row.operator("canvas.review_toggle", text="", icon="SEQ_SPLITVIEW", depress=reviewed)
            op.tree_name, op.node_name, op.take_id = data.id_data.name, data.name, item.take_id
        op = row.operator("canvas.pick_take", text="", icon="CHECKBOX_HLT" if chosen else "CHECKBOX_DEHLT",
                          emboss=False)
        op.node_name, op.take_id = data.name, item.take_id


class NODE_PT_canvas_tray(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Canvas"
    bl_label = "Version Tray"

    @classmethod
    def poll(cls, context: Any) -> bool:
        space = getattr(context, "space_data", None)
        node = getattr(getattr(space, "edit_tree", None), "nodes", None)
        return bool(getattr(space, "tree_type", "") == TREE_ID and node is not None and node.active is not None
                    and node.active.bl_idname in MODEL_NODE_TYPES)

    def draw(self, context: Any) -> None:
        draw_tray(self.layout, context.space_data.edit_tree.nodes.active)


def draw_tray(layout: Any, node: Any) -> None:
    layout.label(text=node.draw_label(), icon="NODE")
    draw_render_state(node, layout, full=True)
    row = layout.row(align=True)
    tree_name = node.id_data.name
    op = row.operator("canvas.render", text="Render", icon="RENDER_STILL")
    op.mode, op.node_name, op.tree_name = "NODE", node.name, tree_name
    op = row.operator("canvas.render", text="New Take", icon="ADD")
    op.mode, op.node_name, op.new_take, op.tree_name = "NODE", node.name, True, tree_name
    op = row.operator("canvas.cancel", text="", icon="CANCEL")
    op.node_name, op.tree_name = node.name, tree_name
    layout.template_list(CANVAS_UL_tray.bl_idname, "", node, "tray", node, "tray_index", rows=4)
    if 0 <= node.tray_index < len(node.tray):
        take = node.tray[node.tray_index]
        column = layout.column(align=True)
        model, variant, route = take_words(take)
        column.label(text=f"{variant or model} via {route}")
        if take.file and not os.path.isfile(bpy.path.abspath(take.file)):
            column.label(text=f"File missing: {take.file}", icon="ERROR")
        for line in wrap_lines(take.prompt[:600])[:6] if take.prompt else ["No prompt"]:
            column.label(text=line)
        draw_verdict(layout, node, take)
        row = layout.row(align=True)
        for text, icon, idname, extra in (("Play", "PLAY", "canvas.open_take", {}),
                                          ("Reveal", "FILE_FOLDER", "canvas.open_take", {"reveal": True}),
                                          ("Remove", "TRASH", "canvas.remove_take", {})):
            op = row.operator(idname, text=text, icon=icon)
            op.node_name, op.take_id = node.name, take.take_id
            for key, value in extra.items():
                setattr(op, key, value)


def draw_verdict(layout: Any, node: Any, take: Any) -> None:
    """The take's verdict (a copy of the ledger's), with Score and the per-axis pins."""
    tree = node.id_data
    axes = [a.name for a in tree.canvas_bakeoff.axes]
    box = layout.box()
    row = box.row(align=True)
    title = f"Take {take.number}: " + (f"mean {take.score_mean:.1f} / 5" if take.scored else "not scored")
    row.label(text=title + (" · sample scores" if take.sample_scores else ""), icon="SOLO_ON" if take.best
              else "SORTBYEXT")
    op = row.operator("canvas.score_take", text="Score", icon="GREASEPENCIL")
    op.node_name, op.take_id = node.name, take.take_id
    scores = dict(line.rsplit(": ", 1) for line in take.verdict_text.splitlines() if ": " in line)
    pinned = {a.strip() for a in take.best_axes.split(",") if a.strip()}
    column = box.column(align=True)
    for axis in axes:
        row = column.row(align=True)
        row.label(text=f"{axis.capitalize()}: {scores.get(axis, '-')}")
        op = row.operator("canvas.pin_take", text="", icon="SOLO_ON" if axis in pinned else "SOLO_OFF", emboss=False)
        op.node_name, op.take_id, op.axis = node.name, take.take_id, axis
    for line in wrap_lines(take.verdict_note[:600])[:6] if take.verdict_note else []:
        box.label(text=line)


class CANVAS_UL_bakeoff_candidates(bpy.types.UIList):
    """The model / variant pairs the bake-off builder wires in"""

    bl_idname = "CANVAS_UL_bakeoff_candidates"

    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: int, active_data: Any,
                  active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        row = layout.row(align=True)
        row.prop(item, "model", text="")
        row.prop(item, "variant", text="")


class CANVAS_UL_bakeoff_axes(bpy.types.UIList):
    """The axes takes are judged on"""

    bl_idname = "CANVAS_UL_bakeoff_axes"

    def draw_item(self, context: Any, layout: Any, data: Any, item: Any, icon: int, active_data: Any,
                  active_property: str, index: int = 0, flt_flag: int = 0) -> None:
        layout.label(text=item.name)  # renamed with the Rename button, which carries the scores over


class NODE_PT_canvas_bakeoff(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Canvas"
    bl_label = "Bake-off"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return bool(getattr(getattr(context, "space_data", None), "tree_type", "") == TREE_ID
                    and context.space_data.edit_tree is not None)

    def draw_header(self, context: Any) -> None:
        layout: Any = self.layout
        layout.prop(context.space_data.edit_tree.canvas_bakeoff, "enabled", text="")

    def draw(self, context: Any) -> None:
        tree = context.space_data.edit_tree
        settings = tree.canvas_bakeoff
        layout: Any = self.layout
        layout.prop(settings, "brief")
        layout.prop_search(settings, "image_node", tree, "nodes", icon="IMAGE_DATA")
        layout.prop_search(settings, "shot_node", tree, "nodes", icon="OUTLINER_OB_CAMERA")
        row = layout.row(align=True)
        row.prop(settings, "takes")
        row.prop(settings, "duration_s", text="Seconds")
        layout.label(text="Entrants")
        row = layout.row()
        row.template_list(CANVAS_UL_bakeoff_candidates.bl_idname, "", settings, "candidates", settings,
                          "candidate_index", rows=4)
        column = row.column(align=True)
        column.operator("canvas.bakeoff_candidate", text="", icon="ADD")
        column.operator("canvas.bakeoff_candidate", text="", icon="REMOVE").remove = True
        layout.operator("canvas.bakeoff_build", icon="NODETREE")
        entrants, gone = current_entrants(tree)
        if settings.enabled and len(entrants) < 2:
            layout.label(text="Not built yet: pick the image and shot, add entrants, Build", icon="INFO")
        for name in gone:
            layout.label(text=f"Entrant '{name}' was deleted; {len(entrants)} remain", icon="ERROR")
        for flag in settings.flags.splitlines():
            layout.label(text=flag, icon="ERROR")
        layout.label(text="Judging axes (scores 1-5)")
        row = layout.row()
        row.template_list(CANVAS_UL_bakeoff_axes.bl_idname, "", settings, "axes", settings, "axis_index", rows=4)
        column = row.column(align=True)
        column.operator("canvas.bakeoff_axis", text="", icon="ADD").action = "ADD"
        column.operator("canvas.bakeoff_axis", text="", icon="REMOVE").action = "REMOVE"
        column.operator("canvas.bakeoff_axis", text="", icon="GREASEPENCIL").action = "RENAME"
        column.operator("canvas.bakeoff_axis", text="", icon="LOOP_BACK").action = "RESET"
        layout.operator("canvas.bakeoff_report", icon="URL")


class NODE_PT_canvas_render(bpy.types.Panel):
    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Canvas"
    bl_label = "Canvas"

    @classmethod
    def poll(cls, context: Any) -> bool:
        return bool(getattr(getattr(context, "space_data", None), "tree_type", "") == TREE_ID
                    and context.space_data.edit_tree is not None)

    def draw(self, context: Any) -> None:
        tree = context.space_data.edit_tree
        layout: Any = self.layout
        layout.prop(tree, "draft")
        row = layout.row(align=True)
        row.prop(tree, "use_budget", text="")
        sub = row.row(align=True)
        sub.active = tree.use_budget
        sub.prop(tree, "budget_usd", text="Budget ($)")
        row = layout.row(align=True)
        for mode, text in (("SELECTED", "Render Selected"), ("ALL", "Render All")):
            op: Any = row.operator("canvas.render", text=text)
            op.mode = mode
        layout.operator("canvas.cancel", text="Cancel All", icon="CANCEL")
        draw_offline_note(layout)


def draw_offline_note(layout: Any) -> None:
    """Said once, here, rather than on every node: what works with no key and no network, and what paid nodes need."""
    offline, keyless = not bpy.app.online_access, not current_keys()
    if not (offline or keyless):
        return
    column = layout.column(align=True)
    column.label(text="Offline: Draft renders, the VSE cut, exports and review all work", icon="INFO")
    if offline:
        column.label(text="Paid nodes need Allow Online Access (Preferences ▸ System)")
    if keyless:
        column.label(text="Paid nodes need an API key (the add-on's preferences)")


class NODE_PT_canvas_settings(bpy.types.Panel):
    """The canvas-level settings: what every node and shot uses unless it sets its own"""

    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Canvas"
    bl_label = "Canvas Settings"
    bl_options = {"DEFAULT_CLOSED"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        return bool(getattr(getattr(context, "space_data", None), "tree_type", "") == TREE_ID
                    and context.space_data.edit_tree is not None)

    def draw(self, context: Any) -> None:
        draw_canvas_settings(self.layout, context.space_data.edit_tree)


def draw_canvas_settings(layout: Any, tree: Any) -> None:
    layout.use_property_split = True
    layout.use_property_decorate = False
    column = layout.column()
    column.prop(tree, "canvas_title")
    column.prop(tree, "default_aspect_ratio")
    column.prop(tree, "default_duration_s")
    draw_toggled(column, tree, "use_default_seed", "default_seed", "Seed")
    column.prop(tree, "default_resolution", placeholder="Each model's own")
    column.prop(tree, "fps")
    column.prop(tree, "project_dir", placeholder="Beside the .blend")


CLASSES: tuple[type, ...] = (CANVAS_UL_tray, CANVAS_UL_bakeoff_candidates, CANVAS_UL_bakeoff_axes,
                             NODE_PT_canvas_tray, NODE_PT_canvas_render, NODE_PT_canvas_settings,
                             NODE_PT_canvas_bakeoff)
