"""The canvas's bake-off, as Blender data on the tree: brief, controlled image and shot, entrants, judging axes.

Verdicts and pins are not stored here: they are the ledger's (engine/ledger.py), so they survive a lost .blend
and travel with the takes. The tree holds what the builder needs and what the canvas JSON's `bakeoff` carries.
"""

from __future__ import annotations

from typing import Any

import bpy

from ..engine.document import DEFAULT_AXES, BakeOff
from ..providers.catalog import load_catalog
from .base import input_socket, linked_node_name, stored_enum


def _video_model_items(item: Any) -> list[tuple[str, str, str]]:
    items = [(m.id, m.label, f"{m.vendor}: {m.label}") for m in load_catalog().models
             if m.kind.value == "video" and not m.preview_only]
    if item.model_id and not any(i[0] == item.model_id for i in items):
        items.append((item.model_id, f"{item.model_id} (not in catalog)", "Unknown model, kept as written"))
    return items


def _variant_items(item: Any) -> list[tuple[str, str, str]]:
    model = load_catalog().model(item.model_id)
    if model is None:
        return [("", "(no variants)", "")]
    ordered = sorted(model.variants, key=lambda v: v.id != model.default_variant)
    return [(v.id, v.label, v.notes or v.label) for v in ordered]


def _on_model_change(item: Any) -> None:
    item.variant_id = ""


class CanvasBakeOffCandidate(bpy.types.PropertyGroup):
    """A model / variant pair the builder will enter into the bake-off"""

    model_id: bpy.props.StringProperty(name="Model ID", description="The catalog's id of the model")
    variant_id: bpy.props.StringProperty(name="Variant ID", description="The catalog's id of the variant")
    model: stored_enum(_video_model_items, "model_id", _on_model_change, name="Model")
    variant: stored_enum(_variant_items, "variant_id", name="Variant")


class CanvasBakeOffName(bpy.types.PropertyGroup):
    """A name in a list (an entrant node, a judging axis); PropertyGroup's own `name` holds it"""


class CanvasBakeOffSettings(bpy.types.PropertyGroup):
    """The canvas's bake-off: what is controlled, who enters, and the axes takes are judged on"""

    enabled: bpy.props.BoolProperty(name="Bake-off", description="This canvas carries a controlled comparison")
    brief: bpy.props.StringProperty(name="Brief", description="What the takes are judged against")
    image_node: bpy.props.StringProperty(name="Image", description="The controlled still every entrant starts from")
    shot_node: bpy.props.StringProperty(name="Shot", description="The shared shot-list prompt (aspect, seed, length)")
    takes: bpy.props.IntProperty(name="Takes", description="Takes per entrant", default=3, min=1, max=10)
    duration_s: bpy.props.IntProperty(name="Duration", description="Controlled seconds; 0 = the shot's", min=0,
                                      max=600)
    candidates: bpy.props.CollectionProperty(type=CanvasBakeOffCandidate)
    candidate_index: bpy.props.IntProperty()
    entrants: bpy.props.CollectionProperty(type=CanvasBakeOffName)
    axes: bpy.props.CollectionProperty(type=CanvasBakeOffName)
    axis_index: bpy.props.IntProperty()
    flags: bpy.props.StringProperty(name="Flags", description="Where the last build could not control an input")
    report_path: bpy.props.StringProperty(name="Report", subtype="FILE_PATH")


def reset_axes(settings: Any, axes: tuple[str, ...] | list[str] = DEFAULT_AXES) -> None:
    settings.axes.clear()
    for axis in axes:
        settings.axes.add().name = axis


def bakeoff_to_tree(bakeoff: BakeOff | None, tree: Any) -> None:
    settings = tree.canvas_bakeoff
    settings.enabled = bakeoff is not None
    settings.entrants.clear()
    settings.candidates.clear()
    if bakeoff is None:
        return
    settings.brief, settings.image_node, settings.shot_node = bakeoff.brief, bakeoff.image, bakeoff.shot
    settings.takes = bakeoff.takes
    for node_id in bakeoff.entrants:
        settings.entrants.add().name = node_id
        node = tree.nodes.get(node_id)
        if node is not None and node.bl_idname == "CanvasVideoNode":
            candidate = settings.candidates.add()
            candidate.model_id, candidate.variant_id = node.model_id, node.variant_id
    reset_axes(settings, bakeoff.axes)


def _wired_to(node: Any, image: str, shot: str) -> bool:
    return bool(linked_node_name(input_socket(node, "image")) == image
                and linked_node_name(input_socket(node, "shot")) == shot)


def current_entrants(tree: Any) -> tuple[list[str], list[str]]:
    """(entrant node names as they are now, names that are gone). A renamed entrant is found again by its model,
    variant and wiring to the controlled image and shot; a deleted one is dropped, never an error that would stop
    the rest of the canvas from rendering."""
    settings = tree.canvas_bakeoff
    names = [e.name for e in settings.entrants]
    videos = [n for n in tree.nodes if n.bl_idname == "CanvasVideoNode"]
    taken = {n for n in names if any(v.name == n for v in videos)}
    present: list[str] = []
    gone: list[str] = []
    for index, name in enumerate(names):
        if name in taken:
            present.append(name)
            continue
        # the builder lists entrants in the order of its candidates, so the same row says what the node was
        candidate = settings.candidates[index] if index < len(settings.candidates) else None
        match = next((v.name for v in videos if candidate is not None and v.name not in taken
                      and v.model_id == candidate.model_id and v.variant_id == candidate.variant_id
                      and _wired_to(v, settings.image_node, settings.shot_node)), None)
        if match is None:
            gone.append(name)
        else:
            present.append(match)
            taken.add(match)
    return present, gone


def bakeoff_data(tree: Any) -> dict[str, Any] | None:
    """The tree's bake-off as canvas JSON (without verdicts: those come from the ledger on export); None until it
    is built (a still, a shot and at least two entrants that still exist)."""
    settings = tree.canvas_bakeoff
    if not settings.enabled:
        return None
    entrants, _gone = current_entrants(tree)
    if len(entrants) < 2 or tree.nodes.get(settings.image_node) is None or tree.nodes.get(settings.shot_node) is None:
        return None
    data: dict[str, Any] = {"image": settings.image_node, "shot": settings.shot_node,
                            "entrants": entrants, "takes": settings.takes,
                            "axes": [a.name for a in settings.axes] or list(DEFAULT_AXES)}
    if settings.brief:
        data["brief"] = settings.brief
    return data


CLASSES: tuple[type, ...] = (CanvasBakeOffCandidate, CanvasBakeOffName, CanvasBakeOffSettings)
