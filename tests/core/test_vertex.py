"""The Vertex AI backend (Veo 3.1, Imagen 4) and its Google sign-in, over real HTTP on 127.0.0.1 against the fake
Google server (which verifies the service account's RS256 assertion and issues the access tokens)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import jwt
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
from blender_canvas.providers.google_auth import GoogleCredentials
from blender_canvas.providers.vertex import VertexBackend
from tests.core.conftest import Sleeps
from tests.fakes.fal_server import mp4_bytes, png_bytes
from tests.fakes.google_server import FakeGoogle

PROJECT = "canvas-test"
EMAIL = "canvas@canvas-test.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"
REFRESH = "1//refresh-token-MARKER-5555"
CLIENT_SECRET = "client-secret-MARKER-6666"
MODEL_PATH = f"/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models"


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[str, bytes]:
    """(private PEM, public PEM) of a throw-away service-account key."""
    pytest.importorskip("cryptography", reason="RS256 service-account signing needs the cryptography package")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    with FakeGoogle(project=PROJECT) as server:
        monkeypatch.setenv("BLENDER_CANVAS_VERTEX_URL", server.base_url)
        yield server


@pytest.fixture
def sa_file(tmp_path: Path, rsa_pem: tuple[str, bytes], fake: FakeGoogle) -> Path:
    fake.add_service_account(EMAIL, KEY_ID, rsa_pem[1])
    path = tmp_path / "sa.json"
    path.write_text(json.dumps({"type": "service_account", "project_id": PROJECT, "private_key_id": KEY_ID,
                                "private_key": rsa_pem[0], "client_email": EMAIL, "client_id": "1234",
                                "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


@pytest.fixture
def vertex(fake: FakeGoogle, sa_file: Path, sleeps: Sleeps, tmp_path: Path) -> Iterator[VertexBackend]:
    backend = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)},
                            tmp_path / "work", policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


@pytest.fixture
def still(tmp_path: Path) -> Path:
    path = tmp_path / "hero.png"
    path.write_bytes(png_bytes())
    return path


def veo(*, model_id: str = "veo-3.1-generate-001", variant: str = "standard", prompt: str = "a runner jogs",
        inputs: dict[str, list[Path]] | None = None, **params: Any) -> JobRequest:
    merged = {"duration_s": 8, "aspect_ratio": "16:9", "resolution": "1080p", "audio": True, **params}
    return JobRequest(job_id="take-1", node_id="wide", model="veo-3.1", variant=variant, backend="vertex",
                      backend_model_id=model_id, media="video", prompt=prompt,
                      params={k: v for k, v in merged.items() if v is not None}, inputs=inputs or {})


def imagen(**params: Any) -> JobRequest:
    return JobRequest(job_id="still-1", node_id="hero", model="imagen-4", variant="standard", backend="vertex",
                      backend_model_id="imagen-4.0-generate-001", media="image", prompt="a red bicycle",
                      params={"aspect_ratio": "16:9", "resolution": "2K", **params})


def b64_of(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def wait_terminal(backend: VertexBackend, job: RemoteJob, timeout: float = 5.0) -> JobStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = backend.poll(job)
        if status.state.terminal:
            return status
        assert time.monotonic() < deadline, f"job stuck in {status.state}"
        time.sleep(0.01)


# --- construction and credentials -----------------------------------------------------------------------------------


def test_needs_a_project_and_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError) as err:
        VertexBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "GOOGLE_CLOUD_PROJECT" in err.value.message
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    with pytest.raises(BackendError) as err:
        VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "application-default" in err.value.message
    assert "GOOGLE_APPLICATION_CREDENTIALS" in err.value.message
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps({"type": "external_account", "audience": "x"}))
    with pytest.raises(BackendError) as err:
        VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(odd)}, tmp_path)
    assert "external_account" in err.value.message
    odd.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                               "refresh_token": "r", "token_uri": "https://evil.example.com/token"}))
    with pytest.raises(BackendError) as err:
        VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(odd)}, tmp_path)
    assert "outside googleapis.com" in err.value.message


def test_service_account_assertion_and_token_cache(vertex: VertexBackend, fake: FakeGoogle,
                                                   rsa_pem: tuple[str, bytes]) -> None:
    assert isinstance(vertex, Backend) and PROJECT in repr(vertex)
    job = vertex.submit(veo())
    wait_terminal(vertex, job)
    [grant] = fake.requests_to("/token")  # one token for the submit and every poll
    assert grant.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in grant.headers
    assert set(grant.body) == {"grant_type", "assertion"}
    assert grant.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assertion = grant.body["assertion"]
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
    claims = jwt.decode(assertion, rsa_pem[1], algorithms=["RS256"], audience="https://oauth2.googleapis.com/token")
    assert claims["iss"] == EMAIL and claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    assert claims["exp"] - claims["iat"] == 3600 and abs(claims["iat"] - time.time()) < 60
    [token] = fake.tokens
    calls = [r for r in fake.requests if r.path.startswith("/v1/")]
    assert len(calls) >= 2 and all(r.headers["authorization"] == f"Bearer {token}" for r in calls)


def test_a_token_near_expiry_is_renewed(fake: FakeGoogle, sa_file: Path, tmp_path: Path) -> None:
    fake.token_lifetime_s = 200  # inside google-auth's 3 min 45 s refresh margin
    backend = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)},
                            tmp_path / "work", policy=http.RetryPolicy(sleep=Sleeps()))
    backend.submit(imagen())
    backend.submit(imagen())
    assert len(fake.requests_to("/token")) == 2
    backend.close()


def test_application_default_user_credentials(fake: FakeGoogle, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    gcloud = tmp_path / "gcloud"
    gcloud.mkdir()
    (gcloud / "application_default_credentials.json").write_text(json.dumps({
        "type": "authorized_user", "client_id": "764086051850-abc.apps.googleusercontent.com",
        "client_secret": CLIENT_SECRET, "refresh_token": REFRESH, "quota_project_id": "billing-proj"}))
    fake.add_user("764086051850-abc.apps.googleusercontent.com", CLIENT_SECRET, REFRESH)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    backend = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT}, tmp_path / "work",
                            policy=http.RetryPolicy(sleep=Sleeps()))
    assert backend.credentials.kind == "authorized_user"
    backend.submit(imagen())
    [grant] = fake.requests_to("/token")
    assert grant.body == {"grant_type": "refresh_token", "client_id": "764086051850-abc.apps.googleusercontent.com",
                          "client_secret": CLIENT_SECRET, "refresh_token": REFRESH,
                          "scope": "https://www.googleapis.com/auth/cloud-platform"}
    [call] = fake.requests_to(":predict")
    assert call.headers["x-goog-user-project"] == "billing-proj"
    assert call.headers["authorization"].startswith("Bearer ya29.")
    backend.close()


def test_refused_credentials_are_auth(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps,
                                      rsa_pem: tuple[str, bytes]) -> None:
    fake.fail_next("invalid_grant", on="token")
    with pytest.raises(BackendError) as err:
        vertex.submit(veo())
    assert err.value.kind == ErrorKind.AUTH and err.value.vendor_code == "invalid_grant"
    assert "invalid_grant: Invalid JWT Signature." in err.value.message
    assert fake.requests_to(":predictLongRunning") == [] and sleeps == []
    assert rsa_pem[0] not in str(err.value)


def test_token_endpoint_hiccup_is_retried(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("503", on="token")
    vertex.submit(imagen())
    assert len(fake.requests_to("/token")) == 2 and len(sleeps) == 1


def test_a_revoked_token_is_renewed_once(vertex: VertexBackend, fake: FakeGoogle) -> None:
    vertex.submit(imagen())
    fake.revoke_tokens()
    vertex.submit(imagen())
    assert len(fake.requests_to("/token")) == 2
    first, refused, resent = (r.headers["authorization"] for r in fake.requests_to(":predict"))
    assert first == refused != resent and resent == f"Bearer {next(iter(fake.tokens))}"


def test_signing_without_cryptography_says_so(sa_file: Path, tmp_path: Path, fake: FakeGoogle,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jwt.algorithms.has_crypto", False)
    backend = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)},
                            tmp_path)
    with pytest.raises(BackendError) as err:
        backend.submit(imagen())
    assert err.value.kind == ErrorKind.AUTH and "cryptography" in err.value.message
    assert fake.requests == []
    backend.close()


# --- Veo 3.1 --------------------------------------------------------------------------------------------------------


def test_veo_text_to_video_body(vertex: VertexBackend, fake: FakeGoogle) -> None:
    job = vertex.submit(veo(seed=7))
    [post] = fake.requests_to(":predictLongRunning")
    assert post.path == f"{MODEL_PATH}/veo-3.1-generate-001:predictLongRunning"
    assert post.body == {"instances": [{"prompt": "a runner jogs"}],
                         "parameters": {"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9",
                                        "resolution": "1080p", "generateAudio": True, "seed": 7}}
    assert job.remote_id.startswith(f"projects/{PROJECT}/locations/us-central1/publishers/google/models/"
                                    "veo-3.1-generate-001/operations/")


def test_veo_fast_first_and_last_frame(vertex: VertexBackend, fake: FakeGoogle, still: Path, tmp_path: Path) -> None:
    last = tmp_path / "last.jpg"
    Image.new("RGB", (16, 9), (0, 0, 200)).save(last, format="JPEG")
    vertex.submit(veo(model_id="veo-3.1-fast-generate-001", variant="fast", duration_s=4, resolution="720p",
                      aspect_ratio="9:16", audio=False, inputs={"image": [still], "last_frame": [last]}))
    [post] = fake.requests_to(":predictLongRunning")
    assert post.path == f"{MODEL_PATH}/veo-3.1-fast-generate-001:predictLongRunning"
    assert post.body == {
        "instances": [{"prompt": "a runner jogs",
                       "image": {"bytesBase64Encoded": b64_of(still), "mimeType": "image/png"},
                       "lastFrame": {"bytesBase64Encoded": b64_of(last), "mimeType": "image/jpeg"}}],
        "parameters": {"sampleCount": 1, "durationSeconds": 4, "aspectRatio": "9:16", "resolution": "720p",
                       "generateAudio": False}}


def test_veo_reference_images(vertex: VertexBackend, fake: FakeGoogle, still: Path) -> None:
    vertex.submit(veo(inputs={"images": [still, still]}))
    [post] = fake.requests_to(":predictLongRunning")
    ref = {"image": {"bytesBase64Encoded": b64_of(still), "mimeType": "image/png"}, "referenceType": "ASSET"}
    assert post.body["instances"] == [{"prompt": "a runner jogs", "referenceImages": [ref, ref]}]
    with pytest.raises(BackendError) as err:
        vertex.submit(veo(inputs={"images": [still], "image": [still]}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "cannot be combined" in err.value.message


def test_full_cycle_lands_a_decodable_video(vertex: VertexBackend, fake: FakeGoogle, tmp_path: Path) -> None:
    fake.hold = True
    job = vertex.submit(veo())
    running = vertex.poll(job)
    assert running.state == JobState.RUNNING
    [fetch] = fake.requests_to(":fetchPredictOperation")
    resource = job.remote_id.rpartition("/operations/")[0]
    assert fetch.path == f"/v1/{resource}:fetchPredictOperation" and fetch.body == {"operationName": job.remote_id}
    fake.release_all()
    status = wait_terminal(vertex, job)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "video" and art.path is not None and art.mime_type == "video/mp4"
    dest = vertex.fetch(job, art, tmp_path / "takes" / "wide" / "take-1.mp4")
    assert dest.read_bytes() == mp4_bytes()
    with av.open(str(dest)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 12 and frames[0].width == 64
    assert vertex.cancel(job) is False


def test_veo_validation_names_the_field(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    with pytest.raises(BackendError) as err:
        vertex.submit(veo(duration_s=7))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert "parameters.durationSeconds" in err.value.message and "7 seconds" in err.value.message
    assert sleeps == []


def test_429_on_submit_honours_retry_after(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="submit", times=2, retry_after=7)
    vertex.submit(veo())
    assert sleeps == [7.0, 7.0] and len(fake.requests_to(":predictLongRunning")) == 3


def test_429_on_poll_honours_retry_info(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    job = vertex.submit(veo())
    fake.fail_next("429", on="fetch", retry_delay="12s")
    vertex.poll(job)
    assert sleeps == [12.0]


def test_429_without_a_hint_backs_off(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("429", on="submit", times=2)
    vertex.submit(veo())
    assert len(sleeps) == 2 and all(0.0 <= w <= 1.0 for w in sleeps)


def test_503_on_submit_and_500_on_poll_then_success(vertex: VertexBackend, fake: FakeGoogle,
                                                    sleeps: Sleeps) -> None:
    fake.fail_next("503", on="submit")
    job = vertex.submit(veo())
    fake.fail_next("500", on="fetch")
    assert wait_terminal(vertex, job).state == JobState.SUCCEEDED
    assert len(fake.requests_to(":predictLongRunning")) == 2 and len(sleeps) == 2


def test_500_on_submit_is_not_resent(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    # an internal error after the request arrived may have started a (billed) operation
    fake.fail_next("500", on="submit")
    with pytest.raises(BackendError) as err:
        vertex.submit(veo())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and err.value.vendor_code == "INTERNAL"
    assert len(fake.requests_to(":predictLongRunning")) == 1 and sleeps == []


def test_connection_cut_mid_result_then_a_complete_file(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps,
                                                        tmp_path: Path) -> None:
    job = vertex.submit(veo())
    time.sleep(0.06)
    fake.fail_next("cut", on="fetch")
    status = vertex.poll(job)
    assert status.state == JobState.SUCCEEDED and len(sleeps) == 1
    assert len(fake.requests_to(":fetchPredictOperation")) == 2
    dest = vertex.fetch(job, status.artifacts[0], tmp_path / "take.mp4")
    assert dest.read_bytes() == mp4_bytes()
    work = tmp_path / "work"
    assert [p.suffix for p in work.iterdir()] == [".mp4"]  # no partial file left


def test_an_operation_gone_is_expired(vertex: VertexBackend, fake: FakeGoogle) -> None:
    job = vertex.submit(veo())
    fake.fail_next("gone", on="fetch")
    status = vertex.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED


def test_veo_output_moderation(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("filtered", on="submit")
    status = wait_terminal(vertex, vertex.submit(veo()))
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_OUTPUT
    assert "usage guidelines" in status.message and "90789179" in status.message
    assert sleeps == []


def test_veo_input_moderation(vertex: VertexBackend, fake: FakeGoogle) -> None:
    fake.fail_next("moderated_input", on="submit")
    status = wait_terminal(vertex, vertex.submit(veo()))
    assert status.state == JobState.MODERATED and status.error_kind == ErrorKind.MODERATED_INPUT
    assert "prompt could not be submitted" in status.message and status.vendor_code == "3"


def test_veo_operation_error_and_gcs_output(vertex: VertexBackend, fake: FakeGoogle) -> None:
    fake.fail_next("op_error", on="submit")
    status = wait_terminal(vertex, vertex.submit(veo()))
    assert status.state == JobState.FAILED and status.error_kind == ErrorKind.VENDOR_DOWN
    assert "Internal error during video generation" in status.message
    fake.fail_next("gcs", on="submit")
    status = wait_terminal(vertex, vertex.submit(veo()))
    assert status.state == JobState.FAILED and "gs://canvas-bucket/out/sample_0.mp4" in status.message
    assert "storage access" in status.message


# --- Imagen 4 -------------------------------------------------------------------------------------------------------


def test_imagen_body_with_seed_and_landed_png(vertex: VertexBackend, fake: FakeGoogle, tmp_path: Path) -> None:
    job = vertex.submit(imagen(seed=11))
    [post] = fake.requests_to(":predict")
    assert post.path == f"{MODEL_PATH}/imagen-4.0-generate-001:predict"
    assert post.body == {"instances": [{"prompt": "a red bicycle"}],
                         "parameters": {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "16:9",
                                        "sampleImageSize": "2K", "seed": 11, "addWatermark": False}}
    status = vertex.poll(job)
    assert status.state == JobState.SUCCEEDED
    dest = vertex.fetch(job, status.artifacts[0], tmp_path / "still.png")
    with Image.open(dest) as img:
        assert img.size == (64, 48)


def test_imagen_without_seed_keeps_the_watermark(vertex: VertexBackend, fake: FakeGoogle) -> None:
    vertex.submit(imagen(resolution=None))
    [post] = fake.requests_to(":predict")
    assert post.body["parameters"] == {"sampleCount": 1, "includeRaiReason": True, "aspectRatio": "16:9"}


def test_imagen_input_moderation(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("rai_prompt", on="predict")
    with pytest.raises(BackendError) as err:
        vertex.submit(imagen())
    assert err.value.kind == ErrorKind.MODERATED_INPUT and "Responsible AI" in err.value.message
    assert len(fake.requests_to(":predict")) == 1 and sleeps == []


def test_imagen_output_moderation(vertex: VertexBackend, fake: FakeGoogle) -> None:
    fake.fail_next("rai_filtered", on="predict")
    with pytest.raises(BackendError) as err:
        vertex.submit(imagen())
    assert err.value.kind == ErrorKind.MODERATED_OUTPUT and "58061214" in err.value.message


def test_imagen_503_then_success_and_billing(vertex: VertexBackend, fake: FakeGoogle, sleeps: Sleeps) -> None:
    fake.fail_next("503", on="predict")
    vertex.submit(imagen())
    assert len(sleeps) == 1
    fake.fail_next("403", on="predict", message="This API method requires billing to be enabled.")
    with pytest.raises(BackendError) as err:
        vertex.submit(imagen())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and err.value.vendor_code == "BILLING_DISABLED"


def test_wrong_kind_of_model_is_refused(vertex: VertexBackend, fake: FakeGoogle) -> None:
    request = veo().model_copy(update={"media": "image"})
    with pytest.raises(BackendError) as err:
        vertex.submit(request)
    assert err.value.kind == ErrorKind.INVALID_REQUEST and fake.requests == []


# --- hosts and secrets ----------------------------------------------------------------------------------------------


def test_hosts_and_the_one_override(vertex: VertexBackend, fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch,
                                    sa_file: Path, tmp_path: Path) -> None:
    assert vertex.api_root() == f"{fake.base_url}/v1" and vertex.token_url == f"{fake.base_url}/token"
    monkeypatch.delenv("BLENDER_CANVAS_VERTEX_URL")
    assert vertex.api_root() == "https://us-central1-aiplatform.googleapis.com/v1"
    assert vertex.api_root("global") == "https://aiplatform.googleapis.com/v1"
    assert vertex.api_root("eu") == "https://aiplatform.eu.rep.googleapis.com/v1"
    assert vertex.token_url == "https://oauth2.googleapis.com/token"
    other = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file),
                           "GOOGLE_CLOUD_LOCATION": "europe-west4"}, tmp_path)
    assert other.api_root() == "https://europe-west4-aiplatform.googleapis.com/v1"
    other.close()
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")  # the engine passes only GOOGLE_CLOUD_PROJECT in keys
    other = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)}, tmp_path)
    assert other.location == "global" and other.api_root() == "https://aiplatform.googleapis.com/v1"
    other.close()
    with pytest.raises(BackendError):
        vertex.poll(RemoteJob(backend="vertex", remote_id="https://evil.example.com/steal"))


def test_secrets_never_leak(fake: FakeGoogle, sa_file: Path, tmp_path: Path, rsa_pem: tuple[str, bytes],
                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = VertexBackend({"GOOGLE_CLOUD_PROJECT": PROJECT, "GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)},
                            tmp_path / "work", policy=http.RetryPolicy(sleep=Sleeps()))
    fake.fail_next("429", on="submit", retry_after=1)
    job = backend.submit(veo())
    fake.fail_next("cut", on="fetch")
    time.sleep(0.06)
    status = wait_terminal(backend, job)
    [token] = fake.tokens
    fake.fail_next("500", on="predict", message=f"token {token} was echoed")
    fake.fail_next("500", on="predict", message=f"token {token} was echoed")
    fake.fail_next("500", on="predict", message=f"token {token} was echoed")
    fake.fail_next("500", on="predict", message=f"token {token} was echoed")
    fake.fail_next("500", on="predict", message=f"token {token} was echoed")
    with pytest.raises(BackendError) as err:
        backend.submit(imagen())
    assert token not in str(err.value) and "***" in err.value.message
    logging.getLogger("blender_canvas.providers.vertex").warning("oops %s", token)
    for secret in (token, rsa_pem[0]):
        assert secret not in caplog.text and secret not in job.model_dump_json()
        assert secret not in status.model_dump_json() and secret not in repr(backend.credentials)
    # the bearer token went only to the Vertex paths; the assertion only to the token endpoint
    for rec in fake.requests:
        if rec.path == "/token":
            assert "authorization" not in rec.headers
        else:
            assert rec.path.startswith(f"/v1/projects/{PROJECT}/") and rec.headers["authorization"] == f"Bearer {token}"
    backend.close()


def test_credentials_file_is_read_once(sa_file: Path) -> None:
    creds = GoogleCredentials.locate({"GOOGLE_APPLICATION_CREDENTIALS": str(sa_file)})
    assert creds.kind == "service_account" and creds.token_uri == "https://oauth2.googleapis.com/token"
    assert "private" not in repr(creds)
