"""Import and export canvas JSON files (File ▸ Import / Export, and headless)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from ..engine.validation import CanvasFileError, Report, load_canvas, read_json_file
from ..nodes.base import TREE_ID
from ..nodes.convert import canvas_to_tree, new_canvas_tree, tree_to_data
from ..providers.catalog import load_catalog
from . import polls
from .wording import CanvasActionError, blender_words, problem_words, write_error

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


def read_canvas(path: Path) -> Report:
    return load_canvas(read_json_file(path), load_catalog(), base_dir=path.parent)


def import_canvas_file(path: Path, tree: Any = None) -> tuple[Any, Report]:
    """Build a Canvas tree from a file. A canvas with errors changes nothing and raises with every problem."""
    report = read_canvas(path)
    if report.canvas is None or report.errors:
        lines = "\n".join(str(p) for p in report.errors)
        raise CanvasFileError(f"{path} has {len(report.errors)} error(s), nothing was imported:\n{lines}", report)
    if tree is None:
        tree = new_canvas_tree(path.stem)
    canvas_to_tree(report.canvas, tree, path.parent)
    if report.canvas.bakeoff is not None and report.canvas.bakeoff.verdicts:
        from ..engine.bakeoff import import_verdicts
        from .bridge import refresh_verdicts, session_for, sync_trays

        session = session_for(tree)
        import_verdicts(report.canvas, session.ledger)  # only for takes this project holds; the ledger wins
        sync_trays(tree, session)
        refresh_verdicts(tree, session)
    return tree, report


def export_canvas_file(tree: Any, path: Path) -> Report:
    """Write the tree as canvas JSON (always, so nothing is lost) and return what validation says of it."""
    data = tree_to_data(tree, path.parent)
    report = load_canvas(data, load_catalog(), base_dir=path.parent)
    canvas = report.canvas if report.canvas is not None and not report.errors else None
    if canvas is not None and canvas.bakeoff is not None:
        from ..engine.bakeoff import export_verdicts
        from .bridge import session_for

        canvas = export_verdicts(canvas, session_for(tree).ledger)  # verdicts travel with the canvas
    document = canvas.to_json_data() if canvas is not None else data
    try:
        path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as error:
        raise CanvasActionError(write_error(path, error, path.name)) from error
    return report


def _chosen_path(operator: Any) -> Path:
    """The file an Import/ExportHelper operator was given (its `filepath` is declared by the helper)."""
    return Path(operator.filepath)


def _target_tree(context: Any, tree_name: str) -> Any:
    if tree_name:
        return bpy.data.node_groups.get(tree_name)
    space = getattr(context, "space_data", None)
    tree = getattr(space, "edit_tree", None)
    return tree if tree is not None and tree.bl_idname == TREE_ID else None


class CANVAS_OT_import(bpy.types.Operator, ImportHelper):  # type: ignore[misc]
    """Open a canvas JSON file as a new Generation Canvas node tree"""

    bl_idname = "canvas.import_json"
    bl_label = "Import Canvas JSON"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})

    def execute(self, context: Any) -> OperatorResult:
        try:
            tree, report = import_canvas_file(_chosen_path(self))
        except CanvasFileError as error:
            problems = getattr(error, "report", None)
            lines = ([problem_words(p) for p in problems.errors] if problems is not None and problems.errors
                     else str(error).splitlines())
            self.report({"ERROR"}, f"{_chosen_path(self).name}: nothing was imported")
            for line in lines:
                self.report({"ERROR"}, blender_words(line))
            return {"CANCELLED"}
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for warning in report.warnings:
            self.report({"WARNING"}, problem_words(warning))
        space = getattr(context, "space_data", None)
        if space is not None and getattr(space, "type", "") == "NODE_EDITOR":
            space.tree_type = TREE_ID
            space.node_tree = tree
        self.report({"INFO"}, f"Imported {len(tree.nodes)} nodes into '{tree.name}'")
        return {"FINISHED"}


class CANVAS_OT_export(bpy.types.Operator, ExportHelper):  # type: ignore[misc]
    """Save the active Generation Canvas as a canvas JSON file"""

    bl_idname = "canvas.export_json"
    bl_label = "Export Canvas JSON"

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})
    tree_name: bpy.props.StringProperty(name="Canvas", description="Node tree to export (blank = the active one)")

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context)

    def execute(self, context: Any) -> OperatorResult:
        tree = _target_tree(context, self.tree_name)
        if tree is None:
            self.report({"ERROR"}, "No Generation Canvas to export: open one in the node editor or name it")
            return {"CANCELLED"}
        try:
            report = export_canvas_file(tree, _chosen_path(self))
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        for problem in report.problems:
            self.report({"WARNING"}, problem_words(problem))
        self.report({"INFO"}, f"Exported '{tree.name}' to {_chosen_path(self)}")
        return {"FINISHED"}


class CANVAS_OT_add_input_slot(bpy.types.Operator):
    """Add another numbered input (a reference image, a shot, a sound) to a node"""

    bl_idname = "canvas.add_input_slot"
    bl_label = "Add Input"
    bl_options = {"REGISTER", "UNDO", "INTERNAL"}

    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    node_name: bpy.props.StringProperty()
    prefix: bpy.props.StringProperty()

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context)

    def execute(self, context: Any) -> OperatorResult:
        from ..nodes.base import ensure_list_sockets, list_sockets
        from ..nodes.sockets import SOCKET_FOR_KIND

        tree = _target_tree(context, self.tree_name)
        node = tree.nodes.get(self.node_name) if tree else None
        kinds = {"images": ("image", "Reference"), "shots": ("video", "Shot"), "audio": ("audio", "Sound")}
        if tree is None:
            self.report({"ERROR"}, polls.NO_CANVAS)
            return {"CANCELLED"}
        if node is None:
            self.report({"ERROR"}, f"No node named '{self.node_name}' in '{tree.name}'")
            return {"CANCELLED"}
        if self.prefix not in kinds or not list_sockets(node, self.prefix):
            self.report({"ERROR"}, f"'{node.name}' takes no more inputs of that kind")
            return {"CANCELLED"}
        kind, label = kinds[self.prefix]
        ensure_list_sockets(node, self.prefix, SOCKET_FOR_KIND[kind], label, len(list_sockets(node, self.prefix)) + 1)
        return {"FINISHED"}


def draw_import_menu(self: Any, context: Any) -> None:
    self.layout.operator(CANVAS_OT_import.bl_idname, text="Generation Canvas (.json)")


def draw_export_menu(self: Any, context: Any) -> None:
    self.layout.operator(CANVAS_OT_export.bl_idname, text="Generation Canvas (.json)")


CLASSES: tuple[type, ...] = (CANVAS_OT_import, CANVAS_OT_export, CANVAS_OT_add_input_slot)
MENU_APPENDS = (("TOPBAR_MT_file_import", draw_import_menu), ("TOPBAR_MT_file_export", draw_export_menu))
