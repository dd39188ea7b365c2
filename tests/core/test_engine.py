"""The engine without Blender: cache, new takes, budgets, per-backend limits, cancel, resume, stale marking.

A scripted in-process backend stands in for a vendor here; the real HTTP paths are covered by the fal tests.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget, BudgetExceeded
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.ledger import SUBMITTED, UNKNOWN, JobRecord
from blender_canvas.engine.planner import PlanError, plan_run, stale_nodes
from blender_canvas.engine.runner import Runner
from blender_canvas.engine.session import Session
from blender_canvas.providers.backend import Artifact, JobRequest, JobState, JobStatus, RemoteJob
from blender_canvas.providers.catalog import load_catalog


class ScriptedBackend:
    """Finishes each job after `polls` polls with a small PNG; counts submits, polls, cancels, concurrency."""

    poll_interval_s = 0.001

    def __init__(self, backend_id: str = "fal", polls: int = 2, hold: threading.Event | None = None) -> None:
        self.id = backend_id
        self.polls = polls
        self.hold = hold
        self.submits: list[JobRequest] = []
        self.cancels: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def submit(self, request: JobRequest) -> RemoteJob:
        with self._lock:
            self.submits.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return RemoteJob(backend=self.id, remote_id=f"r-{request.job_id}")

    def poll(self, job: RemoteJob) -> JobStatus:
        with self._lock:
            self._seen[job.remote_id] = self._seen.get(job.remote_id, 0) + 1
            done = self._seen[job.remote_id] > self.polls and (self.hold is None or self.hold.is_set())
            if done:
                self.in_flight -= 1
        if not done:
            return JobStatus(state=JobState.RUNNING, progress=0.5)
        return JobStatus(state=JobState.SUCCEEDED, artifacts=[Artifact(media="image", url=f"mem://{job.remote_id}")])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        Image.new("RGB", (64, 36), tuple(job.remote_id.encode()[-3:])).save(dest, format="PNG")
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        with self._lock:
            self.cancels.append(job.remote_id)
            self.in_flight -= 1
        return True


def canvas(prompt: str = "a red bicycle", takes: int = 2) -> Canvas:
    return Canvas.model_validate({
        "version": 1,
        "nodes": [
            {"id": "still", "kind": "image", "model": "nano-banana-2", "takes": 1, "route": "fal",
             "prompt": {"subject": "a bicycle shop"}},
            {"id": "a", "kind": "image", "model": "nano-banana-2", "takes": takes, "route": "fal",
             "prompt": {"subject": prompt}, "inputs": {"images": ["still"]}},
            {"id": "b", "kind": "image", "model": "flux", "takes": takes, "route": "fal",
             "prompt": {"subject": "a blue bicycle"}, "inputs": {"images": ["still"]}},
        ],
    })


KEYS = {"FAL_KEY": "fal-test-key"}


def make_session(tmp_path: Path, backend: ScriptedBackend, limits: dict[str, int] | None = None) -> Session:
    session = Session(tmp_path / "project", keys=KEYS, limits=limits)
    session._backends["fal"] = backend  # the scripted vendor instead of the real fal adapter
    return session


def render(session: Session, doc: Canvas, tmp_path: Path, **kwargs: Any) -> list[Any]:
    plan = session.plan(doc, tmp_path, **kwargs)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=30)
    return session.runner.drain()


def plan_with_fal(session: Session, doc: Canvas, tmp_path: Path, **kwargs: Any) -> Any:
    return plan_run(doc, load_catalog(), session.ledger, base_dir=tmp_path, keys=KEYS,
                    implemented=("preview", "fal"), **kwargs)


def test_unchanged_canvas_is_a_cache_hit_and_one_changed_node_resubmits_only_itself(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    events = render(session, canvas(), tmp_path)
    assert len(backend.submits) == 5
    assert sum(e.kind == "landed" for e in events) == 5
    render(session, canvas(), tmp_path)
    assert len(backend.submits) == 5, "an unchanged canvas submitted again"
    events = render(session, canvas(prompt="a green bicycle"), tmp_path)
    resubmitted = [r.node_id for r in backend.submits[5:]]
    assert resubmitted == ["a", "a"]
    assert {e.kind for e in events if e.node_id == "b"} <= {"queued", "cached"}
    assert len(session.ledger.takes("b")) == 2 and len(session.ledger.takes("a")) == 4


def test_new_take_submits_exactly_one(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    render(session, canvas(), tmp_path)
    before = len(backend.submits)
    render(session, canvas(), tmp_path, selection=["b"], new_take=True)
    assert len(backend.submits) == before + 1
    assert backend.submits[-1].node_id == "b" and backend.submits[-1].take_index == 2
    assert len(session.ledger.takes("b")) == 3


def test_budget_below_estimate_refuses_before_any_submit(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    plan = session.plan(canvas(), tmp_path)
    assert plan.estimate_usd > 0.1
    with pytest.raises(BudgetExceeded, match=r"estimated at \$0\.\d\d, over the run budget of \$0\.01"):
        session.check(plan, online=True, budget=Budget(run_usd=0.01))
    with pytest.raises(BudgetExceeded, match="project budget"):
        session.check(plan, online=True, budget=Budget(project_usd=0.05))
    assert backend.submits == []


def test_paid_nodes_need_online_access(tmp_path: Path) -> None:
    session = make_session(tmp_path, ScriptedBackend())
    plan = session.plan(canvas(), tmp_path)
    with pytest.raises(PlanError, match="online access is off"):
        session.check(plan, online=False, budget=Budget())
    draft = session.plan(canvas(), tmp_path, draft=True)
    session.check(draft, online=False, budget=Budget())  # draft never needs the network
    assert {j.backend for j in draft.jobs} == {"preview"}


def test_missing_key_names_the_keys_that_would_serve_the_node(tmp_path: Path) -> None:
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "v", "kind": "video", "model": "kling-3", "prompt": {"subject": "a runner"}}]})
    session = Session(tmp_path / "p", keys={})
    # priced without a key, at the cheapest live route's list price; starting it names the key
    plan = session.plan(doc, tmp_path)
    assert [(j.backend, j.keyed) for j in plan.jobs] == [("kling", False)]
    assert plan.estimate_usd > 0
    with pytest.raises(PlanError, match=r"node 'v': no key for Kling 3.0 \(std\): set KLING_ACCESS_KEY \+ "
                                        r"KLING_SECRET_KEY \(Kling AI\) for v \(or FAL_KEY \(fal\) or "
                                        r"RUNWAYML_API_SECRET \(Runway\)\)"):
        session.check(plan, online=True, budget=Budget())
    with pytest.raises(PlanError, match="no key"):
        session.start(plan, doc, tmp_path)
    retired = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "s", "kind": "video", "model": "sora-2", "prompt": {"subject": "a runner"}}]})
    blocked = session.plan(retired, tmp_path)  # priced with the rest; the run refuses it
    assert blocked.jobs == [] and list(blocked.blocked) == ["s"]
    with pytest.raises(PlanError, match=r"no live route .* only run in draft mode"):
        session.check(blocked, online=True, budget=Budget())


def test_per_backend_limit_caps_jobs_in_flight(tmp_path: Path) -> None:
    backend = ScriptedBackend(polls=5)
    session = make_session(tmp_path, backend, limits={"fal": 2})
    render(session, canvas(takes=4), tmp_path)
    assert len(backend.submits) == 9
    assert backend.max_in_flight == 2


def test_unlimited_fan_out_has_every_job_in_flight_at_once(tmp_path: Path) -> None:
    hold = threading.Event()
    backend = ScriptedBackend(hold=hold)
    session = make_session(tmp_path, backend, limits={"fal": 32})
    hold.set()
    render(session, Canvas.model_validate({"version": 1, "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "route": "fal", "prompt": {"subject": "x"}}]}),
        tmp_path)
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "route": "fal", "prompt": {"subject": "x"}},
        *({"id": f"v{i}", "kind": "image", "model": "flux", "route": "fal", "takes": 3,
           "prompt": {"subject": f"take {i}"}, "inputs": {"images": ["still"]}} for i in range(4))]})
    hold.clear()
    backend.max_in_flight = 0
    plan = session.plan(doc, tmp_path)
    session.start(plan, doc, tmp_path)
    deadline = time.monotonic() + 10
    while backend.in_flight < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.max_in_flight == 12
    hold.set()
    assert session.runner.wait(timeout=30)


def test_cancel_reaches_the_vendor_and_leaves_no_take(tmp_path: Path) -> None:
    hold = threading.Event()
    backend = ScriptedBackend(hold=hold)
    session = make_session(tmp_path, backend)
    doc = canvas()
    hold.set()
    render(session, Canvas.model_validate({"version": 1, "nodes": [doc.nodes[0]]}), tmp_path)
    hold.clear()
    plan = session.plan(doc, tmp_path, selection=["a"])
    session.start(plan, doc, tmp_path)
    deadline = time.monotonic() + 10
    while len(backend.submits) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    session.runner.cancel(node_id="a")
    assert session.runner.wait(timeout=10)
    assert len(backend.cancels) == 2
    assert session.ledger.takes("a") == []
    assert {j.state for j in session.ledger.jobs("node_id = 'a'")} == {JobState.CANCELLED.value}


def test_restart_resumes_polling_and_never_resubmits(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    record = JobRecord(job_id="j1", node_id="still", take_index=0, cache_key="k", model="nano-banana-2",
                       variant="standard", backend="fal", backend_model_id="fal-ai/nano-banana-2", prompt="p",
                       request_json=JobRequest(
                           job_id="j1", node_id="still", model="nano-banana-2", variant="standard", backend="fal",
                           backend_model_id="fal-ai/nano-banana-2", media="image").model_dump_json(),
                       state="waiting", created_at=time.time())
    session.ledger.add_job(record)
    session.ledger.set_state("j1", "submitting")
    session.ledger.record_remote("j1", RemoteJob(backend="fal", remote_id="r-j1"))
    orphan = record.model_copy(update={"job_id": "j2", "cache_key": "k2"})
    session.ledger.add_job(orphan)
    session.ledger.set_state("j2", "submitting")  # the process died inside submit
    resumed = Runner(session.ledger, {"fal": backend}, limits={}).resume()
    assert resumed == ["j1"]
    deadline = time.monotonic() + 10
    while session.ledger.take("j1") is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.submits == []
    assert session.ledger.take("j1") is not None
    assert session.ledger.job("j2").state == UNKNOWN  # flagged, not resubmitted
    states = [s for s, _ in session.ledger.events("j1")]
    assert states.index(SUBMITTED) < states.index("landed")


def test_remote_id_is_journalled_before_the_first_poll(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    render(session, Canvas.model_validate({"version": 1, "nodes": [canvas().nodes[0]]}), tmp_path)
    job = session.ledger.jobs()[0]
    states = [s for s, _ in session.ledger.events(job.job_id)]
    # journalled once a slot is held, in the same write that says "submitting": one durable write before the submit
    assert states[:3] == ["submitting", SUBMITTED, JobState.RUNNING.value]
    assert job.remote_id == f"r-{job.job_id}"


def test_rerendering_one_node_marks_downstream_stale_without_running_it(tmp_path: Path) -> None:
    backend = ScriptedBackend()
    session = make_session(tmp_path, backend)
    render(session, canvas(), tmp_path)
    assert stale_nodes(canvas(), session.ledger, tmp_path) == set()
    before = len(backend.submits)
    events = render(session, canvas(), tmp_path, selection=["still"], new_take=True)
    assert len(backend.submits) == before + 1 and backend.submits[-1].node_id == "still"
    assert {e.node_id for e in events if e.kind == "stale"} == {"a", "b"}
    assert stale_nodes(canvas(), session.ledger, tmp_path) == {"a", "b"}
    assert len(session.ledger.takes("a")) == 2  # untouched


class NotingBackend(ScriptedBackend):
    """A vendor adapter that had to fit an input to the vendor's limits, and says so in the job handle."""

    def submit(self, request: JobRequest) -> RemoteJob:
        job = super().submit(request)
        job.data["input_notes"] = ["first frame upscaled from 240x240 to 300x300"]
        return job


def test_an_adapters_input_notes_reach_the_user(tmp_path: Path) -> None:
    session = make_session(tmp_path, NotingBackend())
    events = render(session, Canvas.model_validate({"version": 1, "nodes": [canvas().nodes[0]]}), tmp_path)
    submitted = [e for e in events if e.kind == "submitted"]
    assert [e.message for e in submitted] == ["first frame upscaled from 240x240 to 300x300"]


class BillingBackend(ScriptedBackend):
    """A vendor that says what each job cost (as BFL does)."""

    def submit(self, request: JobRequest) -> RemoteJob:
        job = super().submit(request)
        job.data["cost_usd"] = 0.125
        return job


def test_a_vendors_reported_cost_is_the_takes_actual_cost_and_an_unreported_one_stays_unknown(
        tmp_path: Path) -> None:
    doc = Canvas.model_validate({"version": 1, "nodes": [canvas().nodes[0]]})
    billed = make_session(tmp_path / "billed", BillingBackend())
    render(billed, doc, tmp_path)
    takes = billed.ledger.takes()
    assert takes and all(t.actual_usd == 0.125 for t in takes)
    plain = make_session(tmp_path / "plain", ScriptedBackend())
    render(plain, doc, tmp_path)
    takes = plain.ledger.takes()
    assert takes and all(t.actual_usd is None and t.estimated_usd > 0 for t in takes)


def test_each_take_of_a_seeded_node_asks_for_the_next_seed(tmp_path: Path) -> None:
    from blender_canvas.engine.planner import take_params

    doc = Canvas.model_validate({"version": 1, "defaults": {"seed": 2_147_483_646}, "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "takes": 3, "prompt": {"subject": "a kite"}}]})
    session = Session(tmp_path / "p", keys={})
    plan = session.plan(doc, tmp_path, draft=True)
    assert [j.params.get("seed") for j in plan.jobs] == [2_147_483_646, 2_147_483_647, 0]
    assert len({j.cache_key({}) for j in plan.jobs}) == 3
    assert take_params({"seed": 7}, 0) == {"seed": 7} and take_params({"duration_s": 5}, 2) == {"duration_s": 5}
