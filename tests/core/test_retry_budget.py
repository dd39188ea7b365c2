"""One retry budget per request, owned by the HTTP layer: the numbers written in ``providers/http.py`` hold end to
end, through the runner, against the fake fal server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.session import Session
from blender_canvas.providers import http
from blender_canvas.providers.backend import (
    Artifact,
    BackendError,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    RemoteJob,
)
from blender_canvas.providers.fal import FalBackend
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.02) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


def one_still() -> Canvas:
    return Canvas.model_validate({"version": 1, "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "takes": 1, "route": "fal",
         "prompt": {"subject": "a bicycle shop"}}]})


def test_the_written_budget_is_the_policy() -> None:
    policy = http.RetryPolicy()
    assert (policy.max_attempts, policy.max_wait_s) == (http.MAX_SENDS_PER_REQUEST, http.LONGEST_WAIT_S) == (5, 120.0)
    assert http.MAX_WAIT_PER_REQUEST_S == 480.0


def test_a_submit_rate_limited_for_ever_is_sent_five_times_in_all(tmp_path: Path, fal: FakeFal) -> None:
    fal.fail_next("429", times=50, retry_after=0)
    session = Session(tmp_path / "project", keys={"FAL_KEY": DEFAULT_KEY})
    plan = session.plan(one_still(), tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, one_still(), tmp_path)
    assert session.runner.wait(timeout=60)
    sends = [r for r in fal.requests_to("api", "POST") if "storage" not in r.path]
    assert len(sends) == http.MAX_SENDS_PER_REQUEST  # was 8 runner attempts x 5 sends = 40
    job = session.ledger.jobs()[0]
    assert job.state == "failed" and job.error_kind == ErrorKind.RATE_LIMITED.value
    session.close()


def test_waits_of_one_request_never_exceed_the_longest_wait(fal: FakeFal, sleeps: Sleeps) -> None:
    fal.fail_next("429", times=50, retry_after=10_000)  # the vendor asks for far more than the cap
    backend = FalBackend(DEFAULT_KEY, policy=http.RetryPolicy(sleep=sleeps))
    request = JobRequest(job_id="j", node_id="n", model="nano-banana-2", variant="default", backend="fal",
                         backend_model_id="fal-ai/nano-banana-2", media="image", prompt="a shop")
    with pytest.raises(Exception, match="rate limited"):
        backend.submit(request)
    assert len(sleeps) == http.MAX_SENDS_PER_REQUEST - 1
    assert max(sleeps) == http.LONGEST_WAIT_S and sum(sleeps) <= http.MAX_WAIT_PER_REQUEST_S
    backend.close()


def test_a_download_cut_for_ever_is_attempted_five_times_not_twenty_five(tmp_path: Path, fal: FakeFal) -> None:
    session = Session(tmp_path / "project", keys={"FAL_KEY": DEFAULT_KEY})
    fal.fail_next("cut", times=50)
    plan = session.plan(one_still(), tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, one_still(), tmp_path)
    assert session.runner.wait(timeout=120)
    downloads = fal.requests_to("cdn", "GET")
    assert len(downloads) == http.MAX_SENDS_PER_REQUEST  # was 5 runner fetches x 5 attempts
    assert session.ledger.jobs()[0].state == "failed"
    assert not list((tmp_path / "project").rglob("*.part"))
    session.close()


class QueueFullOnce:
    """A backend whose first submit says the account's queue is full (turned away unprocessed), then accepts."""

    id = "fal"
    poll_interval_s = 0.001

    def __init__(self, error: BackendError) -> None:
        self.error = error
        self.submits = 0

    def submit(self, request: JobRequest) -> RemoteJob:
        self.submits += 1
        if self.submits == 1:
            raise self.error
        return RemoteJob(backend=self.id, remote_id=f"r-{request.job_id}")

    def poll(self, job: RemoteJob) -> JobStatus:
        return JobStatus(state=JobState.SUCCEEDED, artifacts=[Artifact(media="image", url="mem://x")])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        Image.new("RGB", (8, 8)).save(dest, format="PNG")
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        return False


def scripted_session(tmp_path: Path, backend: QueueFullOnce, sleeps: Sleeps) -> Session:
    session = Session(tmp_path / "project", keys={"FAL_KEY": "k"})
    session._backends["fal"] = backend  # type: ignore[assignment]
    session.runner._sleep = sleeps
    return session


def test_only_a_full_vendor_queue_makes_the_runner_wait_and_send_again(tmp_path: Path, sleeps: Sleeps) -> None:
    backend = QueueFullOnce(BackendError(ErrorKind.RATE_LIMITED, "Kling: too many tasks at once", queue_full=True))
    session = scripted_session(tmp_path, backend, sleeps)
    plan = session.plan(one_still(), tmp_path)
    session.start(plan, one_still(), tmp_path)
    assert session.runner.wait(timeout=30)
    assert backend.submits == 2 and sleeps == [http.QUEUE_WAIT_STEP_S]
    job = session.ledger.jobs()[0]
    assert job.state == "landed"
    states = [s for s, _ in session.ledger.events(job.job_id)]
    assert states[:4] == ["submitting", "waiting", "submitting", "submitted"]  # never "unknown" while it waited
    session.close()


def test_a_plain_rate_limit_after_the_http_budget_fails_without_a_runner_retry(tmp_path: Path,
                                                                              sleeps: Sleeps) -> None:
    backend = QueueFullOnce(BackendError(ErrorKind.RATE_LIMITED, "fal: rate limited (HTTP 429)"))
    session = scripted_session(tmp_path, backend, sleeps)
    plan = session.plan(one_still(), tmp_path)
    session.start(plan, one_still(), tmp_path)
    assert session.runner.wait(timeout=30)
    assert backend.submits == 1 and sleeps == []
    assert session.ledger.jobs()[0].state == "failed"
    session.close()
