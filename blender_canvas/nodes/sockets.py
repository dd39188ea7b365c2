"""Sockets of the Canvas tree: what flows along a wire (a still, a clip, a sound, a shot prompt, a file)."""

from __future__ import annotations

from typing import Any

import bpy

# Colours follow Blender's own conventions where one exists: image yellow, shot purple like a shader, sound green.
SOCKET_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "image": (0.78, 0.78, 0.16, 1.0),
    "video": (0.39, 0.64, 0.95, 1.0),
    "audio": (0.39, 0.78, 0.39, 1.0),
    "shot": (0.78, 0.39, 0.78, 1.0),
    "media": (0.63, 0.63, 0.63, 1.0),
}


class _CanvasSocket(bpy.types.NodeSocket):
    media_kind = "media"

    def draw(self, context: Any, layout: Any, node: Any, text: str) -> None:
        layout.label(text=text)

    def draw_color(self, context: Any, node: Any) -> tuple[float, float, float, float]:
        return SOCKET_COLOURS[self.media_kind]

    @classmethod
    def draw_color_simple(cls) -> tuple[float, float, float, float]:
        return SOCKET_COLOURS[cls.media_kind]


class CanvasImageSocket(_CanvasSocket):
    """A still: a reference file or an image node's chosen take"""

    bl_idname = "CanvasImageSocket"
    bl_label = "Image"
    media_kind = "image"


class CanvasVideoSocket(_CanvasSocket):
    """A clip; on a Sequence node it also carries the shot's trims and the join into it"""

    bl_idname = "CanvasVideoSocket"
    bl_label = "Video"
    media_kind = "video"

    trim_in_s: bpy.props.FloatProperty(name="Trim In", description="Seconds cut from the start of the take",
                                       min=0.0, soft_max=30.0, unit="TIME_ABSOLUTE")
    trim_out_s: bpy.props.FloatProperty(name="Trim Out", description="Seconds cut from the end of the take",
                                        min=0.0, soft_max=30.0, unit="TIME_ABSOLUTE")
    crossfade_frames: bpy.props.IntProperty(name="Crossfade", description="Frames of crossfade into this shot "
                                            "(0 = straight cut)", min=0, max=240)
    use_gain: bpy.props.BoolProperty(name="Shot Trim", description="A colour trim on this shot only")
    gain: bpy.props.FloatVectorProperty(name="Trim Gain", size=3, default=(1.0, 1.0, 1.0), min=0.0, max=4.0,
                                        soft_max=2.0)

    def draw(self, context: Any, layout: Any, node: Any, text: str) -> None:
        if self.is_output or not getattr(node, "is_sequence", False) or not self.is_linked:
            layout.label(text=text)
            return
        row = layout.row(align=True)
        row.label(text=text)
        row.prop(self, "trim_in_s", text="In")
        row.prop(self, "trim_out_s", text="Out")
        row.prop(self, "crossfade_frames", text="Fade")
        row.prop(self, "use_gain", text="", icon="COLOR")


class CanvasAudioSocket(_CanvasSocket):
    """A sound; on a Sequence node it also says where the sound sits in the cut"""

    bl_idname = "CanvasAudioSocket"
    bl_label = "Audio"
    media_kind = "audio"

    under: bpy.props.StringProperty(name="Under Shot", description="Node id of the shot this sound starts with")
    use_at: bpy.props.BoolProperty(name="At Time", description="Place the sound at a time in the cut")
    at_s: bpy.props.FloatProperty(name="At", min=0.0, unit="TIME_ABSOLUTE")
    volume: bpy.props.FloatProperty(name="Volume", default=1.0, min=0.0, max=4.0)

    def draw(self, context: Any, layout: Any, node: Any, text: str) -> None:
        if self.is_output or not getattr(node, "is_sequence", False) or not self.is_linked:
            layout.label(text=text)
            return
        row = layout.row(align=True)
        row.label(text=text)
        row.prop(self, "under", text="")
        row.prop(self, "volume", text="Vol")


class CanvasShotSocket(_CanvasSocket):
    """The shared shot-list prompt"""

    bl_idname = "CanvasShotSocket"
    bl_label = "Shot"
    media_kind = "shot"


class CanvasMediaSocket(_CanvasSocket):
    """A file on disk: a still, a clip or a sound, by its extension"""

    bl_idname = "CanvasMediaSocket"
    bl_label = "File"
    media_kind = "media"


SOCKET_FOR_KIND: dict[str, str] = {
    "image": CanvasImageSocket.bl_idname,
    "video": CanvasVideoSocket.bl_idname,
    "audio": CanvasAudioSocket.bl_idname,
    "shot": CanvasShotSocket.bl_idname,
}
KIND_FOR_SOCKET: dict[str, str] = {v: k for k, v in SOCKET_FOR_KIND.items()}

CLASSES: tuple[type, ...] = (
    CanvasImageSocket,
    CanvasVideoSocket,
    CanvasAudioSocket,
    CanvasShotSocket,
    CanvasMediaSocket,
)
