"""Render state and the version tray of a model node: plain Blender data filled by the main-thread drain."""

from __future__ import annotations

import textwrap
from typing import Any

import bpy

RENDER_STATES = (
    ("idle", "Idle", "Not rendered in this session"),
    ("queued", "Queued", "Waiting for a slot or for its inputs"),
    ("running", "Running", "At the vendor"),
    ("done", "Done", "Every take landed"),
    ("failed", "Failed", "The last render failed; see the message"),
    ("stale", "Stale", "Its inputs changed since its chosen take"),
    ("needs_decision", "Needs a Decision", "The app stopped while a job was being submitted: the vendor may have "
     "it (and may bill it). Check the vendor's dashboard before rendering again"),
    ("cancelled", "Cancelled", "Cancelled"),
)
BODY_MESSAGE_CHARS = 40  # what fits on a 280 px node beside an icon; the sidebar shows the whole message
WRAP_CHARS = 56


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


def _short(text: str, limit: int = BODY_MESSAGE_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def wrap_lines(text: str, width: int = WRAP_CHARS) -> list[str]:
    """A long message as label lines (Blender labels do not wrap)."""
    return textwrap.wrap(" ".join(text.split()), width) or [""]


def state_line(node: Any) -> tuple[str, str]:
    """(text, icon) of the node's one-line render state, short enough for the node body."""
    state, message = node.render_state, node.status_message
    if state == "running":
        return _short(f"Running: {message}" if message else "Running"), "SORTTIME"
    if state == "queued":
        return _short(message or "Queued"), "TIME"
    if state == "failed":
        return _short(f"Failed: {message}" if message else "Failed"), "ERROR"
    if state == "stale":
        return "Stale: inputs changed", "FILE_REFRESH"
    if state == "needs_decision":
        return "Needs a decision: see the sidebar", "QUESTION"
    if state == "done":
        count = len(node.tray)
        return (f"{count} take" if count == 1 else f"{count} takes"), "CHECKMARK"
    if state == "cancelled":
        return "Cancelled", "CANCEL"
    return "Not rendered yet", "DOT"


def draw_render_state(node: Any, layout: Any, full: bool = False) -> None:
    """The state line (and progress while running); with `full` (the sidebar) the whole message, wrapped."""
    text, icon = state_line(node)
    layout.label(text=text, icon=icon)
    if node.render_state == "running":
        layout.progress(factor=node.progress, type="BAR", text=f"{round(node.progress * 100)} %")
    if full and node.status_message and node.render_state in ("failed", "needs_decision", "queued", "running",
                                                               "cancelled", "stale"):
        column = layout.column(align=True)
        for line in wrap_lines(node.status_message):
            column.label(text=line)
    if full and node.render_state == "needs_decision":  # the user's decision, never the program's
        button: Any = layout.operator("canvas.resubmit", text="Resubmit (may bill twice)", icon="FILE_REFRESH")
        button.node_name, button.tree_name = node.name, node.id_data.name
    if full and node.estimate_usd > 0:
        layout.label(text=f"Estimate ${node.estimate_usd:.2f}")


CLASSES: tuple[type, ...] = (CanvasTake,)
