"""Helpers shared by the Blender-facing tests (a module of its own: conftest names collide across folders)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CANVASES = ROOT / "tests" / "canvases"  # the production-workflow canvases from shared/canvases, vendored


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
