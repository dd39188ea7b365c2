"""The real engine against the fake fal server over real HTTP on 127.0.0.1.

Parallelism is shown structurally (what the server saw in flight), never by timing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget, BudgetExceeded
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.session import Session
from blender_canvas.providers.backend import JobState
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal

KEYS = {"FAL_KEY": DEFAULT_KEY}


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.05) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


def fan_out_canvas(tmp_path: Path, takes: int = 3) -> Canvas:
    Image.new("RGB", (640, 360), (200, 120, 40)).save(tmp_path / "still.png")
    nodes: list[dict[str, object]] = [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "shot", "kind": "shot", "subject": "the barista", "action": "lifts the cup", "camera": "slow push in"},
    ]
    for node_id, model, variant in (("kling", "kling-3", "3.0"), ("kling_pro", "kling-3", "3.0-pro"),
                                    ("o3", "kling-3", "o3"), ("veo", "veo-3.1", "fast")):
        nodes.append({"id": node_id, "kind": "video", "model": model, "variant": variant, "takes": takes,
                      "route": "fal", "duration_s": 4 if model == "veo-3.1" else 5,
                      "inputs": {"image": "still", "shot": "shot"}})
    return Canvas.model_validate({"version": 1, "defaults": {"seed": 7}, "nodes": nodes})


def run(session: Session, doc: Canvas, base: Path, timeout: float = 60, **kwargs: object) -> list[object]:
    plan = session.plan(doc, base, **kwargs)  # type: ignore[arg-type]
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, base)
    assert session.runner.wait(timeout=timeout)
    return list(session.runner.drain())


def wait_for(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)
    assert condition(), "timed out"  # type: ignore[operator]


def test_all_twelve_jobs_are_in_flight_at_once(fal: FakeFal, tmp_path: Path) -> None:
    fal.hold = True
    session = Session(tmp_path / "p", keys=KEYS)
    doc = fan_out_canvas(tmp_path)
    plan = session.plan(doc, tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    wait_for(lambda: len(fal.jobs) == 12)
    assert fal.in_flight() == 12
    fal.release_all()
    assert session.runner.wait(timeout=60)
    assert fal.max_in_flight == 12
    assert len(session.ledger.takes()) == 12
    session.close()


def test_a_limit_of_two_never_has_more_than_two_in_flight(fal: FakeFal, tmp_path: Path) -> None:
    session = Session(tmp_path / "p", keys=KEYS, limits={"fal": 2})
    run(session, fan_out_canvas(tmp_path), tmp_path)
    assert len(session.ledger.takes()) == 12
    assert fal.max_in_flight == 2
    session.close()


def test_cache_new_take_and_changed_prompt_through_http(fal: FakeFal, tmp_path: Path) -> None:
    session = Session(tmp_path / "p", keys=KEYS)
    doc = fan_out_canvas(tmp_path, takes=1)
    run(session, doc, tmp_path)
    submits = len(fal.requests_to("api", "POST"))
    assert submits == 4
    run(session, doc, tmp_path)
    assert len(fal.requests_to("api", "POST")) == submits  # unchanged: nothing submitted
    changed = doc.model_copy(deep=True)
    changed.node("veo").prompt.action = "sets the cup down"  # type: ignore[union-attr]
    run(session, changed, tmp_path)
    bodies = [r.body for r in fal.requests_to("api", "POST")[submits:]]
    assert len(bodies) == 1 and "sets the cup down" in bodies[0]["prompt"]
    run(session, changed, tmp_path, selection=["kling"], new_take=True)
    assert len(fal.requests_to("api", "POST")) == submits + 2
    session.close()


def test_cancel_reaches_the_cancel_endpoint_and_leaves_no_take(fal: FakeFal, tmp_path: Path) -> None:
    fal.hold = True
    session = Session(tmp_path / "p", keys=KEYS)
    doc = fan_out_canvas(tmp_path, takes=1)
    plan = session.plan(doc, tmp_path, selection=["kling"])
    session.start(plan, doc, tmp_path)
    wait_for(lambda: len(fal.jobs) == 1)
    session.runner.cancel(node_id="kling")
    assert session.runner.wait(timeout=20)
    assert len(fal.cancels) == 1
    assert session.ledger.takes() == []
    assert [j.state for j in session.ledger.jobs()] == [JobState.CANCELLED.value]
    session.close()


def test_budget_below_the_estimate_submits_nothing(fal: FakeFal, tmp_path: Path) -> None:
    session = Session(tmp_path / "p", keys=KEYS)
    doc = fan_out_canvas(tmp_path)
    plan = session.plan(doc, tmp_path)
    assert plan.estimate_usd > 1
    with pytest.raises(BudgetExceeded, match=rf"estimated at \${plan.estimate_usd:.2f}, over the run budget of \$1.00"):
        session.check(plan, online=True, budget=Budget(run_usd=1.0))
    assert fal.requests == []
    session.close()


@pytest.mark.parametrize(("kind", "stage", "extra"), [
    ("429", "submit", {"retry_after": 0.01}),
    ("429", "status", {}),
    ("503", "submit", {}),
    ("cut", "download", {}),
])
def test_transient_faults_end_in_a_landed_take(fal: FakeFal, tmp_path: Path, kind: str, stage: str,
                                               extra: dict[str, float]) -> None:
    fal.fail_next(kind, on=stage, **extra)  # type: ignore[arg-type]
    session = Session(tmp_path / "p", keys=KEYS)
    events = run(session, fan_out_canvas(tmp_path, takes=1), tmp_path, selection=["kling"])
    takes = session.ledger.takes("kling")
    assert len(takes) == 1, [getattr(e, "message", "") for e in events]
    assert (session.project_dir / takes[0].file).stat().st_size == takes[0].size_bytes
    assert len(fal.jobs) == 1  # retried until accepted once, never resubmitted after acceptance
    session.close()


def test_moderation_ends_moderated_with_the_vendors_reason_and_is_not_retried(fal: FakeFal, tmp_path: Path) -> None:
    fal.fail_next("moderation", message="The content could not be processed because it contained sensitive words")
    session = Session(tmp_path / "p", keys=KEYS)
    events = run(session, fan_out_canvas(tmp_path, takes=1), tmp_path, selection=["kling"])
    job = session.ledger.jobs()[0]
    assert job.state == JobState.MODERATED.value
    assert "sensitive words" in (job.error_message or "")
    assert [e.kind for e in events if getattr(e, "kind", "") == "failed"] == ["failed"]
    assert len(fal.requests_to("api", "GET", path_end=job.remote_id or "")) == 1  # one result request only
    assert session.ledger.takes() == []
    session.close()


def test_the_key_never_reaches_the_cdn_the_ledger_or_the_logs(fal: FakeFal, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="blender_canvas")
    fal.fail_next("401", on="status")
    session = Session(tmp_path / "p", keys=KEYS)
    run(session, fan_out_canvas(tmp_path, takes=1), tmp_path, selection=["kling", "o3"])
    session.close()
    assert all(DEFAULT_KEY not in json.dumps(r.headers) for r in fal.requests_to("cdn"))
    assert any(f"Key {DEFAULT_KEY}" == r.headers.get("authorization") for r in fal.requests_to("api"))
    for path in (tmp_path / "p").rglob("*"):
        if path.is_file():
            assert DEFAULT_KEY.encode() not in path.read_bytes(), path
    assert DEFAULT_KEY not in caplog.text
