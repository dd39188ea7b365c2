"""Time-to-take: one job through the real engine against the fake fal server, as ratios to the fake's job latency.

Prints (1) one job end to end over the fake's latency (target <= 1.15x at 1 s), and (2) the wait between the fake
finishing a job and its take landing in the ledger, averaged over latencies that do not line up with any poll grid,
over fal's poll interval (target <= 0.25x), beside the same jobs polled on the old fixed schedule (the
adapter's interval, 1.5x longer after every poll) in the same run. A first job warms the process (imports, the TLS
context, the fake's own media) and is printed on its own line: that cost is paid once per session, not per job.

    python benchmarks/time_to_take.py [--latency 1.0] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import KEYS, fan_out_canvas, start_fake

from blender_canvas.engine import runner
from blender_canvas.engine.cost import Budget
from blender_canvas.engine.poll_schedule import MAX_POLL_INTERVAL_S, PollLimits
from blender_canvas.engine.session import Session
from blender_canvas.providers.fal import FalBackend
from tests.fakes.fal_server import FakeFal

SPREAD = (1.0, 1.27, 1.61, 2.13, 2.78)  # seconds: no common grid, so a lucky poll cannot hide the wait


def one_job(fake: FakeFal, latency: float) -> tuple[float, float, dict[str, float]]:
    """(end-to-end seconds, seconds from the fake finishing to the take landing, the take's own timings)."""
    fake.latency_s = latency
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        canvas = fan_out_canvas(folder, takes=1)
        session = Session(folder / "project", keys=KEYS, limits={"fal": 4})
        plan = session.plan(canvas, folder, selection=["kling"])
        session.check(plan, online=True, budget=Budget())
        offset = time.time() - time.monotonic()  # the fake keeps monotonic time, events wall time
        started = time.perf_counter()
        session.start(plan, canvas, folder)
        assert session.runner.wait(timeout=120)
        elapsed = time.perf_counter() - started
        [landed] = [e for e in session.runner.drain() if e.kind == "landed"]
        [take] = session.ledger.takes()
        job = fake.jobs[take.remote_id]
        assert job.released_at is not None
        finished = job.released_at + job.latency + offset
        session.close()
        return elapsed, landed.at - finished, json.loads(take.timings_json or "{}")


@contextmanager
def fixed_schedule() -> Iterator[None]:
    """The schedule before this one: the adapter's interval, then 1.5x longer after each poll (per job thread)."""
    polls = threading.local()
    current: Callable[..., float] = runner.next_poll_s

    def old(status: object, limits: PollLimits, **_: object) -> float:
        count = getattr(polls, "count", 0)
        polls.count = count + 1
        hint = getattr(status, "poll_after_s", None)
        return float(hint or min(limits.interval_s * 1.5 ** count, MAX_POLL_INTERVAL_S))

    runner.next_poll_s = old  # type: ignore[assignment]
    try:
        yield
    finally:
        runner.next_poll_s = current  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="the fake's job latency for the end-to-end ratio")
    parser.add_argument("--runs", type=int, default=3, help="end-to-end runs (median) and rounds of the spread")
    args = parser.parse_args()
    fake = start_fake(args.latency)
    try:
        cold, _, _ = one_job(fake, args.latency)
        ends: list[float] = []
        timings: list[dict[str, float]] = []
        for _ in range(args.runs):
            elapsed, _wait, timing = one_job(fake, args.latency)
            ends.append(elapsed)
            timings.append(timing)
        waits: list[float] = []
        fixed: list[float] = []
        for _ in range(args.runs):
            for latency in SPREAD:
                waits.append(one_job(fake, latency)[1])
                with fixed_schedule():
                    fixed.append(one_job(fake, latency)[1])
    finally:
        fake.stop()
    interval = FalBackend.poll_interval_s
    end = statistics.median(ends)
    fetch = statistics.median(t.get("fetch_s", 0.0) for t in timings)
    print(f"fake job latency                {args.latency:.2f} s; fal poll interval {interval:.2f} s")
    print(f"first job of the process        {cold:.3f} s = {cold / args.latency:.3f}x (one-off warm-up, not a target)")
    print(f"one job end to end              {end:.3f} s (median of {args.runs}; fetch + probe + thumbnail "
          f"{fetch:.3f} s)")
    print(f"  ratio to the fake's latency   {end / args.latency:.3f}x  (target <= 1.15x)")
    print(f"finish-to-landed wait           mean {statistics.mean(waits):.3f} s, max {max(waits):.3f} s over "
          f"{len(waits)} jobs of {', '.join(f'{x:g}' for x in SPREAD)} s")
    print(f"  ratio to fal's poll interval  {statistics.mean(waits) / interval:.3f}x  (target <= 0.25x)")
    print(f"  the old fixed schedule        mean {statistics.mean(fixed):.3f} s = "
          f"{statistics.mean(fixed) / interval:.3f}x, max {max(fixed):.3f} s (same jobs, same run)")


if __name__ == "__main__":
    main()
