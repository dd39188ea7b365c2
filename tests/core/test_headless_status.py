"""What the command line says at the end of a run: each requested take counted once, jobs that need a decision
apart from failures, and the exit status that follows (bpy-free parts of ``headless``)."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest

from blender_canvas import headless
from blender_canvas.engine.planner import Plan, TakeJob
from blender_canvas.engine.runner import Event


def job(node: str, index: int) -> TakeJob:
    return TakeJob(node_id=node, take_index=index, model="kling-3", variant="3.0", model_label="Kling 3.0",
                   backend="fal", backend_model_id="x", media="video", prompt="p", params={}, inputs={},
                   estimate_usd=0.5)


def take(node: str, index: int) -> dict[str, Any]:
    return {"id": f"{node}{index}", "node": node, "status": "landed", "take_index": index, "duration_s": 5.0,
            "actual_usd": None, "estimated_usd": 0.5, "model": "kling-3"}


def stray(node: str, index: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"j-{node}{index}-{status}", "node": node, "model": "kling-3", "variant": "3.0", "backend": "fal",
            "remote_job_id": extra.get("remote"), "status": status, "error": extra.get("error"),
            "estimated_usd": 0.5, "take_index": index, "created_at": 1_765_000_000.0}


def test_progress_counts_each_requested_take_once() -> None:
    stream = io.StringIO()
    progress = headless.Progress({("a", 0), ("a", 1), ("b", 0)}, stream=stream)
    progress.update([Event(kind="landed", node_id="a", take_index=0), Event(kind="landed", node_id="a", take_index=0),
                     Event(kind="unknown", node_id="z", take_index=4, message="needs a decision: z"),
                     Event(kind="cached", node_id="a", take_index=1)])
    assert progress.last_line.endswith("2/3 takes (1 new, 1 cached, 0 failed)")
    progress.update([Event(kind="held", node_id="b", take_index=0, message="set FAL_KEY")])
    assert "3/3 takes" in progress.last_line and "1 need a decision" in progress.last_line
    assert "needs a decision: z" in stream.getvalue() and "set FAL_KEY" in stream.getvalue()


def test_an_unknown_job_of_a_node_whose_takes_landed_is_a_decision_not_a_failure(
        capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(jobs=[job("a", 0), job("a", 1)], order=["a"])
    manifest = {"takes": [take("a", 0), take("a", 1)], "spent_usd": 1.5,
                "jobs_without_take": [stray("a", 1, "superseded"), stray("a", 2, "unknown"),
                                      stray("a", 0, "failed", error="an older failure, since landed")]}
    failed, undecided = headless.summary(manifest, plan, 1.0, {("a", 0), ("a", 1)})
    assert (failed, undecided) == (0, 1)
    out = capsys.readouterr().out
    assert "needs a decision (1 job(s)):" in out
    line = next(x for x in out.splitlines() if "a take 3" in x)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_765_000_000.0))
    assert "fal" in line and when in line and "dashboard" in line and "--resubmit-unknown" in line


def test_a_requested_take_that_failed_is_counted_once(capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(jobs=[job("a", 0), job("a", 1)], order=["a"])
    manifest = {"takes": [take("a", 0)], "spent_usd": 0.5,
                "jobs_without_take": [stray("a", 1, "failed", error="moderated"),
                                      stray("a", 1, "failed", error="again")]}
    assert headless.summary(manifest, plan, 1.0, {("a", 0), ("a", 1)}) == (1, 0)
    journalled = {"takes": [take("a", 0)], "spent_usd": 0.5,
                  "jobs_without_take": [stray("a", 1, "submitted", remote="req-9")]}
    assert headless.summary(journalled, plan, 1.0, {("a", 0), ("a", 1)}) == (0, 1)
    assert "as req-9: not finished in this run" in capsys.readouterr().out


def test_exit_statuses_are_distinct() -> None:
    assert (headless.EXIT_OK, headless.EXIT_FAILED_TAKES, headless.EXIT_USAGE, headless.EXIT_DECIDE) == (0, 1, 2, 3)
