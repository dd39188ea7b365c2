"""Tests on the real Blender module (the `bpy` wheel), headless.

Blender's state is global to the process: the add-on is registered once per session, and each test starts from
an empty file. Anything that must survive a reopen or a crash runs in a fresh subprocess.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# Blender's user folders (preferences, extensions, the unsaved-projects area) go to a throwaway folder, set before
# bpy is first imported, so the tests never touch the home directory.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender-canvas-user-"))

bpy = pytest.importorskip("bpy")

import blender_canvas  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def registered_addon() -> Iterator[None]:
    blender_canvas.register()
    yield
    blender_canvas.unregister()


@pytest.fixture(autouse=True)
def empty_file() -> None:
    bpy.ops.wm.read_homefile(use_empty=True)
