"""Tests on the real Blender module (the `bpy` wheel), headless.

Blender's state is global to the process: the add-on is registered once per session, and each test starts from
an empty file. Anything that must survive a reopen or a crash runs in a fresh subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Blender's user folders (preferences, extensions, the unsaved-projects area) go to a throwaway folder, set before
# bpy is first imported, so the tests never touch the home directory.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender-canvas-user-"))

bpy = pytest.importorskip("bpy")

import blender_canvas  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CANVASES = ROOT / "tests" / "canvases"  # the production-workflow canvases from shared/canvases, vendored


@pytest.fixture(scope="session", autouse=True)
def registered_addon() -> Iterator[None]:
    blender_canvas.register()
    yield
    blender_canvas.unregister()


@pytest.fixture(autouse=True)
def empty_file() -> None:
    bpy.ops.wm.read_homefile(use_empty=True)


def run_blender_script(script: str, *args: str, timeout: float = 180,
                       env_extra: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `script` in a fresh Python with bpy; it must print one line 'RESULT <json>'."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    proc = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    return result
