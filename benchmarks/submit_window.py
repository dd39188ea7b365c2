"""The ``submitting`` window: how long each job of a 4 x 3 fan-out sits between "journalled as submitting" (that write
has returned, durable) and "remote id written" (that write has returned), against the fake fal server, beside the
time spent in the submit call itself.

A kill inside that window leaves a job whose fate only the vendor knows (``unknown``), so it must hold nothing but
the submit itself: the difference between the two lines below is what the ledger adds.

    python benchmarks/submit_window.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import KEYS, fan_out_canvas, start_fake

from blender_canvas.engine import ledger as ledger_module
from blender_canvas.engine.cost import Budget
from blender_canvas.engine.session import Session
from blender_canvas.providers import fal

SUBMIT_MS: list[float] = []
WINDOW_MS: list[float] = []
OVERHEAD_MS: list[float] = []  # per job: its window less its own submit call
_submit_of: dict[str, float] = {}
_journalled: dict[str, float] = {}
_lock = threading.Lock()
_submit = fal.FalBackend.submit
_add_job = ledger_module.Ledger.add_job
_set_state = ledger_module.Ledger.set_state
_record_remote = ledger_module.Ledger.record_remote


def timed_submit(self: fal.FalBackend, request: fal.JobRequest) -> fal.RemoteJob:
    started = time.perf_counter()
    try:
        return _submit(self, request)
    finally:
        SUBMIT_MS.append((time.perf_counter() - started) * 1000)
        _submit_of[request.job_id] = SUBMIT_MS[-1]


def add_job(self: ledger_module.Ledger, record: ledger_module.JobRecord) -> None:
    _add_job(self, record)
    if record.state == ledger_module.SUBMITTING:
        with _lock:
            _journalled[record.job_id] = time.perf_counter()


def set_state(self: ledger_module.Ledger, job_id: str, state: str, *args: Any, **kwargs: Any) -> None:
    _set_state(self, job_id, state, *args, **kwargs)
    if state == ledger_module.SUBMITTING:
        with _lock:
            _journalled[job_id] = time.perf_counter()


def record_remote(self: ledger_module.Ledger, job_id: str, *args: Any, **kwargs: Any) -> None:
    _record_remote(self, job_id, *args, **kwargs)
    with _lock:
        WINDOW_MS.append((time.perf_counter() - _journalled.pop(job_id)) * 1000)
        OVERHEAD_MS.append(WINDOW_MS[-1] - _submit_of.pop(job_id, 0.0))


fal.FalBackend.submit = timed_submit  # type: ignore[method-assign]
ledger_module.Ledger.add_job = add_job  # type: ignore[method-assign]
ledger_module.Ledger.set_state = set_state  # type: ignore[method-assign]
ledger_module.Ledger.record_remote = record_remote  # type: ignore[method-assign]


def run_once(latency: float) -> None:
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
            assert len(session.ledger.takes()) == 12
            session.close()
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for _ in range(args.runs):
        run_once(0.2)
    for label, values in (("journalled -> remote id", WINDOW_MS), ("the submit call itself", SUBMIT_MS),
                          ("window less own submit", OVERHEAD_MS)):
        values.sort()
        print(f"{label:<24} {len(values)} submits: median {statistics.median(values):.1f} ms, "
              f"p90 {values[int(len(values) * 0.9)]:.1f} ms, max {values[-1]:.1f} ms")


if __name__ == "__main__":
    main()
