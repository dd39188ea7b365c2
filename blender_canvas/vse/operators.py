"""Send to VSE, Render Cut and Export Timeline: the finishing room's operators."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import bpy

from ..engine.document import SequenceNode
from ..engine.interchange import write_exports
from ..engine.timeline import Timeline, TimelineError, bring_into_project, build_timeline
from ..operators import polls
from ..operators.bridge import MODEL_NODE_TYPES, session_for
from ..operators.render import CanvasActionError, active_tree, base_dir, output_path, tree_canvas
from ..operators.wording import blender_words, write_error
from .build import ROLE, SEQUENCE, send_to_vse, sequencer_scene
from .render import configure_output, render_cut, render_frame

OperatorResult = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]


def timeline_for(tree: Any, node_name: str) -> Timeline:
    canvas = tree_canvas(tree)
    sequences = [n for n in canvas.nodes if isinstance(n, SequenceNode)]
    sequence = next((n for n in sequences if n.id == node_name), sequences[0] if sequences and not node_name else None)
    if sequence is None:
        raise CanvasActionError(f"No Sequence node named '{node_name}'" if node_name else "The canvas has no "
                                "Sequence node: add one (Shift+A ▸ Sequence) and wire the shots into it")
    session = session_for(tree)
    try:  # a logo or reference clip from beside the canvas is copied in, so the cut moves with the project
        timeline = bring_into_project(build_timeline(canvas, sequence, session.ledger, base_dir()), session.project_dir)
    except TimelineError as error:
        raise CanvasActionError(blender_words(str(error))) from error
    refuse_missing_files(tree, timeline)
    return timeline


def refuse_missing_files(tree: Any, timeline: Timeline) -> None:
    """A chosen take whose file was moved or deleted stops the cut, on its node and by name (a strip pointing at
    nothing would otherwise be placed without a word)."""
    missing = [(shot.node_id, shot.file) for shot in timeline.shots if not Path(shot.file).is_file()]
    missing += [(sound.node_id, sound.file) for sound in timeline.sounds if not Path(sound.file).is_file()]
    if not missing:
        return
    for node_id, file in missing:
        node = tree.nodes.get(node_id)
        if node is not None and node.bl_idname in MODEL_NODE_TYPES:
            node.render_state = "failed"
            node.status_message = f"The chosen take's file is missing: {file}"
    names = ", ".join(f"'{node_id}'" for node_id, _file in missing)
    raise CanvasActionError(f"Not sent: the chosen take of {names} is missing ({missing[0][1]}); "
                            "put the file back, or pick or render another take")


class _SequenceOperator(bpy.types.Operator):
    bl_options = {"REGISTER", "UNDO"}

    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    node_name: bpy.props.StringProperty(name="Sequence", options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, polls.has_sequence)

    def execute(self, context: Any) -> OperatorResult:
        try:
            tree = active_tree(context, self.tree_name)
            timeline = timeline_for(tree, self.node_name)
            self.tree = tree
            return self.act(context, timeline)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}

    tree: Any = None

    def act(self, context: Any, timeline: Timeline) -> OperatorResult:
        raise NotImplementedError


class CANVAS_OT_send_to_vse(_SequenceOperator):
    """Lay the chosen takes out as strips in the sequencer (again: swap changed takes in place)"""

    bl_idname = "canvas.send_to_vse"
    bl_label = "Send to VSE"

    def act(self, context: Any, timeline: Timeline) -> OperatorResult:
        report = send_to_vse(sequencer_scene(context), timeline)
        verb = "Built" if report.rebuilt else f"Swapped {len(report.swapped)}, kept {report.kept}"
        self.report({"INFO"}, f"{verb}: {len(timeline.shots)} shot(s), {timeline.seconds:.1f} s")
        return {"FINISHED"}


class CANVAS_OT_render_cut(_SequenceOperator):
    """Send the cut to the VSE and render it to an MP4 (H.264 + AAC) with Blender's own FFmpeg"""

    bl_idname = "canvas.render_cut"
    bl_label = "Render Cut"

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", default="//final.mp4")

    def act(self, context: Any, timeline: Timeline) -> OperatorResult:
        scene = sequencer_scene(context)
        target = output_path(self.tree, self.filepath)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CanvasActionError(write_error(target, error, "the cut")) from error
        send_to_vse(scene, timeline)
        if bpy.app.background:  # scripts and headless: blocking, under a temporary name renamed over the film
            render_cut(scene, target)
            self.report({"INFO"}, f"Rendered {target.name} ({timeline.seconds:.1f} s)")
            return {"FINISHED"}
        # a window: INVOKE_DEFAULT shows Blender's render window with its progress, writing the film in place
        configure_output(scene, target)
        bpy.ops.render.render("INVOKE_DEFAULT", animation=True, scene=scene.name)
        return {"FINISHED"}


class CANVAS_OT_export_timeline(_SequenceOperator):
    """Write the cut as OpenTimelineIO, FCP 7 XML and a CMX 3600 EDL, to conform it in Resolve or Premiere"""

    bl_idname = "canvas.export_timeline"
    bl_label = "Export Timeline (.otio, .xml, .edl)"
    bl_options = {"REGISTER"}  # writes files, changes no Blender data

    filepath: bpy.props.StringProperty(subtype="FILE_PATH", default="//cut.otio")

    def act(self, context: Any, timeline: Timeline) -> OperatorResult:
        path = output_path(self.tree, self.filepath)
        card, scene = None, sequencer_scene(context)
        try:
            if timeline.end_card is not None and _card_in_place(scene, timeline):
                # the card as the film shows it, for editors who have no Blender (else a described solid colour)
                card = render_frame(scene, timeline.end_card.start, path.parent / "media" / f"{path.stem}-end-card.png")
            exports = write_exports(timeline, path.parent, path.stem, timeline.sequence_id, card)
        except OSError as error:
            raise CanvasActionError(write_error(path, error, "the timeline")) from error
        self.report({"INFO"}, f"Wrote {exports.otio.name}, {exports.fcp_xml.name} and {exports.edl.name} "
                              f"(the EDL carries {exports.edl_note})")
        return {"FINISHED"}


def _card_in_place(scene: Any, timeline: Timeline) -> bool:
    """The sequencer holds this cut's end card where the timeline puts it (sent, and not moved since)."""
    editor, card = scene.sequence_editor, timeline.end_card
    if editor is None or card is None:
        return False
    return any(s.get(SEQUENCE) == timeline.sequence_id and s.get(ROLE) == "card_background"
               and s.frame_final_start == card.start for s in editor.strips_all)


CLASSES: tuple[type, ...] = (CANVAS_OT_send_to_vse, CANVAS_OT_render_cut, CANVAS_OT_export_timeline)
