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
        """One label per socket row: on a Sequence node it sums up the shot's trims (edited in the sidebar)."""
        if self.is_output or not getattr(node, "is_sequence", False) or not self.is_linked:
            layout.label(text=text)
            return
        notes = [f"in {self.trim_in_s:g} s" if self.trim_in_s else "", f"out {self.trim_out_s:g} s"
                 if self.trim_out_s else "", f"fade {self.crossfade_frames} f" if self.crossfade_frames else "",
                 "trim" if self.use_gain else ""]
        summary = ", ".join(n for n in notes if n)
        layout.label(text=f"{text} ({summary})" if summary else text)


class CanvasAudioSocket(_CanvasSocket):
    """A sound; on a Sequence node it also says where the sound sits in the cut"""

    bl_idname = "CanvasAudioSocket"
    bl_label = "Audio"
    media_kind = "audio"

    under: bpy.props.StringProperty(name="Under Shot", description="The name of the shot node this sound starts "
                                    "with (blank = the start of the cut)")
    use_at: bpy.props.BoolProperty(name="At Time", description="Place the sound at a time in the cut")
    at_s: bpy.props.FloatProperty(name="At", min=0.0, unit="TIME_ABSOLUTE", description="Seconds into the cut")
    volume: bpy.props.FloatProperty(name="Volume", default=1.0, min=0.0, max=4.0, description="1 = as recorded")

    def draw(self, context: Any, layout: Any, node: Any, text: str) -> None:
        if self.is_output or not getattr(node, "is_sequence", False) or not self.is_linked:
            layout.label(text=text)
            return
        layout.label(text=f"{text} (volume {self.volume:g})" if self.volume != 1.0 else text)


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


# The tooltip of each socket, by its identifier's stem (images_0 -> images); outputs by their media kind.
SOCKET_TOOLTIPS: dict[str, str] = {
    "image": "The first frame: a still the clip starts from",
    "last_frame": "The last frame: a still the clip ends on",
    "video": "A clip the model works from (to restyle, extend or lip-sync)",
    "audio": "A voice or sound the model follows",
    "shot": "The shot's prompt (subject, action, camera...), shared with every node it is wired to",
    "images": "A reference image: a character, a product or a place to keep",
    "shots": "A shot of the cut, in order from the top",
    "sounds": "A sound under the cut: a voice-over or music",
    "out image": "The chosen take of this node, a still",
    "out video": "The chosen take of this node, a clip",
    "out audio": "The chosen take of this node, a sound",
    "out shot": "This shot's prompt, for every model it is wired to",
    "out media": "The file: a still, a clip or a sound, by its extension",
}


def describe(socket: Any) -> Any:
    """Give a new socket its tooltip."""
    if socket.is_output:
        key = f"out {getattr(socket, 'media_kind', '')}"
    else:
        key = socket.identifier.rsplit("_", 1)[0] if socket.identifier[-1:].isdigit() else socket.identifier
        if key == "audio" and socket.identifier != "audio":  # a Sequence node's numbered sounds
            key = "sounds"
    socket.description = SOCKET_TOOLTIPS.get(key, socket.description)
    return socket
