"""Registers every Blender-facing class, menu, handler and timer of the add-on, and removes them all again."""

from __future__ import annotations

import atexit
from typing import Any

import bpy
from bpy.app.handlers import persistent

from . import nodes, operators, vse
from .nodes.base import TREE_ID
from .nodes.tree import CanvasNodeTree


@persistent
def on_save_pre(filepath: str = "", *_args: Any) -> None:
    from .operators.bridge import adopt_unsaved_projects

    # A canvas tree has no users (no object uses it), so Blender would drop it on save without a fake user.
    for tree in bpy.data.node_groups:
        if tree.bl_idname == TREE_ID and not tree.use_fake_user:
            tree.use_fake_user = True
    adopt_unsaved_projects(filepath if isinstance(filepath, str) else "")


@persistent
def on_load_post(*args: Any) -> None:
    from .operators.bridge import resume_saved_jobs

    resume_saved_jobs(*args)


@persistent
def on_undo_redo(*args: Any) -> None:
    """Blender's undo restores Blender data only; the trays are made to agree with the ledger again."""
    from .operators.bridge import resync_open_trees

    resync_open_trees(*args)


HANDLERS: tuple[tuple[str, Any], ...] = (
    ("save_pre", on_save_pre),
    ("load_post", on_load_post),
    ("undo_post", on_undo_redo),
    ("redo_post", on_undo_redo),
)


def register() -> None:
    nodes.register()
    operators.register()
    vse.register()
    for name, handler in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        if handler not in handlers:
            handlers.append(handler)
    if getattr(bpy.app, "module", False) and not _exit_hook_armed:
        # bpy 4.5 as a Python module hangs at interpreter exit while an add-on class or handler is still
        # registered, or while a tree of an add-on's type (even an unregistered one) still exists; 5.0 does
        # not. Blender itself unregisters add-ons on quit; the module does not, so we do, trees first.
        atexit.register(_clean_exit)
        _exit_hook_armed.append(True)


_exit_hook_armed: list[bool] = []


def _clean_exit() -> None:
    for tree in [t for t in bpy.data.node_groups if t.bl_idname in (TREE_ID, "NodeTreeUndefined")]:
        bpy.data.node_groups.remove(tree)
    if getattr(CanvasNodeTree, "is_registered", False):
        unregister()


def ensure_registered() -> None:
    """Headless runs use the add-on's classes without Blender's add-on system."""
    if not getattr(CanvasNodeTree, "is_registered", False):
        register()


def _ours(candidate: Any, handler: Any) -> bool:
    # by name, so a copy left behind by a reloaded module is removed too
    return bool(candidate is handler or (getattr(candidate, "__qualname__", None) == handler.__qualname__
                and getattr(candidate, "__module__", "").endswith(".blender_registration")))


def unregister() -> None:
    for name, handler in HANDLERS:
        handlers = getattr(bpy.app.handlers, name)
        for candidate in [h for h in handlers if _ours(h, handler)]:
            handlers.remove(candidate)
    vse.unregister()
    operators.unregister()
    nodes.unregister()
