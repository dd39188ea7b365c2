"""The node tree and the canvas document, each into the other.

The document is the interface people diff and scripts write; the tree is a view of it that Blender saves.
Paths in a document are relative to the canvas file; in the tree they are Blender paths ('//' once saved).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bpy

from ..engine.document import (
    AudioNode,
    Canvas,
    ImageNode,
    Node,
    ReferenceNode,
    SequenceNode,
    ShotNode,
    VideoNode,
)
from .bakeoff_props import bakeoff_data, bakeoff_to_tree
from .base import TREE_ID, ensure_list_sockets, input_socket, linked_node_name, list_sockets, mark_link_validity
from .model_nodes import PROMPT_FIELDS, SINGLE_INPUTS, sync_input_sockets
from .sockets import SOCKET_FOR_KIND, describe

NODE_TYPE_FOR_KIND = {
    "reference": "CanvasReferenceNode",
    "shot": "CanvasShotNode",
    "image": "CanvasImageNode",
    "video": "CanvasVideoNode",
    "audio": "CanvasAudioNode",
    "sequence": "CanvasSequenceNode",
}
COLUMN_WIDTH = 340.0
ROW_HEIGHT = 300.0


def _f(value: float) -> float:
    """Blender keeps floats in single precision: round them back to what a person wrote."""
    return round(float(value), 5)


def _vec(values: Any) -> list[float]:
    return [_f(v) for v in values]


# --- document -> tree -----------------------------------------------------------------------------------------


def to_blender_path(path: str, base_dir: Path) -> str:
    absolute = os.path.normpath(base_dir / path.replace("\\", "/"))
    if bpy.data.filepath:
        try:
            return str(bpy.path.relpath(absolute))
        except ValueError:  # another drive on Windows
            return absolute
    return absolute


def from_blender_path(path: str, base_dir: Path) -> str:
    absolute = os.path.normpath(bpy.path.abspath(path))
    try:
        return Path(os.path.relpath(absolute, base_dir)).as_posix()
    except ValueError:
        return Path(absolute).as_posix()


def _layout(canvas: Canvas) -> dict[str, tuple[float, float]]:
    """Columns by depth in the wiring, for nodes the document gives no position."""
    sources: dict[str, list[str]] = {n.id: [] for n in canvas.nodes}
    for node in canvas.nodes:
        if isinstance(node, (ImageNode, VideoNode, AudioNode)):
            sources[node.id] = [s for _, s in node.inputs.wired() if s in sources]
        elif isinstance(node, SequenceNode):
            sources[node.id] = [s.node for s in node.shot_list() if s.node in sources]
            sources[node.id] += [a.node for a in node.audio if a.node in sources]
    depth: dict[str, int] = {}

    def depth_of(node_id: str, trail: frozenset[str]) -> int:
        if node_id not in depth:
            parents = [p for p in sources[node_id] if p not in trail]
            depth[node_id] = 1 + max((depth_of(p, trail | {node_id}) for p in parents), default=-1)
        return depth[node_id]

    rows: dict[int, int] = {}
    positions = {}
    for node in canvas.nodes:
        column = depth_of(node.id, frozenset())
        row = rows.get(column, 0)
        rows[column] = row + 1
        positions[node.id] = (column * COLUMN_WIDTH, -row * ROW_HEIGHT)
    return positions


def canvas_to_tree(canvas: Canvas, tree: Any, base_dir: Path) -> None:
    """Replace the tree's contents with the canvas."""
    tree.nodes.clear()
    tree.canvas_title = canvas.title
    tree.draft = canvas.draft
    tree.use_budget = canvas.budget_usd is not None
    tree.budget_cents = round((canvas.budget_usd or 0) * 100)
    defaults = canvas.defaults
    tree.default_aspect_ratio = defaults.aspect_ratio
    tree.default_duration_s = defaults.duration_s or 0
    tree.use_default_seed = defaults.seed is not None
    tree.default_seed = defaults.seed or 0
    tree.default_resolution = defaults.resolution or ""
    tree.fps = defaults.fps

    layout = _layout(canvas)
    created: dict[str, Any] = {}
    for doc_node in canvas.nodes:
        node = tree.nodes.new(NODE_TYPE_FOR_KIND[doc_node.kind])
        node.name = doc_node.id
        node.label = doc_node.label
        node.location = doc_node.position or layout[doc_node.id]
        created[doc_node.id] = node
        _fill_node(node, doc_node, base_dir)
    for doc_node in canvas.nodes:
        _wire_node(tree, created[doc_node.id], doc_node, created)
    for node in created.values():
        if node.bl_idname in ("CanvasImageNode", "CanvasVideoNode", "CanvasAudioNode"):
            sync_input_sockets(node)
    mark_link_validity(tree)
    bakeoff_to_tree(canvas.bakeoff, tree)


def merge_into_tree(canvas: Canvas, tree: Any, base_dir: Path, *, create: list[str], refill: list[str]) -> None:
    """Add the canvas's nodes named in ``create`` (wired), and refill the settings of those in ``refill``, leaving
    every other node, its tray and the user's frames and reroutes as they are."""
    layout = _layout(canvas)
    for node_id in refill:
        doc_node, node = canvas.node(node_id), tree.nodes.get(node_id)
        if doc_node is not None and node is not None:
            _fill_node(node, doc_node, base_dir)
    created: dict[str, Any] = {}
    for node_id in create:
        doc_node = canvas.node(node_id)
        if doc_node is None:
            continue
        node = tree.nodes.new(NODE_TYPE_FOR_KIND[doc_node.kind])
        node.name, node.label = doc_node.id, doc_node.label
        node.location = doc_node.position or layout[doc_node.id]
        created[doc_node.id] = node
        _fill_node(node, doc_node, base_dir)
    existing = {n.name: n for n in tree.nodes}
    for node_id, node in created.items():
        doc_node = canvas.node(node_id)
        if doc_node is not None:
            _wire_node(tree, node, doc_node, existing)
            if node.bl_idname in ("CanvasImageNode", "CanvasVideoNode", "CanvasAudioNode"):
                sync_input_sockets(node)
    mark_link_validity(tree)
    bakeoff_to_tree(canvas.bakeoff, tree)


def _fill_node(node: Any, doc: Node, base_dir: Path) -> None:
    if isinstance(doc, ReferenceNode):
        node.filepath = to_blender_path(doc.path, base_dir)
    elif isinstance(doc, ShotNode):
        for field in PROMPT_FIELDS:
            setattr(node, field, getattr(doc, field))
        node.use_seed = doc.seed is not None
        node.seed = doc.seed or 0
        node.aspect_ratio = doc.aspect_ratio or ""
        node.duration_s = doc.duration_s or 0
    elif isinstance(doc, (ImageNode, VideoNode, AudioNode)):
        node.model_id = doc.model
        node.variant_id = doc.variant or ""
        node.route_id = doc.route or ""
        node.takes = doc.takes
        node.use_seed = doc.seed is not None
        node.seed = doc.seed or 0
        if isinstance(doc, AudioNode):
            node.text = doc.text
            node.voice = doc.voice or ""
        else:
            for field in PROMPT_FIELDS:
                setattr(node, field, getattr(doc.prompt, field))
            node.aspect_ratio = doc.aspect_ratio or ""
            node.resolution = doc.resolution or ""
        if isinstance(doc, VideoNode):
            node.duration_s = doc.duration_s or 0
            node.generate_audio = doc.audio
    elif isinstance(doc, SequenceNode):
        node.use_fps = doc.fps is not None
        node.fps = doc.fps or 24
        node.use_grade = doc.grade is not None
        if doc.grade is not None:
            grade = doc.grade
            node.lift, node.gamma, node.gain = grade.lift, grade.gamma, grade.gain
            node.saturation, node.contrast, node.curves = grade.saturation, grade.contrast, grade.curves
            node.use_white_balance = grade.white_balance is not None
            node.white_balance = grade.white_balance or (1.0, 1.0, 1.0)
        node.use_end_card = doc.end_card is not None
        if doc.end_card is not None:
            card = doc.end_card
            node.end_card_text = card.text
            node.end_card_image = to_blender_path(card.image, base_dir) if card.image else ""
            node.end_card_seconds = card.seconds
            node.end_card_background = card.background


def _wire_node(tree: Any, node: Any, doc: Node, created: dict[str, Any]) -> None:
    def link(source_id: str, socket: Any) -> None:
        source = created.get(source_id)
        if source is not None and socket is not None and source.outputs:
            tree.links.new(source.outputs[0], socket)

    if isinstance(doc, (ImageNode, VideoNode, AudioNode)):
        for name in SINGLE_INPUTS:
            source_id = getattr(doc.inputs, name)
            if source_id:
                socket = input_socket(node, name)
                if socket is None:  # an input this node kind never has: keep the wire on a fresh socket
                    kind, label = SINGLE_INPUTS[name]
                    socket = describe(node.inputs.new(SOCKET_FOR_KIND[kind], label, identifier=name))
                link(source_id, socket)
        if doc.inputs.images:
            sockets = ensure_list_sockets(node, "images", SOCKET_FOR_KIND["image"], "Reference",
                                          len(doc.inputs.images))
            for source_id, socket in zip(doc.inputs.images, sockets, strict=False):
                link(source_id, socket)
    elif isinstance(doc, SequenceNode):
        shots = doc.shot_list()
        for shot, socket in zip(shots, ensure_list_sockets(node, "shots", SOCKET_FOR_KIND["video"], "Shot",
                                                            len(shots)), strict=True):
            socket.trim_in_s, socket.trim_out_s = shot.trim_in_s, shot.trim_out_s
            socket.crossfade_frames = shot.crossfade_frames
            socket.use_gain = shot.gain is not None
            socket.gain = shot.gain or (1.0, 1.0, 1.0)
            link(shot.node, socket)
        sounds = ensure_list_sockets(node, "audio", SOCKET_FOR_KIND["audio"], "Sound", len(doc.audio))
        for placement, socket in zip(doc.audio, sounds, strict=True):
            socket.under = placement.under or ""
            socket.use_at = placement.at_s is not None
            socket.at_s = placement.at_s or 0.0
            socket.volume = placement.volume
            link(placement.node, socket)


# --- tree -> document -----------------------------------------------------------------------------------------


def tree_to_data(tree: Any, base_dir: Path) -> dict[str, Any]:
    """The tree as canvas JSON data (not yet validated: the caller runs it through validation)."""
    defaults: dict[str, Any] = {"aspect_ratio": tree.default_aspect_ratio or "16:9", "fps": tree.fps}
    if tree.default_duration_s:
        defaults["duration_s"] = tree.default_duration_s
    if tree.use_default_seed:
        defaults["seed"] = tree.default_seed
    if tree.default_resolution:
        defaults["resolution"] = tree.default_resolution
    data: dict[str, Any] = {"version": 1, "title": tree.canvas_title, "draft": tree.draft, "defaults": defaults}
    if tree.use_budget:
        data["budget_usd"] = tree.budget_cents / 100
    data["nodes"] = [_node_data(node, base_dir) for node in tree.nodes if node.bl_idname in KIND_FOR_NODE_TYPE]
    bakeoff = bakeoff_data(tree)
    if bakeoff is not None:
        data["bakeoff"] = bakeoff
    return data


KIND_FOR_NODE_TYPE = {v: k for k, v in NODE_TYPE_FOR_KIND.items()}


def _node_data(node: Any, base_dir: Path) -> dict[str, Any]:
    kind = KIND_FOR_NODE_TYPE[node.bl_idname]
    data: dict[str, Any] = {"id": node.name, "kind": kind}
    if node.label:
        data["label"] = node.label
    data["position"] = [round(node.location[0], 2), round(node.location[1], 2)]
    if kind == "reference":
        data["path"] = from_blender_path(node.filepath, base_dir) if node.filepath else ""
    elif kind == "shot":
        data.update({f: getattr(node, f) for f in PROMPT_FIELDS if getattr(node, f)})
        if node.use_seed:
            data["seed"] = node.seed
        if node.aspect_ratio:
            data["aspect_ratio"] = node.aspect_ratio
        if node.duration_s:
            data["duration_s"] = node.duration_s
    elif kind in ("image", "video", "audio"):
        data.update(_model_node_data(node, kind))
    elif kind == "sequence":
        data.update(_sequence_data(node, base_dir))
    return data


def _model_node_data(node: Any, kind: str) -> dict[str, Any]:
    data: dict[str, Any] = {"model": node.model_id}
    for field, value in (("variant", node.variant_id), ("route", node.route_id)):
        if value:
            data[field] = value
    data["takes"] = node.takes
    if node.use_seed:
        data["seed"] = node.seed
    inputs: dict[str, Any] = {}
    for name in SINGLE_INPUTS:
        source = linked_node_name(input_socket(node, name))
        if source:
            inputs[name] = source
    images = [s for s in (linked_node_name(sock) for sock in list_sockets(node, "images")) if s]
    if images:
        inputs["images"] = images
    if inputs:
        data["inputs"] = inputs
    if kind == "audio":
        data["text"] = node.text
        if node.voice:
            data["voice"] = node.voice
        return data
    prompt = {f: getattr(node, f) for f in PROMPT_FIELDS if getattr(node, f)}
    if prompt:
        data["prompt"] = prompt
    for field in ("aspect_ratio", "resolution"):
        if getattr(node, field):
            data[field] = getattr(node, field)
    if kind == "video":
        if node.duration_s:
            data["duration_s"] = node.duration_s
        if node.generate_audio:
            data["audio"] = True
    return data


def _sequence_data(node: Any, base_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = {"shots": [], "audio": []}
    for socket in list_sockets(node, "shots"):
        source = linked_node_name(socket)
        if source:
            data["shots"].append({"node": source, "trim_in_s": _f(socket.trim_in_s),
                                  "trim_out_s": _f(socket.trim_out_s), "crossfade_frames": socket.crossfade_frames,
                                  "gain": _vec(socket.gain) if socket.use_gain else None})
    for socket in list_sockets(node, "audio"):
        source = linked_node_name(socket)
        if source:
            placement: dict[str, Any] = {"node": source, "volume": _f(socket.volume)}
            if socket.under:
                placement["under"] = socket.under
            if socket.use_at:
                placement["at_s"] = _f(socket.at_s)
            data["audio"].append(placement)
    if node.use_end_card:
        data["end_card"] = {
            "text": node.end_card_text,
            "image": from_blender_path(node.end_card_image, base_dir) if node.end_card_image else None,
            "seconds": _f(node.end_card_seconds),
            "background": _vec(node.end_card_background),
        }
    if node.use_grade:
        data["grade"] = {
            "lift": _vec(node.lift), "gamma": _vec(node.gamma), "gain": _vec(node.gain),
            "saturation": _f(node.saturation), "contrast": _f(node.contrast), "curves": node.curves,
            "white_balance": _vec(node.white_balance) if node.use_white_balance else None,
        }
    if node.use_fps:
        data["fps"] = node.fps
    return data


def new_canvas_tree(name: str) -> Any:
    tree: Any = bpy.data.node_groups.new(name, TREE_ID)  # type: ignore[arg-type]
    tree.use_fake_user = True  # a canvas is not used by any object; without this Blender drops it on save
    return tree
