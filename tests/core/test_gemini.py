"""The Gemini Developer API backend over real HTTP on 127.0.0.1, against the fake Google server."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.providers import http
from blender_canvas.providers.backend import Backend, BackendError, ErrorKind, JobRequest, JobState, RemoteJob
from blender_canvas.providers.gemini import GeminiBackend, google_policy
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import png_bytes
from tests.fakes.google_server import GEMINI_KEY, FakeGoogle

KEY = GEMINI_KEY


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    with FakeGoogle() as server:
        monkeypatch.setenv("BLENDER_CANVAS_GEMINI_URL", server.base_url)
        yield server


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def gemini(fake: FakeGoogle, sleeps: Sleeps, work: Path) -> Iterator[GeminiBackend]:
    backend = GeminiBackend({"GEMINI_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "portrait.png"
    path.write_bytes(png_bytes())
    return path


def nano(variant: str = "standard", *, model_id: str = "gemini-3.1-flash-image", prompt: str = "the spokesperson "
         "on a rooftop", inputs: dict[str, list[Path]] | None = None, **params: object) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="hero", model="nano-banana-2", variant=variant, backend="gemini",
                      backend_model_id=model_id, media="image", prompt=prompt,
                      params={"aspect_ratio": "16:9", "resolution": "1K", **params}, inputs=inputs or {})


def posts(fake: FakeGoogle) -> list:
    return fake.requests_to(":generateContent")


# --- request shapes and the landed file ----------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    backend = GeminiBackend({"GEMINI_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend)
    assert KEY not in repr(backend)
    assert backend.cancel(RemoteJob(backend="gemini", remote_id="x")) is False
    backend.close()
    with pytest.raises(BackendError) as err:
        GeminiBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "GEMINI_API_KEY" in err.value.message


def test_nano_banana_2_header_body_and_landed_png(gemini: GeminiBackend, fake: FakeGoogle, work: Path,
                                                  tmp_path: Path) -> None:
    job = gemini.submit(nano(seed=42))
    [post] = posts(fake)
    assert post.path == "/v1/models/gemini-3.1-flash-image:generateContent"
    assert post.headers["x-goog-api-key"] == KEY
    assert "authorization" not in post.headers
    assert post.body == {
        "contents": [{"role": "user", "parts": [{"text": "the spokesperson on a rooftop"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                             "imageConfig": {"aspectRatio": "16:9", "imageSize": "1K"}, "seed": 42}}
    assert job.backend == "gemini" and job.remote_id.startswith("resp-")
    status = gemini.poll(job)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "image" and art.path is not None and art.path.parent == work and art.url is None
    dest = gemini.fetch(job, art, tmp_path / "takes" / "hero" / "take-1.png")
    assert dest.read_bytes() == png_bytes()
    with Image.open(dest) as img:
        assert img.size == (64, 48)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["take-1.png"]  # no partial file


def test_nano_banana_pro_with_references_keeps_the_final_image(gemini: GeminiBackend, fake: FakeGoogle,
                                                               still: Path, tmp_path: Path) -> None:
    jpeg = tmp_path / "logo.jpg"
    Image.new("RGB", (16, 16), (255, 0, 0)).save(jpeg, format="JPEG")
    job = gemini.submit(nano("pro", model_id="gemini-3-pro-image", resolution="2k", aspect_ratio="21:9",
                             inputs={"images": [still, jpeg]}))
    [post] = posts(fake)
    assert post.path == "/v1/models/gemini-3-pro-image:generateContent"
    assert post.body["contents"][0]["parts"] == [
        {"text": "the spokesperson on a rooftop"},
        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(still.read_bytes()).decode()}},
        {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(jpeg.read_bytes()).decode()}}]
    assert post.body["generationConfig"]["imageConfig"] == {"aspectRatio": "21:9", "imageSize": "2K"}
    assert "seed" not in post.body["generationConfig"]
    [art] = gemini.poll(job).artifacts
    assert art.path is not None
    with Image.open(art.path) as img:
        assert img.size == (64, 48)  # not the 32x32 interim "thought" image that came first


def test_inputs_it_cannot_take_are_refused(gemini: GeminiBackend, fake: FakeGoogle, still: Path) -> None:
    with pytest.raises(BackendError) as err:
        gemini.submit(nano(inputs={"audio": [still]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "audio" in err.value.message
    assert posts(fake) == []


@pytest.mark.parametrize(("model", "variant", "model_id", "media", "date", "live"), [
    ("imagen-4", "standard", "imagen-4.0-generate-001", "image", "2026-08-17", "vertex, fal"),
    ("veo-3.1", "fast", "veo-3.1-fast-generate-preview", "video", "2026-11-06", "vertex, fal, runway"),
])
def test_retired_routes_are_refused_with_date_and_live_routes(gemini: GeminiBackend, fake: FakeGoogle, model: str,
                                                              variant: str, model_id: str, media: str, date: str,
                                                              live: str) -> None:
    request = JobRequest(job_id="t", node_id="n", model=model, variant=variant, backend="gemini",
                         backend_model_id=model_id, media=media, prompt="a runner")  # type: ignore[arg-type]
    with pytest.raises(BackendError) as err:
        gemini.submit(request)
    assert err.value.kind == ErrorKind.INVALID_REQUEST
    assert date in err.value.message and f"live routes: {live}" in err.value.message
    assert fake.requests == []


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_and_not_retried(fake: FakeGoogle, work: Path) -> None:
    wrong = "AIzaSy-wrong-key-MARKER-0000"
    backend = GeminiBackend({"GEMINI_API_KEY": wrong}, work, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(nano())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 400
    assert err.value.vendor_code == "API_KEY_INVALID" and "API key not valid" in err.value.message
    assert wrong not in str(err.value)
    assert len(posts(fake)) == 1
    backend.close()


def test_validation_names_the_field(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    with pytest.raises(BackendError) as err:
        gemini.submit(nano(aspect_ratio="7:5"))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert "generation_config.image_config.aspect_ratio" in err.value.message and "7:5" in err.value.message
    assert len(posts(fake)) == 1 and sleeps == []


def test_429_with_retry_after_then_success(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="generate", times=2, retry_after=7)
    gemini.submit(nano())
    assert sleeps == [7.0, 7.0] and len(posts(fake)) == 3


def test_429_with_google_retry_info_then_success(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="generate", retry_delay="3.5s")
    gemini.submit(nano())
    assert sleeps == [3.5]


def test_429_without_a_hint_backs_off(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="generate", times=3)
    gemini.submit(nano())
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (attempt - 1)


def test_429_past_the_cap_is_rate_limited_with_the_hint(fake: FakeGoogle, work: Path) -> None:
    sleeps = Sleeps()
    backend = GeminiBackend({"GEMINI_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=sleeps, max_attempts=2))
    fake.fail_next("429", on="generate", times=2, retry_delay="9s")
    with pytest.raises(BackendError) as err:
        backend.submit(nano())
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.retry_after_s == 9.0
    assert err.value.vendor_code == "RESOURCE_EXHAUSTED" and sleeps == [9.0]
    backend.close()


def test_a_quota_of_zero_fails_fast(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("quota0", on="generate", times=3)
    with pytest.raises(BackendError) as err:
        gemini.submit(nano())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "limit: 0" in err.value.message
    assert len(posts(fake)) == 1 and sleeps == []


@pytest.mark.parametrize("kind", ["500", "503"])
def test_server_error_then_success(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps, kind: str) -> None:
    fake.fail_next(kind, on="generate")
    job = gemini.submit(nano())
    assert gemini.poll(job).state == JobState.SUCCEEDED
    assert len(posts(fake)) == 2 and len(sleeps) == 1


def test_answer_cut_mid_body_is_not_resent(gemini: GeminiBackend, fake: FakeGoogle, work: Path) -> None:
    # the image may already be generated and billed: report, never resend silently
    fake.fail_next("cut", on="generate")
    with pytest.raises(BackendError) as err:
        gemini.submit(nano())
    assert err.value.kind == ErrorKind.NETWORK
    assert len(posts(fake)) == 1
    assert not work.exists() or list(work.iterdir()) == []
    # the next take goes through whole
    job = gemini.submit(nano())
    [art] = gemini.poll(job).artifacts
    assert art.path is not None and art.path.read_bytes() == png_bytes()


def test_blocked_prompt_is_input_moderation(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("blocked_prompt", on="generate")
    with pytest.raises(BackendError) as err:
        gemini.submit(nano())
    assert err.value.kind == ErrorKind.MODERATED_INPUT and err.value.kind.state == JobState.MODERATED
    assert "prompt was blocked (PROHIBITED_CONTENT)" in err.value.message
    assert err.value.vendor_code == "PROHIBITED_CONTENT"
    assert len(posts(fake)) == 1 and sleeps == []


def test_image_safety_is_output_moderation(gemini: GeminiBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("image_safety", on="generate")
    with pytest.raises(BackendError) as err:
        gemini.submit(nano())
    assert err.value.kind == ErrorKind.MODERATED_OUTPUT and err.value.vendor_code == "IMAGE_SAFETY"
    assert "generated image was blocked (IMAGE_SAFETY): Unable to show the generated image." in err.value.message
    assert len(posts(fake)) == 1 and sleeps == []


@pytest.mark.parametrize(("kind", "said"), [("no_image", "no image (NO_IMAGE)"),
                                            ("text_only", "I can only describe it")])
def test_no_image_is_a_failure(gemini: GeminiBackend, fake: FakeGoogle, kind: str, said: str) -> None:
    fake.fail_next(kind, on="generate", message="I can only describe it")
    with pytest.raises(BackendError) as err:
        gemini.submit(nano())
    assert err.value.kind == ErrorKind.UNKNOWN and err.value.kind.state == JobState.FAILED
    assert said in err.value.message


def test_the_landed_file_gone_is_expired(gemini: GeminiBackend, fake: FakeGoogle) -> None:
    job = gemini.submit(nano())
    Path(job.data["path"]).unlink()
    status = gemini.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    assert "bill twice" in status.message
    assert len(posts(fake)) == 1  # not requested again behind the user's back


def test_the_key_never_leaks(fake: FakeGoogle, work: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = GeminiBackend({"GEMINI_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("500", on="generate", message=f"key {KEY} echoed back")
    fake.fail_next("500", on="generate", message=f"key {KEY} echoed back")
    fake.fail_next("500", on="generate", message=f"key {KEY} echoed back")
    fake.fail_next("500", on="generate", message=f"key {KEY} echoed back")
    fake.fail_next("500", on="generate", message=f"key {KEY} echoed back")
    with pytest.raises(BackendError) as err:
        backend.submit(nano())
    errors.append(err.value)
    fake.fail_next("429", on="generate", retry_after=1)
    job = backend.submit(nano())
    status = backend.poll(job)
    backend.fetch(job, status.artifacts[0], tmp_path / "take.png")
    logging.getLogger("blender_canvas.providers.gemini").warning("oops %s", KEY)
    assert err.value.kind == ErrorKind.VENDOR_DOWN and "***" in err.value.message
    assert all(KEY not in str(e) and KEY not in e.message for e in errors)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    backend.close()


def test_key_only_to_the_gemini_host(fake: FakeGoogle, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = GeminiBackend({"GEMINI_API_KEY": KEY}, work)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    with pytest.raises(BackendError):
        backend._post("http://127.0.0.2:9/v1/models/x:generateContent", {})
    monkeypatch.delenv("BLENDER_CANVAS_GEMINI_URL")
    assert backend.api_url == "https://generativelanguage.googleapis.com/v1"
    assert backend.own_origins() == {"generativelanguage.googleapis.com:443"}
    backend.close()


def test_policy_keeps_the_injected_sleep() -> None:
    sleeps = Sleeps()
    policy = google_policy(http.RetryPolicy(sleep=sleeps, max_attempts=3))
    assert policy.max_attempts == 3 and policy.sleep is sleeps
    assert google_policy(policy) is policy
