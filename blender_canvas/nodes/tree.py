"""The Canvas node tree: its canvas-level settings, its bake-off and its review set.

Every property is a class annotation, registered with the class in dependency order (the property groups first,
then the tree). Adding a PointerProperty to an already registered tree makes Blender update every existing tree
of that type, which on bpy 5.0.1 walked the undefined nodes of a re-enabled add-on and crashed.
"""

from __future__ import annotations

from typing import Any

import bpy

from .bakeoff_props import CanvasBakeOffSettings
from .base import TREE_ID, mark_link_validity
from .review_props import CanvasReviewState


def _get_budget_usd(tree: Any) -> float:
    return float(tree.budget_cents) / 100.0


def _set_budget_usd(tree: Any, value: float) -> None:
    tree.budget_cents = max(0, round(value * 100))


class CanvasNodeTree(bpy.types.NodeTree):
    """A generation canvas: reference stills, shot prompts, image, video and voice models, and the cut"""

    bl_idname = TREE_ID
    bl_label = "Generation Canvas"
    bl_icon = "NODETREE"

    # Canvas-level settings, mirrored from the document's top level and `defaults`.
    canvas_title: bpy.props.StringProperty(name="Title", description="The canvas's title, shown in its reports")
    draft: bpy.props.BoolProperty(name="Draft", description="Send every node to the offline preview backend")
    use_budget: bpy.props.BoolProperty(name="Budget", description="Refuse renders whose estimate exceeds the cap")
    # stored in cents (what files already hold); edited in dollars, as the command line takes it
    budget_cents: bpy.props.IntProperty(name="Budget in Cents", min=0, options={"HIDDEN"})
    budget_usd: bpy.props.FloatProperty(name="Budget", description="The most this project may spend, in US dollars",
                                        min=0.0, soft_max=1000.0, precision=2, step=100,
                                        get=_get_budget_usd, set=_set_budget_usd)
    default_aspect_ratio: bpy.props.StringProperty(name="Aspect Ratio", default="16:9",
                                                   description="Width:height for nodes and shots that set none")
    default_duration_s: bpy.props.IntProperty(name="Duration", description="Seconds; 0 = each model's own default",
                                              min=0, max=600)
    use_default_seed: bpy.props.BoolProperty(name="Seed", description="Give every node this seed unless it sets one")
    default_seed: bpy.props.IntProperty(name="Seed", min=0, description="The seed nodes use unless they set one")
    default_resolution: bpy.props.StringProperty(name="Resolution",
                                                 description="Such as 720p or 1K; blank = each model's default")
    fps: bpy.props.IntProperty(name="Frame Rate", default=24, min=1, max=120,
                               description="Frames per second of the cut")
    project_dir: bpy.props.StringProperty(name="Project Folder", subtype="DIR_PATH",
                                          options={"PATH_SUPPORTS_BLEND_RELATIVE"},
                                          description="Where takes and the ledger live (blank = beside the .blend)")
    canvas_bakeoff: bpy.props.PointerProperty(type=CanvasBakeOffSettings, name="Bake-off")
    canvas_review: bpy.props.PointerProperty(type=CanvasReviewState, name="Review")

    def update(self) -> None:
        mark_link_validity(self)


CLASSES: tuple[type, ...] = (CanvasNodeTree,)
