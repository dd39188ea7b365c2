"""The BytePlus ModelArk (Seedance 2.0) backend over real HTTP on 127.0.0.1, against the fake ModelArk and bucket."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

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
from blender_canvas.providers.byteplus import BytePlusBackend, build_body, classify_failure
from tests.core.conftest import Sleeps
from tests.fakes.byteplus_server import FakeBytePlus
from tests.fakes.fal_server import mp4_bytes, png_bytes, wav_bytes

KEY = "ark-test-key-MARKER-456"
FULL, FAST = "dreamina-seedance-2-0-260128", "dreamina-seedance-2-0-fast-260128"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBytePlus]:
    with FakeBytePlus(KEY, latency_s=0.06) as server:
        monkeypatch.setenv("BLENDER_CANVAS_BYTEPLUS_URL", server.root_url)
        yield server


@pytest.fixture
def ark(fake: FakeBytePlus, sleeps: Sleeps, tmp_path: Path) -> Iterator[BytePlusBackend]:
    backend = BytePlusBackend({"ARK_API_KEY": KEY}, tmp_path / "work", policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(png_bytes())
    return path


def uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def seedance(model: str = FULL, *, variant: str = "pro", inputs: dict[str, list[Path]] | None = None,
             **params: object) -> JobRequest:
    defaults: dict[str, object] = {"duration_s": 5, "aspect_ratio": "16:9", "resolution": "720p", "seed": 42,
                                   "audio": True}
    return JobRequest(job_id="take-1", node_id="shot", model="seedance-2", variant=variant, backend="byteplus",
                      backend_model_id=model, media="video", prompt="a runner jogs at dawn",
                      params={**defaults, **params}, inputs=inputs or {})


def wait_terminal(backend: BytePlusBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"still {status.state} after {timeout} s"
        time.sleep(0.01)


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        BytePlusBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "ARK_API_KEY" in err.value.message
    backend = BytePlusBackend({"ARK_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend) and KEY not in repr(backend)
    backend.close()


# --- request bodies -----------------------------------------------------------------------------------------------


def test_text_to_video_body_and_auth(ark: BytePlusBackend, fake: FakeBytePlus) -> None:
    job = ark.submit(seedance())
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/api/v3/contents/generations/tasks"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.body == {"model": FULL, "content": [{"type": "text", "text": "a runner jogs at dawn"}],
                         "ratio": "16:9", "duration": 5, "resolution": "720p", "seed": 42, "generate_audio": True,
                         "watermark": False}
    assert job.remote_id.startswith("cgt-") and job.data == {"model": FULL, "media": "video"}


def test_first_and_last_frame_body(ark: BytePlusBackend, fake: FakeBytePlus, still: Path, tmp_path: Path) -> None:
    end = tmp_path / "end.png"
    end.write_bytes(png_bytes())
    ark.submit(seedance(FAST, variant="fast", inputs={"image": [still], "last_frame": [end]}, duration_s=None,
                        aspect_ratio="auto", audio=False))
    [post] = fake.requests_to("api", "POST")
    assert post.body == {"model": FAST, "content": [
        {"type": "text", "text": "a runner jogs at dawn"},
        {"type": "image_url", "image_url": {"url": uri(png_bytes(), "image/png")}, "role": "first_frame"},
        {"type": "image_url", "image_url": {"url": uri(png_bytes(), "image/png")}, "role": "last_frame"}],
        "ratio": "adaptive", "resolution": "720p", "seed": 42, "generate_audio": False, "watermark": False}


def test_reference_images_and_audio_body(ark: BytePlusBackend, fake: FakeBytePlus, still: Path,
                                         tmp_path: Path) -> None:
    voice = tmp_path / "vo.wav"
    voice.write_bytes(wav_bytes())
    ark.submit(seedance(inputs={"images": [still, still], "audio": [voice]}, resolution="1080p", duration_s=12))
    [post] = fake.requests_to("api", "POST")
    content = post.body["content"]
    assert [c.get("role") for c in content] == [None, "reference_image", "reference_image", "reference_audio"]
    assert content[3] == {"type": "audio_url", "audio_url": {"url": uri(wav_bytes(), "audio/wav")},
                          "role": "reference_audio"}
    assert post.body["resolution"] == "1080p" and post.body["duration"] == 12


@pytest.mark.parametrize(("inputs", "words"), [
    ({"images": ["s"], "image": ["s"]}, "cannot be combined"),
    ({"audio": ["s"]}, "needs at least one image"),
    ({"last_frame": ["s"]}, "needs a first frame"),
    ({"video": ["s"]}, "reference videos"),
])
def test_inputs_modelark_cannot_take_are_refused_locally(still: Path, inputs: dict[str, list[str]],
                                                         words: str) -> None:
    files = {name: [still for _ in paths] for name, paths in inputs.items()}
    with pytest.raises(BackendError) as err:
        build_body(seedance(inputs=files))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and words in err.value.message


# --- the whole cycle ------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_video(ark: BytePlusBackend, fake: FakeBytePlus, still: Path,
                                            tmp_path: Path) -> None:
    fake.hold = True
    fake.latency_s = 0.3
    job = ark.submit(seedance(inputs={"image": [still]}))
    assert ark.poll(job).state == JobState.QUEUED
    fake.release_all()
    seen: set[JobState] = set()
    status = ark.poll(job)
    while not status.state.terminal:
        seen.add(status.state)
        time.sleep(0.01)
        status = ark.poll(job)
    assert JobState.RUNNING in seen and status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "video" and art.url and art.url.startswith(fake.cdn_url)
    dest = ark.fetch(job, art, tmp_path / "takes" / "take-1.mp4")
    assert dest.read_bytes() == mp4_bytes()
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers and KEY not in str(cdn.headers)


def test_cancel_only_deletes_a_queued_task(ark: BytePlusBackend, fake: FakeBytePlus) -> None:
    fake.hold = True
    queued = ark.submit(seedance())
    assert ark.cancel(queued) is True
    assert ark.poll(queued).state == JobState.CANCELLED
    fake.hold = False
    done = ark.submit(seedance())
    wait_terminal(ark, done)
    assert ark.cancel(done) is False  # a DELETE now would erase the finished video
    assert fake.deleted == [] and [r.path.rsplit("/", 1)[1] for r in fake.requests_to("api", "DELETE")] == \
        [queued.remote_id]


# --- failures -------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth(fake: FakeBytePlus, tmp_path: Path) -> None:
    wrong = "ark-wrong-key-MARKER-999"
    backend = BytePlusBackend({"ARK_API_KEY": wrong}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(seedance())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and err.value.vendor_code == \
        "AuthenticationError"
    assert wrong not in str(err.value) and len(fake.requests_to("api", "POST")) == 1
    backend.close()


def test_validation_names_the_field(ark: BytePlusBackend, fake: FakeBytePlus) -> None:
    with pytest.raises(BackendError) as err:
        ark.submit(seedance(FAST, variant="fast", resolution="1080p"))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert "`resolution`" in err.value.message and err.value.vendor_code == "InvalidParameter"


def test_overdue_account_fails_fast(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps) -> None:
    fake.fail_next("overdue")
    with pytest.raises(BackendError) as err:
        ark.submit(seedance())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "overdue" in err.value.message
    assert sleeps == [] and len(fake.requests_to("api", "POST")) == 1


@pytest.mark.parametrize("stage", ["submit", "status"])
def test_429_with_retry_after_is_honoured(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps,
                                          stage: str) -> None:
    if stage == "submit":
        fake.fail_next("429", times=2, retry_after=7)
        ark.submit(seedance())
        assert len(fake.requests_to("api", "POST")) == 3 and len(fake.tasks) == 1
    else:
        job = ark.submit(seedance())
        fake.fail_next("429", on="status", retry_after_date=30)
        ark.poll(job)
    assert sleeps == [7.0, 7.0] if stage == "submit" else 28.5 <= sleeps[0] <= 30.0


def test_429_without_retry_after_backs_off(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps) -> None:
    fake.fail_next("429", times=3)
    ark.submit(seedance())
    assert len(sleeps) == 3
    assert all(0.0 <= wait <= 0.5 * 2 ** (n - 1) for n, wait in enumerate(sleeps, start=1))


def test_5xx_then_success(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps) -> None:
    fake.fail_next("503", on="submit")  # a proxy's HTML page: nothing was created, safe to resend
    job = ark.submit(seedance())
    fake.fail_next("500", on="status", times=2)
    assert wait_terminal(ark, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 3 and len(fake.tasks) == 1


def test_connection_cut_mid_download_then_complete(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps,
                                                   tmp_path: Path) -> None:
    job = ark.submit(seedance())
    [art] = wait_terminal(ark, job).artifacts
    fake.fail_next("cut")
    dest = ark.fetch(job, art, tmp_path / "take.mp4")
    assert dest.read_bytes() == mp4_bytes() and len(sleeps) == 1 and len(fake.requests_to("cdn")) == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_expired_result_url(ark: BytePlusBackend, fake: FakeBytePlus, tmp_path: Path) -> None:
    job = ark.submit(seedance())
    [art] = wait_terminal(ark, job).artifacts
    fake.fail_next("expired")
    with pytest.raises(BackendError) as err:
        ark.fetch(job, art, tmp_path / "take.mp4")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and "24 hours" in err.value.message
    assert not (tmp_path / "take.mp4").exists()


def test_expired_task_and_forgotten_task(ark: BytePlusBackend, fake: FakeBytePlus) -> None:
    fake.fail_next("expired_task")
    status = ark.poll(ark.submit(seedance()))
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    gone = ark.poll(RemoteJob(backend="byteplus", remote_id="cgt-20251101000000-old00"))
    assert gone.state == JobState.EXPIRED and "7 days" in gone.message


def test_input_moderation_at_submit(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps) -> None:
    fake.fail_next("input_moderation")
    with pytest.raises(BackendError) as err:
        ark.submit(seedance())
    assert err.value.kind == ErrorKind.MODERATED_INPUT and err.value.kind.state == JobState.MODERATED
    assert "may contain sensitive information" in err.value.message
    assert err.value.vendor_code == "InputTextSensitiveContentDetected" and sleeps == []


@pytest.mark.parametrize(("fault", "kind", "code"), [
    ("output_moderation", ErrorKind.MODERATED_OUTPUT, "OutputVideoSensitiveContentDetected"),
    ("image_moderation", ErrorKind.MODERATED_INPUT, "InputImageSensitiveContentDetected"),
])
def test_moderation_of_a_running_task(ark: BytePlusBackend, fake: FakeBytePlus, sleeps: Sleeps, fault: str,
                                      kind: ErrorKind, code: str) -> None:
    job = ark.submit(seedance())
    fake.fail_next(fault)
    status = wait_terminal(ark, job)
    assert status.state == JobState.MODERATED and status.error_kind == kind and status.vendor_code == code
    assert "may contain sensitive information" in status.message and sleeps == []


def test_generic_failure_keeps_the_vendor_message(ark: BytePlusBackend, fake: FakeBytePlus) -> None:
    job = ark.submit(seedance())
    fake.fail_next("failed")
    status = wait_terminal(ark, job)
    assert status.state == JobState.FAILED and status.error_kind == ErrorKind.VENDOR_DOWN
    assert "unexpected internal error" in status.message


def test_classify_failure_codes() -> None:
    assert classify_failure("AudioSensitiveContentDetected.PolicyViolation",
                            "the output audio may be related to copyright") == ErrorKind.MODERATED_OUTPUT
    assert classify_failure("InputImageSensitiveContentDetected.PrivacyInformation",
                            "the input image may contain real person") == ErrorKind.MODERATED_INPUT
    assert classify_failure("SensitiveContentDetected", None) == ErrorKind.MODERATED_INPUT
    assert classify_failure(None, "The request failed because the output video may contain sensitive "
                                  "information.") == ErrorKind.MODERATED_OUTPUT


def test_the_key_never_leaks(fake: FakeBytePlus, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = BytePlusBackend({"ARK_API_KEY": KEY}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    fake.fail_next("401", message=f"bad key Bearer {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(seedance())
    assert KEY not in str(err.value) and "***" in err.value.message
    fake.fail_next("429", retry_after=1)
    job = backend.submit(seedance())
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    logging.getLogger("blender_canvas.providers.byteplus").warning("oops %s", KEY)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    assert all("authorization" not in r.headers for r in fake.requests_to("cdn"))
    # a job handle pointing elsewhere never gets the key
    with pytest.raises(BackendError):
        backend._send("GET", f"{fake.cdn_url}/steal")
    assert all(r.path != "/steal" for r in fake.requests_to("cdn"))
    backend.close()


def test_base_url_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BLENDER_CANVAS_BYTEPLUS_URL", raising=False)
    backend = BytePlusBackend({"ARK_API_KEY": KEY}, tmp_path)
    assert backend.base_url == "https://ark.ap-southeast.bytepluses.com/api/v3"
    assert backend.own_origins() == {"ark.ap-southeast.bytepluses.com:443"}
    monkeypatch.setenv("BLENDER_CANVAS_BYTEPLUS_URL", "http://127.0.0.1:9999")
    assert backend.base_url == "http://127.0.0.1:9999/api/v3"
    backend.close()
