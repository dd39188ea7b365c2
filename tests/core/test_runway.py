"""The Runway backend over real HTTP on 127.0.0.1, against the fake Runway API and its fake output / upload host."""

from __future__ import annotations

import base64
import dataclasses
import io
import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from blender_canvas.providers import http, runway, runway_bodies
from blender_canvas.providers.backend import (
    Backend,
    BackendError,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    RemoteJob,
)
from blender_canvas.providers.runway import RunwayBackend, pick_ratio
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import mp4_bytes, png_bytes
from tests.fakes.runway_server import DEFAULT_KEY as KEY
from tests.fakes.runway_server import FakeRunway

KEYS = {"RUNWAYML_API_SECRET": KEY}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunway]:
    with FakeRunway(KEY, latency_s=0.06) as server:
        monkeypatch.setenv("BLENDER_CANVAS_RUNWAY_URL", server.base_url)
        yield server


@pytest.fixture
def rw(fake: FakeRunway, sleeps: Sleeps, tmp_path: Path) -> Iterator[RunwayBackend]:
    backend = RunwayBackend(KEYS, tmp_path, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(png_bytes())
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "take.mp4"  # 64x48: a 4:3 clip
    path.write_bytes(mp4_bytes())
    return path


def req(model_id: str, model: str = "runway-gen-4.5", variant: str = "standard", *, media: str = "video",
        prompt: str = "a runner jogs", inputs: dict[str, list[Path]] | None = None, **params: Any) -> JobRequest:
    return JobRequest(job_id="take-1", node_id="node", model=model, variant=variant, backend="runway",
                      backend_model_id=model_id, media=media, prompt=prompt, params=params, inputs=inputs or {})


def gen45(still: Path, **params: Any) -> JobRequest:
    return req("gen4.5", inputs={"image": [still]}, **{"duration_s": 5, "aspect_ratio": "16:9", "seed": 42, **params})


def uri(path: Path, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def wait_terminal(backend: RunwayBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"task stuck in {status.state}"
        time.sleep(0.01)


def only_post(fake: FakeRunway) -> Any:
    [post] = [r for r in fake.requests_to("api", "POST") if r.path != "/v1/uploads"]
    return post


# --- construction and request bodies ---------------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLENDER_CANVAS_RUNWAY_URL", raising=False)
    backend = RunwayBackend(KEYS, tmp_path)
    assert isinstance(backend, Backend) and backend.poll_interval_s == 6.0
    assert backend.api_url == "https://api.dev.runwayml.com" and KEY not in repr(backend)
    backend.close()
    with pytest.raises(BackendError) as err:
        RunwayBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "RUNWAYML_API_SECRET" in err.value.message


def test_gen45_image_to_video_headers_body_and_estimate(rw: RunwayBackend, fake: FakeRunway, still: Path) -> None:
    job = rw.submit(gen45(still))
    post = only_post(fake)
    assert post.path == "/v1/image_to_video"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["x-runway-version"] == "2024-11-06"
    assert post.body == {"model": "gen4.5", "promptText": "a runner jogs", "ratio": "1280:720", "duration": 5,
                         "seed": 42, "promptImage": [{"uri": uri(still), "position": "first"}]}
    assert job.backend == "runway" and job.remote_id in fake.tasks
    assert job.data == {"media": "video", "endpoint": "/v1/image_to_video", "model": "gen4.5",
                        "estimated_credits": 60, "estimated_usd": 0.6, "input_notes": []}  # sent as it was


def test_gen45_text_to_video_and_its_two_ratios(rw: RunwayBackend, fake: FakeRunway) -> None:
    rw.submit(req("gen4.5", duration_s=10, aspect_ratio="9:16"))
    assert only_post(fake).path == "/v1/text_to_video"
    assert only_post(fake).body == {"model": "gen4.5", "promptText": "a runner jogs", "ratio": "720:1280",
                                    "duration": 10}
    with pytest.raises(BackendError) as err:
        rw.submit(req("gen4.5", duration_s=5, aspect_ratio="4:3"))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "4:3" in err.value.message and "16:9" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1  # refused here, nothing sent


@pytest.mark.parametrize(("params", "prompt", "words"), [
    ({"duration_s": 11}, "a runner", "duration"),
    ({"duration_s": 5}, "x" * 1001, "promptText"),
    ({"duration_s": 5}, "", "promptText"),
])
def test_gen45_limits_are_checked_before_sending(rw: RunwayBackend, fake: FakeRunway, still: Path,
                                                 params: dict[str, Any], prompt: str, words: str) -> None:
    with pytest.raises(BackendError) as err:
        rw.submit(req("gen4.5", prompt=prompt, inputs={"image": [still]}, aspect_ratio="16:9", **params))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and words in err.value.message
    assert fake.requests_to("api") == []


def test_a_large_first_frame_is_reencoded_under_5_mb(rw: RunwayBackend, fake: FakeRunway, tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    Image.frombytes("RGB", (1400, 1200), os.urandom(1400 * 1200 * 3)).save(big)  # noise: ~5 MB of PNG
    assert len(uri(big)) > runway.IMAGE_URI_MAX
    job = rw.submit(gen45(big))
    [frame] = only_post(fake).body["promptImage"]
    assert frame["uri"].startswith("data:image/jpeg;base64,") and len(frame["uri"]) <= runway.IMAGE_URI_MAX
    with Image.open(io.BytesIO(base64.b64decode(frame["uri"].split(",", 1)[1]))) as img:
        assert img.format == "JPEG" and img.width / img.height == pytest.approx(1400 / 1200, rel=0.01)
    [note] = job.data["input_notes"]  # what changed is the user's to see
    assert re.fullmatch(r"first frame re-encoded from \d+\.\d MB PNG to \d+\.\d MB JPEG \(Runway takes images up to "
                        r"5 MB as data URIs\)", note), note


def test_a_huge_reference_image_is_scaled_down_and_the_note_says_so(rw: RunwayBackend, fake: FakeRunway,
                                                                     still: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a 300 KB limit stands in for 5 MB, so a small noise image plays a huge one (noise is JPEG's worst case)
    monkeypatch.setattr(runway_bodies, "IMAGES", dataclasses.replace(runway_bodies.IMAGES, max_bytes=300_000))
    huge = tmp_path / "huge.png"
    Image.frombytes("RGB", (1000, 800), os.urandom(1000 * 800 * 3)).save(huge)
    job = rw.submit(req("gemini_image3.1_flash", "nano-banana-2", media="image", aspect_ratio="1:1",
                        inputs={"images": [still, huge]}))
    first, second = only_post(fake).body["referenceImages"]
    assert first["uri"] == uri(still)  # the small one is sent as it was
    assert second["uri"].startswith("data:image/jpeg;base64,") and len(second["uri"]) <= 300_000
    with Image.open(io.BytesIO(base64.b64decode(second["uri"].split(",", 1)[1]))) as img:
        size = f"{img.width}x{img.height}"
        assert img.width < 1000 and img.width / img.height == pytest.approx(1000 / 800, rel=0.01)
    reencoded, scaled = job.data["input_notes"]
    assert reencoded.startswith("reference image 2 re-encoded from 2.3 MB PNG to ") and " MB JPEG (" in reencoded
    assert scaled == (f"reference image 2 scaled down from 1000x800 to {size} to fit (Runway takes images up to "
                      "5 MB as data URIs)")


def test_aleph_video_to_video_with_keyframes(rw: RunwayBackend, fake: FakeRunway, clip: Path, still: Path,
                                             tmp_path: Path) -> None:
    other = tmp_path / "style.png"
    other.write_bytes(png_bytes())
    rw.submit(req("aleph2", "runway-aleph", "aleph2", prompt="make it snow",
                  inputs={"video": [clip], "images": [still, other]}, aspect_ratio="4:3", seed=9))
    post = only_post(fake)
    assert post.path == "/v1/video_to_video"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.body == {"model": "aleph2", "videoUri": uri(clip, "video/mp4"), "promptText": "make it snow",
                         "keyframes": [{"uri": uri(still), "at": 0.0}, {"uri": uri(other), "at": 1.0}], "seed": 9}


def test_aleph_reframes_only_when_asked_for_another_shape(rw: RunwayBackend, fake: FakeRunway, clip: Path) -> None:
    rw.submit(req("aleph2", "runway-aleph", "aleph2", inputs={"video": [clip]}, aspect_ratio="16:9"))
    assert only_post(fake).body["targetAspectRatio"] == "16:9"
    with pytest.raises(BackendError) as err:
        rw.submit(req("aleph2", "runway-aleph", "aleph2", inputs={}))
    assert "videoUri" in err.value.message


def test_aleph_large_video_goes_through_the_upload_flow(rw: RunwayBackend, fake: FakeRunway, clip: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runway, "MEDIA_URI_MAX", 1024)  # the clip's data URI is ~10 KB: over this limit
    job = rw.submit(req("aleph2", "runway-aleph", "aleph2", inputs={"video": [clip]}, aspect_ratio="4:3"))
    [slot] = fake.requests_to("api", "POST", "/v1/uploads")
    assert slot.body == {"filename": "take.mp4", "type": "ephemeral"}
    assert slot.headers["authorization"] == f"Bearer {KEY}"
    [upload] = fake.requests_to("cdn", "POST")
    assert "authorization" not in upload.headers and KEY.encode() not in upload.body
    [(uid, stored)] = fake.uploads.items()
    assert stored["file"] == clip.read_bytes()
    assert only_post(fake).body["videoUri"] == f"runway://{uid}"
    assert wait_terminal(rw, job).state == JobState.SUCCEEDED


def test_veo_first_and_last_frame_at_1080p(rw: RunwayBackend, fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    last = tmp_path / "last.png"
    last.write_bytes(png_bytes())
    rw.submit(req("veo3.1", "veo-3.1", inputs={"image": [still], "last_frame": [last]}, duration_s=8,
                  aspect_ratio="16:9", resolution="1080p", seed=7, audio=False))
    post = only_post(fake)
    assert post.path == "/v1/image_to_video"
    assert post.body == {"model": "veo3.1", "promptText": "a runner jogs", "ratio": "1920:1080", "duration": 8,
                         "audio": False, "seed": 7, "promptImage": [{"uri": uri(still), "position": "first"},
                                                                    {"uri": uri(last), "position": "last"}]}
    with pytest.raises(BackendError) as err:
        rw.submit(req("veo3.1_fast", "veo-3.1", "fast", duration_s=5, aspect_ratio="16:9"))
    assert "use 4, 6, 8" in err.value.message


def test_veo_fast_text_to_video(rw: RunwayBackend, fake: FakeRunway) -> None:
    rw.submit(req("veo3.1_fast", "veo-3.1", "fast", duration_s=4, aspect_ratio="9:16", resolution="720p", audio=True))
    assert only_post(fake).path == "/v1/text_to_video"
    assert only_post(fake).body == {"model": "veo3.1_fast", "promptText": "a runner jogs", "ratio": "720:1280",
                                    "duration": 4, "audio": True}


def test_kling_first_frame_sets_the_framing_and_takes_no_seed(rw: RunwayBackend, fake: FakeRunway,
                                                              still: Path) -> None:
    rw.submit(req("kling3.0_standard", "kling-3", "3.0", inputs={"image": [still]}, duration_s=7,
                  aspect_ratio="16:9", seed=3, audio=True))
    assert only_post(fake).path == "/v1/image_to_video"
    assert only_post(fake).body == {"model": "kling3.0_standard", "promptText": "a runner jogs",
                                    "promptImage": [{"uri": uri(still), "position": "first"}], "duration": 7,
                                    "audio": True}


def test_kling_o3_pro_text_to_video_square(rw: RunwayBackend, fake: FakeRunway) -> None:
    rw.submit(req("klingO3_pro", "kling-3", "o3-pro", duration_s=15, aspect_ratio="1:1", resolution="1080p"))
    assert only_post(fake).path == "/v1/text_to_video"
    assert only_post(fake).body == {"model": "klingO3_pro", "promptText": "a runner jogs", "ratio": "1440:1440",
                                    "duration": 15}


def test_seedance_references_and_reference_audio(rw: RunwayBackend, fake: FakeRunway, still: Path,
                                                 tmp_path: Path) -> None:
    voice = tmp_path / "vo.wav"
    voice.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28))
    rw.submit(req("seedance2_fast", "seedance-2", "fast", inputs={"images": [still], "audio": [voice]},
                  duration_s=6, aspect_ratio="21:9", resolution="720p", seed=5, audio=True))
    post = only_post(fake)
    assert post.path == "/v1/text_to_video"
    assert post.body == {"model": "seedance2_fast", "promptText": "a runner jogs", "references": [{"uri": uri(still)}],
                         "ratio": "1470:630", "duration": 6, "audio": True,
                         "referenceAudio": [{"type": "audio", "uri": uri(voice, "audio/wav")}], "seed": 5}
    with pytest.raises(BackendError) as err:
        rw.submit(req("seedance2", "seedance-2", "pro", inputs={"image": [still], "images": [still]},
                      duration_s=5, aspect_ratio="16:9"))
    assert "cannot be combined" in err.value.message


def test_seedance_full_at_1080p(rw: RunwayBackend, fake: FakeRunway, still: Path) -> None:
    rw.submit(req("seedance2", "seedance-2", "pro", inputs={"image": [still]}, duration_s=5, aspect_ratio="16:9",
                  resolution="1080p"))
    assert only_post(fake).body["ratio"] == "1920:1080" and only_post(fake).path == "/v1/image_to_video"


@pytest.mark.parametrize(("model_id", "model", "variant", "aspect", "resolution", "ratio", "extra"), [
    ("gemini_image3.1_flash", "nano-banana-2", "standard", "16:9", "2K", "2752:1536", {}),
    ("gemini_image3_pro", "nano-banana-2", "pro", "1:1", "1K", "1024:1024", {}),
    ("gpt_image_2", "gpt-image-2", "low", "3:2", "1K", "1920:1280", {"quality": "low"}),
])
def test_text_to_image_models(rw: RunwayBackend, fake: FakeRunway, still: Path, model_id: str, model: str,
                              variant: str, aspect: str, resolution: str, ratio: str, extra: dict[str, str]) -> None:
    rw.submit(req(model_id, model, variant, media="image", prompt="a red chair", inputs={"images": [still]},
                  aspect_ratio=aspect, resolution=resolution))
    assert only_post(fake).path == "/v1/text_to_image"
    assert only_post(fake).body == {"model": model_id, "promptText": "a red chair", "ratio": ratio,
                                    "referenceImages": [{"uri": uri(still)}], **extra}


def test_pick_ratio_tiers() -> None:
    assert pick_ratio("16:9", "480p", runway.SEEDANCE, default="720p", what="x") == "864:496"
    assert pick_ratio("4:3", None, runway.GEN45_I2V, default="720p", what="x") == "1104:832"
    assert pick_ratio("21:9", "4K", runway.GEMINI_PRO, default="1K", what="x") == "6336:2688"
    with pytest.raises(BackendError):
        pick_ratio("4:3", "720p", runway.VEO, default="720p", what="Veo")


# --- the whole cycle --------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_video(rw: RunwayBackend, fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    fake.hold = True
    fake.latency_s = 0.3
    job = rw.submit(gen45(still))
    queued = rw.poll(job)
    assert queued.state == JobState.QUEUED
    fake.release_all()
    seen: dict[JobState, JobStatus] = {}
    status = queued
    while not status.state.terminal:
        time.sleep(0.005)
        status = rw.poll(job)
        seen.setdefault(status.state, status)
    assert JobState.RUNNING in seen and 0.0 <= (seen[JobState.RUNNING].progress or 0.0) < 1.0
    assert status.state == JobState.SUCCEEDED and "credits" in status.message
    [art] = status.artifacts
    assert art.media == "video" and art.url and art.url.startswith(f"{fake.cdn_url}/outputs/{job.remote_id}/")
    dest = tmp_path / "takes" / "take-1.mp4"
    assert rw.fetch(job, art, dest) == dest
    with av.open(str(dest)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    [cdn] = fake.requests_to("cdn", "GET")
    assert "authorization" not in cdn.headers and KEY not in str(cdn.headers)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in fake.requests_to("api"))


def test_still_lands_a_decodable_png(rw: RunwayBackend, fake: FakeRunway, tmp_path: Path) -> None:
    job = rw.submit(req("gemini_image3.1_flash", "nano-banana-2", media="image", aspect_ratio="1:1"))
    [art] = wait_terminal(rw, job).artifacts
    assert art.media == "image"
    with Image.open(rw.fetch(job, art, tmp_path / "still.png")) as img:
        assert img.size == (64, 48)


def test_throttled_is_queued(rw: RunwayBackend, fake: FakeRunway, still: Path) -> None:
    fake.hold = True
    fake.fail_next("throttled")
    job = rw.submit(gen45(still))
    status = rw.poll(job)
    assert status.state == JobState.QUEUED and "THROTTLED" in status.message


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_and_not_retried(fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    wrong = "key_" + "f" * 128
    backend = RunwayBackend({"RUNWAYML_API_SECRET": wrong}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(gen45(still))
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401
    assert "API key was rejected" in str(err.value) and "Authorization header" in str(err.value)
    assert wrong not in str(err.value)
    assert len(fake.requests_to("api", "POST")) == 1
    backend.close()


def test_validation_400_names_the_field(rw: RunwayBackend, fake: FakeRunway, still: Path) -> None:
    fake.fail_next("validation", message="promptImage: Invalid data URI.")
    with pytest.raises(BackendError) as err:
        rw.submit(gen45(still))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert "promptImage: Invalid data URI." in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1


def test_out_of_credits_fails_fast(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("credits")
    with pytest.raises(BackendError) as err:
        rw.submit(gen45(still))
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "enough credits" in err.value.message
    assert len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_429_with_retry_after_on_create_and_poll(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps,
                                                 still: Path) -> None:
    fake.fail_next("429", on="create", times=2, retry_after=7)
    job = rw.submit(gen45(still))
    assert len(fake.requests_to("api", "POST")) == 3 and len(fake.tasks) == 1
    fake.fail_next("429", on="task", retry_after=3)
    rw.poll(job)
    assert sleeps == [7.0, 7.0, 3.0]


def test_429_without_retry_after_backs_off(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("429", times=3)
    rw.submit(gen45(still))
    assert len(sleeps) == 3
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (attempt - 1)


def test_429_past_the_cap_is_rate_limited(fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    sleeps = Sleeps()
    backend = RunwayBackend(KEYS, tmp_path, policy=http.RetryPolicy(sleep=sleeps, max_attempts=3))
    fake.fail_next("429", times=3, retry_after=2)
    with pytest.raises(BackendError) as err:
        backend.submit(gen45(still))
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.retry_after_s == 2.0 and sleeps == [2.0, 2.0]
    backend.close()


@pytest.mark.parametrize(("kind", "stage"), [("503", "create"), ("502", "create"), ("500", "task"),
                                             ("503", "task")])
def test_5xx_then_success(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps, still: Path, kind: str,
                          stage: str) -> None:
    fake.fail_next(kind, on=stage)  # type: ignore[arg-type]
    job = rw.submit(gen45(still))
    assert wait_terminal(rw, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 1 and len(fake.tasks) == 1


def test_500_after_a_create_is_not_resent(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps, still: Path) -> None:
    fake.fail_next("500", on="create")
    with pytest.raises(BackendError) as err:
        rw.submit(gen45(still))
    assert err.value.kind == ErrorKind.VENDOR_DOWN and len(fake.requests_to("api", "POST")) == 1 and sleeps == []


def test_connection_cut_mid_download_then_complete_file(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps,
                                                        still: Path, tmp_path: Path) -> None:
    job = rw.submit(gen45(still))
    [art] = wait_terminal(rw, job).artifacts
    fake.fail_next("cut")
    out = tmp_path / "out"
    dest = rw.fetch(job, art, out / "take.mp4")
    assert dest.read_bytes() == mp4_bytes() and len(fake.requests_to("cdn", "GET")) == 2 and len(sleeps) == 1
    assert [p.name for p in out.iterdir()] == ["take.mp4"]  # no partial file left


def test_expired_output_url_is_resigned_once(rw: RunwayBackend, fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    job = rw.submit(gen45(still))
    [art] = wait_terminal(rw, job).artifacts
    fake.expire_outputs()  # the signed URL is past its lifetime; the task still has the file
    reads = fake.tasks[job.remote_id].reads
    dest = rw.fetch(job, art, tmp_path / "take.mp4")
    assert dest.read_bytes() == mp4_bytes()
    assert fake.tasks[job.remote_id].reads == reads + 1
    first, second = fake.requests_to("cdn", "GET")
    assert first.query["Signature"] != second.query["Signature"] and first.path == second.path


def test_output_gone_for_good_is_expired(rw: RunwayBackend, fake: FakeRunway, still: Path, tmp_path: Path) -> None:
    job = rw.submit(gen45(still))
    [art] = wait_terminal(rw, job).artifacts
    fake.expire_outputs(gone=True)
    with pytest.raises(BackendError) as err:
        rw.fetch(job, art, tmp_path / "take.mp4")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and "24-48 hours" in err.value.message
    assert len(fake.requests_to("cdn", "GET")) == 2 and not (tmp_path / "take.mp4").exists()


@pytest.mark.parametrize(("outcome", "state", "kind", "code", "words"), [
    ("moderation_input", JobState.MODERATED, ErrorKind.MODERATED_INPUT, "SAFETY.INPUT.TEXT", "an input"),
    ("moderation_output", JobState.MODERATED, ErrorKind.MODERATED_OUTPUT, "SAFETY.OUTPUT.VIDEO", "generated video"),
    ("bad_output", JobState.FAILED, ErrorKind.VENDOR_DOWN, "INTERNAL.BAD_OUTPUT.CODE01", "quality check"),
])
def test_task_failures(rw: RunwayBackend, fake: FakeRunway, sleeps: Sleeps, still: Path, outcome: str,
                       state: JobState, kind: ErrorKind, code: str, words: str) -> None:
    fake.fail_next(outcome)
    job = rw.submit(gen45(still))
    status = wait_terminal(rw, job)
    assert (status.state, status.error_kind, status.vendor_code) == (state, kind, code)
    assert words in status.message and status.message.startswith("Runway: ") and sleeps == []
    assert kind.state == state  # what the runner records when it fails the job with this kind


def test_cancel_a_live_task(rw: RunwayBackend, fake: FakeRunway, still: Path) -> None:
    fake.hold = True
    job = rw.submit(gen45(still))
    assert rw.cancel(job) is True
    [delete] = fake.requests_to("api", "DELETE")
    assert delete.path == f"/v1/tasks/{job.remote_id}" and delete.headers["authorization"] == f"Bearer {KEY}"
    status = rw.poll(job)
    assert status.state == JobState.CANCELLED and status.error_kind == ErrorKind.CANCELLED


def test_cancel_never_deletes_a_finished_task(rw: RunwayBackend, fake: FakeRunway, still: Path,
                                              tmp_path: Path) -> None:
    job = rw.submit(gen45(still))
    [art] = wait_terminal(rw, job).artifacts
    assert rw.cancel(job) is False
    assert fake.requests_to("api", "DELETE") == []
    assert rw.fetch(job, art, tmp_path / "kept.mp4").exists()  # the paid take is still there


def test_the_key_never_leaks(fake: FakeRunway, still: Path, clip: Path, tmp_path: Path,
                             caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    backend = RunwayBackend(KEYS, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("401", message=f"Invalid key: Bearer {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(gen45(still))
    errors.append(err.value)
    fake.fail_next("429", retry_after=1)
    fake.fail_next("503", on="task")
    monkeypatch.setattr(runway, "MEDIA_URI_MAX", 1024)
    job = backend.submit(req("aleph2", "runway-aleph", "aleph2", inputs={"video": [clip]}))
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    fake.expire_outputs()
    backend.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    fake.expire_outputs(gone=True)
    with pytest.raises(BackendError) as err:
        backend.fetch(job, status.artifacts[0], tmp_path / "again.mp4")
    errors.append(err.value)
    logging.getLogger("blender_canvas.providers.runway").warning("oops %s", KEY)

    assert all(KEY not in str(e) and KEY not in e.message for e in errors) and "***" in errors[0].message
    assert caplog.records and KEY not in caplog.text
    assert fake.requests_to("cdn") and all("authorization" not in r.headers and KEY not in str(r.headers)
                                           for r in fake.requests_to("cdn"))
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    backend.close()
