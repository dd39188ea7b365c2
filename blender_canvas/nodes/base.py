"""The Canvas node tree, the base node, and the plumbing shared by every node."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import bpy

from ..engine.document import AUDIO_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .sockets import KIND_FOR_SOCKET, describe

TREE_ID = "BlenderCanvasTree"

EnumItem = tuple[str, str, str, int]


UNDEFINED_TYPES = frozenset({"NodeUndefined", "NodeSocketUndefined", "NodeTreeUndefined", ""})


def is_defined(node: Any) -> bool:
    """False for a node whose class is not registered (the add-on was off when the file was read, or is being
    re-enabled): Blender keeps it as an undefined node, and its sockets must not be read."""
    return getattr(node, "bl_idname", "") not in UNDEFINED_TYPES and getattr(type(node), "is_registered", True)


def file_kind(node: Any) -> str | None:
    """What a Reference node's file is, by its extension (None for no file or an unknown extension)."""
    path = str(getattr(node, "filepath", "") or "")
    suffix = PurePosixPath(path.replace("\\", "/")).suffix.lower()
    for kind, suffixes in (("image", IMAGE_SUFFIXES), ("video", VIDEO_SUFFIXES), ("audio", AUDIO_SUFFIXES)):
        if suffix in suffixes:
            return kind
    return None


def mark_link_validity(tree: Any) -> None:
    """Draw a wire red when it carries the wrong kind of media (audio into an image input, say)."""
    if getattr(tree, "bl_idname", "") != TREE_ID:
        return
    for link in tree.links:
        if not (is_defined(link.from_node) and is_defined(link.to_node)):
            continue
        out_kind = KIND_FOR_SOCKET.get(link.from_socket.bl_idname) or file_kind(link.from_node)
        in_kind = KIND_FOR_SOCKET.get(link.to_socket.bl_idname)
        valid = out_kind is None or in_kind is None or out_kind == in_kind
        if link.is_valid != valid:
            link.is_valid = valid


class CanvasNode:
    """Mix-in for every Canvas node: only lives in a Canvas tree, and knows its document kind."""

    doc_kind = ""
    is_sequence = False
    if TYPE_CHECKING:  # provided by bpy.types.Node, which the concrete classes also derive from
        inputs: Any
        outputs: Any
        name: str
        bl_label: str

    @classmethod
    def poll(cls, ntree: Any) -> bool:
        return bool(ntree.bl_idname == TREE_ID)


INHERIT = "INHERIT"  # enum identifier for "use the shot's or the canvas's value"


def stored_enum(
    items: Callable[[Any], Sequence[tuple[str, str, str]]],
    attribute: str,
    on_change: Callable[[Any], None] | None = None,
    **kwargs: Any,
) -> Any:
    """An EnumProperty whose value lives in the plain property ``attribute`` (a string or an int).

    Blender stores a dynamic enum as an integer index, so a catalog that gains a model would silently shift every
    saved choice. Storing the value itself keeps .blend files true across catalog changes; the enum is only the
    menu that edits it. ``items`` yields (value as text, name, description); an empty value or "0" means inherit.
    """
    cache: dict[tuple[str, ...], list[EnumItem]] = {}

    def enum_items(node: Any, context: Any) -> list[EnumItem]:
        raw = tuple(items(node))
        key = tuple(i[0] for i in raw) + tuple(i[1] for i in raw)
        if key not in cache:  # Blender needs the returned strings kept alive
            cache[key] = [(value or INHERIT, name, desc, index) for index, (value, name, desc) in enumerate(raw)]
        return cache[key]

    def get(node: Any) -> int:
        current = str(getattr(node, attribute))
        for ident, _name, _desc, index in enum_items(node, None):
            if ident == current or (ident == INHERIT and current in ("", "0")):
                return index
        return 0

    def set_(node: Any, value: int) -> None:
        for ident, _name, _desc, index in enum_items(node, None):
            if index == value:
                text = "" if ident == INHERIT else ident
                setattr(node, attribute, int(text or 0) if isinstance(getattr(node, attribute), int) else text)
                break
        if on_change is not None:
            on_change(node)

    return bpy.props.EnumProperty(items=enum_items, get=get, set=set_, **kwargs)


def ensure_list_sockets(node: Any, prefix: str, socket_type: str, label: str, count: int) -> list[Any]:
    """Keep exactly ``count`` numbered input sockets ``prefix_0 .. prefix_{count-1}``, removing unlinked extras."""
    existing = [s for s in node.inputs if s.identifier.startswith(prefix + "_")]
    while len(existing) < count:
        index = len(existing)
        existing.append(describe(node.inputs.new(socket_type, f"{label} {index + 1}",
                                                 identifier=f"{prefix}_{index}")))
    while len(existing) > count and not existing[-1].is_linked:
        node.inputs.remove(existing.pop())
    return existing


def list_sockets(node: Any, prefix: str) -> list[Any]:
    return [s for s in node.inputs if s.identifier.startswith(prefix + "_")]


def tree_of(node: Any) -> Any:
    """The canvas tree a node lives in."""
    return node.id_data


def input_socket(node: Any, identifier: str) -> Any:
    return next((s for s in node.inputs if s.identifier == identifier), None)


def linked_node_name(socket: Any) -> str | None:
    """The name (canvas id) of the node wired into an input socket, if any."""
    if socket is None or not socket.is_linked or not socket.links:
        return None
    name: str = socket.links[0].from_node.name
    return name


def draw_toggled(column: Any, data: Any, toggle: str, value: str, heading: str) -> None:
    """A value with its on/off checkbox in one row, the value greyed out while off (Blender's own idiom)."""
    row = column.row(heading=heading)
    row.prop(data, toggle, text="")
    sub = row.row()
    sub.active = getattr(data, toggle)
    sub.prop(data, value, text="")
