"""Registers every Blender-facing class, menu, handler and timer of the add-on, and removes them all again."""

from __future__ import annotations

from . import nodes, operators


def register() -> None:
    nodes.register()
    operators.register()


def unregister() -> None:
    operators.unregister()
    nodes.unregister()
