"""Send to VSE at scale, side by side in one run, in Blender (the bpy module, headless).

A 200-shot cut of 200 landed takes (small real MP4s, one file each) is sent to a fresh scene (the first send:
``build_timeline`` + ``send_to_vse``), then one shot's take is swapped and the cut sent again. Beside them, 200 bare
``strips.new_movie`` calls of the same files in a fresh scene: Blender's own floor. Targets: the swap <= 0.1x the
first send, the first send <= 1.15x the bare calls. Each ratio is the median over runs that alternate the two.

    python benchmarks/vse_swap.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="blender-canvas-bench-"))

import bpy  # noqa: E402

from blender_canvas.engine.document import Canvas, SequenceNode  # noqa: E402
from blender_canvas.engine.ledger import Ledger, TakeRecord  # noqa: E402
from blender_canvas.engine.timeline import build_timeline  # noqa: E402
from blender_canvas.providers.preview_motion import make_animatic  # noqa: E402
from blender_canvas.vse.build import blend_path, send_to_vse  # noqa: E402

SHOTS = 200
SWAP_TARGET = 0.1
FLOOR_TARGET = 1.15


def _take(node: str, take_id: str, file: str, size: int, when: float) -> TakeRecord:
    return TakeRecord(take_id=take_id, node_id=node, cache_key=f"key-{take_id}", file=file, sha256="0" * 64,
                      media="video", duration_s=1.0, width=64, height=36, size_bytes=size, model="preview-video",
                      variant="default", backend="preview", prompt="", estimated_usd=0.0, input_hashes="{}",
                      timings_json="{}", created_at=when)


def setup(folder: Path) -> tuple[Canvas, SequenceNode, Ledger, list[Path]]:
    project = folder / "project"
    (project / "takes").mkdir(parents=True)
    clip = make_animatic(None, "a", "static", 1.0, 24.0, (64, 36), 1, 0, ["PREVIEW"], folder / "clip.mp4")
    ledger = Ledger(project / "ledger.sqlite")
    files = []
    for index in range(SHOTS + 1):
        target = project / "takes" / f"t{index}.mp4"
        shutil.copyfile(clip, target)
        files.append(target)
        if index < SHOTS:
            ledger.add_take(_take(f"v{index}", f"take{index:04d}aaaa", f"takes/t{index}.mp4", target.stat().st_size,
                                  1000.0 + index))
    nodes: list[dict[str, object]] = [{"id": f"v{i}", "kind": "video", "model": "preview-video"}
                                      for i in range(SHOTS)]
    nodes.append({"id": "cut", "kind": "sequence", "shots": [f"v{i}" for i in range(SHOTS)]})
    canvas = Canvas.model_validate({"version": 1, "nodes": nodes})
    sequence = canvas.node("cut")
    assert isinstance(sequence, SequenceNode)
    return canvas, sequence, ledger, files


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        canvas, sequence, ledger, files = setup(folder)
        swaps, floors, firsts = [], [], []
        for run in range(args.runs + 1):  # the first round warms Blender's movie readers and is not counted
            scene = bpy.data.scenes.new(f"cut{run}")
            start = time.perf_counter()
            send_to_vse(scene, build_timeline(canvas, sequence, ledger, folder))
            first = time.perf_counter() - start
            ledger.add_take(_take("v0", f"swap{run:04d}bbbb", f"takes/t{SHOTS}.mp4", files[-1].stat().st_size,
                                  5000.0 + run))
            start = time.perf_counter()
            report = send_to_vse(scene, build_timeline(canvas, sequence, ledger, folder))
            swap = time.perf_counter() - start
            assert report.swapped == ["v0"] and not report.rebuilt, report
            bare_scene = bpy.data.scenes.new(f"bare{run}")
            editor = bare_scene.sequence_editor_create()
            start = time.perf_counter()
            for index, file in enumerate(files[:SHOTS]):
                editor.strips.new_movie(name=f"s{index}", filepath=blend_path(file), channel=1 + index % 2,
                                        frame_start=1 + index * 24)
            bare = time.perf_counter() - start
            if run:
                firsts.append(first)
                swaps.append(swap / first)
                floors.append(first / bare)
            bpy.data.scenes.remove(scene)
            bpy.data.scenes.remove(bare_scene)
        ledger.close()
    swap_ratio, floor_ratio = statistics.median(swaps), statistics.median(floors)
    print(f"{SHOTS}-shot cut: first send median {statistics.median(firsts):.3f} s")
    print(f"swap of one take / first send: {swap_ratio:.3f}x  (target <= {SWAP_TARGET}x)  "
          f"{'OK' if swap_ratio <= SWAP_TARGET else 'OVER'}")
    print(f"first send / {SHOTS} bare new_movie: {floor_ratio:.2f}x  (target <= {FLOOR_TARGET}x)  "
          f"{'OK' if floor_ratio <= FLOOR_TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
