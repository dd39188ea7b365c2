"""The Black Forest Labs (FLUX) backend over real HTTP on 127.0.0.1, against the fake BFL API and delivery host."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path

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
from blender_canvas.providers.bfl import BflBackend, build_body, family_for, pixel_size
from tests.core.conftest import Sleeps
from tests.fakes.bfl_server import FakeBfl
from tests.fakes.fal_server import png_bytes

KEY = "bfl-test-key-MARKER-789"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBfl]:
    with FakeBfl(KEY, latency_s=0.05) as server:
        monkeypatch.setenv("BLENDER_CANVAS_BFL_URL", server.base_url)
        yield server


@pytest.fixture
def bfl(fake: FakeBfl, sleeps: Sleeps, tmp_path: Path) -> Iterator[BflBackend]:
    backend = BflBackend({"BFL_API_KEY": KEY}, tmp_path / "work", policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "ref.png"
    path.write_bytes(png_bytes())
    return path


B64 = base64.b64encode(png_bytes()).decode()


def flux(model: str = "flux-2-pro", *, refs: list[Path] | None = None, **params: object) -> JobRequest:
    defaults: dict[str, object] = {"aspect_ratio": "16:9", "resolution": "1K", "seed": 7}
    return JobRequest(job_id="take-1", node_id="hero", model="flux", variant=model, backend="bfl",
                      backend_model_id=model, media="image", prompt="the spokesperson on a rooftop",
                      params={**defaults, **params}, inputs={"images": refs} if refs else {})


def wait_terminal(backend: BflBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"still {status.state} after {timeout} s"
        time.sleep(0.01)


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as err:
        BflBackend({"OTHER": "x"}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "BFL_API_KEY" in err.value.message
    backend = BflBackend({"BFL_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend) and KEY not in repr(backend) and backend.cancel(
        RemoteJob(backend="bfl", remote_id="x")) is False
    backend.close()


# --- request bodies -----------------------------------------------------------------------------------------------

PROMPT = "the spokesperson on a rooftop"


@pytest.mark.parametrize(("model", "params", "expected"), [
    ("flux-2-pro", {}, {"width": 1360, "height": 768}),
    ("flux-2-flex", {"aspect_ratio": "1:1", "resolution": "2K"}, {"width": 2048, "height": 2048}),
    ("flux-2-max", {"aspect_ratio": "9:16"}, {"width": 768, "height": 1360}),
    ("flux-pro-1.1", {}, {"width": 1344, "height": 768}),
    ("flux-pro-1.1", {"resolution": "2K"}, {"width": 1440, "height": 800}),
    ("flux-pro-1.1-ultra", {"aspect_ratio": "21:9"}, {"aspect_ratio": "21:9"}),
    ("flux-kontext-pro", {"aspect_ratio": "4:3"}, {"aspect_ratio": "4:3"}),
])
def test_body_per_model_family(bfl: BflBackend, fake: FakeBfl, model: str, params: dict[str, object],
                               expected: dict[str, object]) -> None:
    request = flux(model)
    request.params.update(params)
    job = bfl.submit(request)
    [post] = fake.requests_to("api", "POST")
    assert post.path == f"/v1/{model}" and post.headers["x-key"] == KEY and "authorization" not in post.headers
    assert post.body == {"prompt": PROMPT, "seed": 7, **expected, "output_format": "png"}
    assert job.data["cost_credits"] == 3.0 and job.data["output_mp"] == 1.04 and job.data["model"] == model
    assert job.data["cost_usd"] == 0.03  # BFL's own charge becomes the take's actual cost


def test_reference_images_as_raw_base64(bfl: BflBackend, fake: FakeBfl, still: Path) -> None:
    bfl.submit(flux("flux-2-pro", refs=[still, still, still]))
    bfl.submit(flux("flux-kontext-pro", refs=[still], aspect_ratio="1:1"))
    pro, kontext = (r.body for r in fake.requests_to("api", "POST"))
    assert (pro["input_image"], pro["input_image_2"], pro["input_image_3"]) == (B64, B64, B64)
    assert "input_image_4" not in pro and not B64.startswith("data:")
    assert kontext == {"prompt": PROMPT, "seed": 7, "aspect_ratio": "1:1", "output_format": "png",
                       "input_image": B64}


def test_too_many_references_refused_locally(still: Path) -> None:
    with pytest.raises(BackendError) as err:
        build_body(flux("flux-pro-1.1", refs=[still]))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "no reference image" in err.value.message
    with pytest.raises(BackendError) as err:
        build_body(flux("flux-kontext-pro", refs=[still] * 5))
    assert "takes 4 reference images, got 5" in err.value.message


def test_sizes_respect_each_familys_limits() -> None:
    for aspect in ("21:9", "16:9", "3:2", "1:1", "9:21"):
        for res in ("1K", "2K"):
            w, h = pixel_size(aspect, res, family_for("flux-2-pro"))
            assert w % 16 == 0 and h % 16 == 0 and w * h <= 4 << 20 and max(w, h) <= 2048
            w, h = pixel_size(aspect, res, family_for("flux-pro-1.1"))
            assert w % 32 == 0 and h % 32 == 0 and min(w, h) >= 256 and max(w, h) <= 1440


# --- the whole cycle ------------------------------------------------------------------------------------------------


def test_full_cycle_lands_a_decodable_image(bfl: BflBackend, fake: FakeBfl, tmp_path: Path) -> None:
    fake.latency_s = 0.2
    job = bfl.submit(flux())
    # BFL's polling_url was on api.us1.bfl.ai: moved to the override host, with its id
    assert job.urls["status"] == f"{fake.base_url}/v1/get_result?id={job.remote_id}"
    first = bfl.poll(job)
    assert first.state in (JobState.QUEUED, JobState.RUNNING)
    status = wait_terminal(bfl, job)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "image" and art.url and art.url.startswith(fake.cdn_url)
    dest = bfl.fetch(job, art, tmp_path / "takes" / "still.png")
    with Image.open(dest) as img:
        assert img.size == (64, 48)
    assert all(r.headers.get("x-key") == KEY for r in fake.requests_to("api"))
    [cdn] = fake.requests_to("cdn")
    assert "x-key" not in cdn.headers and KEY not in str(cdn.headers)


# --- failures -------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth(fake: FakeBfl, tmp_path: Path) -> None:
    backend = BflBackend({"BFL_API_KEY": "bfl-wrong-key-MARKER-000"}, tmp_path,
                         policy=http.RetryPolicy(sleep=Sleeps()))
    with pytest.raises(BackendError) as err:
        backend.submit(flux())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and "Not authenticated" in err.value.message
    assert "bfl-wrong-key" not in str(err.value) and len(fake.requests_to("api", "POST")) == 1
    backend.close()


def test_422_names_the_field(bfl: BflBackend, fake: FakeBfl) -> None:
    fake.fail_next("validation", field="height", message="Input should be a multiple of 16")
    with pytest.raises(BackendError) as err:
        bfl.submit(flux())
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 422
    assert "height: Input should be a multiple of 16" in err.value.message


def test_out_of_credits_fails_fast(bfl: BflBackend, fake: FakeBfl, sleeps: Sleeps) -> None:
    fake.fail_next("402")
    with pytest.raises(BackendError) as err:
        bfl.submit(flux())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "Insufficient credits" in err.value.message
    assert sleeps == [] and len(fake.requests_to("api", "POST")) == 1


def test_429_with_retry_after(bfl: BflBackend, fake: FakeBfl, sleeps: Sleeps) -> None:
    fake.fail_next("429", times=2, retry_after=5)
    job = bfl.submit(flux())
    assert sleeps == [5.0, 5.0] and len(fake.requests_to("api", "POST")) == 3 and len(fake.tasks) == 1
    fake.fail_next("429", on="status", retry_after_date=20)
    bfl.poll(job)
    assert 18.5 <= sleeps[2] <= 20.0


def test_429_without_retry_after_backs_off_then_gives_up(fake: FakeBfl, tmp_path: Path) -> None:
    sleeps = Sleeps()
    backend = BflBackend({"BFL_API_KEY": KEY}, tmp_path, policy=http.RetryPolicy(sleep=sleeps, max_attempts=3))
    fake.fail_next("429", times=3)
    with pytest.raises(BackendError) as err:
        backend.submit(flux())
    assert err.value.kind == ErrorKind.RATE_LIMITED and len(sleeps) == 2
    assert all(0.0 <= wait <= 0.5 * 2 ** (n - 1) for n, wait in enumerate(sleeps, start=1))
    backend.close()


def test_5xx_then_success(bfl: BflBackend, fake: FakeBfl, sleeps: Sleeps) -> None:
    fake.fail_next("503", on="submit")  # a proxy page, not BFL's JSON: no task exists, safe to resend
    job = bfl.submit(flux())
    fake.fail_next("500", on="status")
    fake.fail_next("503", on="status")
    assert wait_terminal(bfl, job).state == JobState.SUCCEEDED
    assert len(sleeps) == 3 and len(fake.tasks) == 1


def test_connection_cut_mid_download_then_complete(bfl: BflBackend, fake: FakeBfl, sleeps: Sleeps,
                                                   tmp_path: Path) -> None:
    job = bfl.submit(flux())
    [art] = wait_terminal(bfl, job).artifacts
    fake.fail_next("cut")
    dest = bfl.fetch(job, art, tmp_path / "still.png")
    assert dest.read_bytes() == png_bytes() and len(sleeps) == 1 and len(fake.requests_to("cdn")) == 2


def test_expired_sample_url(bfl: BflBackend, fake: FakeBfl, tmp_path: Path) -> None:
    job = bfl.submit(flux())
    [art] = wait_terminal(bfl, job).artifacts
    fake.fail_next("expired")
    with pytest.raises(BackendError) as err:
        bfl.fetch(job, art, tmp_path / "still.png")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and "10 minutes" in err.value.message
    assert not (tmp_path / "still.png").exists()


def test_task_not_found_is_expired(bfl: BflBackend, fake: FakeBfl) -> None:
    job = bfl.submit(flux())
    fake.fail_next("not_found")
    status = bfl.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED


@pytest.mark.parametrize(("fault", "kind", "reason"), [
    ("request_moderated", ErrorKind.MODERATED_INPUT, "Derivative Works"),
    ("content_moderated", ErrorKind.MODERATED_OUTPUT, "NSFW"),
])
def test_moderation(bfl: BflBackend, fake: FakeBfl, sleeps: Sleeps, fault: str, kind: ErrorKind,
                    reason: str) -> None:
    job = bfl.submit(flux())
    fake.fail_next(fault)
    status = wait_terminal(bfl, job)
    assert status.state == JobState.MODERATED and status.error_kind == kind
    assert reason in status.message and "moderation" in status.message and sleeps == []
    assert len(fake.requests_to("api", "POST")) == 1  # never resubmitted


def test_error_status_is_failed(bfl: BflBackend, fake: FakeBfl) -> None:
    job = bfl.submit(flux())
    fake.fail_next("error")
    status = wait_terminal(bfl, job)
    assert status.state == JobState.FAILED and "Internal error during generation" in status.message


# --- where the key may go -------------------------------------------------------------------------------------------


def test_foreign_polling_url_gets_no_key_and_is_flagged(bfl: BflBackend, fake: FakeBfl) -> None:
    fake.fail_next("foreign_poll")
    job = bfl.submit(flux())
    assert job.data["flagged_polling_host"] == "127.0.0.1"
    assert job.urls["status"] == f"{fake.base_url}/v1/get_result?id={job.remote_id}"
    assert wait_terminal(bfl, job).state == JobState.SUCCEEDED
    assert fake.requests_to("cdn") == []  # the foreign polling URL was never contacted
    forged = RemoteJob(backend="bfl", remote_id=job.remote_id,
                       urls={"status": f"{fake.cdn_url}/v1/get_result?id={job.remote_id}"})
    with pytest.raises(BackendError) as err:
        bfl.poll(forged)
    assert "refusing to send the key" in err.value.message and fake.requests_to("cdn") == []


def test_key_hosts_without_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BLENDER_CANVAS_BFL_URL", raising=False)
    backend = BflBackend({"BFL_API_KEY": KEY}, tmp_path)
    assert backend.base_url == "https://api.bfl.ai"
    for ok in ("https://api.bfl.ai/v1/get_result?id=1", "https://api.us1.bfl.ai/v1/get_result",
               "https://api.eu.bfl.ai/x"):
        assert backend.key_allowed(ok)
    for bad in ("http://api.bfl.ai/v1", "https://api.bfl.ai:8443/v1", "https://evilbfl.ai/v1",
                "https://bfl.ai.evil.com/v1", "https://delivery.example.net/sample.png"):
        assert not backend.key_allowed(bad)
    assert backend.polling_url("https://api.us1.bfl.ai/v1/get_result", "abc") == \
        "https://api.us1.bfl.ai/v1/get_result?id=abc"
    assert backend.polling_url("https://attacker.example/v1/get_result?id=abc", "abc") is None
    monkeypatch.setenv("BLENDER_CANVAS_BFL_URL", "http://127.0.0.1:9999")
    # after rehosting, only the override host gets the key: BFL's own hosts are moved there, others refused
    assert backend.polling_url("https://api.us1.bfl.ai/v1/get_result?id=abc", "abc") == \
        "http://127.0.0.1:9999/v1/get_result?id=abc"
    assert not backend.key_allowed("https://api.bfl.ai/v1/get_result")
    backend.close()


def test_the_key_never_leaks(fake: FakeBfl, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = BflBackend({"BFL_API_KEY": KEY}, tmp_path, policy=http.RetryPolicy(sleep=Sleeps()))
    fake.fail_next("401", message=f"Invalid key {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(flux())
    assert KEY not in str(err.value) and "***" in err.value.message
    fake.fail_next("429", retry_after=1)
    fake.fail_next("foreign_poll")
    job = backend.submit(flux())
    status = wait_terminal(backend, job)
    fake.fail_next("cut")
    backend.fetch(job, status.artifacts[0], tmp_path / "still.png")
    logging.getLogger("blender_canvas.providers.bfl").warning("oops %s", KEY)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    assert all("x-key" not in r.headers for r in fake.requests_to("cdn"))
    backend.close()
