"""Drain: how long one main-thread drain call takes while 12 takes land (real bpy, fake fal server).

The add-on's timer runs this same function every 0.1 s; a long call would freeze Blender's UI. Prints the longest
and the 99th-percentile call, and the calls that applied events. Target: at most 4 ms.

    python benchmarks/drain.py [--latency 1.0]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import bpy
from _common import KEYS, fan_out_canvas, start_fake

from blender_canvas.blender_registration import ensure_registered
from blender_canvas.engine.cost import Budget
from blender_canvas.engine.session import Session
from blender_canvas.nodes.convert import canvas_to_tree, new_canvas_tree
from blender_canvas.operators.bridge import apply_events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    ensure_registered()
    fake = start_fake(args.latency)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            bpy.ops.wm.read_homefile(use_empty=True)
            bpy.ops.wm.save_as_mainfile(filepath=str(folder / "bench.blend"))
            canvas = fan_out_canvas(folder)
            tree = new_canvas_tree("bench")
            canvas_to_tree(canvas, tree, folder)
            session = Session(folder / "project", keys=KEYS)
            plan = session.plan(canvas, folder)
            session.check(plan, online=True, budget=Budget())
            session.start(plan, canvas, folder)
            every, busy_calls, applied = [], [], 0
            while True:
                running = session.runner.busy
                started = time.perf_counter()
                events = session.runner.drain()
                count = apply_events(tree, session, events)
                spent = (time.perf_counter() - started) * 1000
                every.append(spent)
                if count:
                    busy_calls.append(spent)
                    applied += count
                if not running and session.runner.events.empty():
                    break
                time.sleep(0.02)
            landed = sum(len(n.tray) for n in tree.nodes if hasattr(n, "tray"))
            session.close()
    finally:
        fake.stop()
    assert landed == 12, landed
    every.sort()
    busy_calls.sort()
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
    print(f"drain calls                 {len(every)} ({len(busy_calls)} applied {applied} events; 12 takes landed)")
    print(f"longest drain call          {every[-1]:.3f} ms (target <= 4 ms)")
    print(f"99th percentile             {p99:.3f} ms")
    print(f"median of calls with events {statistics.median(busy_calls):.3f} ms")


if __name__ == "__main__":
    main()
