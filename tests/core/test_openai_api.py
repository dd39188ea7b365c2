"""The OpenAI backend (GPT Image 2, Sora 2 / 2 Pro) over real HTTP on 127.0.0.1, against the fake OpenAI API."""

from __future__ import annotations

import io
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
from blender_canvas.providers.openai_api import OpenAIBackend, image_size, video_size
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import mp4_bytes
from tests.fakes.openai_server import FakeOpenAI

KEY = "sk-test-openai-MARKER-4567"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(KEY, latency_s=0.06) as server:
        monkeypatch.setenv("BLENDER_CANVAS_OPENAI_URL", server.host_url)
        yield server


@pytest.fixture
def openai(fake: FakeOpenAI, sleeps: Sleeps, tmp_path: Path) -> Iterator[OpenAIBackend]:
    backend = OpenAIBackend({"OPENAI_API_KEY": KEY}, tmp_path / "work", policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    Image.new("RGB", (1000, 800), (10, 200, 30)).save(path)
    return path


def image_job(variant: str = "medium", *, refs: list[Path] | None = None, prompt: str = "a rooftop at dusk",
              **params: object) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="hero", model="gpt-image-2", variant=variant, backend="openai",
                      backend_model_id="gpt-image-2", media="image", prompt=prompt,
                      params={"aspect_ratio": "16:9", "resolution": "1K", **params},
                      inputs={"images": refs} if refs else {})


def sora_job(variant: str = "standard", *, first: Path | None = None, **params: object) -> JobRequest:
    model = "sora-2-pro" if variant == "pro" else "sora-2"
    return JobRequest(job_id="take-2", node_id="wide", model="sora-2", variant=variant, backend="openai",
                      backend_model_id=model, media="video", prompt="a runner jogs left to right",
                      params={"duration_s": 8, "aspect_ratio": "16:9", "resolution": "720p", "audio": True, **params},
                      inputs={"image": [first]} if first else {})


def wait_terminal(backend: OpenAIBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"job stuck in {status.state}"
        time.sleep(0.01)


# --- construction and sizes -------------------------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    backend = OpenAIBackend({"OPENAI_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend) and backend.id == "openai"
    assert KEY not in repr(backend)
    backend.close()
    with pytest.raises(BackendError) as err:
        OpenAIBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "OPENAI_API_KEY" in err.value.message


@pytest.mark.parametrize(("ratio", "resolution", "size"), [
    ("1:1", "1K", "1024x1024"), ("3:2", "1K", "1536x1024"), ("2:3", "1K", "1024x1536"), ("16:9", "1K", "1824x1024"),
    ("16:9", "2K", "2560x1440"), ("16:9", "4K", "3840x2160"), ("9:16", "4K", "2160x3840"), ("1:1", "4K", "2160x2160"),
    ("21:9", "4K", "3840x1632"), ("21:9", "1K", "2384x1024"),
])
def test_image_sizes_obey_gpt_image_2_rules(ratio: str, resolution: str, size: str) -> None:
    assert image_size(ratio, resolution) == size
    w, h = (int(v) for v in size.split("x"))
    assert w % 16 == 0 and h % 16 == 0 and 1 / 3 <= w / h <= 3 and max(w, h) <= 3840 and w * h <= 3840 * 2160


def test_image_size_refusals_name_the_field() -> None:
    for args, field in ((("4:1", "1K"), "aspect_ratio"), (("16:9", "8K"), "resolution")):
        with pytest.raises(BackendError) as err:
            image_size(*args)
        assert err.value.kind == ErrorKind.INVALID_REQUEST and field in err.value.message


def test_video_sizes() -> None:
    assert video_size("sora-2", "16:9", "720p") == "1280x720"
    assert video_size("sora-2", "9:16", "720p") == "720x1280"
    assert video_size("sora-2-pro", "16:9", "1024p") == "1792x1024"
    assert video_size("sora-2-pro", "9:16", "1024p") == "1024x1792"
    with pytest.raises(BackendError, match="needs Sora 2 Pro"):
        video_size("sora-2", "16:9", "1024p")


# --- GPT Image 2 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("quality", ["low", "medium", "high"])
def test_image_generation_body_and_landed_png(openai: OpenAIBackend, fake: FakeOpenAI, tmp_path: Path,
                                              quality: str) -> None:
    job = openai.submit(image_job(quality, seed=7))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/images/generations"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["content-type"] == "application/json"
    # no seed field exists on OpenAI's image API
    assert post.json == {"model": "gpt-image-2", "prompt": "a rooftop at dusk", "size": "1824x1024",
                         "quality": quality, "n": 1, "output_format": "png"}
    assert job.backend == "openai" and job.remote_id.startswith("req_") and job.data["kind"] == "image"
    status = openai.poll(job)  # finished at submit: no request
    assert status.state == JobState.SUCCEEDED and len(fake.requests_to("api")) == 1
    [art] = status.artifacts
    assert art.path is not None and art.url is None and art.mime_type == "image/png"
    dest = openai.fetch(job, art, tmp_path / "takes" / "hero.png")
    with Image.open(dest) as img:
        assert img.size == (1824, 1024) and img.format == "PNG"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["hero.png"]
    assert openai.cancel(job) is False


def test_image_edit_sends_image_array_parts(openai: OpenAIBackend, fake: FakeOpenAI, tmp_path: Path) -> None:
    refs = []
    for i, fmt in enumerate(("PNG", "JPEG", "WEBP")):
        path = tmp_path / f"ref{i}.{fmt.lower()}"
        Image.new("RGB", (64, 48), (i * 80, 10, 10)).save(path, format=fmt)
        refs.append(path)
    job = openai.submit(image_job("high", refs=refs, aspect_ratio="1:1", resolution="2K"))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/images/edits"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert post.fields == {"model": "gpt-image-2", "prompt": "a rooftop at dusk", "size": "1440x1440",
                           "quality": "high", "n": "1", "output_format": "png"}
    assert [(n, t) for n, t, _ in post.files["image[]"]] == [("ref0.png", "image/png"), ("ref1.jpeg", "image/jpeg"),
                                                             ("ref2.webp", "image/webp")]
    assert [b for _, _, b in post.files["image[]"]] == [p.read_bytes() for p in refs]
    assert job.data["input_notes"] == []  # sent as they were
    with Image.open(openai.poll(job).artifacts[0].path or "") as img:
        assert img.size == (1440, 1440)


def test_image_edit_converts_what_gpt_image_cannot_take_and_says_so(openai: OpenAIBackend, fake: FakeOpenAI,
                                                                    still: Path, tmp_path: Path) -> None:
    gif = tmp_path / "logo.gif"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(gif, format="GIF")
    turned = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (rotate 90° clockwise)
    Image.new("RGB", (80, 60), (30, 30, 200)).save(turned, format="JPEG", exif=exif)
    job = openai.submit(image_job("low", refs=[still, gif, turned]))
    [post] = fake.requests_to("api", "POST")
    parts = post.files["image[]"]
    assert [(n, t) for n, t, _ in parts] == [("hero.png", "image/png"), ("logo.jpg", "image/jpeg"),
                                             ("phone.jpg", "image/jpeg")]
    assert parts[0][2] == still.read_bytes()
    with Image.open(io.BytesIO(parts[2][2])) as img:
        assert img.size == (60, 80)  # upright
    assert job.data["input_notes"] == [
        "reference image 2 converted from GIF to JPEG (GPT Image takes PNG, JPEG or WEBP)",
        "reference image 3 rotated by its EXIF orientation"]


def test_image_inputs_it_cannot_take_are_refused(openai: OpenAIBackend, fake: FakeOpenAI, still: Path) -> None:
    request = image_job().model_copy(update={"inputs": {"image": [still]}})
    with pytest.raises(BackendError, match="takes no image input"):
        openai.submit(request)
    with pytest.raises(BackendError, match="quality 'ultra'"):
        openai.submit(image_job("ultra"))
    assert fake.requests_to("api") == []


def test_image_validation_names_the_field(openai: OpenAIBackend, fake: FakeOpenAI) -> None:
    fake.fail_next("validation", on="generate", param="size", message="Invalid value: '1824x1024'. The requested "
                   "size must also satisfy the model's current pixel and edge limits.")
    with pytest.raises(BackendError) as err:
        openai.submit(image_job())
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert "1824x1024" in err.value.message and "(field: size)" in err.value.message


@pytest.mark.parametrize(("stage", "kind"), [("input", ErrorKind.MODERATED_INPUT),
                                             ("output", ErrorKind.MODERATED_OUTPUT),
                                             (None, ErrorKind.MODERATED_INPUT)])
def test_image_moderation_is_final(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps, stage: str | None,
                                   kind: ErrorKind) -> None:
    fake.fail_next("moderation", on="generate", moderation_stage=stage)
    with pytest.raises(BackendError) as err:
        openai.submit(image_job())
    assert err.value.kind == kind and err.value.kind.state == JobState.MODERATED
    assert err.value.vendor_code == "moderation_blocked" and "rejected by the safety system" in err.value.message
    assert ("result was" if stage == "output" else "prompt or an input image") in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_image_429_waits_as_told_then_lands(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="generate", retry_after=7)
    fake.fail_next("429ms", on="generate", retry_after=1.5)
    fake.fail_next("429", on="generate", retry_after_date=30)
    job = openai.submit(image_job())
    assert len(fake.requests_to("api", "POST")) == 4 and openai.poll(job).state == JobState.SUCCEEDED
    assert sleeps[:2] == [7.0, 1.5] and 28.5 <= sleeps[2] <= 30.0


def test_image_429_without_retry_after_backs_off(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="generate", times=3)
    openai.submit(image_job())
    assert len(sleeps) == 3
    assert all(0.0 <= wait <= 0.5 * 2 ** (n - 1) for n, wait in enumerate(sleeps, start=1))


def test_out_of_quota_fails_fast(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps) -> None:
    fake.fail_next("quota", on="generate")
    with pytest.raises(BackendError) as err:
        openai.submit(image_job())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "exceeded your current quota" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_post_5xx_is_resent_only_when_openai_vouches(openai: OpenAIBackend, fake: FakeOpenAI,
                                                     sleeps: Sleeps) -> None:
    fake.fail_next("503", on="generate", should_retry="true")
    fake.fail_next("500", on="generate", should_retry="true")
    assert openai.submit(image_job()).data["kind"] == "image"
    assert len(fake.requests_to("api", "POST")) == 3 and len(sleeps) == 2
    # without x-should-retry a 5xx after a POST is not resent: the image may have been made (and billed)
    fake.fail_next("500", on="generate")
    with pytest.raises(BackendError) as err:
        openai.submit(image_job())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and len(fake.requests_to("api", "POST")) == 4


def test_wrong_key_is_auth(fake: FakeOpenAI, tmp_path: Path) -> None:
    wrong = "sk-wrong-openai-MARKER-999"
    backend = OpenAIBackend({"OPENAI_API_KEY": wrong}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(image_job())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and "Incorrect API key" in err.value.message
    assert wrong not in str(err.value) and len(fake.requests_to("api")) == 1
    backend.close()


# --- Sora 2 / Sora 2 Pro ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "ratio", "resolution", "size"), [
    ("standard", "16:9", "720p", "1280x720"), ("standard", "9:16", "720p", "720x1280"),
    ("pro", "16:9", "1024p", "1792x1024"), ("pro", "9:16", "720p", "720x1280"),
])
def test_sora_create_is_multipart(openai: OpenAIBackend, fake: FakeOpenAI, variant: str, ratio: str,
                                  resolution: str, size: str) -> None:
    job = openai.submit(sora_job(variant, aspect_ratio=ratio, resolution=resolution, duration_s=12))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos" and post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["content-type"].startswith("multipart/form-data")
    assert post.fields == {"prompt": "a runner jogs left to right", "model": f"sora-2{'-pro' * (variant == 'pro')}",
                           "size": size, "seconds": "12"}
    assert post.files == {} and job.remote_id.startswith("video_") and job.data["model"].startswith("sora-2")


def test_sora_first_frame_is_fitted_to_the_size(openai: OpenAIBackend, fake: FakeOpenAI, still: Path) -> None:
    job = openai.submit(sora_job("pro", first=still, aspect_ratio="9:16", resolution="1024p", duration_s=4))
    [post] = fake.requests_to("api", "POST")
    assert post.fields["size"] == "1024x1792" and post.fields["seconds"] == "4"
    [(name, mime, data)] = post.files["input_reference"]
    assert (name, mime) == ("first_frame.png", "image/png")
    with Image.open(io.BytesIO(data)) as img:
        assert img.size == (1024, 1792) and img.getpixel((512, 896)) == (10, 200, 30)
    assert job.data["input_notes"] == ["first frame scaled and centre-cropped from 1000x800 to 1024x1792 (Sora takes "
                                       "the first frame at the video's size)"]


def test_sora_first_frame_of_the_right_size_is_sent_as_it_is(openai: OpenAIBackend, fake: FakeOpenAI,
                                                               tmp_path: Path) -> None:
    wide, exact = tmp_path / "wide.jpg", tmp_path / "exact.jpg"
    Image.new("RGB", (1920, 1080), (10, 200, 30)).save(wide, format="JPEG")
    Image.new("RGB", (1280, 720), (10, 200, 30)).save(exact, format="JPEG")
    scaled = openai.submit(sora_job(first=wide))
    same = openai.submit(sora_job(first=exact))
    first, second = fake.requests_to("api", "POST")
    assert scaled.data["input_notes"] == ["first frame scaled from 1920x1080 to 1280x720 (Sora takes the first "
                                          "frame at the video's size)"]
    assert first.files["input_reference"][0][:2] == ("first_frame.jpg", "image/jpeg")
    assert same.data["input_notes"] == []
    assert second.files["input_reference"] == [("first_frame.jpg", "image/jpeg", exact.read_bytes())]


def test_sora_refuses_what_it_cannot_do(openai: OpenAIBackend, fake: FakeOpenAI, still: Path) -> None:
    cases = [(sora_job(duration_s=5), "duration 5 s is not allowed, use 4, 8 or 12"),
             (sora_job(aspect_ratio="1:1"), "aspect_ratio 1:1"),
             (sora_job().model_copy(update={"inputs": {"last_frame": [still]}}), "takes no last_frame input")]
    for request, message in cases:
        with pytest.raises(BackendError, match=message):
            openai.submit(request)
    assert fake.requests_to("api") == []


def test_sora_full_cycle_to_a_decodable_video(openai: OpenAIBackend, fake: FakeOpenAI, still: Path,
                                              tmp_path: Path) -> None:
    fake.latency_s = 0.3
    job = openai.submit(sora_job(first=still))
    seen: list[JobStatus] = []
    status = openai.poll(job)
    while not status.state.terminal:
        seen.append(status)
        time.sleep(0.01)
        status = openai.poll(job)
    states = {s.state for s in seen}
    assert states == {JobState.QUEUED, JobState.RUNNING}
    assert all(s.poll_after_s == 2.5 for s in seen)  # openai-poll-after-ms: 2500
    assert any(0 < (s.progress or 0) < 1 for s in seen if s.state == JobState.RUNNING)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.url == f"{fake.base_url}/videos/{job.remote_id}/content?variant=video" and art.needs_auth
    dest = openai.fetch(job, art, tmp_path / "takes" / "wide.mp4")
    assert dest.read_bytes() == mp4_bytes()
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    [get] = fake.requests_to("api", "GET", "/content")
    assert get.headers["authorization"] == f"Bearer {KEY}" and get.headers["accept"] == "application/binary"
    assert get.query == {"variant": ["video"]}
    assert openai.cancel(job) is False


def test_sora_poll_survives_429_and_5xx(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps) -> None:
    job = openai.submit(sora_job())
    fake.fail_next("429", on="retrieve", retry_after=3)
    fake.fail_next("503", on="retrieve")
    fake.fail_next("500", on="retrieve")
    fake.finish_all()
    assert openai.poll(job).state == JobState.SUCCEEDED
    assert sleeps[0] == 3.0 and len(sleeps) == 3


def test_sora_cut_download_then_a_complete_file(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps,
                                                tmp_path: Path) -> None:
    job = openai.submit(sora_job())
    fake.finish_all()
    [art] = openai.poll(job).artifacts
    fake.fail_next("cut", on="content")
    dest = tmp_path / "dl" / "take.mp4"
    openai.fetch(job, art, dest)
    assert dest.read_bytes() == mp4_bytes() and len(sleeps) == 1
    assert [p.name for p in dest.parent.iterdir()] == ["take.mp4"]


def test_sora_expired(openai: OpenAIBackend, fake: FakeOpenAI, tmp_path: Path) -> None:
    job = openai.submit(sora_job())
    fake.fail_next("expired", on="retrieve")
    status = openai.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    assert "expired" in status.message and fake.requests_to("api", "GET", "/content") == []
    # a download that finds the assets gone
    other = openai.submit(sora_job())
    fake.finish_all()
    [art] = openai.poll(other).artifacts
    fake.fail_next("expired", on="content")
    with pytest.raises(BackendError) as err:
        openai.fetch(other, art, tmp_path / "gone.mp4")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and not (tmp_path / "gone.mp4").exists()
    # a job id OpenAI no longer knows (resumed after the shutdown)
    status = openai.poll(RemoteJob(backend="openai", remote_id="video_gone", data={"kind": "video"}))
    assert status.state == JobState.EXPIRED and "2026-09-24" in status.message


def test_sora_input_moderation_at_create(openai: OpenAIBackend, fake: FakeOpenAI, sleeps: Sleeps) -> None:
    fake.fail_next("moderation", on="create", moderation_stage=None,
                   message="Your request was blocked by our moderation system.")
    with pytest.raises(BackendError) as err:
        openai.submit(sora_job())
    assert err.value.kind == ErrorKind.MODERATED_INPUT and "blocked by our moderation system" in err.value.message
    assert sleeps == [] and len(fake.requests_to("api", "POST")) == 1


def test_sora_output_moderation_ends_moderated(openai: OpenAIBackend, fake: FakeOpenAI) -> None:
    job = openai.submit(sora_job())
    fake.fail_next("failed", on="retrieve", code="moderation_blocked",
                   message="The generated video was flagged by our output moderation.")
    status = openai.poll(job)
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_OUTPUT
    assert status.vendor_code == "moderation_blocked" and "flagged by our output moderation" in status.message


def test_sora_plain_failure(openai: OpenAIBackend, fake: FakeOpenAI) -> None:
    job = openai.submit(sora_job())
    fake.fail_next("failed", on="retrieve", code="internal_error", message="Video generation failed.")
    status = openai.poll(job)
    assert status.state == JobState.FAILED and status.error_kind == ErrorKind.VENDOR_DOWN
    assert "Video generation failed." in status.message


def test_sora_validation_names_the_field(openai: OpenAIBackend, fake: FakeOpenAI) -> None:
    fake.fail_next("validation", on="create", param="seconds",
                   message="Invalid value: '8'. Supported values are: '4', '8', and '12'.")
    with pytest.raises(BackendError) as err:
        openai.submit(sora_job())
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "seconds" in err.value.message


def test_sora_after_the_shutdown_names_the_live_routes(openai: OpenAIBackend, fake: FakeOpenAI,
                                                       sleeps: Sleeps) -> None:
    fake.retired = True
    with pytest.raises(BackendError) as err:
        openai.submit(sora_job())
    message = err.value.message
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 404
    assert "shut the Sora video API down on 2026-09-24" in message and "does not exist" in message
    assert "Kling" in message and "Sora" not in message.split("Live video routes:")[1]
    assert sleeps == []


# --- the key ----------------------------------------------------------------------------------------------------------


def test_the_key_never_leaks(fake: FakeOpenAI, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = OpenAIBackend({"OPENAI_API_KEY": KEY}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("401", on="generate", message=f"Incorrect API key provided: {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(image_job())
    errors.append(err.value)
    fake.fail_next("429", on="create", retry_after=1)
    fake.fail_next("503", on="retrieve")
    job = backend.submit(sora_job())
    fake.finish_all()
    status = wait_terminal(backend, job)
    # the content endpoint redirects to a pre-signed URL on another host: the key must not follow
    fake.fail_next("redirect", on="content")
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    assert (tmp_path / "take.mp4").read_bytes() == mp4_bytes()
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers and KEY not in str(cdn.headers)
    image = backend.submit(image_job())
    logging.getLogger("blender_canvas.providers.openai_api").warning("oops %s", KEY)

    assert all(KEY not in str(e) and KEY not in e.message for e in errors) and "***" in errors[0].message
    assert caplog.records and KEY not in caplog.text
    for dumped in (job.model_dump_json(), status.model_dump_json(), image.model_dump_json()):
        assert KEY not in dumped
    backend.close()


def test_key_only_to_openais_host(fake: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = OpenAIBackend({"OPENAI_API_KEY": KEY, "OPENAI_PROJECT_ID": "proj_123"}, tmp_path)
    assert backend.own_origins() == {http.origin(fake.base_url)} and backend.api_url == fake.base_url
    with pytest.raises(BackendError, match="refusing to send the key"):
        backend._send("GET", f"{fake.cdn_url}/steal")
    assert fake.requests_to("cdn") == []
    backend.submit(image_job())
    assert fake.requests_to("api", "POST")[0].headers["openai-project"] == "proj_123"
    monkeypatch.setenv("BLENDER_CANVAS_OPENAI_URL", fake.base_url)  # OPENAI_BASE_URL style, ending in /v1
    assert backend.api_url == fake.base_url
    monkeypatch.delenv("BLENDER_CANVAS_OPENAI_URL")
    assert backend.own_origins() == {"api.openai.com:443"} and backend.api_url == "https://api.openai.com/v1"
    backend.close()


def test_a_missing_image_file_is_expired_not_rebilled(openai: OpenAIBackend, fake: FakeOpenAI) -> None:
    job = openai.submit(image_job())
    Path(job.data["path"]).unlink()
    status = openai.poll(job)
    assert status.state == JobState.EXPIRED and "keeps no copy" in status.message
    assert len(fake.requests_to("api", "POST")) == 1
