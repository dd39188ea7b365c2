"""Planning at scale, side by side in one run: validation, planning and the estimate table of a 2,000-node canvas
against the same of a 200-node one (target: each <= 11x, linear in nodes and takes), and validate + plan of 1,000
nodes against 20 bare ``json.loads`` + pydantic validations of the same document (a floor; target <= 1x).

The canvas is what a big bake-off looks like: per group of five nodes a reference still (a real PNG), a shot and
three video nodes of different models wired to both, 2 or 3 takes each, plus sequence nodes over the videos; no
key, so every route is priced at its list price, against an empty ledger. Each figure is the median of the runs,
which alternate between the two sizes so drift on this shared machine hits both.

    python benchmarks/planning.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_canvas.engine.document import Canvas  # noqa: E402
from blender_canvas.engine.ledger import Ledger  # noqa: E402
from blender_canvas.engine.planner import Plan, plan_run  # noqa: E402
from blender_canvas.engine.session import IMPLEMENTED  # noqa: E402
from blender_canvas.engine.validation import load_canvas  # noqa: E402
from blender_canvas.headless import estimate_table  # noqa: E402
from blender_canvas.providers.catalog import load_catalog  # noqa: E402

CATALOG = load_catalog()
MODELS = (("kling-3", "3.0"), ("veo-3.1", "fast"), ("seedance-2", "pro"))
SCALE_TARGET = 11.0
FLOOR_TARGET = 1.0


def document(nodes: int) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    videos: list[str] = []
    group = 0
    while len(out) + 5 <= nodes - max(1, nodes // 100):
        out.append({"id": f"still{group}", "kind": "reference", "path": "still.png"})
        out.append({"id": f"shot{group}", "kind": "shot", "subject": f"the courier, scene {group}",
                    "action": "walks to the door", "camera": "slow push in", "lighting": "golden hour"})
        for index, (model, variant) in enumerate(MODELS):
            node_id = f"v{group}_{index}"
            videos.append(node_id)
            out.append({"id": node_id, "kind": "video", "model": model, "variant": variant, "takes": 2 + index % 2,
                        "inputs": {"image": f"still{group}", "shot": f"shot{group}"}})
        group += 1
    cut = 0
    while len(out) < nodes:
        shots = videos[cut * 200:(cut + 1) * 200] or videos[:200]
        out.append({"id": f"cut{cut}", "kind": "sequence", "shots": shots})
        cut += 1
    return {"version": 1, "nodes": out}


def _median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Case:
    def __init__(self, folder: Path, nodes: int) -> None:
        self.folder = folder / f"n{nodes}"
        self.folder.mkdir()
        Image.new("RGB", (640, 360), (200, 120, 40)).save(self.folder / "still.png")
        self.text = json.dumps(document(nodes))
        self.data = json.loads(self.text)
        report = load_canvas(self.data, CATALOG, self.folder)
        assert report.canvas is not None and not report.errors, report.errors[:3]
        self.canvas: Canvas = report.canvas
        self.ledger = Ledger(self.folder / "project" / "ledger.sqlite")
        self.plan = self.planned()
        self.jobs = len(self.plan.jobs)

    def validate(self) -> None:
        load_canvas(self.data, CATALOG, self.folder)

    def planned(self) -> Plan:
        return plan_run(self.canvas, CATALOG, self.ledger, base_dir=self.folder, keys={}, implemented=IMPLEMENTED)

    def table(self) -> None:
        estimate_table(self.plan)

    def validate_and_plan(self) -> None:
        report = load_canvas(json.loads(self.text), CATALOG, self.folder)
        assert report.canvas is not None
        plan_run(report.canvas, CATALOG, self.ledger, base_dir=self.folder, keys={}, implemented=IMPLEMENTED)

    def floor(self) -> None:
        for _ in range(20):
            Canvas.model_validate(json.loads(self.text))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small, big, mid = Case(Path(tmp), 200), Case(Path(tmp), 2000), Case(Path(tmp), 1000)
        print(f"canvases: {len(small.canvas.nodes)} nodes / {small.jobs} takes, {len(big.canvas.nodes)} nodes / "
              f"{big.jobs} takes, {len(mid.canvas.nodes)} nodes / {mid.jobs} takes")
        for name, attr, inner in (("validation", "validate", 1), ("planning", "planned", 1),
                                  ("estimate table", "table", 7)):  # the table takes milliseconds: 7 runs each
            ratios = []
            for _ in range(args.runs):
                a = _median(getattr(small, attr), inner)
                b = _median(getattr(big, attr), inner)
                ratios.append(b / a)
            ratio = statistics.median(ratios)
            print(f"{name:15} 2,000 / 200 nodes: {ratio:5.2f}x  (target <= {SCALE_TARGET:.0f}x)  "
                  f"{'OK' if ratio <= SCALE_TARGET else 'OVER'}")
        ratios = []
        for _ in range(args.runs):
            ours = _median(mid.validate_and_plan, 1)
            floor = _median(mid.floor, 1)
            ratios.append(ours / floor)
        ratio = statistics.median(ratios)
        print(f"validate + plan of 1,000 nodes / 20 x (json.loads + pydantic): {ratio:.2f}x  "
              f"(target <= {FLOOR_TARGET:.0f}x)  {'OK' if ratio <= FLOOR_TARGET else 'OVER'}")
        for case in (small, big, mid):
            case.ledger.close()


if __name__ == "__main__":
    main()
