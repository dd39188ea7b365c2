"""Render, new take, cancel, pick / remove / play a take: the user's actions on a canvas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

import bpy

from ..engine.cost import Budget, BudgetExceeded
from ..engine.document import Canvas, ReferenceNode, SequenceNode
from ..engine.files import atomic_write_text, relative_posix
from ..engine.planner import Plan, PlanError, stale_nodes
from ..engine.validation import load_canvas
from ..nodes.base import TREE_ID
from ..nodes.convert import tree_to_data
from ..providers.catalog import load_catalog
from . import polls
from .bridge import MODEL_NODE_TYPES, ensure_timer, pick_take, session_for
from .wording import CanvasActionError, blender_words, problem_words, write_error

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
__all__ = ["CanvasActionError", "OperatorResult", "active_tree", "base_dir", "tree_canvas"]


def active_tree(context: Any, tree_name: str = "") -> Any:
    if tree_name:
        tree = bpy.data.node_groups.get(tree_name)
    else:
        tree = getattr(getattr(context, "space_data", None), "edit_tree", None)
    if tree is None or tree.bl_idname != TREE_ID:
        raise CanvasActionError("No Generation Canvas here: open one in the node editor")
    return tree


def base_dir() -> Path:
    return Path(bpy.path.abspath("//")) if bpy.data.filepath else Path.cwd()


def output_path(tree: Any, path: str) -> Path:
    """An export's file: a '//' path is beside the .blend; for a file never saved, in the canvas's project folder
    (never the process's working folder)."""
    if path.startswith("//") and not bpy.data.filepath:
        from .bridge import project_dir_for

        return project_dir_for(tree) / path[2:]
    return Path(bpy.path.abspath(path))


def tree_canvas(tree: Any) -> Canvas:
    folder = base_dir()
    report = load_canvas(tree_to_data(tree, folder), load_catalog(), base_dir=folder)
    if report.canvas is None or report.errors:
        for problem in report.errors:
            node = tree.nodes.get(problem.node or "")
            if node is not None and node.bl_idname in MODEL_NODE_TYPES:
                node.render_state, node.status_message = "failed", problem_words(problem, with_node=False)
        raise CanvasActionError("; ".join(problem_words(p) for p in report.errors[:3]) +
                                (f" (+{len(report.errors) - 3} more)" if len(report.errors) > 3 else ""))
    return report.canvas


def selection_for(tree: Any, mode: str, node_name: str) -> list[str] | None:
    if mode == "ALL":
        return None
    if mode == "NODE":
        return [node_name or (tree.nodes.active.name if tree.nodes.active else "")]
    return [n.name for n in tree.nodes if n.select and n.bl_idname in MODEL_NODE_TYPES]


def plan_for(tree: Any, mode: str, node_name: str, new_take: bool) -> tuple[Canvas, Plan]:
    canvas = tree_canvas(tree)
    selection = selection_for(tree, mode, node_name)
    if selection is not None and not [s for s in selection if s]:
        raise CanvasActionError("Select a model node to render")
    try:
        plan = session_for(tree).plan(canvas, base_dir(), selection=selection, draft=tree.draft, new_take=new_take)
    except PlanError as error:
        raise CanvasActionError(blender_words(str(error))) from error
    return canvas, plan


def start_render(tree: Any, mode: str, node_name: str = "", new_take: bool = False) -> Plan:
    """Plan, check money and network, start, and show every node's estimate. Raises CanvasActionError."""
    canvas, plan = plan_for(tree, mode, node_name, new_take)
    session = session_for(tree)
    budget = Budget(project_usd=tree.budget_cents / 100 if tree.use_budget else None)
    try:
        session.check(plan, online=bpy.app.online_access, budget=budget)
    except (PlanError, BudgetExceeded) as error:
        raise CanvasActionError(blender_words(str(error))) from error
    for node_id in plan.order:
        node = tree.nodes.get(node_id)
        if node is not None:
            node.estimate_usd = plan.node_estimate(node_id)
    # a snapshot of the canvas beside its takes: if Blender dies before the file is ever saved, the project folder
    # alone rebuilds the canvas and its trays (Recover Unsaved Canvas)
    folder = base_dir()
    snapshot = Canvas.model_validate(canvas.model_dump())
    for node in snapshot.nodes:  # file paths made relative to the snapshot, which lives in the project folder
        if isinstance(node, ReferenceNode):
            node.path = relative_posix(folder / node.path, session.project_dir)
        elif isinstance(node, SequenceNode) and node.end_card is not None and node.end_card.image:
            node.end_card.image = relative_posix(folder / node.end_card.image, session.project_dir)
    target = session.project_dir / "canvas.json"
    try:
        atomic_write_text(target, json.dumps(snapshot.to_json_data(), indent=1))
    except OSError as error:
        raise CanvasActionError(write_error(target, error, "the canvas snapshot") + " (Canvas panel ▸ Project Folder)"
                                ) from error
    session.start(plan, canvas, folder)
    ensure_timer()
    return plan


class CANVAS_OT_render(bpy.types.Operator):
    """Render canvas nodes on background threads; the estimate is shown before anything is submitted"""

    bl_idname = "canvas.render"
    bl_label = "Render"
    # an undo step of its own (the estimates it writes); the takes that land later come from the ledger, which
    # every undo re-syncs the trays from (bridge.sync_trays), so undoing never empties a tray
    bl_options = {"REGISTER", "UNDO"}

    mode: bpy.props.EnumProperty(items=(("NODE", "Node", "The active (or named) node"),
                                        ("SELECTED", "Selected", "Every selected model node"),
                                        ("ALL", "All", "Every model node of the canvas")), default="NODE")
    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    new_take: bpy.props.BoolProperty(name="New Take", description="Always submit one more take", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, polls.has_model_nodes)

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        try:
            _, plan = plan_for(active_tree(context, self.tree_name), self.mode, self.node_name, self.new_take)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        message = (f"{len(plan.submits)} take(s) to submit, {len(plan.jobs) - len(plan.submits)} cached; "
                   f"estimate ${plan.estimate_usd:.2f}")
        return context.window_manager.invoke_confirm(self, event, title="Render", message=message,
                                                     confirm_text="Render")

    def execute(self, context: Any) -> OperatorResult:
        try:
            plan = start_render(active_tree(context, self.tree_name), self.mode, self.node_name, self.new_take)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Rendering {len(plan.submits)} take(s), estimate ${plan.estimate_usd:.2f}")
        return {"FINISHED"}


class CANVAS_OT_cancel(bpy.types.Operator):
    """Cancel a node's jobs (at the vendor where the API allows), or every job of the canvas"""

    bl_idname = "canvas.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}  # the runner is not Blender data: nothing to undo

    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, polls.is_rendering)

    def execute(self, context: Any) -> OperatorResult:
        try:
            tree = active_tree(context, self.tree_name)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        try:
            session_for(tree).runner.cancel(node_id=self.node_name or None)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Cancelling '{self.node_name}'" if self.node_name else "Cancelling every render")
        return {"FINISHED"}


def _node_and_take(context: Any, tree_name: str, node_name: str, take_id: str) -> tuple[Any, Any, Any]:
    tree = active_tree(context, tree_name)
    node = tree.nodes.get(node_name)
    if node is None or node.bl_idname not in MODEL_NODE_TYPES:
        raise CanvasActionError(f"No model node named '{node_name}'")
    entry = next((t for t in node.tray if t.take_id == take_id), None)
    if entry is None:
        raise CanvasActionError(f"'{node_name}' no longer has that take (it was removed)")
    return tree, node, entry


class _TakeOperator(bpy.types.Operator):
    # Pick and Remove change the ledger, which Blender's undo cannot restore: they push no undo step, and every
    # undo re-syncs the trays from the ledger (bridge.sync_trays), so the node, its tray and the ledger agree
    bl_options = {"REGISTER", "INTERNAL"}

    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    node_name: bpy.props.StringProperty()
    take_id: bpy.props.StringProperty()

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, polls.has_takes)

    def execute(self, context: Any) -> OperatorResult:
        try:
            tree, node, entry = _node_and_take(context, self.tree_name, self.node_name, self.take_id)
            self.act(tree, node, entry)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        return {"FINISHED"}

    def act(self, tree: Any, node: Any, entry: Any) -> None:
        raise NotImplementedError


class CANVAS_OT_pick_take(_TakeOperator):
    """Make this take the one that feeds downstream nodes and the cut (nothing is re-rendered)"""

    bl_idname = "canvas.pick_take"
    bl_label = "Pick Take"

    def act(self, tree: Any, node: Any, entry: Any) -> None:
        node.chosen_take = entry.take_id
        session = session_for(tree)
        pick_take(session, node.name, entry.take_id)
        for stale in stale_nodes(tree_canvas(tree), session.ledger, base_dir()):
            other = tree.nodes.get(stale)
            if other is not None:
                other.render_state, other.status_message = "stale", "an input's chosen take changed"


class CANVAS_OT_remove_take(_TakeOperator):
    """Move a take out of the tray into the project's trash folder (the file is kept, never deleted)"""

    bl_idname = "canvas.remove_take"
    bl_label = "Remove Take"

    def act(self, tree: Any, node: Any, entry: Any) -> None:
        session = session_for(tree)
        take = session.ledger.take(entry.take_id)
        if take is None:
            raise CanvasActionError(f"'{node.name}': take {entry.number} is not in the project's ledger")
        source = session.project_dir / take.file
        trash = Path("trash") / take.file
        try:
            (session.project_dir / trash).parent.mkdir(parents=True, exist_ok=True)
            if source.exists():
                shutil.move(str(source), session.project_dir / trash)
        except OSError as error:
            raise CanvasActionError(write_error(session.project_dir / trash, error, "the take to the trash")
                                    ) from error
        session.ledger.mark_removed(take.take_id, trash.as_posix())
        index = next(i for i, t in enumerate(node.tray) if t.take_id == entry.take_id)
        node.tray.remove(index)
        if node.chosen_take == take.take_id:
            chosen = session.ledger.chosen(node.name)
            node.chosen_take = chosen.take_id if chosen else ""


class CANVAS_OT_open_take(_TakeOperator):
    """Play the take in the system's player, or reveal it in the file browser"""

    bl_idname = "canvas.open_take"
    bl_label = "Open Take"
    bl_options = {"INTERNAL"}  # it only looks: no undo step

    reveal: bpy.props.BoolProperty(name="Reveal", description="Open the folder instead of the file")

    def act(self, tree: Any, node: Any, entry: Any) -> None:
        path = Path(bpy.path.abspath(entry.file))
        target = path.parent if self.reveal else path
        if not target.exists():
            raise CanvasActionError(f"'{node.name}' take {entry.number}: {target} is missing (moved or deleted)")
        bpy.ops.wm.path_open(filepath=str(target))


class CANVAS_OT_recover_unsaved(bpy.types.Operator):
    """Rebuild the newest canvas that was rendered in a file never saved (after a crash), with all its takes"""

    bl_idname = "canvas.recover_unsaved"
    bl_label = "Recover Unsaved Canvas"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: Any) -> bool:
        from .bridge import unsaved_root

        if any(unsaved_root().glob("*/canvas.json")):
            return True
        cls.poll_message_set("No canvas of a never-saved file to recover")
        return False

    def execute(self, context: Any) -> OperatorResult:
        from .bridge import sync_trays, unsaved_root
        from .canvas_io import CanvasFileError, import_canvas_file

        candidates = sorted(unsaved_root().glob("*/canvas.json"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            self.report({"ERROR"}, f"No unsaved canvas in {unsaved_root()}")
            return {"CANCELLED"}
        source = candidates[-1]
        try:
            tree, _ = import_canvas_file(source)
        except CanvasFileError as error:
            self.report({"ERROR"}, blender_words(str(error).splitlines()[0]))
            return {"CANCELLED"}
        tree.project_dir = str(source.parent)
        try:
            sync_trays(tree, session_for(tree))
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Recovered '{tree.name}' from {source.parent}")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (CANVAS_OT_recover_unsaved, CANVAS_OT_render, CANVAS_OT_cancel, CANVAS_OT_pick_take,
                             CANVAS_OT_remove_take,
                             CANVAS_OT_open_take)
