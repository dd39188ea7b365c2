"""The ``submitting`` window: how long each job of a 4 x 3 fan-out sits between "journalled as submitting" and
"remote id written", read from the ledger's own event times, against the fake fal server.

A kill inside that window leaves a job whose fate only the vendor knows (``unknown``), so it must hold nothing but
the submit itself.

    python benchmarks/submit_window.py [--runs 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
from pathlib import Path

from _common import KEYS, fan_out_canvas, start_fake

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.session import Session


def windows_ms(latency: float) -> list[float]:
    fake = start_fake(latency)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            canvas = fan_out_canvas(folder, takes=3)
            session = Session(folder / "project", keys=KEYS, limits={"fal": 16})
            plan = session.plan(canvas, folder)
            session.check(plan, online=True, budget=Budget())
            session.start(plan, canvas, folder)
            assert session.runner.wait(timeout=600)
            session.close()
            db = sqlite3.connect(folder / "project" / "ledger.sqlite")
            rows = db.execute("SELECT a.at, b.at FROM events a JOIN events b ON a.job_id = b.job_id "
                              "WHERE a.state = 'submitting' AND b.state = 'submitted'").fetchall()
            db.close()
            return [(b - a) * 1000 for a, b in rows]
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    found: list[float] = []
    for _ in range(args.runs):
        found += windows_ms(0.2)
    found.sort()
    print(f"{len(found)} submits: submitting -> submitted median {statistics.median(found):.1f} ms, "
          f"p90 {found[int(len(found) * 0.9)]:.1f} ms, max {found[-1]:.1f} ms")


if __name__ == "__main__":
    main()
