"""Render state and the version tray of a model node: plain Blender data filled by the main-thread drain."""

from __future__ import annotations

from typing import Any

import bpy

RENDER_STATES = (
    ("idle", "Idle", "Not rendered in this session"),
    ("queued", "Queued", "Waiting for a slot or for its inputs"),
    ("running", "Running", "At the vendor"),
    ("done", "Done", "Every take landed"),
    ("failed", "Failed", "The last render failed; see the message"),
    ("stale", "Stale", "Its inputs changed since its chosen take"),
    ("cancelled", "Cancelled", "Cancelled"),
)


class CanvasTake(bpy.types.PropertyGroup):
    """One take in a node's version tray; the engine's ledger holds the full record under the same id"""

    take_id: bpy.props.StringProperty(name="Take")
    file: bpy.props.StringProperty(name="File", subtype="FILE_PATH", options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    thumbnail: bpy.props.StringProperty(name="Thumbnail", subtype="FILE_PATH",
                                        options={"PATH_SUPPORTS_BLEND_RELATIVE"})
    media: bpy.props.StringProperty(name="Media")
    model: bpy.props.StringProperty(name="Model")
    variant: bpy.props.StringProperty(name="Variant")
    backend: bpy.props.StringProperty(name="Route")
    has_seed: bpy.props.BoolProperty(name="Has Seed")
    seed: bpy.props.IntProperty(name="Seed")
    duration_s: bpy.props.FloatProperty(name="Duration", unit="TIME_ABSOLUTE")
    cost_usd: bpy.props.FloatProperty(name="Cost", precision=3)
    prompt: bpy.props.StringProperty(name="Prompt")
    created: bpy.props.FloatProperty(name="Created")
    number: bpy.props.IntProperty(name="Take", description="The take's number in its node", default=1)
    # a copy of the ledger's verdict, for drawing (the ledger stays the truth; refreshed on every change)
    scored: bpy.props.BoolProperty(name="Scored")
    score_mean: bpy.props.FloatProperty(name="Mean Score", precision=2)
    verdict_text: bpy.props.StringProperty(name="Verdict", description="Scores per axis")
    verdict_note: bpy.props.StringProperty(name="Note", description="The judge's note")
    sample_scores: bpy.props.BoolProperty(name="Sample Scores", description="Filled in by a script, not a person")
    best: bpy.props.BoolProperty(name="Best", description="Pinned as the best take of its node")
    best_axes: bpy.props.StringProperty(name="Best On", description="Axes this take is pinned best on")


def draw_render_state(node: Any, layout: Any) -> None:
    state = node.render_state
    if state == "running":
        layout.label(text=f"Running {round(node.progress * 100)} %" if node.progress else "Running", icon="SORTTIME")
        if node.status_message:
            layout.label(text=node.status_message, icon="INFO")
    elif state == "queued":
        layout.label(text=node.status_message or "Queued", icon="TIME")
    elif state == "failed":
        layout.label(text=f"Failed: {node.status_message}", icon="ERROR")
    elif state == "stale":
        layout.label(text="Stale: inputs changed", icon="FILE_REFRESH")
    elif state == "done":
        layout.label(text=f"{len(node.tray)} take(s)", icon="CHECKMARK")
    elif state == "cancelled":
        layout.label(text="Cancelled", icon="CANCEL")
    if node.estimate_usd > 0:
        layout.label(text=f"Estimate ${node.estimate_usd:.2f}")


CLASSES: tuple[type, ...] = (CanvasTake,)
