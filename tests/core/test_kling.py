"""The Kling direct backend over real HTTP on 127.0.0.1, against the fake Kling API and its fake CDN."""

from __future__ import annotations

import base64
import io
import logging
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import jwt
import numpy as np
import pytest
from PIL import Image

from blender_canvas.providers import http
from blender_canvas.providers.backend import Backend, BackendError, ErrorKind, JobRequest, JobState, JobStatus
from blender_canvas.providers.kling import KlingBackend, TokenSigner, build_request, kling_policy
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import mp4_bytes
from tests.fakes.kling_server import ACCESS_KEY, SECRET_KEY, FakeKling, Invalid, validate

KEYS = {"KLING_ACCESS_KEY": ACCESS_KEY, "KLING_SECRET_KEY": SECRET_KEY}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKling]:
    with FakeKling(latency_s=0.06) as server:
        monkeypatch.setenv("BLENDER_CANVAS_KLING_URL", server.base_url)
        yield server


@pytest.fixture
def kling(fake: FakeKling, sleeps: Sleeps) -> Iterator[KlingBackend]:
    backend = KlingBackend(KEYS, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


def png(path: Path, size: tuple[int, int], fmt: str = "PNG") -> Path:
    Image.new("RGB", size, (40, 120, 200)).save(path, format=fmt)
    return path


def wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(seconds * rate) * 2 * channels))
    return path


@pytest.fixture
def still(tmp_path: Path) -> Path:
    return png(tmp_path / "hero.png", (640, 360))


@pytest.fixture
def voice(tmp_path: Path) -> Path:
    return wav(tmp_path / "vo.wav", 3.0)


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def req(model_id: str, *, model: str = "kling-3", variant: str = "3.0", mode: str | None = "std",
        prompt: str = "a runner jogs", inputs: dict[str, list[Path]] | None = None, **params: object) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="node", model=model, variant=variant, backend="kling",
                      backend_model_id=model_id, media="video", prompt=prompt, params=dict(params),
                      inputs=inputs or {}, fixed={"mode": mode} if mode else {})


def i2v(still: Path) -> JobRequest:
    return req("kling-v3", inputs={"image": [still]}, duration_s=5, aspect_ratio="16:9", audio=True)


def wait_terminal(backend: KlingBackend, job: object, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)  # type: ignore[arg-type]
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"job stuck in {status.state}"
        time.sleep(0.01)


def bearer_claims(header: str) -> dict[str, object]:
    assert header.startswith("Bearer ")
    token = header.removeprefix("Bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims: dict[str, object] = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    return claims


# --- construction and auth -------------------------------------------------------------------------------------------


def test_is_a_backend_and_needs_both_keys(tmp_path: Path) -> None:
    backend = KlingBackend(KEYS, tmp_path)
    assert isinstance(backend, Backend) and backend.cancel(None) is False  # type: ignore[arg-type]
    assert ACCESS_KEY not in repr(backend) and SECRET_KEY not in repr(backend)
    backend.close()
    with pytest.raises(BackendError) as err:
        KlingBackend({"KLING_ACCESS_KEY": ACCESS_KEY}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "KLING_SECRET_KEY" in err.value.message
    assert ACCESS_KEY not in err.value.message


def test_token_is_cached_and_refreshed_before_expiry() -> None:
    now = [1_800_000_000.0]
    signer = TokenSigner(ACCESS_KEY, SECRET_KEY, clock=lambda: now[0])
    first = signer.token()
    assert jwt.get_unverified_header(first) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(first, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": ACCESS_KEY, "exp": 1_800_000_000 + 1800, "nbf": 1_800_000_000 - 5}
    now[0] += 1499  # more than 5 minutes of life left: the same token
    assert signer.token() == first
    now[0] += 1  # 5 minutes left: a fresh one, valid 30 minutes from now
    second = signer.token()
    assert second != first
    claims = jwt.decode(second, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims["exp"] == 1_800_001_500 + 1800 and claims["nbf"] == 1_800_001_500 - 5


# --- request shapes --------------------------------------------------------------------------------------------------


def test_kling3_i2v_header_and_body(kling: KlingBackend, fake: FakeKling, still: Path) -> None:
    job = kling.submit(i2v(still))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos/image2video"
    claims = bearer_claims(post.headers["authorization"])
    assert claims["iss"] == ACCESS_KEY and claims["exp"] - claims["nbf"] == 1805  # type: ignore[operator]
    # the first frame decides the framing (no aspect_ratio); raw base64, no data: prefix; duration is a string
    assert post.body == {"model_name": "kling-v3", "prompt": "a runner jogs", "duration": "5", "sound": "on",
                         "image": b64(still), "mode": "std", "external_task_id": "take-1"}
    assert job.backend == "kling" and job.remote_id in fake.tasks
    assert job.data == {"kind": "image2video", "model": "kling-v3", "media": "video", "input_notes": []}


def test_kling3_pro_last_frame_is_image_tail(kling: KlingBackend, fake: FakeKling, still: Path,
                                             tmp_path: Path) -> None:
    last = png(tmp_path / "last.jpg", (640, 360), "JPEG")
    kling.submit(req("kling-v3", mode="pro", inputs={"image": [still], "last_frame": [last]}, duration_s=10))
    [post] = fake.requests_to("api", "POST")
    assert post.body == {"model_name": "kling-v3", "prompt": "a runner jogs", "duration": "10", "image": b64(still),
                         "image_tail": b64(last), "mode": "pro", "external_task_id": "take-1"}


def test_kling3_without_first_frame_is_text2video(kling: KlingBackend, fake: FakeKling) -> None:
    job = kling.submit(req("kling-v3", duration_s=3, aspect_ratio="9:16", audio=False))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos/text2video" and job.data["kind"] == "text2video"
    assert post.body == {"model_name": "kling-v3", "prompt": "a runner jogs", "duration": "3",
                         "aspect_ratio": "9:16", "sound": "off", "mode": "std", "external_task_id": "take-1"}


def test_o3_goes_to_omni_video_with_typed_frames(kling: KlingBackend, fake: FakeKling, still: Path,
                                                 tmp_path: Path) -> None:
    last = png(tmp_path / "last.png", (640, 360))
    job = kling.submit(req("kling-v3-omni", variant="o3-pro", mode="pro", inputs={"image": [still],
                           "last_frame": [last]}, duration_s=15, aspect_ratio="16:9"))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos/omni-video" and job.data["kind"] == "omni-video"
    assert post.body == {"model_name": "kling-v3-omni", "prompt": "a runner jogs", "duration": "15", "mode": "pro",
                         "image_list": [{"image_url": b64(still), "type": "first_frame"},
                                        {"image_url": b64(last), "type": "end_frame"}], "external_task_id": "take-1"}
    kling.submit(req("kling-v3-omni", variant="o3", duration_s=5, aspect_ratio="1:1"))
    assert fake.requests_to("api", "POST")[1].body == {"model_name": "kling-v3-omni", "prompt": "a runner jogs",
                                                       "duration": "5", "aspect_ratio": "1:1", "mode": "std",
                                                       "external_task_id": "take-1"}


def test_avatar_body(kling: KlingBackend, fake: FakeKling, still: Path, voice: Path) -> None:
    job = kling.submit(req("avatar", model="kling-avatar", variant="pro", mode="pro", prompt="subtle nod",
                           inputs={"image": [still], "audio": [voice]}))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos/avatar/image2video" and job.data["kind"] == "avatar/image2video"
    assert post.body == {"image": b64(still), "sound_file": b64(voice), "prompt": "subtle nod", "mode": "pro",
                         "external_task_id": "take-1"}  # our job id: a submit cut off by a crash is found by it


def test_lip_sync_cannot_send_a_local_video(kling: KlingBackend, fake: FakeKling, voice: Path,
                                            tmp_path: Path) -> None:
    clip = tmp_path / "take.mp4"
    clip.write_bytes(mp4_bytes())
    request = req("lip-sync", model="kling-lipsync", variant="standard", mode=None, prompt="",
                  inputs={"video": [clip], "audio": [voice]})
    with pytest.raises(BackendError) as err:
        kling.submit(request)
    assert err.value.kind == ErrorKind.INVALID_REQUEST
    assert "cannot send a local video file" in err.value.message and "fal route" in err.value.message
    assert fake.requests_to("api") == []
    # with a Kling video id (or a public URL) it goes out as Kling documents it
    job = kling.submit(request.model_copy(update={"params": {"video_id": "v-123"}}))
    [post] = fake.requests_to("api", "POST")
    assert post.path == "/v1/videos/lip-sync" and job.data["kind"] == "lip-sync"
    assert post.body == {"input": {"mode": "audio2video", "video_id": "v-123", "audio_type": "file",
                                   "audio_file": b64(voice)}}


def test_refused_before_any_request(kling: KlingBackend, fake: FakeKling, still: Path) -> None:
    cases = [(req("kling-v3", prompt="x" * 2501), "2501 characters"),
             (req("kling-v3", inputs={"last_frame": [still]}), "last frame needs a first frame"),
             (req("kling-v3", inputs={"images": [still]}), "takes no images input"),
             (req("sora-2"), "unknown Kling model id")]
    for request, words in cases:
        with pytest.raises(BackendError) as err:
            kling.submit(request)
        assert err.value.kind == ErrorKind.INVALID_REQUEST and words in err.value.message
    assert fake.requests_to("api") == []


# --- input fitting ---------------------------------------------------------------------------------------------------


def test_small_still_is_upscaled_and_reported(kling: KlingBackend, fake: FakeKling, tmp_path: Path) -> None:
    job = kling.submit(i2v(png(tmp_path / "tiny.png", (240, 240))))
    assert job.data["input_notes"] == ["first frame upscaled from 240x240 to 300x300 (Kling needs 300 px on the "
                                       "short side)"]
    [post] = fake.requests_to("api", "POST")
    with Image.open(io.BytesIO(base64.b64decode(post.body["image"]))) as img:
        assert img.size == (300, 300) and img.format == "PNG"


def test_too_wide_still_is_cropped_then_upscaled(kling: KlingBackend, fake: FakeKling, tmp_path: Path) -> None:
    job = kling.submit(i2v(png(tmp_path / "wide.png", (900, 200))))
    assert job.data["input_notes"] == [
        "first frame centre-cropped from 900x200 to 500x200 (Kling takes 1:2.5 to 2.5:1)",
        "first frame upscaled from 500x200 to 750x300 (Kling needs 300 px on the short side)"]
    [post] = fake.requests_to("api", "POST")
    with Image.open(io.BytesIO(base64.b64decode(post.body["image"]))) as img:
        assert img.size == (750, 300)


def test_webp_and_oversized_stills_are_reencoded(kling: KlingBackend, fake: FakeKling, tmp_path: Path) -> None:
    webp = png(tmp_path / "hero.webp", (640, 360), "WEBP")
    ramp = np.tile(np.linspace(0, 255, 2000, dtype=np.uint8)[None, :, None], (2000, 1, 3))
    big = tmp_path / "big.png"
    Image.fromarray(ramp).save(big, format="PNG", compress_level=0)  # 11.4 MB stored uncompressed
    assert big.stat().st_size > 10 << 20
    job = kling.submit(req("kling-v3", inputs={"image": [webp], "last_frame": [big]}))
    first, last = job.data["input_notes"]
    assert first == "first frame converted from WEBP to JPEG (Kling takes JPEG or PNG)"
    assert last.startswith("last frame re-encoded from 11.4 MB PNG to ") and last.endswith(
        " MB PNG (Kling takes up to 10 MB)")
    [post] = fake.requests_to("api", "POST")  # the fake accepted both (JPEG / PNG, <= 10 MB, same pixels)
    with Image.open(io.BytesIO(base64.b64decode(post.body["image_tail"]))) as img:
        assert img.size == (2000, 2000) and np.array_equal(np.asarray(img), ramp)


def test_voice_clip_limits(kling: KlingBackend, fake: FakeKling, still: Path, tmp_path: Path) -> None:
    big = wav(tmp_path / "long.wav", 60.0, rate=48000, channels=2)  # 11 MB of WAV
    job = kling.submit(req("avatar", model="kling-avatar", inputs={"image": [still], "audio": [big]}))
    [note] = job.data["input_notes"]
    assert note.startswith("voice clip re-encoded from audio/wav (11.0 MB) to AAC m4a")
    [post] = fake.requests_to("api", "POST")
    with av.open(io.BytesIO(base64.b64decode(post.body["sound_file"]))) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert 59.0 < float(container.duration or 0) / 1e6 < 61.0
    with pytest.raises(BackendError) as err:
        kling.submit(req("avatar", model="kling-avatar", inputs={"image": [still],
                                                                 "audio": [wav(tmp_path / "short.wav", 1.0)]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "1.0 s long" in err.value.message


def test_the_fake_holds_kling_to_its_contract(still: Path) -> None:
    body, _ = build_request(i2v(still))[1:]
    validate("image2video", body)
    for bad, words in (({**body, "image": "data:image/png;base64," + body["image"]}, "data: prefix"),
                       ({**body, "duration": 5}, "duration must be a string"),
                       ({**body, "aspect_ratio": "16:9"}, "aspect_ratio is not supported")):
        with pytest.raises(Invalid, match=words):
            validate("image2video", bad)


# --- the whole cycle -------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_video(kling: KlingBackend, fake: FakeKling, still: Path,
                                            tmp_path: Path) -> None:
    fake.latency_s = 0.3
    job = kling.submit(i2v(still))
    seen = set()
    status = kling.poll(job)
    while not status.state.terminal:
        seen.add(status.state)
        time.sleep(0.01)
        status = kling.poll(job)
    assert seen == {JobState.QUEUED, JobState.RUNNING} and status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.url == f"{fake.cdn_url}/kcdn/{job.remote_id}.mp4?x-sign=presigned" and art.media == "video"
    assert {r.path for r in fake.requests_to("api", "GET")} == {f"/v1/videos/image2video/{job.remote_id}"}
    dest = tmp_path / "takes" / "take-1.mp4"
    assert kling.fetch(job, art, dest) == dest
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    assert all(bearer_claims(r.headers["authorization"]) for r in fake.requests_to("api"))
    [cdn] = fake.requests_to("cdn")
    assert "authorization" not in cdn.headers


# --- failures --------------------------------------------------------------------------------------------------------


def test_wrong_secret_is_auth(fake: FakeKling, still: Path) -> None:
    wrong = "kling-wrong-secret-MARKER-0123456789abcdef"
    backend = KlingBackend({**KEYS, "KLING_SECRET_KEY": wrong}, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(i2v(still))
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and err.value.vendor_code == "1002"
    assert "KLING_SECRET_KEY" in err.value.message and "Authorization is invalid" in err.value.message
    assert wrong not in str(err.value) and len(fake.requests_to("api")) == 1
    backend.close()


def test_expired_token_is_auth(fake: FakeKling, still: Path) -> None:
    backend = KlingBackend(KEYS, policy=http.RetryPolicy(sleep=Sleeps()), clock=lambda: time.time() - 4000)
    with pytest.raises(BackendError) as err:
        backend.submit(i2v(still))
    assert err.value.kind == ErrorKind.AUTH and err.value.vendor_code == "1004"
    assert "Authorization has expired" in err.value.message
    backend.close()


def test_validation_names_the_field(kling: KlingBackend, fake: FakeKling, still: Path) -> None:
    with pytest.raises(BackendError) as err:
        kling.submit(req("kling-v3", mode="ultra", inputs={"image": [still]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert err.value.vendor_code == "1201" and "mode must be std or pro" in err.value.message


def test_rate_limit_without_retry_after_waits_at_least_a_second(kling: KlingBackend, fake: FakeKling,
                                                                sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("rate", times=1)
    fake.fail_next("concurrency", times=2)
    job = kling.submit(i2v(still))
    assert job.remote_id and len(fake.requests_to("api", "POST")) == 4
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 2 ** (attempt - 1) <= wait <= 1.25 * 2 ** (attempt - 1)


def test_rate_limit_with_retry_after_is_honoured(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps,
                                                 still: Path) -> None:
    fake.fail_next("concurrency", times=2, retry_after=7)
    kling.submit(i2v(still))
    assert sleeps == [7.0, 7.0]


def test_rate_limit_past_the_cap_tells_the_runner_to_wait(fake: FakeKling, still: Path) -> None:
    sleeps = Sleeps()
    backend = KlingBackend(KEYS, policy=http.RetryPolicy(sleep=sleeps, max_attempts=2))
    fake.fail_next("concurrency", times=2)
    with pytest.raises(BackendError) as err:
        backend.submit(i2v(still))
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.vendor_code == "1303"
    assert err.value.retry_after_s is None  # no Retry-After: the runner backs off from 1 s (1, 2, 4 … 60 s)
    assert "parallel task over resource pack limit" in err.value.message and len(sleeps) == 1
    backend.close()


def test_out_of_credits_fails_fast(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("credits", times=3)
    with pytest.raises(BackendError) as err:
        kling.submit(i2v(still))
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and err.value.vendor_code == "1102"
    assert "resource pack" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_input_moderation(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("moderation")
    with pytest.raises(BackendError) as err:
        kling.submit(i2v(still))
    assert err.value.kind == ErrorKind.MODERATED_INPUT and err.value.kind.state == JobState.MODERATED
    assert "content security policy" in err.value.message and err.value.vendor_code == "1301"
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_output_moderation_and_plain_failure(kling: KlingBackend, fake: FakeKling, still: Path) -> None:
    flagged = kling.submit(i2v(still))
    fake.fail_next("flagged")
    status = wait_terminal(kling, flagged)
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_OUTPUT
    assert "generated video was flagged" in status.message and "risk control" in status.message
    failed = kling.submit(i2v(still))
    fake.fail_next("failed")
    status = wait_terminal(kling, failed)
    assert status.state == JobState.FAILED and status.error_kind == ErrorKind.UNKNOWN
    assert "please try again" in status.message


def test_error_inside_a_200_envelope_and_unknown_task(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps) -> None:
    job = kling.submit(req("kling-v3"))
    fake.fail_next("envelope")
    with pytest.raises(BackendError) as err:  # HTTP 200 but code 5000: classified by the code, not the status
        kling.poll(job)
    assert err.value.kind == ErrorKind.VENDOR_DOWN and err.value.vendor_code == "5000" and err.value.kind.retryable
    assert "Server internal error" in err.value.message and sleeps == []
    with pytest.raises(BackendError) as err:  # a task asked for under another endpoint's path is unknown
        kling.poll(job.model_copy(update={"data": {**job.data, "kind": "image2video"}}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "task not found" in err.value.message


@pytest.mark.parametrize("kind", ["500", "503"])
def test_poll_5xx_then_success(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps, still: Path, kind: str) -> None:
    job = kling.submit(i2v(still))
    fake.fail_next(kind, on="status", times=2)
    assert wait_terminal(kling, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 2


@pytest.mark.parametrize("kind", ["500", "503"])
def test_submit_5xx_is_not_resent(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps, still: Path,
                                  kind: str) -> None:
    # a 5xx after a POST may hide a created (billed) task and Kling has no idempotency key: report, never resend
    fake.fail_next(kind, on="submit")
    with pytest.raises(BackendError) as err:
        kling.submit(i2v(still))
    assert err.value.kind == ErrorKind.VENDOR_DOWN and err.value.status == int(kind)
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_cut_download_then_complete_file(kling: KlingBackend, fake: FakeKling, sleeps: Sleeps, still: Path,
                                         tmp_path: Path) -> None:
    job = kling.submit(i2v(still))
    [art] = wait_terminal(kling, job).artifacts
    fake.fail_next("cut")
    fake.fail_next("503", on="download")
    dest = tmp_path / "take.mp4"
    kling.fetch(job, art, dest)
    assert dest.read_bytes() == mp4_bytes() and len(fake.requests_to("cdn")) == 3 and len(sleeps) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hero.png", "take.mp4"]


def test_expired_result_url(kling: KlingBackend, fake: FakeKling, still: Path, tmp_path: Path) -> None:
    job = kling.submit(i2v(still))
    [art] = wait_terminal(kling, job).artifacts
    fake.fail_next("expired")
    with pytest.raises(BackendError) as err:
        kling.fetch(job, art, tmp_path / "late.mp4")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and err.value.kind.state == JobState.EXPIRED
    assert not (tmp_path / "late.mp4").exists()


def test_keys_never_leak(fake: FakeKling, still: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = KlingBackend(KEYS, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("auth", message=f"bad token for {ACCESS_KEY} / {SECRET_KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(i2v(still))
    errors.append(err.value)
    fake.fail_next("rate")
    job = backend.submit(i2v(png(tmp_path / "tiny.png", (200, 200))))
    fake.fail_next("503", on="status")
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    token = fake.requests_to("api")[-1].headers["authorization"].removeprefix("Bearer ")
    logging.getLogger("blender_canvas.providers.kling").warning("oops %s %s %s", ACCESS_KEY, SECRET_KEY, token)
    secrets = (ACCESS_KEY, SECRET_KEY, token)
    assert all(s not in str(e) and s not in e.message for e in errors for s in secrets) and "***" in errors[0].message
    assert caplog.records and not any(s in caplog.text for s in secrets)
    for rec in fake.requests_to("cdn"):
        assert "authorization" not in rec.headers and not any(s in str(rec.headers) for s in secrets)
    assert not any(s in job.model_dump_json() + status.model_dump_json() for s in secrets)
    backend.close()


def test_credentials_only_to_klings_own_hosts(fake: FakeKling, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = KlingBackend(KEYS)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    with pytest.raises(BackendError) as err:
        backend._send("GET", f"{fake.cdn_url}/v1/videos/text2video/1")
    assert "not a Kling API host" in err.value.message and fake.requests_to("cdn") == []
    monkeypatch.delenv("BLENDER_CANVAS_KLING_URL")
    assert backend.api_url == "https://api-singapore.klingai.com"
    assert "api-singapore.klingai.com:443" in backend.own_origins()
    assert isinstance(kling_policy(None), http.RetryPolicy)
    backend.close()
