"""The add-on's preferences: one password field per vendor key. Blender keeps them in userpref.blend, never in a
project's .blend; an empty field falls back to the environment variable of the same name."""

from __future__ import annotations

from typing import Any

import bpy

from ..providers.catalog import load_catalog

ADDON_ID = (__package__ or "blender_canvas").rsplit(".", 1)[0]


def _key_property(env_name: str, backend_label: str) -> Any:
    return bpy.props.StringProperty(name=env_name, subtype="PASSWORD",
                                    description=f"{backend_label} key (blank = the {env_name} environment variable)")


class CanvasPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.label(text="Keys are stored in Blender's preferences, never in your .blend files.", icon="LOCKED")
        for backend in load_catalog().backends:
            if not backend.env_keys:
                continue
            box = layout.box()
            box.label(text=backend.label)
            for name in backend.env_keys:
                box.prop(self, name.lower())


# one password field per environment variable the catalog's backends use (FAL_KEY -> fal_key, ...)
CanvasPreferences.__annotations__ = {
    name.lower(): _key_property(name, backend.label)
    for backend in load_catalog().backends for name in backend.env_keys
}

CLASSES: tuple[type, ...] = (CanvasPreferences,)
