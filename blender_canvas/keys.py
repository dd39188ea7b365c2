"""The API keys as they are now: the environment, overridden by the add-on preferences. Read on the main thread at
each use (a key typed into the preferences counts at once); never stored in Blender data. Both the operators and the
Canvas panel (which says when the canvas is offline) read them here."""

from __future__ import annotations

from typing import Any

import bpy

from .engine.session import keys_from_environment
from .providers.catalog import load_catalog

ADDON_PACKAGE = __package__ or "blender_canvas"


def current_keys() -> dict[str, str]:
    catalog = load_catalog()
    keys = keys_from_environment(catalog)
    preferences: Any = bpy.context.preferences
    addon = preferences.addons.get(ADDON_PACKAGE) if preferences is not None else None
    prefs = getattr(addon, "preferences", None)
    for backend in catalog.backends:
        for name in backend.env_keys:
            value = getattr(prefs, name.lower(), "") if prefs is not None else ""
            if value:
                keys[name] = value
    return keys
