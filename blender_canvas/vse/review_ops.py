"""Side-by-side review from the N-panel: the reviewed takes of a canvas, and toggling, building and clearing them.

The review set lives on the canvas tree (``tree.canvas_review``), so it is saved with the .blend. Nothing here
reaches the engine: the review plays take files already on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import bpy

from ..engine.review_layout import TAKE_COUNTS, ReviewLayoutError, check_take_count
from ..nodes.panel import take_words
from ..nodes.review_props import LAYOUT_ITEMS
from ..operators import polls
from ..operators.render import CanvasActionError, active_tree
from ..operators.wording import blender_words
from .review import ReviewError, ReviewSource, build_review, find_review_scene, remove_review

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
MAX_TAKES = max(high for _low, high in TAKE_COUNTS.values())


def tray_entry(tree: Any, node_name: str, take_id: str) -> tuple[Any, Any, int]:
    """(node, tray entry, position in the tray); None for what is gone."""
    node = tree.nodes.get(node_name)
    for index, entry in enumerate(getattr(node, "tray", ())):
        if entry.take_id == take_id:
            return node, entry, index
    return node, None, -1


def take_label(tree: Any, node_name: str, take_id: str) -> str:
    """'<node> · <model variant> · take N', N the take's own number (as the tray and the report say it), the
    model and variant as the catalog names them."""
    _node, entry, _index = tray_entry(tree, node_name, take_id)
    if entry is None:
        return f"{node_name or 'A take'} (no longer in its tray)"
    model, variant, _route = take_words(entry)
    return f"{node_name} · {variant or model} · take {entry.number}"


def is_reviewed(tree: Any, node_name: str, take_id: str) -> bool:
    return any(t.node_name == node_name and t.take_id == take_id for t in tree.canvas_review.takes)


def review_sources(tree: Any) -> tuple[list[ReviewSource], list[str]]:
    """The reviewed takes whose files exist, and the labels of those that cannot be shown (skipped)."""
    sources, skipped = [], []
    for item in tree.canvas_review.takes:
        label = take_label(tree, item.node_name, item.take_id)
        _node, entry, _index = tray_entry(tree, item.node_name, item.take_id)
        file = Path(bpy.path.abspath(entry.file)) if entry is not None and entry.file else None
        if file is None or not file.is_file():
            skipped.append(f"{label}: file missing" if entry is not None else label)
        else:
            sources.append(ReviewSource(node=item.node_name, take_id=item.take_id, file=file, label=label))
    return sources, skipped


def _has_window(context: Any) -> bool:
    return not bpy.app.background and getattr(context, "window", None) is not None


class _ReviewOperator(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, cls.need)

    need: polls.Need | None = None

    def execute(self, context: Any) -> OperatorResult:
        try:
            return self.act(context, active_tree(context, self.tree_name))
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}

    def act(self, context: Any, tree: Any) -> OperatorResult:
        raise NotImplementedError


class CANVAS_OT_review_toggle(_ReviewOperator):
    """Add this take to the side-by-side review, or take it out (nothing is rendered)"""

    bl_idname = "canvas.review_toggle"
    bl_label = "Review Take"
    need = staticmethod(polls.has_takes)

    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    take_id: bpy.props.StringProperty(options={"SKIP_SAVE"})

    def act(self, context: Any, tree: Any) -> OperatorResult:
        takes = tree.canvas_review.takes
        for index, item in enumerate(takes):
            if item.node_name == self.node_name and item.take_id == self.take_id:
                takes.remove(index)
                self.report({"INFO"}, f"Out of the review ({len(takes)} take(s) left)")
                return {"FINISHED"}
        _node, entry, _index = tray_entry(tree, self.node_name, self.take_id)
        if entry is None:
            raise CanvasActionError(f"'{self.node_name}' no longer has that take (it was removed)")
        if entry.media == "audio":
            raise CanvasActionError("A voice or sound take has no picture to review side by side")
        if len(takes) >= MAX_TAKES:
            raise CanvasActionError(f"The review holds at most {MAX_TAKES} takes: take one out first")
        item = takes.add()
        item.node_name, item.take_id = self.node_name, self.take_id
        self.report({"INFO"}, f"In the review ({len(takes)} take(s))")
        return {"FINISHED"}


class CANVAS_OT_review_build(_ReviewOperator):
    """Lay the reviewed takes out in the review scene to play in step (re-renders nothing)"""

    bl_idname = "canvas.review_build"
    bl_label = "Build Review"
    need = staticmethod(polls.has_review)

    show: bpy.props.BoolProperty(name="Show", description="Switch the window to the review scene",
                                 options={"SKIP_SAVE"})

    def act(self, context: Any, tree: Any) -> OperatorResult:
        state = tree.canvas_review
        sources, skipped = review_sources(tree)
        if skipped:
            self.report({"WARNING"}, "Skipped: " + "; ".join(skipped))
        advice = count_advice(state.layout, len(sources))
        if advice:
            raise CanvasActionError(f"Review not built: {advice}" + (" (the others are missing)" if skipped else ""))
        try:
            report = build_review(tree.name, sources, state.layout, tree.fps)
        except (ReviewError, ReviewLayoutError) as error:
            raise CanvasActionError(f"Review not built: {blender_words(str(error))}") from error
        if self.show:
            show_scene(context, state, bpy.data.scenes[report.scene])
        name = next((item[1] for item in LAYOUT_ITEMS if item[0] == report.layout), report.layout)
        self.report({"INFO"}, f"Review: {len(sources)} takes, {name}, "
                              f"{report.width}x{report.height}, {report.frame_end} frames; {report.sound_note}")
        return {"FINISHED"}


def show_scene(context: Any, state: Any, scene: Any) -> None:
    """Point the window (and Blender 5's sequencer) at `scene`; only with a window, never headless."""
    if not _has_window(context):
        return
    window, workspace = context.window, getattr(context, "workspace", None)
    if window.scene != scene:
        state.return_scene = window.scene.name
        window.scene = scene
    if workspace is not None and hasattr(workspace, "sequencer_scene") and workspace.sequencer_scene != scene:
        state.return_sequencer_scene = workspace.sequencer_scene.name if workspace.sequencer_scene else ""
        workspace.sequencer_scene = scene


class CANVAS_OT_review_clear(_ReviewOperator):
    """Empty the review and delete its scene (the takes themselves stay in their trays)"""

    bl_idname = "canvas.review_clear"
    bl_label = "Clear Review"

    def act(self, context: Any, tree: Any) -> OperatorResult:
        state = tree.canvas_review
        scene = find_review_scene(tree.name)
        if scene is not None and _has_window(context):  # step off the scene before deleting it
            back = bpy.data.scenes.get(state.return_scene)
            if context.window.scene == scene and back is not None:
                context.window.scene = back
            workspace = getattr(context, "workspace", None)
            if workspace is not None and getattr(workspace, "sequencer_scene", None) == scene:
                workspace.sequencer_scene = bpy.data.scenes.get(state.return_sequencer_scene)
        removed = remove_review(tree.name)
        state.takes.clear()
        state.return_scene = state.return_sequencer_scene = ""
        self.report({"INFO"}, "Review cleared" + (" and its scene deleted" if removed else ""))
        return {"FINISHED"}


def draw_review_toggle(layout: Any, tree: Any, node: Any, entry: Any) -> None:
    """A small toggle per tray take: pressed while the take is in the review. Nothing for sound takes."""
    if entry.media == "audio":
        return
    reviewed = is_reviewed(tree, node.name, entry.take_id)
    op = layout.operator(CANVAS_OT_review_toggle.bl_idname, text="", icon="SEQ_SPLITVIEW", depress=reviewed)
    op.tree_name, op.node_name, op.take_id = tree.name, node.name, entry.take_id


def draw_review_panel(layout: Any, tree: Any) -> None:
    """The reviewed takes (each with a remove button), the layout choice, and Build / Show / Clear."""
    state = tree.canvas_review
    column = layout.column(align=True)
    if not state.takes:
        column.label(text="Pick takes with the review toggle in a tray", icon="INFO")
    for item in state.takes:
        row = column.row(align=True)
        row.label(text=take_label(tree, item.node_name, item.take_id), icon="FILE_MOVIE")
        op = row.operator(CANVAS_OT_review_toggle.bl_idname, text="", icon="X")
        op.tree_name, op.node_name, op.take_id = tree.name, item.node_name, item.take_id
    layout.prop(state, "layout", expand=True)
    if state.takes:  # nothing to say before a review is asked for
        layout.label(text=count_advice(state.layout, len(state.takes)) or "Ready to build", icon="INFO")
    row = layout.row(align=True)
    op = row.operator(CANVAS_OT_review_build.bl_idname, text="Build Review", icon="SEQ_SPLITVIEW")
    op.tree_name = tree.name
    op = row.operator(CANVAS_OT_review_build.bl_idname, text="", icon="HIDE_OFF")
    op.tree_name, op.show = tree.name, True
    op = row.operator(CANVAS_OT_review_clear.bl_idname, text="", icon="TRASH")
    op.tree_name = tree.name


def count_advice(layout_id: str, count: int) -> str:
    """'' when `count` takes suit the layout, else what it shows, in words ("Side by Side shows 2 to 4 takes")."""
    try:
        check_take_count(layout_id, count)
    except ReviewLayoutError:
        low, high = TAKE_COUNTS[layout_id]
        name = next(item[1] for item in LAYOUT_ITEMS if item[0] == layout_id)
        shows = f"exactly {low}" if low == high else f"{low} to {high}"
        return f"{name} shows {shows} takes; {count} picked"
    return ""


class NODE_PT_canvas_review(bpy.types.Panel):
    """The review set of the canvas in the node editor's sidebar, under the version tray"""

    bl_space_type = "NODE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Canvas"
    bl_label = "Review"

    @classmethod
    def poll(cls, context: Any) -> bool:
        tree = getattr(getattr(context, "space_data", None), "edit_tree", None)
        return tree is not None and hasattr(tree, "canvas_review")

    def draw(self, context: Any) -> None:
        draw_review_panel(self.layout, context.space_data.edit_tree)


CLASSES: tuple[type, ...] = (CANVAS_OT_review_toggle, CANVAS_OT_review_build,
                             CANVAS_OT_review_clear, NODE_PT_canvas_review)
