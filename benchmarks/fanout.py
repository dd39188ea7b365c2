"""Fan-out: 4 video nodes x 3 takes through the real engine against the fake fal server.

Prints the wall time of the 12-job fan-out over the wall time of one job, beside the same 12 jobs run one at a time,
all measured in this one run. Target: the fan-out within 1.15x of a single job.

    python benchmarks/fanout.py [--latency 1.0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import KEYS, fan_out_canvas, start_fake

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.session import Session


def timed_run(latency: float, *, takes: int, selection: list[str] | None, limit: int) -> tuple[float, int]:
    fake = start_fake(latency)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            canvas = fan_out_canvas(folder, takes=takes)
            session = Session(folder / "project", keys=KEYS, limits={"fal": limit})
            plan = session.plan(canvas, folder, selection=selection)
            session.check(plan, online=True, budget=Budget())
            started = time.perf_counter()
            session.start(plan, canvas, folder)
            assert session.runner.wait(timeout=600)
            elapsed = time.perf_counter() - started
            landed = len(session.ledger.takes())
            session.close()
            return elapsed, landed
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="seconds each fake job takes at the vendor")
    args = parser.parse_args()
    single, landed_single = timed_run(args.latency, takes=1, selection=["kling"], limit=16)
    fan_out, landed_fan = timed_run(args.latency, takes=3, selection=None, limit=16)
    serial, landed_serial = timed_run(args.latency, takes=3, selection=None, limit=1)
    assert (landed_single, landed_fan, landed_serial) == (1, 12, 12)
    print(f"fake job latency            {args.latency:.2f} s")
    print(f"one job                     {single:.3f} s")
    print(f"12 jobs fanned out          {fan_out:.3f} s   ratio to one job {fan_out / single:.3f}x (target <= 1.15x)")
    print(f"12 jobs one at a time       {serial:.3f} s   ratio to one job {serial / single:.3f}x")
    print(f"speed-up of fan-out over serial {serial / fan_out:.2f}x")


if __name__ == "__main__":
    main()
