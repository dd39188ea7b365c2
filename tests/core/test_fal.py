"""The fal queue backend over real HTTP on 127.0.0.1, against the fake fal server and its fake CDN."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
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
from blender_canvas.providers.fal import FalBackend, app_path, build_input
from tests.core.conftest import Sleeps
from tests.fakes import FakeFal
from tests.fakes.fal_server import mp4_bytes, png_bytes

KEY = "fal-test-key-MARKER-123"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(KEY, latency_s=0.06) as server:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", server.base_url)
        yield server


@pytest.fixture
def fal(fake: FakeFal, sleeps: Sleeps) -> Iterator[FalBackend]:
    backend = FalBackend(KEY, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(png_bytes())
    return path


def job_request(endpoint: str, model: str, variant: str, *, media: str = "video", prompt: str = "a runner jogs",
                inputs: dict[str, list[Path]] | None = None, **params: object) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="node", model=model, variant=variant, backend="fal",
                      backend_model_id=endpoint, media=media, prompt=prompt, params=dict(params),
                      inputs=inputs or {})


def kling_v3(still: Path) -> JobRequest:
    return job_request("fal-ai/kling-video/v3/standard/image-to-video", "kling-3", "3.0", inputs={"image": [still]},
                       duration_s=5, aspect_ratio="16:9", seed=42, audio=True)


def wait_terminal(backend: FalBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"job stuck in {status.state}"
        time.sleep(0.01)


def data_uri_of(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


# --- request shapes ---------------------------------------------------------------------------------------------------


def test_is_a_backend() -> None:
    backend = FalBackend(KEY)
    assert isinstance(backend, Backend)
    assert backend.poll_interval_s == 1.0
    assert KEY not in repr(backend)
    backend.close()


def test_kling_v3_i2v_auth_header_and_body(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/fal-ai/kling-video/v3/standard/image-to-video"
    assert post.headers["authorization"] == f"Key {KEY}"
    assert post.headers["user-agent"].startswith("blender-canvas/")
    # Kling takes no seed, and with a first frame the framing follows the image; durations are strings
    assert post.body == {"prompt": "a runner jogs", "duration": "5", "start_image_url": data_uri_of(still),
                         "generate_audio": True}
    assert job.remote_id and job.backend == "fal"
    # status / result / cancel URLs drop the endpoint's sub-path
    assert job.urls["status"] == f"{fake.base_url}/fal-ai/kling-video/requests/{job.remote_id}/status"
    assert job.urls["result"] == f"{fake.base_url}/fal-ai/kling-video/requests/{job.remote_id}"
    assert job.urls["cancel"] == f"{fake.base_url}/fal-ai/kling-video/requests/{job.remote_id}/cancel"


def test_kling_o3_i2v_uses_image_url(fal: FalBackend, fake: FakeFal, still: Path, tmp_path: Path) -> None:
    last = tmp_path / "last.png"
    last.write_bytes(png_bytes())
    fal.submit(job_request("fal-ai/kling-video/o3/standard/image-to-video", "kling-3", "o3",
                           inputs={"image": [still], "last_frame": [last]}, duration_s=10, aspect_ratio="9:16"))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/fal-ai/kling-video/o3/standard/image-to-video"
    assert post.headers["authorization"] == f"Key {KEY}"
    assert post.body == {"prompt": "a runner jogs", "duration": "10", "image_url": data_uri_of(still),
                         "end_image_url": data_uri_of(last)}


def test_veo_31_i2v_with_seed(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    fal.submit(job_request("fal-ai/veo3.1/image-to-video", "veo-3.1", "standard", inputs={"image": [still]},
                           duration_s=8, aspect_ratio="16:9", resolution="1080p", seed=7, audio=False))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/fal-ai/veo3.1/image-to-video"
    assert post.headers["authorization"] == f"Key {KEY}"
    assert post.body == {"prompt": "a runner jogs", "duration": "8s", "aspect_ratio": "16:9", "resolution": "1080p",
                         "seed": 7, "generate_audio": False, "image_url": data_uri_of(still)}


def test_seedance_2_i2v(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    job = fal.submit(job_request("bytedance/seedance-2.0/image-to-video", "seedance-2", "pro",
                                 inputs={"image": [still]}, duration_s=5, aspect_ratio="21:9", resolution="720p",
                                 seed=11, audio=True))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/bytedance/seedance-2.0/image-to-video"
    assert post.body == {"prompt": "a runner jogs", "duration": "5", "aspect_ratio": "21:9", "resolution": "720p",
                         "seed": 11, "generate_audio": True, "image_url": data_uri_of(still)}
    assert job.urls["status"].endswith(f"/bytedance/seedance-2.0/requests/{job.remote_id}/status")


def test_text_to_image(fal: FalBackend, fake: FakeFal, tmp_path: Path) -> None:
    job = fal.submit(job_request("fal-ai/nano-banana-2", "nano-banana-2", "standard", media="image",
                                 prompt="the spokesperson on a rooftop", aspect_ratio="1:1", resolution="1K", seed=3))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/fal-ai/nano-banana-2"
    assert post.headers["authorization"] == f"Key {KEY}"
    assert post.body == {"prompt": "the spokesperson on a rooftop", "aspect_ratio": "1:1", "resolution": "1K",
                         "seed": 3, "num_images": 1}
    status = wait_terminal(fal, job)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "image" and art.url and art.url.startswith(fake.cdn_url)
    landed = fal.fetch(job, art, tmp_path / "out" / "still.png")
    with Image.open(landed) as img:
        assert img.size == (64, 48)


def test_voice_body_and_landed_audio(fal: FalBackend, fake: FakeFal, tmp_path: Path) -> None:
    job = fal.submit(job_request("fal-ai/elevenlabs/tts/multilingual-v2", "elevenlabs", "multilingual-v2",
                                 media="audio", prompt="", text="Built for the long run.", voice="Rachel", seed=4))
    [post] = fake.requests_to("api", "POST")
    # the catalog's fal route for ElevenLabs takes no seed
    assert post.body == {"text": "Built for the long run.", "voice": "Rachel"}
    [art] = wait_terminal(fal, job).artifacts
    assert art.media == "audio"
    landed = fal.fetch(job, art, tmp_path / "vo.wav")
    with av.open(str(landed)) as container:
        assert container.streams.audio[0].sample_rate == 16000


def test_seed_dropped_where_the_route_has_none() -> None:
    # Imagen on fal: the catalog's fal route takes no seed
    body = build_input(job_request("fal-ai/imagen4/preview", "imagen-4", "standard", media="image", seed=5))
    assert "seed" not in body


def test_app_path_drops_sub_path() -> None:
    assert app_path("fal-ai/kling-video/v3/pro/image-to-video") == "fal-ai/kling-video"
    assert app_path("fal-ai/nano-banana-2") == "fal-ai/nano-banana-2"
    assert app_path("workflows/me/my-flow/run") == "workflows/me/my-flow"


def test_input_the_endpoint_cannot_take_is_refused(still: Path) -> None:
    with pytest.raises(BackendError) as err:
        build_input(job_request("fal-ai/kling-video/lipsync/audio-to-video", "kling-lipsync", "standard",
                                inputs={"image": [still]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST


# --- the whole cycle --------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_video(fal: FalBackend, fake: FakeFal, still: Path, tmp_path: Path) -> None:
    fake.hold = True
    fake.latency_s = 0.3  # a wide IN_PROGRESS window so a busy machine still sees it
    job = fal.submit(kling_v3(still))
    queued = fal.poll(job)
    assert queued.state == JobState.QUEUED and queued.queue_position == 0
    fake.release_all()
    seen: set[JobState] = {queued.state}
    status = queued
    while not status.state.terminal:
        time.sleep(0.005)
        status = fal.poll(job)
        seen.add(status.state)
    assert JobState.RUNNING in seen
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "video" and art.url == f"{fake.cdn_url}/files/{job.remote_id}/output.mp4"
    dest = tmp_path / "takes" / "take-1.mp4"
    assert fal.fetch(job, art, dest) == dest
    assert dest.read_bytes() == mp4_bytes()
    with av.open(str(dest)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 12 and frames[0].width == 64
    # status polls asked for logs; the key went only to the API host, never to the CDN
    assert all(r.query.get("logs") == ["1"] for r in fake.requests_to("api", "GET", "/status"))
    assert all(r.headers.get("authorization") == f"Key {KEY}" for r in fake.requests_to("api"))
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers
    assert KEY not in str(cdn.headers)


def test_jobs_in_flight_are_tracked(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    fake.hold = True
    jobs = [fal.submit(kling_v3(still)) for _ in range(3)]
    assert fake.max_in_flight == 3
    assert [fal.poll(j).queue_position for j in jobs] == [0, 1, 2]
    fake.finish_all()
    assert all(wait_terminal(fal, j).state == JobState.SUCCEEDED for j in jobs)
    assert fake.in_flight() == 0


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_with_a_clear_message(fake: FakeFal, still: Path) -> None:
    wrong = "fal-wrong-key-MARKER-999"
    backend = FalBackend(wrong, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(kling_v3(still))
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401
    assert "API key was rejected" in str(err.value) and "No user found" in str(err.value)
    assert wrong not in str(err.value) and KEY not in str(err.value)
    assert len(fake.requests_to("api", "POST")) == 1  # not retried
    backend.close()


def test_validation_at_submit_names_the_field(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    fake.fail_next("validation", on="submit", field="duration")
    with pytest.raises(BackendError) as err:
        fal.submit(kling_v3(still))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 422
    assert "duration" in err.value.message


def test_validation_at_result_names_the_field(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    fake.fail_next("validation", on="result", field="aspect_ratio")
    status = wait_terminal(fal, job)
    assert status.state == JobState.FAILED and status.error_kind == ErrorKind.INVALID_REQUEST
    assert "aspect_ratio" in status.message


@pytest.mark.parametrize("stage", ["submit", "status"])
def test_429_with_retry_after_then_success(fal: FalBackend, fake: FakeFal, sleeps: Sleeps, still: Path,
                                           stage: str) -> None:
    if stage == "status":
        job = fal.submit(kling_v3(still))
        fake.fail_next("429", on="status", times=2, retry_after=7)
        assert fal.poll(job).state in (JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED)
    else:
        fake.fail_next("429", on="submit", times=2, retry_after=7)
        job = fal.submit(kling_v3(still))
        assert len(fake.requests_to("api", "POST")) == 3
    assert sleeps == [7.0, 7.0]


def test_429_with_http_date_then_success(fal: FalBackend, fake: FakeFal, sleeps: Sleeps, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    fake.fail_next("429", on="status", retry_after_date=30)
    fal.poll(job)
    [wait] = sleeps
    assert 28.5 <= wait <= 30.0


def test_429_without_retry_after_backs_off(fal: FalBackend, fake: FakeFal, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("429", on="submit", times=3)
    fal.submit(kling_v3(still))
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (attempt - 1)


def test_429_past_the_attempt_cap_is_rate_limited(fake: FakeFal, still: Path) -> None:
    sleeps = Sleeps()
    backend = FalBackend(KEY, policy=http.RetryPolicy(sleep=sleeps, max_attempts=3))
    fake.fail_next("429", on="submit", times=3, retry_after=2)
    with pytest.raises(BackendError) as err:
        backend.submit(kling_v3(still))
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.retry_after_s == 2.0
    assert sleeps == [2.0, 2.0]
    backend.close()


@pytest.mark.parametrize("stage", ["submit", "status"])
def test_503_then_success(fal: FalBackend, fake: FakeFal, sleeps: Sleeps, still: Path, stage: str) -> None:
    fake.fail_next("503", on=stage)  # type: ignore[arg-type]
    job = fal.submit(kling_v3(still))
    assert wait_terminal(fal, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 1


def test_connection_cut_mid_download_then_complete_file(fal: FalBackend, fake: FakeFal, sleeps: Sleeps,
                                                        still: Path, tmp_path: Path) -> None:
    job = fal.submit(kling_v3(still))
    [art] = wait_terminal(fal, job).artifacts
    fake.fail_next("cut")
    dest = tmp_path / "take.mp4"
    fal.fetch(job, art, dest)
    assert dest.read_bytes() == mp4_bytes()
    assert len(fake.requests_to("cdn")) == 2 and len(sleeps) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hero.png", "take.mp4"]  # no partial file left
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_moderation_is_final_with_fals_reason(fal: FalBackend, fake: FakeFal, sleeps: Sleeps, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    fake.fail_next("moderation", message="The content was flagged by a content checker.")
    status = wait_terminal(fal, job)
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_INPUT
    assert "flagged by a content checker" in status.message and status.vendor_code == "content_policy_violation"
    assert len(fake.requests_to("api", "GET", f"/requests/{job.remote_id}")) == 1  # exactly one result request
    assert sleeps == []


def test_expired_result(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    fake.fail_next("expired")
    status = wait_terminal(fal, job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED


def test_cancel_reaches_the_cancel_endpoint(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    fake.hold = True
    job = fal.submit(kling_v3(still))
    assert fal.cancel(job) is True
    assert fake.cancels == [job.remote_id]
    [put] = fake.requests_to("api", "PUT")
    assert put.path == f"/fal-ai/kling-video/requests/{job.remote_id}/cancel"
    assert put.headers["authorization"] == f"Key {KEY}"
    assert fal.poll(job).state == JobState.CANCELLED


def test_cancel_too_late_is_false(fal: FalBackend, fake: FakeFal, still: Path) -> None:
    job = fal.submit(kling_v3(still))
    wait_terminal(fal, job)
    assert fal.cancel(job) is False
    assert fake.cancels == [job.remote_id]


def test_the_key_never_leaks(fake: FakeFal, still: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FalBackend(KEY, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    # a vendor message that echoes the key back must come out redacted
    fake.fail_next("401", on="submit", message=f"Invalid key: Key {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(kling_v3(still))
    errors.append(err.value)
    fake.fail_next("429", on="submit", retry_after=1)
    fake.fail_next("503", on="status")
    job = backend.submit(kling_v3(still))
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    fake.fail_next("expired", on="download")
    with pytest.raises(BackendError) as err:
        backend.fetch(job, status.artifacts[0], tmp_path / "again.mp4")
    errors.append(err.value)
    assert err.value.kind == ErrorKind.RESULT_EXPIRED
    logging.getLogger("blender_canvas.providers.fal").warning("oops %s", KEY)

    assert errors and all(KEY not in str(e) and KEY not in e.message for e in errors)
    assert "***" in errors[0].message
    assert caplog.records, "expected retry logs"
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text
    for rec in fake.requests_to("cdn"):
        assert KEY not in str(rec.headers) and "authorization" not in rec.headers
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    backend.close()


def test_key_only_to_fals_own_hosts(fake: FakeFal, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FalBackend(KEY)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    job = RemoteJob(backend="fal", remote_id="x", urls={"status": f"{fake.cdn_url}/steal/status"})
    with pytest.raises(BackendError):
        backend.poll(job)
    assert fake.requests_to("cdn") == []
    monkeypatch.delenv("BLENDER_CANVAS_FAL_URL")
    assert backend.own_origins() == {"queue.fal.run:443", "fal.run:443", "rest.fal.ai:443"}
    assert backend.queue_url == "https://queue.fal.run"
    backend.close()


def test_queue_urls_are_rehosted_but_cdn_urls_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", "http://127.0.0.1:9999")
    backend = FalBackend(KEY)
    assert backend._rehost("https://queue.fal.run/fal-ai/veo3.1/requests/1/status") == \
        "http://127.0.0.1:9999/fal-ai/veo3.1/requests/1/status"
    assert backend._rehost("https://rest.fal.ai/storage/upload") == "http://127.0.0.1:9999/storage/upload"
    assert backend._rehost("https://v3.fal.media/files/x.mp4") == "https://v3.fal.media/files/x.mp4"
    backend.close()
