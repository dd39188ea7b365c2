"""Exactly-once submits, over real HTTP against the fake fal and the fake Kling: a take whose job is unknown is never
planned again until the user says so; Kling's cut-off submits are found by our own id; resume never raises."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.ledger import SUBMITTING, SUPERSEDED, UNKNOWN, JobRecord
from blender_canvas.engine.session import Session
from blender_canvas.providers import kling
from blender_canvas.providers.backend import JobRequest, submit_recovery
from blender_canvas.providers.fal import FalBackend
from blender_canvas.providers.replicate import ReplicateBackend
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal
from tests.fakes.kling_server import ACCESS_KEY, SECRET_KEY, FakeKling

FAL_KEYS = {"FAL_KEY": DEFAULT_KEY}
KLING_KEYS = {"KLING_ACCESS_KEY": ACCESS_KEY, "KLING_SECRET_KEY": SECRET_KEY}
KEYS = {**FAL_KEYS, **KLING_KEYS}


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.02) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


@pytest.fixture
def fake_kling(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKling]:
    with FakeKling(latency_s=0.0) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_KLING_URL", fake.base_url)
        monkeypatch.setattr(kling.KlingBackend, "poll_interval_s", 0.02)
        yield fake


def two_vendor_canvas(folder: Path, takes: int = 2) -> Canvas:
    Image.new("RGB", (640, 360), (200, 120, 40)).save(folder / "still.png")
    return Canvas.model_validate({"version": 1, "defaults": {"seed": 3}, "nodes": [
        {"id": "still", "kind": "reference", "path": "still.png"},
        {"id": "on_fal", "kind": "video", "model": "kling-3", "variant": "3.0", "takes": takes, "route": "fal",
         "duration_s": 5, "inputs": {"image": "still"}, "prompt": {"subject": "a barista"}},
        {"id": "on_kling", "kind": "video", "model": "kling-3", "variant": "3.0-pro", "takes": takes,
         "route": "kling", "duration_s": 5, "inputs": {"image": "still"}, "prompt": {"subject": "a barista"}},
    ]})


def render(session: Session, doc: Canvas, base: Path) -> list[object]:
    plan = session.plan(doc, base)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, base)
    assert session.runner.wait(timeout=60)
    return list(session.runner.drain())


def fal_submits(fake: FakeFal) -> int:
    return len(fake.jobs)


def cut_off(session: Session, doc: Canvas, base: Path, node_id: str, take_index: int) -> JobRecord:
    """Make the ledger look as if the process died mid-submit of one take: the row says submitting, no remote id."""
    plan = session.plan(doc, base)
    job = next(j for j in plan.jobs if j.node_id == node_id and j.take_index == take_index)
    from blender_canvas.engine.planner import resolve_inputs

    files, hashes = resolve_inputs(job, doc, session.ledger, base)  # type: ignore[misc]
    job_id = f"cut{node_id}{take_index}".ljust(16, "0")[:16]
    request = job.request(job_id, files)
    record = JobRecord(job_id=job_id, node_id=node_id, take_index=take_index, cache_key=job.cache_key(hashes),
                       model=job.model, variant=job.variant, backend=job.backend, backend_model_id=job.backend_model_id,
                       prompt=job.prompt, request_json=request.model_dump_json(), state=SUBMITTING,
                       estimated_usd=job.estimate_usd, created_at=time.time())
    session.ledger.add_job(record)
    return record


def test_backends_declare_what_recovers_a_cut_off_submit() -> None:
    # fal-client 1.0.3 and replicate 1.0.7 send no idempotency key and cannot find a job by a client id
    assert FalBackend.submit_recovery == "none"
    assert ReplicateBackend.submit_recovery == "none"
    assert submit_recovery(kling.KlingBackend(KLING_KEYS)) == "lookup"
    assert submit_recovery(FalBackend(DEFAULT_KEY)) == "none"


def test_an_unknown_take_is_never_planned_again_until_the_user_resubmits(tmp_path: Path, fal: FakeFal,
                                                                        fake_kling: FakeKling) -> None:
    doc = two_vendor_canvas(tmp_path)
    session = Session(tmp_path / "project", keys=KEYS)
    cut = cut_off(session, doc, tmp_path, "on_fal", 1)
    session.close()

    session = Session(tmp_path / "project", keys=KEYS)
    assert session.resume() == []
    assert session.ledger.job(cut.job_id).state == UNKNOWN  # type: ignore[union-attr]
    events = session.runner.drain()
    decision = next(e for e in events if e.kind == "unknown")
    assert "needs a decision" in decision.message and "fal" in decision.message
    plan = session.plan(doc, tmp_path)
    assert ("on_fal", 1) not in {(j.node_id, j.take_index) for j in plan.jobs}
    render(session, doc, tmp_path)
    assert fal_submits(fal) == 1  # take 0 only: take 1 waits for the user
    assert render(session, doc, tmp_path) is not None and fal_submits(fal) == 1  # and again: still nothing

    released = session.resubmit_unknown()
    assert [j.job_id for j in released] == [cut.job_id]
    assert session.ledger.job(cut.job_id).state == SUPERSEDED  # type: ignore[union-attr]
    render(session, doc, tmp_path)
    assert fal_submits(fal) == 2  # exactly one more submit for the released take
    landed = {(t.node_id, session.ledger.job(t.take_id).take_index) for t in session.ledger.takes()}  # type: ignore[union-attr]
    assert landed == {("on_fal", 0), ("on_fal", 1), ("on_kling", 0), ("on_kling", 1)}
    assert session.resubmit_unknown() == []  # nothing left to decide
    session.close()


def test_a_kling_submit_cut_off_after_it_arrived_is_found_by_our_id(tmp_path: Path, fal: FakeFal,
                                                                    fake_kling: FakeKling) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project", keys=KEYS)
    cut = cut_off(session, doc, tmp_path, "on_kling", 0)
    # the submit reached Kling (with our id as external_task_id), then the process died before writing the task id
    kling.KlingBackend(KLING_KEYS).submit(JobRequest.model_validate_json(cut.request_json))
    assert fake_kling.submits == 1
    session.close()

    session = Session(tmp_path / "project", keys=KEYS)
    assert session.resume() == [cut.job_id]
    assert session.runner.wait(timeout=30)
    job = session.ledger.job(cut.job_id)
    assert job is not None and job.state == "landed" and job.resolution == "lookup"
    render(session, doc, tmp_path)
    assert fake_kling.submits == 1  # found, not sent again
    assert fal_submits(fal) == 1
    session.close()


def test_a_kling_submit_that_never_arrived_is_released_and_sent_once(tmp_path: Path, fal: FakeFal,
                                                                     fake_kling: FakeKling) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project", keys=KEYS)
    cut = cut_off(session, doc, tmp_path, "on_kling", 0)
    session.close()

    session = Session(tmp_path / "project", keys=KEYS)
    assert session.resume() == []
    job = session.ledger.job(cut.job_id)
    assert job is not None and job.state == "cancelled" and job.resolution == "lookup"
    assert fake_kling.submits == 0
    render(session, doc, tmp_path)
    assert fake_kling.submits == 1
    assert len(session.ledger.takes("on_kling")) == 1
    session.close()


def test_resume_with_a_missing_key_holds_that_job_and_resumes_the_others(tmp_path: Path, fal: FakeFal,
                                                                        fake_kling: FakeKling) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project", keys=KEYS)
    on_fal = cut_off(session, doc, tmp_path, "on_fal", 0)
    on_kling = cut_off(session, doc, tmp_path, "on_kling", 0)
    # both submits returned and their remote ids were written; then the app stopped
    for record, backend in ((on_fal, FalBackend(DEFAULT_KEY)), (on_kling, kling.KlingBackend(KLING_KEYS))):
        session.ledger.record_remote(record.job_id, backend.submit(JobRequest.model_validate_json(record.request_json)))
    session.close()

    reopened = Session(tmp_path / "project", keys=KLING_KEYS)  # FAL_KEY is gone
    resumed = reopened.resume()  # must not raise BackendError
    assert resumed == [on_kling.job_id]
    held = [e for e in reopened.runner.drain() if e.kind == "held"]
    assert [e.job_id for e in held] == [on_fal.job_id]
    assert "FAL_KEY" in held[0].message and "next start" in held[0].message
    assert reopened.runner.wait(timeout=30)
    assert reopened.ledger.job(on_kling.job_id).state == "landed"  # type: ignore[union-attr]
    assert reopened.ledger.job(on_fal.job_id).state == "submitted"  # type: ignore[union-attr]  # still journalled
    reopened.close()

    again = Session(tmp_path / "project", keys=KEYS)  # the key is back
    plan = again.plan(doc, tmp_path)
    assert plan.submits == []  # the held job keeps its take: the plan follows it, submitting nothing
    assert [j.in_flight for j in plan.jobs if j.node_id == "on_fal"] == [on_fal.job_id]
    assert again.resume() == [on_fal.job_id]
    assert again.runner.wait(timeout=30)
    assert again.ledger.job(on_fal.job_id).state == "landed"  # type: ignore[union-attr]
    assert fal_submits(fal) == 1 and fake_kling.submits == 1  # landed without a resubmit
    again.close()


def test_session_close_closes_every_backend_client(tmp_path: Path, fal: FakeFal) -> None:
    session = Session(tmp_path / "project", keys=FAL_KEYS)
    backend = session.backend("fal")
    client = backend._client  # type: ignore[attr-defined]
    session.close()
    assert client.is_closed


def test_kling_creates_carry_our_job_id_and_lip_sync_cannot_be_looked_up(tmp_path: Path, fal: FakeFal,
                                                                         fake_kling: FakeKling) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project", keys=KEYS)
    render(session, doc, tmp_path)
    job = next(j for j in session.ledger.jobs() if j.backend == "kling")
    assert [t.body.get("external_task_id") for t in fake_kling.tasks.values()] == [job.job_id]
    backend = kling.KlingBackend(KLING_KEYS)
    lip_sync = JobRequest(job_id="j", node_id="n", model="kling-lipsync", variant="standard", backend="kling",
                          backend_model_id="lip-sync", media="video")
    assert not backend.can_look_up(lip_sync)  # its body documents no external id: a cut-off stays unknown
    session.close()


def test_resume_survives_a_row_it_cannot_read(tmp_path: Path, fal: FakeFal) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project", keys=KEYS)
    broken = cut_off(session, doc, tmp_path, "on_fal", 0)
    session.ledger.set_state(broken.job_id, "submitted", request_json="{not json", remote_json="{}")
    session.close()
    again = Session(tmp_path / "project", keys=KEYS)
    assert again.resume() == []  # no exception
    held = [e for e in again.runner.drain() if e.kind == "held"]
    assert held and held[0].job_id == broken.job_id and "stays journalled" in held[0].message
    again.close()


def test_a_cut_off_preview_render_is_simply_made_again(tmp_path: Path) -> None:
    doc = two_vendor_canvas(tmp_path, takes=1)
    session = Session(tmp_path / "project")
    plan = session.plan(doc, tmp_path, draft=True)
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=60)
    first = {t.node_id for t in session.ledger.takes()}
    assert first == {"on_fal", "on_kling"}
    job = session.ledger.jobs()[0]
    session.ledger.set_state(job.job_id, SUBMITTING)  # as if the app died during that render
    session.ledger._db.execute("DELETE FROM takes WHERE take_id = ?", (job.job_id,))
    session.close()
    again = Session(tmp_path / "project")
    assert again.resume() == []
    assert again.ledger.job(job.job_id).state == "cancelled"  # type: ignore[union-attr]  # not unknown: it is free
    assert again.undecided() == []
    assert [j.node_id for j in again.plan(doc, tmp_path, draft=True).submits] == [job.node_id]
    again.close()
