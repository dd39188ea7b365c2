"""A schema a person can write from: every field of the canvas document says what goes in it, with units and
allowed values, and `python -m blender_canvas schema` prints those descriptions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from blender_canvas.engine.document import Canvas

ROOT = Path(__file__).resolve().parents[2]


def _definitions(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("Canvas", schema), *schema.get("$defs", {}).items()]


def test_every_field_and_every_object_has_a_description() -> None:
    schema = Canvas.model_json_schema()
    missing = [f"{name}.{prop}" for name, definition in _definitions(schema)
               for prop, spec in definition.get("properties", {}).items() if not str(spec.get("description", ""))]
    undocumented = [name for name, definition in _definitions(schema)
                    if definition.get("properties") and not definition.get("description")]
    assert missing == [] and undocumented == []
    # and the definitions cover every kind of node a canvas can hold
    assert {"ReferenceNode", "ShotNode", "ImageNode", "VideoNode", "AudioNode", "SequenceNode"} <= set(schema["$defs"])


def test_the_descriptions_give_units_and_allowed_values() -> None:
    defs = Canvas.model_json_schema()["$defs"]

    def text(definition: str, prop: str) -> str:
        return str(defs[definition]["properties"][prop]["description"])

    assert all(size in text("VideoNode", "resolution") for size in ("720p", "1080p"))
    assert all(size in text("ImageNode", "resolution") for size in ("1K", "2K", "4K"))
    assert "true" in text("VideoNode", "audio") and "sound" in text("VideoNode", "audio")
    assert "seconds" in text("VideoNode", "duration_s")
    assert "frames per second" in text("Defaults", "fps") and "never re-bills" in text("Defaults", "fps")
    assert "US dollars" in Canvas.model_json_schema()["properties"]["budget_usd"]["description"]
    assert "0 to 2147483647" in text("ShotNode", "seed")
    assert "python -m blender_canvas models" in text("ImageNode", "model")
    assert "frames" in text("SequenceShot", "crossfade_frames")
    assert all(curve in text("Grade", "curves") for curve in ("none", "soft", "punchy", "filmic"))


def test_the_schema_command_prints_the_descriptions() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "blender_canvas", "schema"], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed == json.loads(json.dumps(Canvas.model_json_schema()))
    assert printed["$defs"]["VideoNode"]["properties"]["audio"]["description"].startswith("true: ask the model")
