"""The README's canvas example, extracted as a reader would copy it, validates as printed and is what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from blender_canvas.engine.validation import load_canvas
from blender_canvas.providers.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]


def readme_canvas() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- canvas-example:begin -->", 1)[1].split("<!-- canvas-example:end -->", 1)[0]
    body = block.strip()
    assert body.startswith("```json\n") and body.endswith("\n```"), body[:40]
    return body[len("```json\n"):-len("\n```")]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120, check=False)


def test_the_readme_canvas_validates_as_printed(tmp_path: Path) -> None:
    (tmp_path / "harbour.json").write_text(readme_canvas(), encoding="utf-8")
    proc = cli(tmp_path, "validate", "harbour.json")
    assert proc.returncode == 0 and proc.stdout.strip() == "harbour.json: valid (6 nodes, 0 warning(s))", (
        proc.stdout + proc.stderr)
    estimate = cli(tmp_path, "estimate", "harbour.json", "--draft")  # the next command the README gives
    assert estimate.returncode == 0 and estimate.stdout.splitlines()[-1].split()[:3] == ["total", "4", "4"], (
        estimate.stdout + estimate.stderr)


def test_the_readme_canvas_is_a_still_into_three_live_video_models_and_a_sequence() -> None:
    data: dict[str, Any] = json.loads(readme_canvas())
    catalog = load_catalog()
    report = load_canvas(data, catalog)
    assert report.canvas is not None and not report.problems
    nodes = {n["id"]: n for n in data["nodes"]}
    stills = [n for n in nodes.values() if n["kind"] == "image"]
    videos = [n for n in nodes.values() if n["kind"] == "video"]
    (sequence,) = [n for n in nodes.values() if n["kind"] == "sequence"]
    assert len(stills) == 1 and len(videos) == 3
    assert {v["inputs"]["image"] for v in videos} == {stills[0]["id"]}
    assert len({v["model"] for v in videos}) == 3  # three different models
    for video in videos:  # none of them retired or deprecated: a first canvas should not start on a dead model
        variant = catalog.model(video["model"]).variant(video.get("variant"))
        assert variant is not None and variant.status.status == "active", video
    shots = [s if isinstance(s, str) else s["node"] for s in sequence["shots"]]
    assert sorted(shots) == sorted(v["id"] for v in videos)
