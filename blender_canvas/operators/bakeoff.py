"""Bake-off actions: build the controlled comparison, score and pin takes, and open the comparison report.

Scoring and pinning write to the ledger only; nothing here plans or submits a job, so judging never re-renders.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import bpy

from ..engine.bakeoff import BakeOffError, Entrant, build_bakeoff
from ..engine.document import Canvas
from ..engine.ledger import LedgerError
from ..engine.session import Session
from ..engine.validation import load_canvas
from ..nodes.bakeoff_props import reset_axes
from ..nodes.convert import merge_into_tree, tree_to_data
from ..providers.catalog import load_catalog
from . import polls
from .bridge import refresh_verdicts, session_for
from .render import CanvasActionError, OperatorResult, active_tree, base_dir, tree_canvas
from .wording import blender_words, problem_words

MAX_AXES = 16


def _canvas_without_bakeoff(tree: Any) -> Canvas:
    """The tree as a canvas, leaving out its (possibly half-set-up) bake-off section, which the builder rewrites."""
    data = tree_to_data(tree, base_dir())
    data.pop("bakeoff", None)
    report = load_canvas(data, load_catalog(), base_dir=base_dir())
    if report.canvas is None or report.errors:
        raise CanvasActionError("; ".join(problem_words(p) for p in report.errors[:3]))
    return report.canvas


class _TreeOperator(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    tree_name: bpy.props.StringProperty(name="Canvas", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, cls.need)

    need: polls.Need | None = None  # what the canvas must have for the button to be on

    def execute(self, context: Any) -> OperatorResult:
        try:
            return self.act(active_tree(context, self.tree_name))
        except (CanvasActionError, BakeOffError, LedgerError) as error:
            self.report({"ERROR"}, blender_words(str(error)))
            return {"CANCELLED"}

    def act(self, tree: Any) -> OperatorResult:
        raise NotImplementedError


class CANVAS_OT_bakeoff_build(_TreeOperator):
    """Wire one video node per entrant to the same image and shot (same prompt, aspect ratio, seed and length)"""

    # A model that cannot run the controlled length gets the nearest allowed one, and the panel flags it.

    bl_idname = "canvas.bakeoff_build"
    bl_label = "Build Bake-off"  # on any canvas: building it is what turns the bake-off on

    def act(self, tree: Any) -> OperatorResult:
        settings = tree.canvas_bakeoff
        if not settings.image_node:
            raise CanvasActionError("Bake-off: pick the Image every entrant starts from (a reference still or an "
                                    "image node)")
        if not settings.shot_node:
            raise CanvasActionError("Bake-off: pick the Shot node whose prompt every entrant shares")
        if not settings.axes:
            reset_axes(settings)
        canvas = _canvas_without_bakeoff(tree)
        entrants = [Entrant(model=c.model_id, variant=c.variant_id or None) for c in settings.candidates]
        result = build_bakeoff(canvas, load_catalog(), image=settings.image_node, shot=settings.shot_node,
                               entrants=entrants, takes=settings.takes, duration_s=settings.duration_s or None,
                               brief=settings.brief, axes=[a.name for a in settings.axes])
        merge_into_tree(result.canvas, tree, base_dir(), create=result.created,
                        refill=[settings.shot_node, *result.reused])
        tree.canvas_bakeoff.flags = "\n".join(result.flags)
        self.report({"INFO"}, f"Bake-off: {len(result.created)} node(s) added, {len(result.reused)} kept, "
                              f"{settings.takes} take(s) each")
        for flag in result.flags:
            self.report({"WARNING"}, flag)
        return {"FINISHED"}


class CANVAS_OT_bakeoff_candidate(_TreeOperator):
    """Add a model / variant pair to the bake-off, or remove the selected one"""

    bl_idname = "canvas.bakeoff_candidate"
    bl_label = "Bake-off Entrant"

    remove: bpy.props.BoolProperty(name="Remove", options={"SKIP_SAVE"})

    def act(self, tree: Any) -> OperatorResult:
        settings = tree.canvas_bakeoff
        if self.remove:
            if 0 <= settings.candidate_index < len(settings.candidates):
                settings.candidates.remove(settings.candidate_index)
                settings.candidate_index = max(0, settings.candidate_index - 1)
            return {"FINISHED"}
        candidate = settings.candidates.add()
        candidate.model_id = "kling-3"
        settings.candidate_index = len(settings.candidates) - 1
        return {"FINISHED"}


class CANVAS_OT_bakeoff_axis(_TreeOperator):
    """Add a judging axis, remove the selected one, or restore the default axes"""

    bl_idname = "canvas.bakeoff_axis"
    bl_label = "Bake-off Axis"

    action: bpy.props.EnumProperty(items=(("ADD", "Add", ""), ("REMOVE", "Remove", ""), ("RESET", "Reset", ""),
                                          ("RENAME", "Rename", "Rename the selected axis, its scores and pins too")),
                                   options={"SKIP_SAVE"})
    axis: bpy.props.StringProperty(name="Axis", options={"SKIP_SAVE"})

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        if self.action in ("ADD", "RENAME"):  # ask for the name
            result: OperatorResult = context.window_manager.invoke_props_dialog(self)
            return result
        return self.execute(context)

    def act(self, tree: Any) -> OperatorResult:
        settings = tree.canvas_bakeoff
        if self.action == "RENAME":
            if not 0 <= settings.axis_index < len(settings.axes):
                raise CanvasActionError("Bake-off: select the axis to rename")
            old, new = settings.axes[settings.axis_index].name, self.axis.strip()[:60]
            if not new or new.casefold() in {a.name.casefold() for a in settings.axes if a.name != old}:
                raise CanvasActionError(f"Bake-off: '{new}' is empty or already an axis")
            settings.axes[settings.axis_index].name = new
            changed = session_for(tree).ledger.rename_axis(old, new)
            refresh_verdicts(tree, session_for(tree))
            self.report({"INFO"}, f"Axis '{old}' is now '{new}' ({changed} verdict(s) carried over)")
        elif self.action == "RESET":
            reset_axes(settings)
        elif self.action == "REMOVE":
            if 0 <= settings.axis_index < len(settings.axes):
                settings.axes.remove(settings.axis_index)
                settings.axis_index = max(0, settings.axis_index - 1)
        else:
            if len(settings.axes) >= MAX_AXES:
                raise CanvasActionError(f"Bake-off: at most {MAX_AXES} axes")
            name = self.axis.strip() or f"axis {len(settings.axes) + 1}"
            if name.casefold() in {a.name.casefold() for a in settings.axes}:
                raise CanvasActionError(f"Bake-off: there is already an axis named '{name}'")
            settings.axes.add().name = name[:60]
            settings.axis_index = len(settings.axes) - 1
        return {"FINISHED"}


def _tray_entry(tree: Any, node_name: str, take_id: str) -> tuple[Any, Any]:
    node = tree.nodes.get(node_name)
    entry = next((e for e in getattr(node, "tray", ()) if e.take_id == take_id), None)
    if node is None or entry is None:
        raise CanvasActionError(f"'{node_name}' no longer has that take (it was removed)")
    return node, entry


class CANVAS_OT_score_take(_TreeOperator):
    """Score this take on each judging axis, 1 (poor) to 5 (best), and leave a note; nothing is re-rendered"""

    # Stored in the ledger with the take; 0 on an axis means "not scored".

    bl_idname = "canvas.score_take"
    bl_label = "Score Take"
    bl_options = {"REGISTER"}  # the ledger is not part of Blender's undo (every undo re-syncs from it)
    need = staticmethod(polls.has_bakeoff)

    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    take_id: bpy.props.StringProperty(options={"SKIP_SAVE"})
    scores: bpy.props.IntVectorProperty(name="Scores", size=MAX_AXES, min=0, max=5, options={"SKIP_SAVE"})
    note: bpy.props.StringProperty(name="Note", options={"SKIP_SAVE"})

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        try:
            tree = active_tree(context, self.tree_name)
            _tray_entry(tree, self.node_name, self.take_id)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        verdict = session_for(tree).ledger.verdict(self.take_id)
        axes = [a.name for a in tree.canvas_bakeoff.axes]
        if verdict is not None:
            self.scores = [verdict.scores.get(axis, 0) for axis in axes] + [0] * (MAX_AXES - len(axes))
            self.note = verdict.note
        result: OperatorResult = context.window_manager.invoke_props_dialog(self, width=420)
        return result

    def draw(self, context: Any) -> None:
        tree = active_tree(context, self.tree_name)
        layout: Any = self.layout
        column = layout.column()
        for index, axis in enumerate(a.name for a in tree.canvas_bakeoff.axes):
            column.prop(self, "scores", index=index, text=axis.capitalize())
        column.prop(self, "note")

    def act(self, tree: Any) -> OperatorResult:
        _node, entry = _tray_entry(tree, self.node_name, self.take_id)
        axes = [a.name for a in tree.canvas_bakeoff.axes]
        if not axes:
            raise CanvasActionError("Bake-off: this canvas has no judging axes (Bake-off panel ▸ Axes)")
        scores = {axis: int(self.scores[i]) for i, axis in enumerate(axes[:MAX_AXES]) if self.scores[i]}
        session = session_for(tree)
        session.ledger.set_verdict(self.take_id, scores, self.note)
        refresh_verdicts(tree, session)
        self.report({"INFO"}, f"{self.node_name} take {entry.number}: "
                              + (f"mean {sum(scores.values()) / len(scores):.1f}" if scores else "scores cleared"))
        return {"FINISHED"}


class CANVAS_OT_pin_take(_TreeOperator):
    """Pin this take as the best of its node, or as the best on one axis (again to unpin)"""

    bl_idname = "canvas.pin_take"
    bl_label = "Pin Best Take"
    bl_options = {"REGISTER"}  # the ledger's: no undo step (every undo re-syncs from it)
    need = staticmethod(polls.has_takes)

    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    take_id: bpy.props.StringProperty(options={"SKIP_SAVE"})
    axis: bpy.props.StringProperty(name="Axis", description="Blank = best of the node", options={"SKIP_SAVE"})

    def act(self, tree: Any) -> OperatorResult:
        _tray_entry(tree, self.node_name, self.take_id)
        axes = [a.name for a in tree.canvas_bakeoff.axes]
        if self.axis and self.axis not in axes:
            raise CanvasActionError(f"Bake-off: no axis '{self.axis}'; axes: {', '.join(axes)}")
        session = session_for(tree)
        scope, key = ("axis", self.axis) if self.axis else ("node", self.node_name)
        current = session.ledger.pins(scope).get(key)  # type: ignore[arg-type]
        session.ledger.pin(scope, key, None if current == self.take_id else self.take_id)  # type: ignore[arg-type]
        refresh_verdicts(tree, session)
        return {"FINISHED"}


def _write_report(canvas: Canvas, session: Session, folder: Path) -> Path:
    """Gather and write the report (bpy-free: safe on a worker thread; the ledger is thread-safe)."""
    from ..engine.report import bakeoff_report, write_report

    report = bakeoff_report(canvas, session.catalog, session.ledger, folder)
    return Path(write_report(report, session.project_dir / "report").html)


class CANVAS_OT_bakeoff_report(_TreeOperator):
    """Write the bake-off's comparison report beside the takes and open it in the browser"""

    # report.html with its JSON and text twins; the contact sheets are decoded on a worker thread, so the window
    # stays live while it is written.

    bl_idname = "canvas.bakeoff_report"
    bl_label = "Bake-off Report"
    bl_options = {"REGISTER"}  # writes files only
    need = staticmethod(polls.has_built_bakeoff)

    open_browser: bpy.props.BoolProperty(name="Open", default=True, options={"SKIP_SAVE"})

    _future: Future[Path] | None = None
    _timer: Any = None

    def _prepare(self, tree: Any) -> tuple[Canvas, Session]:
        """On the main thread: the canvas from the tree, and the canvas's verdicts into the ledger."""
        from ..engine.bakeoff import import_verdicts

        canvas = tree_canvas(tree)
        if canvas.bakeoff is None:
            raise CanvasActionError("This canvas has no bake-off (Bake-off panel ▸ Build Bake-off)")
        session = session_for(tree)
        import_verdicts(canvas, session.ledger)
        return canvas, session

    def act(self, tree: Any) -> OperatorResult:
        """Synchronous: for background runs, bpy as a module and scripts, where no timer would ever fire."""
        canvas, session = self._prepare(tree)
        self._done(tree, _write_report(canvas, session, base_dir()))
        return {"FINISHED"}

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        if bpy.app.background or getattr(bpy.app, "module", False) or context.window is None:
            return self.execute(context)
        try:
            tree = active_tree(context, self.tree_name)
            canvas, session = self._prepare(tree)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        self.tree_name = tree.name
        self._future = _REPORT_POOL.submit(_write_report, canvas, session, base_dir())
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        self.report({"INFO"}, "Bake-off report: gathering contact sheets…")
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> OperatorResult:
        if event.type != "TIMER" or self._future is None or not self._future.done():
            return {"PASS_THROUGH"}
        self.cancel(context)
        try:
            path = self._future.result()
            self._done(active_tree(context, self.tree_name), path)
        except OSError as error:  # a failed report says why on the status bar, not as a traceback
            self.report({"ERROR"}, f"Bake-off report not written: {error.strerror or 'the system refused'} "
                                   f"({error.filename or 'the report folder'})")
            return {"CANCELLED"}
        except Exception as error:  # any other failure: in words, never a traceback
            self.report({"ERROR"}, f"Bake-off report not written: {blender_words(str(error))}")
            return {"CANCELLED"}
        return {"FINISHED"}

    def cancel(self, context: Any) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None

    def _done(self, tree: Any, html: Path) -> None:
        tree.canvas_bakeoff.report_path = str(html)
        self.report({"INFO"}, f"Report: {html}")
        if self.open_browser and not bpy.app.background:
            bpy.ops.wm.url_open(url=html.as_uri())


_REPORT_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="canvas-report")


CLASSES: tuple[type, ...] = (CANVAS_OT_bakeoff_build, CANVAS_OT_bakeoff_candidate, CANVAS_OT_bakeoff_axis,
                             CANVAS_OT_score_take, CANVAS_OT_pin_take, CANVAS_OT_bakeoff_report)
