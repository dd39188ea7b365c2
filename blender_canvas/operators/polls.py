"""poll() for every operator: a button is greyed out, with the reason in its tooltip, when it cannot run.

A poll cannot see an operator's properties, so an operator that can name its canvas (``tree_name``, as scripts and
buttons in the sidebar do) passes when any canvas in the file meets the condition; the node editor's canvas, when
there is one, is the only one considered. ``execute`` still checks the named canvas and reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bpy

from ..nodes.bakeoff_props import bakeoff_data
from ..nodes.base import TREE_ID
from .bridge import MODEL_NODE_TYPES, running_trees

NO_CANVAS = "No Generation Canvas here: open one in the node editor (Shift+A adds its nodes)"

Need = Callable[[Any], str | None]  # a reason the tree cannot serve, or None


def candidate_trees(context: Any) -> list[Any]:
    space = getattr(context, "space_data", None)
    tree = getattr(space, "edit_tree", None)
    if tree is not None:
        return [tree] if getattr(tree, "bl_idname", "") == TREE_ID else []
    return [t for t in bpy.data.node_groups if t.bl_idname == TREE_ID]


def poll_canvas(cls: Any, context: Any, need: Need | None = None) -> bool:
    trees = candidate_trees(context)
    if not trees:
        cls.poll_message_set(NO_CANVAS)
        return False
    if need is None:
        return True
    reasons = [need(tree) for tree in trees]
    if all(reasons):
        cls.poll_message_set(str(reasons[0]))
        return False
    return True


def has_model_nodes(tree: Any) -> str | None:
    if any(n.bl_idname in MODEL_NODE_TYPES for n in tree.nodes):
        return None
    return "The canvas has no image, video or voice node to render (Shift+A adds one)"


def has_takes(tree: Any) -> str | None:
    if any(len(getattr(n, "tray", ())) for n in tree.nodes):
        return None
    return "No takes yet: render a node first"


def has_sequence(tree: Any) -> str | None:
    if any(n.bl_idname == "CanvasSequenceNode" for n in tree.nodes):
        return None
    return "The canvas has no Sequence node: add one (Shift+A ▸ Sequence) and wire the shots into it"


def has_bakeoff(tree: Any) -> str | None:
    settings = getattr(tree, "canvas_bakeoff", None)
    if settings is not None and settings.enabled:
        return None
    return "This canvas has no bake-off: tick Bake-off in the Canvas tab's Bake-off panel"


def has_built_bakeoff(tree: Any) -> str | None:
    if has_bakeoff(tree) is not None:
        return has_bakeoff(tree)
    if bakeoff_data(tree) is None:
        return "The bake-off is not built yet: pick the image and shot, add entrants, then Build Bake-off"
    return None


def is_rendering(tree: Any) -> str | None:
    return None if tree.name in running_trees() else "Nothing of this canvas is rendering"


def has_review(tree: Any) -> str | None:
    review = getattr(tree, "canvas_review", None)
    if review is not None and len(review.takes) >= 2:
        return None
    return "Add at least two takes to the review first (the split-view button on a tray row)"
