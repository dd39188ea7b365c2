"""The review set of a canvas, as Blender data on the tree (``tree.canvas_review``): saved with the .blend.

The operators that fill and build it live in ``vse/review_ops.py``; the data lives here, below the tree, so the
tree can declare it as a class annotation (registered with the tree, never added to a registered class).
"""

from __future__ import annotations

import bpy

LAYOUT_ITEMS = [
    ("side_by_side", "Side by Side", "2 to 4 takes in a row", "SPLIT_HORIZONTAL", 0),
    ("grid", "Grid", "2 to 16 takes in a near-square grid", "MESH_GRID", 1),
    ("wipe", "Wipe", "Exactly 2 takes, split down the middle", "SEQ_SPLITVIEW", 2),
]


class CanvasReviewTake(bpy.types.PropertyGroup):
    """A take in the review: the node whose tray holds it, and its id"""

    node_name: bpy.props.StringProperty(name="Node", description="The node whose tray holds the take")
    take_id: bpy.props.StringProperty(name="Take", description="The take's id in the project's ledger")


class CanvasReviewState(bpy.types.PropertyGroup):
    """The canvas's review set and how to lay it out"""

    takes: bpy.props.CollectionProperty(type=CanvasReviewTake, name="Takes", description="The takes under review")
    layout: bpy.props.EnumProperty(name="Layout", items=LAYOUT_ITEMS, default="side_by_side",
                                   description="How the reviewed takes share the frame")
    return_scene: bpy.props.StringProperty(description="The window's scene before the review was shown")
    return_sequencer_scene: bpy.props.StringProperty(description="The workspace's sequencer scene before that")


CLASSES: tuple[type, ...] = (CanvasReviewTake, CanvasReviewState)
