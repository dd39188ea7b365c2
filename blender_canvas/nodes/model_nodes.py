"""Image, video and voice model nodes: a model, its variant and route, and only the settings that model allows."""

from __future__ import annotations

from typing import Any

import bpy

from ..engine.document import PROMPT_FIELDS
from ..providers.catalog import InputName, Model, Variant, describe_seconds, load_catalog
from .base import CanvasNode, draw_toggled, ensure_list_sockets, input_socket, list_sockets, stored_enum, tree_of
from .sockets import SOCKET_FOR_KIND, describe
from .tray import RENDER_STATES, CanvasTake, draw_render_state

SINGLE_INPUTS: dict[str, tuple[str, str]] = {  # identifier -> (socket kind, label)
    "image": ("image", "First Frame"),
    "last_frame": ("image", "Last Frame"),
    "video": ("video", "Video"),
    "audio": ("audio", "Audio"),
    "shot": ("shot", "Shot"),
}
MAX_SEED = 2_147_483_647
# Widgets in a model node's body at most (model, variant, takes, a model warning, the state line, progress); the
# UI harness (tests/blender/test_ui_harness.py) draws every kind in every state and holds the body to it.
BODY_BUDGET = 6


def node_model(node: Any) -> Model | None:
    return load_catalog().model(node.model_id)


def node_variant(node: Any) -> Variant | None:
    model = node_model(node)
    return model.variant(node.variant_id or None) if model else None


def _model_items(node: Any) -> list[tuple[str, str, str]]:
    items = [(m.id, f"{m.label} (retired)" if _retired(m) else m.label,
              f"{m.vendor}: {m.label}" + (" (retired: draft only)" if _retired(m) else ""))
             for m in load_catalog().models if m.kind == node.doc_kind]
    if node.model_id and not any(i[0] == node.model_id for i in items):
        items.append((node.model_id, f"{node.model_id} (not in catalog)", "Unknown model, kept as written"))
    return items


def _retired(model: Model) -> bool:
    return all(v.status.status == "retired" for v in model.variants)


def _variant_items(node: Any) -> list[tuple[str, str, str]]:
    model = node_model(node)
    if model is None:
        return [("", "(no variants)", "")]
    # the default first: a blank variant id reads as the first item
    ordered = sorted(model.variants, key=lambda v: v.id != model.default_variant)
    return [(v.id, v.label, v.notes or v.label) for v in ordered]


def _route_items(node: Any) -> list[tuple[str, str, str]]:
    items = [("", "Automatic", "The best route you have a key for")]
    variant = node_variant(node)
    catalog = load_catalog()
    for route in variant.routes if variant else ():
        backend = catalog.backend(route.backend)
        label = backend.label if backend else route.backend
        if not route.lifecycle.usable:
            label += " (retired)"
        items.append((route.backend, label, f"{label}: {route.model_id}"))
    return items


def _duration_items(node: Any) -> list[tuple[str, str, str]]:
    variant = node_variant(node)
    items = [("", "Default", "The shot's or canvas's duration, or the model's own")]
    if variant and variant.duration_from:
        return [("", f"Follows {variant.duration_from}", f"{variant.label} makes a clip as long as its input")]
    items.extend((str(s), f"{s} s", f"{s} seconds") for s in (variant.durations if variant else ()))
    return items


def _aspect_items(node: Any) -> list[tuple[str, str, str]]:
    variant = node_variant(node)
    return [("", "Default", "The shot's or canvas's aspect ratio")] + [
        (ratio, ratio, f"Aspect ratio {ratio}") for ratio in (variant.aspect_ratios if variant else ())
    ]


def _resolution_items(node: Any) -> list[tuple[str, str, str]]:
    variant = node_variant(node)
    return [("", "Default", "The model's default resolution")] + [
        (res, res, f"Resolution {res}") for res in (variant.resolutions if variant else ())
    ]


def _on_model_change(node: Any) -> None:
    model = node_model(node)
    if model and node.variant_id and model.variant(node.variant_id) is None:
        node.variant_id = ""  # blank = the model's default variant, so documents that name none round-trip
    _on_variant_change(node)


def _on_variant_change(node: Any) -> None:
    """Drop choices the new variant does not allow, and show only the inputs it takes."""
    variant = node_variant(node)
    if variant is None:
        return
    if node.route_id and variant.route(node.route_id) is None:
        node.route_id = ""
    if hasattr(node, "duration_s") and node.duration_s and node.duration_s not in variant.durations:
        node.duration_s = 0
    if hasattr(node, "aspect_ratio") and node.aspect_ratio and node.aspect_ratio not in variant.aspect_ratios:
        node.aspect_ratio = ""
    if hasattr(node, "resolution") and node.resolution and node.resolution not in variant.resolutions:
        node.resolution = ""
    sync_input_sockets(node)


def sync_input_sockets(node: Any) -> None:
    """Enable the input sockets the variant takes; never remove a socket, so links survive a model swap."""
    variant = node_variant(node)
    accepted = {spec.name.value for spec in variant.inputs} if variant else set(SINGLE_INPUTS) | {"images"}
    for identifier in SINGLE_INPUTS:
        socket = input_socket(node, identifier)
        if socket is not None:
            socket.enabled = identifier in accepted or socket.is_linked
    spec = variant.input(InputName.IMAGES) if variant else None
    for socket in list_sockets(node, "images"):
        socket.enabled = spec is not None or socket.is_linked


class _ModelNodeBase(CanvasNode):
    model_id: bpy.props.StringProperty(name="Model ID", description="The catalog's id of the model")
    variant_id: bpy.props.StringProperty(name="Variant ID", description="The catalog's id of the variant")
    route_id: bpy.props.StringProperty(name="Route ID", description="The service that runs it (blank = automatic)")
    model: stored_enum(_model_items, "model_id", _on_model_change, name="Model",
                       description="Which model makes this node's takes")
    variant: stored_enum(_variant_items, "variant_id", _on_variant_change, name="Variant",
                         description="The model's version or tier")
    route: stored_enum(_route_items, "route_id", name="Route", description="Which service runs this node")
    takes: bpy.props.IntProperty(name="Takes", description="How many takes one render makes", default=1, min=1,
                                 max=10)
    use_seed: bpy.props.BoolProperty(name="Seed", description="Send this seed (where the model takes one)")
    seed: bpy.props.IntProperty(name="Seed", min=0, max=MAX_SEED)

    # what the engine reports; written only by the main-thread drain
    render_state: bpy.props.EnumProperty(name="State", items=RENDER_STATES, default="idle")
    progress: bpy.props.FloatProperty(name="Progress", min=0.0, max=1.0, subtype="FACTOR")
    status_message: bpy.props.StringProperty(name="Status")
    estimate_usd: bpy.props.FloatProperty(name="Estimate", precision=2)
    tray: bpy.props.CollectionProperty(type=CanvasTake, name="Version Tray")
    tray_index: bpy.props.IntProperty(name="Active Take")
    chosen_take: bpy.props.StringProperty(name="Chosen Take", description="The take that feeds downstream nodes "
                                          "and the cut")

    default_model = ""

    def init(self, context: Any) -> None:
        describe(self.outputs.new(SOCKET_FOR_KIND[self.doc_kind], self.doc_kind.capitalize()))
        for identifier, (kind, label) in SINGLE_INPUTS.items():
            if identifier in self.input_names:
                describe(self.inputs.new(SOCKET_FOR_KIND[kind], label, identifier=identifier))
        if "images" in self.input_names:
            ensure_list_sockets(self, "images", SOCKET_FOR_KIND["image"], "Reference", 1)
        if not self.model_id:
            self.model_id = self.default_model
        _on_model_change(self)

    input_names: tuple[str, ...] = ()

    def draw_label(self) -> str:
        variant = node_variant(self)
        return variant.label if variant else (self.model_id or self.bl_label)

    def draw_status(self, layout: Any) -> None:
        variant = node_variant(self)
        if variant is None:
            layout.label(text=f"Not in the catalog: {self.model_id or 'no model'}", icon="ERROR")
            return
        status = variant.status
        if status.status == "retired":
            when = f" {status.since.isoformat()}" if status.since else ""
            layout.label(text=f"Retired{when}: draft only", icon="ERROR")
        elif status.status == "deprecated":
            layout.label(text="Deprecated: moving off soon", icon="INFO")

    def draw_buttons(self, context: Any, layout: Any) -> None:
        """The node body: what you change while wiring (model, variant, takes) and the state. BODY_BUDGET widgets
        at most; everything else is in the sidebar's Node tab (draw_buttons_ext)."""
        layout.prop(self, "model", text="")
        layout.prop(self, "variant", text="")
        layout.prop(self, "takes")
        self.draw_status(layout)
        draw_render_state(self, layout)

    def draw_buttons_ext(self, context: Any, layout: Any) -> None:
        """The sidebar's Node tab: every setting of the node, labelled, and the whole state message."""
        layout.use_property_split = True
        layout.use_property_decorate = False
        column = layout.column()
        column.prop(self, "model")
        column.prop(self, "variant")
        column.prop(self, "route")
        column.prop(self, "takes")
        draw_toggled(column, self, "use_seed", "seed", "Seed")
        variant = node_variant(self)
        if self.use_seed and variant is not None and not any(variant.seed_on(r.backend) for r in variant.routes):
            column.label(text="This model ignores the seed", icon="INFO")
        self.draw_settings(column)
        self.draw_status(layout)
        draw_render_state(self, layout, full=True)

    def draw_settings(self, layout: Any) -> None:
        """The kind's own settings, in the sidebar."""


class _VisualModelNode(_ModelNodeBase):
    subject: bpy.props.StringProperty(name="Subject")
    action: bpy.props.StringProperty(name="Action")
    camera: bpy.props.StringProperty(name="Camera")
    lens: bpy.props.StringProperty(name="Lens")
    lighting: bpy.props.StringProperty(name="Lighting")
    atmosphere: bpy.props.StringProperty(name="Atmosphere")
    mood: bpy.props.StringProperty(name="Mood", description="Emotional direction; each model's grammar places it")
    aspect_ratio: bpy.props.StringProperty(name="Aspect Ratio")
    resolution: bpy.props.StringProperty(name="Resolution")
    aspect: stored_enum(_aspect_items, "aspect_ratio", name="Aspect Ratio")
    size: stored_enum(_resolution_items, "resolution", name="Resolution")

    def draw_prompt(self, layout: Any) -> None:
        """The prompt fields, labelled (a Shot node wired in fills the blank ones)."""
        column = layout.column(align=True, heading="Prompt")
        for field in PROMPT_FIELDS:
            column.prop(self, field, placeholder="From the shot" if self.shot_wired() else "")

    def shot_wired(self) -> bool:
        socket = input_socket(self, "shot")
        return bool(socket is not None and socket.is_linked)


class CanvasImageNode(_VisualModelNode, bpy.types.Node):
    """An image model: a reference still from text and reference images"""

    bl_idname = "CanvasImageNode"
    bl_label = "Image"
    bl_icon = "IMAGE_DATA"
    bl_width_default = 260
    doc_kind = "image"
    default_model = "nano-banana-2"
    input_names = ("images",)

    def draw_settings(self, layout: Any) -> None:
        layout.prop(self, "aspect")
        layout.prop(self, "size")
        self.draw_prompt(layout)
        op = layout.operator("canvas.add_input_slot", text="Add Reference Input", icon="ADD")
        op.tree_name, op.node_name, op.prefix = tree_of(self).name, self.name, "images"


class CanvasVideoNode(_VisualModelNode, bpy.types.Node):
    """A video model: a clip from a first frame, a shot prompt, a voice or a video take"""

    bl_idname = "CanvasVideoNode"
    bl_label = "Video"
    bl_icon = "FILE_MOVIE"
    bl_width_default = 280
    doc_kind = "video"
    default_model = "kling-3"
    input_names = ("image", "last_frame", "video", "audio", "shot", "images")

    duration_s: bpy.props.IntProperty(name="Duration", description="Seconds; 0 = the shot's or canvas's", min=0,
                                      max=600)
    duration: stored_enum(_duration_items, "duration_s", name="Duration")
    generate_audio: bpy.props.BoolProperty(name="Sound", description="Ask for generated sound where the model "
                                           "makes it (priced separately)")

    def draw_settings(self, layout: Any) -> None:
        layout.prop(self, "duration")
        variant = node_variant(self)
        if variant and variant.durations and not variant.duration_from:
            layout.label(text=f"Allowed: {describe_seconds(variant.durations)}")
        layout.prop(self, "aspect")
        layout.prop(self, "size")
        layout.prop(self, "generate_audio")
        self.draw_prompt(layout)


class CanvasAudioNode(_ModelNodeBase, bpy.types.Node):
    """A voice model: a spoken line from text"""

    bl_idname = "CanvasAudioNode"
    bl_label = "Voice"
    bl_icon = "SOUND"
    bl_width_default = 260
    doc_kind = "audio"
    default_model = "elevenlabs"

    text: bpy.props.StringProperty(name="Text", description="The words to speak")
    voice: bpy.props.StringProperty(name="Voice", description="The vendor's voice id (blank = its default voice)")

    def draw_settings(self, layout: Any) -> None:
        layout.prop(self, "text")
        layout.prop(self, "voice")


CLASSES: tuple[type, ...] = (CanvasImageNode, CanvasVideoNode, CanvasAudioNode)
