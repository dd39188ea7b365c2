"""The Replicate predictions backend over real HTTP on 127.0.0.1, against the fake Replicate API and its fake CDN."""

from __future__ import annotations

import base64
import io
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from PIL import Image

from blender_canvas.providers import http
from blender_canvas.providers.backend import (
    Backend,
    BackendError,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    RemoteJob,
)
from blender_canvas.providers.replicate import (
    DATA_URI_MAX_BYTES,
    ReplicateBackend,
    classify_failure,
    output_urls,
    target_for,
)
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import mp4_bytes, png_bytes
from tests.fakes.replicate_server import E005, FakeReplicate, http_date

TOKEN = "r8_test-token-MARKER-4567"
KEYS = {"REPLICATE_API_TOKEN": TOKEN}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeReplicate]:
    with FakeReplicate(TOKEN, latency_s=0.02) as server:
        monkeypatch.setenv("BLENDER_CANVAS_REPLICATE_URL", server.base_url)
        yield server


@pytest.fixture
def rep(fake: FakeReplicate, sleeps: Sleeps, tmp_path: Path) -> Iterator[ReplicateBackend]:
    backend = ReplicateBackend(KEYS, tmp_path, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(png_bytes())
    return path


def job_request(model_id: str, model: str = "seedance-2", variant: str = "pro", *, media: str = "video",
                prompt: str = "a runner jogs", inputs: dict[str, list[Path]] | None = None,
                **params: object) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="node", model=model, variant=variant, backend="replicate",
                      backend_model_id=model_id, media=media, prompt=prompt, params=dict(params),
                      inputs=inputs or {})


def seedance(still: Path, model_id: str = "bytedance/seedance-2.0") -> JobRequest:
    return job_request(model_id, inputs={"image": [still]}, duration_s=5, aspect_ratio="16:9", resolution="720p",
                       seed=42, audio=True)


def flux(*refs: Path) -> JobRequest:
    return job_request("black-forest-labs/flux-2-pro", "flux", "2-pro", media="image", prompt="the spokesperson",
                       inputs={"images": list(refs)} if refs else None, aspect_ratio="16:9", resolution="2K", seed=3)


def wait_terminal(backend: ReplicateBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"job stuck in {status.state}"
        time.sleep(0.01)


def data_uri_of(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# --- construction and references ----------------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_token(tmp_path: Path) -> None:
    backend = ReplicateBackend(KEYS, tmp_path)
    assert isinstance(backend, Backend)
    assert TOKEN not in repr(backend)
    backend.close()
    with pytest.raises(BackendError) as err:
        ReplicateBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "REPLICATE_API_TOKEN" in err.value.message


def test_model_references() -> None:
    official = target_for("black-forest-labs/flux-2-pro")
    assert (official.path, official.extra) == ("/v1/models/black-forest-labs/flux-2-pro/predictions", {})
    versioned = target_for("bytedance/seedance-2.0:d456b64a60da")
    assert (versioned.path, versioned.extra, versioned.model) == ("/v1/predictions", {"version": "d456b64a60da"},
                                                                  "bytedance/seedance-2.0")
    deployment = target_for("deployments/studio/seedance-prod")
    assert deployment.path == "/v1/deployments/studio/seedance-prod/predictions" and deployment.extra == {}
    bare = "a" * 64
    assert target_for(bare).extra == {"version": bare}
    for bad in ("flux-2-pro", "a/b/c", "deployments/x"):
        with pytest.raises(BackendError) as err:
            target_for(bad)
        assert err.value.kind == ErrorKind.INVALID_REQUEST


# --- request shapes ----------------------------------------------------------------------------------------------


def test_flux2_body_finished_inside_the_create_call(rep: ReplicateBackend, fake: FakeReplicate, still: Path,
                                                    tmp_path: Path) -> None:
    job = rep.submit(flux(still, still))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/models/black-forest-labs/flux-2-pro/predictions"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["prefer"] == "wait=5"
    assert post.body == {"input": {"prompt": "the spokesperson", "aspect_ratio": "16:9", "resolution": "2 MP",
                                   "seed": 3, "output_format": "png",
                                   "input_images": [data_uri_of(still), data_uri_of(still)]}}
    assert job.data["finished"]["status"] == "succeeded"  # Prefer: wait -> already done
    status = rep.poll(job)
    assert fake.requests_to("api", "GET") == []  # no poll was needed
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "image" and art.url and art.url.startswith(fake.cdn_url)
    landed = rep.fetch(job, art, tmp_path / "out" / "still.png")
    with Image.open(landed) as img:
        assert img.size == (64, 48)
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers


def test_seedance_i2v_body(rep: ReplicateBackend, fake: FakeReplicate, still: Path, tmp_path: Path) -> None:
    last = tmp_path / "last.png"
    last.write_bytes(png_bytes())
    request = seedance(still, "bytedance/seedance-2.0-fast")
    request.inputs["last_frame"] = [last]
    rep.submit(request)
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/models/bytedance/seedance-2.0-fast/predictions"
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.body == {"input": {"prompt": "a runner jogs", "aspect_ratio": "16:9", "resolution": "720p",
                                   "duration": 5, "seed": 42, "generate_audio": True, "image": data_uri_of(still),
                                   "last_frame_image": data_uri_of(last)}}


def test_seedance_references(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    rep.submit(job_request("bytedance/seedance-2.0", inputs={"images": [still, still]}, duration_s=8))
    [post] = fake.requests_to("api", "POST")
    assert post.body["input"]["reference_images"] == [data_uri_of(still)] * 2
    assert post.body["input"]["duration"] == 8


def test_version_and_deployment_forms(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    rep.submit(seedance(still, "bytedance/seedance-2.0:d456b64a60da3903"))
    rep.submit(seedance(still, "deployments/studio/seedance-prod"))
    versioned, deployed = fake.requests_to("api", "POST")
    assert versioned.path == "/v1/predictions"
    assert versioned.body["version"] == "d456b64a60da3903" and versioned.body["input"]["duration"] == 5
    assert deployed.path == "/v1/deployments/studio/seedance-prod/predictions"
    assert set(deployed.body) == {"input"}
    # a deployment's model is unknown: the conservative generic mapping
    assert deployed.body["input"] == {"prompt": "a runner jogs", "seed": 42, "image": data_uri_of(still)}


def test_unknown_family_is_generic_and_refuses_inputs_it_cannot_name(rep: ReplicateBackend, fake: FakeReplicate,
                                                                      still: Path) -> None:
    rep.submit(job_request("someone/new-model", media="image", inputs={"image": [still]}, aspect_ratio="1:1",
                           seed=9, duration_s=5))
    [post] = fake.requests_to("api", "POST")
    assert post.body == {"input": {"prompt": "a runner jogs", "seed": 9, "image": data_uri_of(still)}}
    with pytest.raises(BackendError) as err:
        rep.submit(job_request("someone/new-model", inputs={"last_frame": [still]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "last_frame" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1


def test_large_input_is_uploaded_not_inlined(rep: ReplicateBackend, fake: FakeReplicate, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    img = Image.effect_noise((800, 800), 64).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=0)
    big.write_bytes(buf.getvalue())
    assert big.stat().st_size > DATA_URI_MAX_BYTES
    rep.submit(flux(big))
    upload, create = fake.requests_to("api", "POST")
    assert upload.path == "/v1/files" and upload.headers["authorization"] == f"Bearer {TOKEN}"
    assert b'name="content"' in upload.body
    [ref] = create.body["input"]["input_images"]
    assert ref.startswith(f"{fake.base_url}/v1/files/")


# --- the whole cycle --------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_video(rep: ReplicateBackend, fake: FakeReplicate, still: Path,
                                            tmp_path: Path) -> None:
    fake.latency_s = 0.5  # longer than the scaled "Prefer: wait" hold: create answers unfinished
    job = rep.submit(seedance(still))
    assert "finished" not in job.data
    assert job.urls["get"] == f"{fake.base_url}/v1/predictions/{job.remote_id}"
    assert job.urls["cancel"] == f"{fake.base_url}/v1/predictions/{job.remote_id}/cancel"
    seen: dict[JobState, JobStatus] = {}
    status = rep.poll(job)
    while not status.state.terminal:
        seen.setdefault(status.state, status)
        time.sleep(0.01)
        status = rep.poll(job)
    assert JobState.QUEUED in seen and JobState.RUNNING in seen
    assert seen[JobState.QUEUED].message.startswith("starting")
    assert seen[JobState.RUNNING].progress == 0.5
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "video" and art.url == f"{fake.cdn_url}/xezq/{job.remote_id}/output.mp4"
    dest = tmp_path / "takes" / "take-1.mp4"
    assert rep.fetch(job, art, dest) == dest
    assert dest.read_bytes() == mp4_bytes()
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.requests_to("api"))
    assert all(r.path == f"/v1/predictions/{job.remote_id}" for r in fake.requests_to("api", "GET"))
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers and TOKEN not in str(cdn.headers)


def test_list_output(rep: ReplicateBackend, fake: FakeReplicate) -> None:
    fake.list_output = True
    status = wait_terminal(rep, rep.submit(flux()))
    assert len(status.artifacts) == 1 and status.artifacts[0].url and status.artifacts[0].url.endswith(".png")
    assert output_urls({"video": "https://replicate.delivery/x.mp4", "n": 1}) == ["https://replicate.delivery/x.mp4"]


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_token_is_auth_with_a_clear_message(fake: FakeReplicate, still: Path, tmp_path: Path) -> None:
    wrong = "r8_wrong-token-MARKER-999"
    backend = ReplicateBackend({"REPLICATE_API_TOKEN": wrong}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(seedance(still))
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401
    assert "API key was rejected" in str(err.value) and "valid authentication token" in str(err.value)
    assert "Unauthenticated" in err.value.message
    assert wrong not in str(err.value) and TOKEN not in str(err.value)
    assert len(fake.requests_to("api", "POST")) == 1
    backend.close()


def test_out_of_credit_fails_fast(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("402")
    with pytest.raises(BackendError) as err:
        rep.submit(seedance(still))
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "insufficient credit" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_validation_names_the_field(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    fake.fail_next("validation", field="duration")
    with pytest.raises(BackendError) as err:
        rep.submit(seedance(still))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 422
    assert "input.duration" in err.value.message and "Input validation failed" in err.value.message


@pytest.mark.parametrize(("header", "low", "high"), [("7", 7.0, 7.0), (None, None, None)])
def test_429_at_create_is_not_resent_and_carries_the_wait(rep: ReplicateBackend, fake: FakeReplicate,
                                                          sleeps: Sleeps, still: Path, header: str | None,
                                                          low: float | None, high: float | None) -> None:
    fake.fail_next("429", retry_after=header)
    with pytest.raises(BackendError) as err:
        rep.submit(seedance(still))
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.status == 429
    assert err.value.retry_after_s == low == high
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []  # the engine's submit loop does the wait


@pytest.mark.parametrize("form", ["http-date", "iso"])
def test_429_at_create_with_a_date(rep: ReplicateBackend, fake: FakeReplicate, still: Path, form: str) -> None:
    when = http_date(30) if form == "http-date" else (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    fake.fail_next("429", retry_after=when)
    with pytest.raises(BackendError) as err:
        rep.submit(seedance(still))
    assert err.value.retry_after_s is not None and 28.0 <= err.value.retry_after_s <= 30.0


def test_429_while_polling_honours_retry_after(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps,
                                               still: Path) -> None:
    fake.latency_s = 1.0
    job = rep.submit(seedance(still))
    fake.fail_next("429", on="get", times=2, retry_after="7")
    assert rep.poll(job).state in (JobState.QUEUED, JobState.RUNNING)
    assert sleeps == [7.0, 7.0]
    sleeps.clear()
    fake.fail_next("429", on="get", retry_after=http_date(20))
    rep.poll(job)
    [wait] = sleeps
    assert 18.5 <= wait <= 20.0


def test_429_while_polling_without_retry_after_backs_off(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps,
                                                         still: Path) -> None:
    fake.latency_s = 1.0
    job = rep.submit(seedance(still))
    fake.fail_next("429", on="get", times=3)
    rep.poll(job)
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (attempt - 1)


@pytest.mark.parametrize("kind", ["500", "503"])
def test_5xx_while_polling_then_success(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps, still: Path,
                                        kind: str) -> None:
    fake.latency_s = 0.2
    job = rep.submit(seedance(still))
    fake.fail_next(kind, on="get")  # type: ignore[arg-type]
    assert wait_terminal(rep, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 1


def test_503_at_create_is_not_resent(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("503", on="create")
    with pytest.raises(BackendError) as err:
        rep.submit(seedance(still))
    assert err.value.kind == ErrorKind.VENDOR_DOWN
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []  # a resent create could bill twice


def test_connection_cut_mid_download_then_complete_file(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps,
                                                        still: Path, tmp_path: Path) -> None:
    job = rep.submit(seedance(still))
    [art] = wait_terminal(rep, job).artifacts
    fake.fail_next("cut")
    dest = tmp_path / "take.mp4"
    rep.fetch(job, art, dest)
    assert dest.read_bytes() == mp4_bytes()
    assert len(fake.requests_to("cdn")) == 2 and len(sleeps) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hero.png", "take.mp4"]


def test_expired_output_file(rep: ReplicateBackend, fake: FakeReplicate, still: Path, tmp_path: Path) -> None:
    job = rep.submit(seedance(still))
    [art] = wait_terminal(rep, job).artifacts
    fake.fail_next("expired", on="download")
    with pytest.raises(BackendError) as err:
        rep.fetch(job, art, tmp_path / "late.mp4")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and not (tmp_path / "late.mp4").exists()


def test_output_older_than_an_hour_is_expired(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    fake.latency_s = 1.0
    job = rep.submit(seedance(still))
    fake.finish_all(completed_ago_s=3700)
    status = rep.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    assert "1 hour" in status.message
    assert fake.requests_to("cdn") == []


def test_output_moderation_e005(rep: ReplicateBackend, fake: FakeReplicate, sleeps: Sleeps, still: Path) -> None:
    fake.latency_s = 0.2
    fake.next_error = E005
    status = wait_terminal(rep, rep.submit(seedance(still)))
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_OUTPUT
    assert "flagged as sensitive" in status.message and status.vendor_code == "E005"
    assert sleeps == [] and len(fake.requests_to("api", "POST")) == 1  # never resubmitted


def test_input_moderation_finished_at_create(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    fake.next_error = "Prompt was flagged by the content moderation filter. Please modify your prompt."
    job = rep.submit(flux())
    assert job.data["finished"]["status"] == "failed"
    status = rep.poll(job)
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_INPUT
    assert "Prompt was flagged" in status.message


@pytest.mark.parametrize(("message", "kind"), [
    (E005, ErrorKind.MODERATED_OUTPUT),
    ("NSFW content detected. Try running it again, or try a different prompt.", ErrorKind.MODERATED_OUTPUT),
    ("All generated images contained NSFW content", ErrorKind.MODERATED_OUTPUT),
    ("Your input was rejected. Please try again or with a different input.", ErrorKind.MODERATED_INPUT),
    ("Input image flagged by the safety system", ErrorKind.MODERATED_INPUT),
    ("Input validation error: could not download https://x/y.png", ErrorKind.INVALID_REQUEST),
    ("Prediction failed to start in time (E6716)", ErrorKind.VENDOR_DOWN),
    ("CUDA out of memory (E1001)", ErrorKind.UNKNOWN),
])
def test_failure_classification(message: str, kind: ErrorKind) -> None:
    assert classify_failure(message) == kind


def test_cancel(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    fake.latency_s = 5.0
    job = rep.submit(seedance(still))
    assert rep.cancel(job) is True
    cancel = fake.requests_to("api", "POST", "/cancel")[0]
    assert cancel.path == f"/v1/predictions/{job.remote_id}/cancel"
    assert cancel.headers["authorization"] == f"Bearer {TOKEN}"
    status = rep.poll(job)
    assert status.state == JobState.CANCELLED and status.error_kind == ErrorKind.CANCELLED


def test_cancel_too_late_is_false(rep: ReplicateBackend, fake: FakeReplicate, still: Path) -> None:
    job = rep.submit(seedance(still))
    wait_terminal(rep, job)
    assert rep.cancel(job) is False


def test_the_token_never_leaks(fake: FakeReplicate, still: Path, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = ReplicateBackend(KEYS, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("401", message=f"Invalid token: Bearer {TOKEN}")
    with pytest.raises(BackendError) as err:
        backend.submit(seedance(still))
    errors.append(err.value)
    fake.latency_s = 0.1
    job = backend.submit(seedance(still))
    fake.fail_next("503", on="get")
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    fake.fail_next("expired", on="download")
    with pytest.raises(BackendError) as err:
        backend.fetch(job, status.artifacts[0], tmp_path / "again.mp4")
    errors.append(err.value)
    logging.getLogger("blender_canvas.providers.replicate").warning("oops %s", TOKEN)

    assert all(TOKEN not in str(e) and TOKEN not in e.message for e in errors)
    assert "***" in errors[0].message
    assert caplog.records and TOKEN not in caplog.text
    for rec in fake.requests_to("cdn"):
        assert "authorization" not in rec.headers and TOKEN not in str(rec.headers)
    assert TOKEN not in job.model_dump_json() and TOKEN not in status.model_dump_json()
    backend.close()


def test_token_only_to_replicates_api_host(fake: FakeReplicate, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ReplicateBackend(KEYS, tmp_path)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    with pytest.raises(BackendError):
        backend.poll(RemoteJob(backend="replicate", remote_id="x", urls={"get": f"{fake.cdn_url}/steal"}))
    assert fake.requests_to("cdn") == []
    monkeypatch.delenv("BLENDER_CANVAS_REPLICATE_URL")
    assert backend.own_origins() == {"api.replicate.com:443"}
    assert backend.api_url == "https://api.replicate.com"
    monkeypatch.setenv("BLENDER_CANVAS_REPLICATE_URL", "http://127.0.0.1:9999")
    assert backend._rehost("https://api.replicate.com/v1/predictions/abc") == "http://127.0.0.1:9999/v1/predictions/abc"
    assert backend._rehost("https://replicate.delivery/xezq/a/out.mp4") == "https://replicate.delivery/xezq/a/out.mp4"
    backend.close()
