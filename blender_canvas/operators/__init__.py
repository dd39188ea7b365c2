"""User actions on the canvas."""

from __future__ import annotations

import bpy

from . import bakeoff, bridge, canvas_io, preferences, render, resubmit

_CLASSES: tuple[type, ...] = (*preferences.CLASSES, *canvas_io.CLASSES, *render.CLASSES, *resubmit.CLASSES,
                             *bakeoff.CLASSES)
_MENU_APPENDS = canvas_io.MENU_APPENDS


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    for menu, draw in _MENU_APPENDS:
        getattr(bpy.types, menu).append(draw)


def unregister() -> None:
    bridge.stop_timer()
    bridge.close_sessions()
    for menu, draw in reversed(_MENU_APPENDS):
        getattr(bpy.types, menu).remove(draw)
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
