"""Shared set-up for the benchmarks: the fake fal server and the 4 x 3 fan-out canvas."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_canvas.engine.document import Canvas  # noqa: E402
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal  # noqa: E402

KEYS = {"FAL_KEY": DEFAULT_KEY}
VIDEO_NODES = (("kling", "kling-3", "3.0"), ("kling_pro", "kling-3", "3.0-pro"), ("o3", "kling-3", "o3"),
               ("o3_pro", "kling-3", "o3-pro"))


def fan_out_canvas(folder: Path, takes: int = 3) -> Canvas:
    Image.new("RGB", (640, 360), (200, 120, 40)).save(folder / "still.png")
    nodes: list[dict[str, object]] = [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "shot", "kind": "shot", "subject": "the barista", "camera": "slow push in"},
    ]
    nodes += [{"id": node_id, "kind": "video", "model": model, "variant": variant, "takes": takes, "route": "fal",
               "inputs": {"image": "still", "shot": "shot"}} for node_id, model, variant in VIDEO_NODES]
    return Canvas.model_validate({"version": 1, "nodes": nodes})


def start_fake(latency_s: float) -> FakeFal:
    fake = FakeFal(latency_s=latency_s).start()
    os.environ["BLENDER_CANVAS_FAL_URL"] = fake.base_url
    return fake
