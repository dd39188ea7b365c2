"""Blender Canvas: a multi-model generation canvas in Blender's node editor.

The package imports without Blender: the core (``providers``, ``engine``) is bpy-free, and the
Blender layers are imported only inside :func:`register`, so the command line and the tests can
use the core on any Python.
"""

from __future__ import annotations

__version__ = "0.1.0"


def register() -> None:
    from . import blender_registration

    blender_registration.register()


def unregister() -> None:
    from . import blender_registration

    blender_registration.unregister()
