"""The finishing room: the Sequence node's cut in the VSE, the shared grade, the end card, the final render."""

from __future__ import annotations

import bpy

from . import operators, review_ops

_CLASSES: tuple[type, ...] = operators.CLASSES + review_ops.CLASSES


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
