"""The poll schedule, on injected statuses: tighter as the vendor says the job nears its end, looser while it is
queued, never outside the vendor's bounds."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.poll_schedule import FLOORS, MAX_POLL_INTERVAL_S, PollLimits, limits_for, next_poll_s
from blender_canvas.engine.session import Session
from blender_canvas.providers.backend import Artifact, JobRequest, JobState, JobStatus, RemoteJob
from blender_canvas.providers.bfl import BflBackend
from blender_canvas.providers.byteplus import BytePlusBackend
from blender_canvas.providers.fal import FalBackend
from blender_canvas.providers.kling import KlingBackend
from blender_canvas.providers.openai_api import OpenAIBackend
from blender_canvas.providers.replicate import ReplicateBackend
from blender_canvas.providers.runway import RunwayBackend
from blender_canvas.providers.vertex import VertexBackend

ADAPTERS = {c.id: c.poll_interval_s for c in (BflBackend, BytePlusBackend, FalBackend, KlingBackend, OpenAIBackend,
                                              ReplicateBackend, RunwayBackend, VertexBackend)}

FAL = limits_for("fal", 1.0)


def queued(position: int | None = None, **kw: object) -> JobStatus:
    return JobStatus(state=JobState.QUEUED, queue_position=position, **kw)  # type: ignore[arg-type]


def running(progress: float | None = None, **kw: object) -> JobStatus:
    return JobStatus(state=JobState.RUNNING, progress=progress, **kw)  # type: ignore[arg-type]


def test_a_long_queue_is_asked_less_often_than_a_short_one() -> None:
    waits = [next_poll_s(queued(p), FAL, queued_polls=6) for p in (0, 1, 4, 10, 1000)]
    assert waits == sorted(waits) and waits[0] < waits[1] < waits[2] < waits[3]
    assert waits[0] == pytest.approx(0.5) and waits[-1] == pytest.approx(1.5 ** 6)
    assert next_poll_s(queued(1000), FAL, queued_polls=40) == MAX_POLL_INTERVAL_S


def test_a_long_queue_first_seen_is_polled_again_within_the_interval() -> None:
    # a position is not a time: twelve jobs submitted together see positions 0..11 and may all run at once
    assert [next_poll_s(queued(p), FAL) for p in (0, 1, 11, 500)] == [0.5, 1.0, 1.0, 1.0]
    waits = [next_poll_s(queued(11), FAL, queued_polls=n) for n in range(12)]
    assert waits == sorted(waits) and waits[-1] == 11.5  # relaxes the longer it stays queued, up to its position


def test_a_queue_without_positions_relaxes_poll_by_poll_up_to_the_ceiling() -> None:
    waits = [next_poll_s(queued(), FAL, queued_polls=n) for n in range(20)]
    assert waits[0] == FAL.interval_s and all(a < b for a, b in pairwise(waits[:8]))
    assert max(waits) == MAX_POLL_INTERVAL_S


def test_progress_tightens_the_schedule_as_the_end_nears() -> None:
    limits = limits_for("replicate", 1.0)  # its SDK polls every 0.5 s: the floor
    waits = [next_poll_s(running(p), limits, running_for_s=20.0) for p in (0.05, 0.5, 0.8, 0.95)]
    assert waits == sorted(waits, reverse=True) and waits[0] > waits[-1]
    assert waits[0] == limits.interval_s  # far from done: never slower than the adapter's interval while running
    assert waits[-1] == limits.floor_s == 0.5


def test_running_without_progress_tightens_early_and_relaxes_for_a_long_job() -> None:
    early, late = (next_poll_s(running(), FAL, running_for_s=t) for t in (0.0, 600.0))
    assert early == FAL.floor_s == 0.1  # fal-client's own cadence, never faster
    assert late == FAL.interval_s
    assert next_poll_s(running(), FAL, running_for_s=3.0) == pytest.approx(0.3)


@pytest.mark.parametrize("backend", sorted(ADAPTERS))
@pytest.mark.parametrize("status", [queued(0), queued(50), queued(), running(), running(0.01), running(0.5),
                                    running(0.99), running(1.0), running(0.5, poll_after_s=0.001),
                                    queued(3, poll_after_s=90.0)], ids=repr)
def test_never_outside_the_vendors_bounds(backend: str, status: JobStatus) -> None:
    interval = ADAPTERS[backend]
    limits = limits_for(backend, interval)
    assert limits.floor_s == min(interval, FLOORS.get(backend, interval))
    for running_for in (0.0, 0.2, 5.0, 3600.0):
        for polls in (0, 3, 40):
            wait = next_poll_s(status, limits, running_for_s=running_for, queued_polls=polls)
            assert limits.floor_s <= wait <= limits.ceiling_s
            if status.poll_after_s is not None:
                assert wait >= min(status.poll_after_s, limits.ceiling_s)  # never sooner than the vendor asked


def test_a_vendor_without_a_documented_faster_cadence_is_never_polled_faster_than_its_interval() -> None:
    kling = limits_for("kling", KlingBackend.poll_interval_s)
    assert kling.floor_s == 5.0 == KlingBackend.poll_interval_s
    assert next_poll_s(running(0.99), kling, running_for_s=100.0) == 5.0
    assert next_poll_s(running(), kling) == 5.0


def test_a_vendor_hint_is_a_minimum_even_when_the_job_looks_nearly_done() -> None:
    assert next_poll_s(running(0.99, poll_after_s=2.0), FAL, running_for_s=50.0) == 2.0
    assert next_poll_s(running(0.99, poll_after_s=0.01), FAL, running_for_s=50.0) == FAL.floor_s


def test_limits_clamp() -> None:
    limits = PollLimits(interval_s=1.0, floor_s=0.25, ceiling_s=4.0)
    assert [limits.clamp(x) for x in (0.0, 0.3, 9.0)] == [0.25, 0.3, 4.0]


class StatusScript:
    """A fal-like backend that answers each poll with the next status of a script, then succeeds."""

    id = "fal"
    poll_interval_s = 1.0

    def __init__(self, script: list[JobStatus]) -> None:
        self.script = list(script)

    def submit(self, request: JobRequest) -> RemoteJob:
        return RemoteJob(backend=self.id, remote_id=f"r-{request.job_id}")

    def poll(self, job: RemoteJob) -> JobStatus:
        if self.script:
            return self.script.pop(0)
        return JobStatus(state=JobState.SUCCEEDED, artifacts=[Artifact(media="image", url="mem://x")])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        Image.new("RGB", (8, 8), (1, 2, 3)).save(dest, format="PNG")
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        return False


def test_the_runner_sleeps_as_the_schedule_says_for_each_status(tmp_path: Path) -> None:
    script = [queued(3), queued(3), queued(3), queued(0), running(), running(0.5),
              running(0.95, poll_after_s=2.0)]
    backend = StatusScript(script)
    session = Session(tmp_path / "project", keys={"FAL_KEY": "k"})
    session._backends["fal"] = backend
    sleeps: list[float] = []
    session.runner._sleep = sleeps.append
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "a", "kind": "image", "model": "nano-banana-2", "route": "fal", "prompt": {"subject": "a bicycle"}}]})
    plan = session.plan(doc, tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=30)
    assert len(session.ledger.takes()) == 1
    assert sleeps[:4] == [1.0, 1.5, 2.25, 0.5]  # relaxes while it stays queued; next in line: tighter
    assert sleeps[4:6] == [0.1, 0.1]  # just started running (no clock passes here): fal-client's own 0.1 s
    assert sleeps[6] == 2.0  # nearly done, but the vendor asked for 2 s: never sooner
    assert len(sleeps) == len(script)
    session.close()


def test_polls_that_say_nothing_new_reach_the_main_thread_once(tmp_path: Path) -> None:
    script = [queued(2), queued(2), *[running() for _ in range(30)], running(0.5), running(0.5)]
    session = Session(tmp_path / "project", keys={"FAL_KEY": "k"})
    session._backends["fal"] = StatusScript(script)
    session.runner._sleep = lambda seconds: None  # no clock passes: no heartbeat is due
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "a", "kind": "image", "model": "nano-banana-2", "route": "fal", "prompt": {"subject": "a bicycle"}}]})
    plan = session.plan(doc, tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=30)
    said = [(e.state, e.progress, e.queue_position) for e in session.runner.drain() if e.kind == "progress"]
    assert said == [("queued", None, 2), ("running", None, None), ("running", 0.5, None)]
    assert len(session.ledger.takes()) == 1
    session.close()
