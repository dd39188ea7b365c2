"""Reference, Shot and Sequence nodes: the inputs every model shares, and the cut."""

from __future__ import annotations

from typing import Any

import bpy

from .base import CanvasNode, ensure_list_sockets, file_kind, mark_link_validity, tree_of
from .model_nodes import MAX_SEED, PROMPT_FIELDS
from .sockets import SOCKET_FOR_KIND, CanvasMediaSocket, describe

BLEND_RELATIVE = {"PATH_SUPPORTS_BLEND_RELATIVE"}  # paths may start with '//' (relative to the .blend)

CURVES_LOOKS = (
    ("none", "None", "No curves look"),
    ("soft", "Soft", "Lifted blacks, rolled-off highlights"),
    ("punchy", "Punchy", "A gentle S-curve"),
    ("filmic", "Filmic", "A long toe and shoulder"),
)


def _file_changed(node: Any, _context: Any) -> None:
    mark_link_validity(tree_of(node))  # a .wav where a .png was turns its wires red at once


class CanvasReferenceNode(CanvasNode, bpy.types.Node):
    """A still, clip or sound file on disk"""

    bl_idname = "CanvasReferenceNode"
    bl_label = "Reference"
    bl_icon = "FILE_IMAGE"
    bl_width_default = 240
    doc_kind = "reference"

    filepath: bpy.props.StringProperty(name="File", subtype="FILE_PATH", options=BLEND_RELATIVE,
                                       description="A still, clip or sound; its extension says which",
                                       update=_file_changed)

    def init(self, context: Any) -> None:
        describe(self.outputs.new(CanvasMediaSocket.bl_idname, "File"))

    def draw_buttons(self, context: Any, layout: Any) -> None:
        layout.prop(self, "filepath", text="")
        kind = file_kind(self)
        if self.filepath and kind is None:
            layout.label(text="Not a still, clip or sound file", icon="ERROR")

    def draw_buttons_ext(self, context: Any, layout: Any) -> None:
        layout.prop(self, "filepath")
        kind = file_kind(self)
        layout.label(text={"image": "A still", "video": "A clip", "audio": "A sound"}.get(kind or "",
                     "No file yet" if not self.filepath else "Not a still, clip or sound file"),
                     icon={"image": "IMAGE_DATA", "video": "FILE_MOVIE", "audio": "SOUND"}.get(kind or "", "ERROR"))


class CanvasShotNode(CanvasNode, bpy.types.Node):
    """The shared shot-list prompt: wire it into several models so they get identical inputs"""

    bl_idname = "CanvasShotNode"
    bl_label = "Shot"
    bl_icon = "OUTLINER_OB_CAMERA"
    bl_width_default = 280
    doc_kind = "shot"

    subject: bpy.props.StringProperty(name="Subject")
    action: bpy.props.StringProperty(name="Action")
    camera: bpy.props.StringProperty(name="Camera", description="Camera move: push in, pull out, pan, tilt, orbit")
    lens: bpy.props.StringProperty(name="Lens")
    lighting: bpy.props.StringProperty(name="Lighting")
    atmosphere: bpy.props.StringProperty(name="Atmosphere")
    mood: bpy.props.StringProperty(name="Mood", description="Emotional direction: quietly content, tense, ...")
    use_seed: bpy.props.BoolProperty(name="Seed")
    seed: bpy.props.IntProperty(name="Seed", min=0, max=MAX_SEED)
    aspect_ratio: bpy.props.StringProperty(name="Aspect Ratio", description="W:H, blank = the canvas's")
    duration_s: bpy.props.IntProperty(name="Duration", description="Seconds; 0 = the canvas's", min=0, max=600)

    def init(self, context: Any) -> None:
        describe(self.outputs.new(SOCKET_FOR_KIND["shot"], "Shot"))

    def draw_buttons(self, context: Any, layout: Any) -> None:
        """The prompt, labelled: what a shot is. Seed, aspect ratio and length are in the sidebar."""
        column = layout.column(align=True)
        for field in PROMPT_FIELDS:
            column.prop(self, field)

    def draw_buttons_ext(self, context: Any, layout: Any) -> None:
        layout.use_property_split = True
        layout.use_property_decorate = False
        self.draw_buttons(context, layout)
        column = layout.column()
        row = column.row(heading="Seed")
        row.prop(self, "use_seed", text="")
        sub = row.row()
        sub.active = self.use_seed
        sub.prop(self, "seed", text="")
        column.prop(self, "aspect_ratio", placeholder=tree_of(self).default_aspect_ratio or "16:9")
        column.prop(self, "duration_s")


class CanvasSequenceNode(CanvasNode, bpy.types.Node):
    """The cut: chosen takes in order, voices and music under them, one grade, an end card"""

    bl_idname = "CanvasSequenceNode"
    bl_label = "Sequence"
    bl_icon = "SEQUENCE"
    bl_width_default = 320
    doc_kind = "sequence"
    is_sequence = True

    use_fps: bpy.props.BoolProperty(name="Own Frame Rate", description="Override the canvas frame rate")
    fps: bpy.props.IntProperty(name="Frame Rate", default=24, min=1, max=120)

    use_grade: bpy.props.BoolProperty(name="Grade", description="One shared grade over the whole cut")
    lift: bpy.props.FloatVectorProperty(name="Lift", size=3, default=(1.0, 1.0, 1.0), min=0.0, max=4.0,
                                     soft_max=2.0)
    gamma: bpy.props.FloatVectorProperty(name="Gamma", size=3, default=(1.0, 1.0, 1.0), min=0.0, max=4.0,
                                     soft_max=2.0)
    gain: bpy.props.FloatVectorProperty(name="Gain", size=3, default=(1.0, 1.0, 1.0), min=0.0, max=4.0,
                                     soft_max=2.0)
    saturation: bpy.props.FloatProperty(name="Saturation", default=1.0, min=0.0, max=4.0)
    contrast: bpy.props.FloatProperty(name="Contrast", default=1.0, min=0.0, max=4.0)
    use_white_balance: bpy.props.BoolProperty(name="White Balance")
    white_balance: bpy.props.FloatVectorProperty(name="White Value", size=3, subtype="COLOR",
                                                 default=(1.0, 1.0, 1.0), min=0.0, max=4.0, soft_max=1.0)
    curves: bpy.props.EnumProperty(name="Curves", items=CURVES_LOOKS, default="none")

    use_end_card: bpy.props.BoolProperty(name="End Card")
    end_card_text: bpy.props.StringProperty(name="Text")
    end_card_image: bpy.props.StringProperty(name="Logo", subtype="FILE_PATH", options=BLEND_RELATIVE)
    end_card_seconds: bpy.props.FloatProperty(name="Seconds", default=2.0, min=0.1, max=30.0)
    end_card_background: bpy.props.FloatVectorProperty(name="Background", size=3, subtype="COLOR",
                                                       default=(0.0, 0.0, 0.0), min=0.0, max=1.0)

    def init(self, context: Any) -> None:
        ensure_list_sockets(self, "shots", SOCKET_FOR_KIND["video"], "Shot", 3)
        ensure_list_sockets(self, "audio", SOCKET_FOR_KIND["audio"], "Sound", 1)

    def draw_buttons(self, context: Any, layout: Any) -> None:
        """The body: more inputs while wiring, and Send to VSE. The grade, end card, per-shot trims and the
        exports are in the sidebar's Node tab."""
        row = layout.row(align=True)
        for prefix, text in (("shots", "Add Shot"), ("audio", "Add Sound")):
            op = row.operator("canvas.add_input_slot", text=text, icon="ADD")
            op.tree_name, op.node_name, op.prefix = tree_of(self).name, self.name, prefix
        layout.operator("canvas.send_to_vse", text="Send to VSE", icon="SEQUENCE").node_name = self.name

    def draw_buttons_ext(self, context: Any, layout: Any) -> None:
        self.draw_buttons(context, layout)
        shots = [s for s in self.inputs if s.identifier.startswith("shots_") and s.is_linked]
        if shots:
            box = layout.box()
            box.label(text="Shots", icon="SEQUENCE")
            for socket in shots:
                column = box.column(align=True)
                column.label(text=f"{socket.name}: {socket.links[0].from_node.name}")
                row = column.row(align=True)
                row.prop(socket, "trim_in_s", text="In")
                row.prop(socket, "trim_out_s", text="Out")
                row.prop(socket, "crossfade_frames", text="Fade")
                row.prop(socket, "use_gain", text="", icon="COLOR")
        sounds = [s for s in self.inputs if s.identifier.startswith("audio_") and s.is_linked]
        for socket in sounds:
            row = layout.row(align=True)
            row.label(text=f"{socket.name}: {socket.links[0].from_node.name}")
            row.prop(socket, "under", text="", placeholder="Under shot")
            row.prop(socket, "volume", text="Volume")
        layout.prop(self, "use_grade")
        if self.use_grade:
            column = layout.column(align=True)
            for name in ("lift", "gamma", "gain"):
                column.row(align=True).prop(self, name)
            column.prop(self, "saturation")
            column.prop(self, "contrast")
            column.prop(self, "curves")
            row = column.row(align=True)
            row.prop(self, "use_white_balance", text="")
            sub = row.row(align=True)
            sub.active = self.use_white_balance
            sub.prop(self, "white_balance")
            for socket in self.inputs:
                if getattr(socket, "use_gain", False) and socket.is_linked:
                    column.row(align=True).prop(socket, "gain", text=f"{socket.name} trim")
        layout.prop(self, "use_end_card")
        if self.use_end_card:
            column = layout.column(align=True)
            column.prop(self, "end_card_text")
            column.prop(self, "end_card_image")
            column.prop(self, "end_card_seconds")
            column.prop(self, "end_card_background")
        row = layout.row(align=True)
        row.prop(self, "use_fps", text="")
        sub = row.row(align=True)
        sub.active = self.use_fps
        sub.prop(self, "fps")
        row = layout.row(align=True)
        for idname, text, icon in (("canvas.render_cut", "Render Cut", "RENDER_ANIMATION"),
                                   ("canvas.export_timeline", "Export OTIO", "EXPORT")):
            row.operator(idname, text=text, icon=icon).node_name = self.name


CLASSES: tuple[type, ...] = (CanvasReferenceNode, CanvasShotNode, CanvasSequenceNode)
