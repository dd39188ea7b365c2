"""Resubmit: the user's decision about takes whose submit was cut off (the app stopped between sending a job and
writing down the vendor's id). The vendor may already be making, and billing, the first one, so the program never
sends them again by itself; this button does, once, after saying so."""

from __future__ import annotations

import time
from typing import Any

import bpy

from ..engine.ledger import JobRecord
from ..providers.backend import BackendError
from ..providers.catalog import load_catalog
from . import polls
from .bridge import MODEL_NODE_TYPES, session_for
from .render import OperatorResult, active_tree, start_render
from .wording import CanvasActionError, blender_words

NEEDS_DECISION = "needs_decision"


def has_decision(tree: Any) -> str | None:
    if any(n.bl_idname in MODEL_NODE_TYPES and n.render_state == NEEDS_DECISION for n in tree.nodes):
        return None
    return "No take of this canvas waits for a decision"


def vendor_label(backend_id: str) -> str:
    backend = load_catalog().backend(backend_id)
    return backend.label if backend is not None else backend_id


def describe(jobs: list[JobRecord]) -> str:
    """Which vendor got the first submits, and when, for the confirmation and the report."""
    vendors = ", ".join(sorted({vendor_label(j.backend) for j in jobs}))
    first = min((j.created_at for j in jobs if j.created_at), default=None)
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(first)) if first else "earlier"
    return f"{vendors} (first sent {when})"


class CANVAS_OT_resubmit(bpy.types.Operator):
    """Submit again the takes whose submit was cut off; the vendor may bill the first one too"""

    bl_idname = "canvas.resubmit"
    bl_label = "Resubmit"
    # like Render: an undo step for the node states it writes; the ledger keeps the decision either way
    bl_options = {"REGISTER", "UNDO"}

    node_name: bpy.props.StringProperty(options={"SKIP_SAVE"})
    tree_name: bpy.props.StringProperty(options={"SKIP_SAVE"})

    @classmethod
    def poll(cls, context: Any) -> bool:
        return polls.poll_canvas(cls, context, has_decision)

    def _undecided(self, context: Any) -> tuple[Any, list[JobRecord]]:
        tree = active_tree(context, self.tree_name)
        node = tree.nodes.get(self.node_name)
        if node is None or node.bl_idname not in MODEL_NODE_TYPES:
            raise CanvasActionError(f"No image, video or voice node named '{self.node_name}'")
        jobs = session_for(tree).undecided({node.name})
        if not jobs:
            raise CanvasActionError(f"No take of '{node.name}' waits for a decision")
        return tree, jobs

    def invoke(self, context: Any, event: Any) -> OperatorResult:
        try:
            _, jobs = self._undecided(context)
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        message = (f"{len(jobs)} take(s) of '{self.node_name}' were cut off while being sent to {describe(jobs)}. "
                   "The vendor may already be making them and bill them: check its dashboard first. Sending them "
                   "again may bill twice.")
        return context.window_manager.invoke_confirm(self, event, title="Resubmit", message=message,
                                                     confirm_text="Resubmit", icon="WARNING")

    def execute(self, context: Any) -> OperatorResult:
        try:
            tree, jobs = self._undecided(context)
            session = session_for(tree)
            # what would stop the new submit is checked before the decision is written down
            if not bpy.app.online_access:
                raise CanvasActionError("Turn on Allow Online Access (Preferences ▸ System ▸ Network) to send "
                                        "these takes again")
            for backend_id in sorted({j.backend for j in jobs}):
                try:
                    session.backend(backend_id)
                except BackendError as error:
                    raise CanvasActionError(blender_words(str(error))) from error
        except CanvasActionError as error:
            self.report({"ERROR"}, str(error))
            return {"CANCELLED"}
        released = session.resubmit_unknown(node_ids={self.node_name})
        try:
            start_render(tree, "NODE", self.node_name)
        except CanvasActionError as error:  # a budget, say: the decision stands, the next Render sends them
            self.report({"ERROR"}, f"{error}. The takes were released: the next Render of '{self.node_name}' sends "
                                   "them")
            return {"CANCELLED"}
        self.report({"WARNING"}, f"Sent {len(released)} take(s) of '{self.node_name}' again: the first submit to "
                                 f"{describe(released)} may still be billed")
        return {"FINISHED"}


CLASSES: tuple[type, ...] = (CANVAS_OT_resubmit,)
