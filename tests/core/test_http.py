"""The shared HTTP layer: clients, base-URL overrides, retries, error classification, redaction and downloads.

Network behaviour runs over real HTTP on 127.0.0.1 against the fake fal server and its fake CDN.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from blender_canvas.providers import downloads, http, redaction
from blender_canvas.providers.backend import BackendError, ErrorKind
from tests.core.conftest import Sleeps
from tests.fakes import FakeFal
from tests.fakes.fal_server import mp4_bytes, png_bytes, wav_bytes

KEY = "fal-test-key-MARKER-123"
AUTH = {"Authorization": f"Key {KEY}"}


@pytest.fixture
def fake() -> Iterator[FakeFal]:
    with FakeFal(KEY, latency_s=0.0) as server:
        yield server


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with http.make_client("fal") as c:
        yield c


@pytest.fixture
def policy(sleeps: Sleeps) -> http.RetryPolicy:
    return http.RetryPolicy(sleep=sleeps, rng=random.Random(1))


def video_url(fake: FakeFal, client: httpx.Client) -> str:
    """Run one job on the fake and return its CDN file URL."""
    answer = client.post(f"{fake.base_url}/fal-ai/veo3.1", json={"prompt": "x"}, headers=AUTH).json()
    result = client.get(answer["response_url"], headers=AUTH).json()
    return str(result["video"]["url"])


# --- clients and base URLs --------------------------------------------------------------------------------------------


def test_client_defaults() -> None:
    with http.make_client("fal") as c:
        assert c.timeout == httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=10.0)
        assert c.headers["user-agent"].startswith("blender-canvas/")
        assert c.follow_redirects is False
    with http.make_client("fal", timeout=httpx.Timeout(5.0)) as c:
        assert c.timeout == httpx.Timeout(5.0)


def test_rehost_replaces_scheme_and_host_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert http.env_var("fal") == "BLENDER_CANVAS_FAL_URL"
    assert http.env_var("byte-plus") == "BLENDER_CANVAS_BYTE_PLUS_URL"
    monkeypatch.delenv("BLENDER_CANVAS_FAL_URL", raising=False)
    assert http.rehost("https://queue.fal.run/a/b?x=1", "fal") == "https://queue.fal.run/a/b?x=1"
    assert http.base_url("fal", "https://queue.fal.run/") == "https://queue.fal.run"
    monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", "http://127.0.0.1:8123/")
    assert http.rehost("https://queue.fal.run/a/b?x=1", "fal") == "http://127.0.0.1:8123/a/b?x=1"
    # every host of the backend maps onto the one override
    assert http.rehost("https://rest.fal.ai/storage/upload", "fal") == "http://127.0.0.1:8123/storage/upload"
    assert http.base_url("fal", "https://queue.fal.run") == "http://127.0.0.1:8123"
    # with a host list, files on other hosts (pre-signed CDN URLs) stay as the vendor returned them
    hosts = {"queue.fal.run", "rest.fal.ai"}
    assert http.rehost("https://v3.fal.media/files/a.mp4", "fal", hosts=hosts) == "https://v3.fal.media/files/a.mp4"
    assert http.rehost("https://queue.fal.run/a", "fal", hosts=hosts) == "http://127.0.0.1:8123/a"
    # a proxy mounted under a path keeps that path in front
    monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", "https://proxy.example/fal")
    assert http.rehost("https://queue.fal.run/a/b", "fal") == "https://proxy.example/fal/a/b"
    # other backends are untouched
    assert http.rehost("https://api.openai.com/v1/videos", "openai") == "https://api.openai.com/v1/videos"


def test_origin() -> None:
    assert http.origin("https://Queue.Fal.Run/x") == "queue.fal.run:443"
    assert http.origin("http://127.0.0.1:8000/x") == "127.0.0.1:8000"
    assert http.origin("http://example.com") == "example.com:80"


# --- Retry-After ------------------------------------------------------------------------------------------------------


def test_retry_after_forms() -> None:
    now = 1_800_000_000.0
    assert http.parse_retry_after({"retry-after": "7"}) == 7.0
    assert http.parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert http.parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(now + 42, usegmt=True)
    assert http.parse_retry_after({"retry-after": date}, now=now) == pytest.approx(42.0)
    assert http.parse_retry_after({"retry-after": email.utils.formatdate(now - 60, usegmt=True)}, now=now) == 0.0
    assert http.parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=now) == 0.0
    assert http.parse_retry_after({"retry-after": "soon"}) is None
    assert http.parse_retry_after({}) is None
    assert http.parse_retry_after(httpx.Headers({"Retry-After": "3"})) == 3.0


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = http.RetryPolicy(rng=random.Random(3))
    for attempt in range(1, 12):
        for _ in range(20):
            assert 0.0 <= policy.backoff(attempt) <= min(30.0, 0.5 * 2 ** (attempt - 1))
    capped = http.RetryPolicy(sleep=lambda s: None)
    assert capped.wait_for(1, httpx.Response(429, headers={"Retry-After": "3600"})) == 120.0
    assert capped.wait_for(1, httpx.Response(429, headers={"Retry-After": "4"})) == 4.0


def _wait_hint(response: httpx.Response) -> float | None:
    wait = response.json().get("wait")
    return float(wait) if wait is not None else None


def test_a_vendor_policy_is_the_shared_one_configured() -> None:
    policy = dataclasses.replace(http.RetryPolicy(sleep=lambda s: None, rng=random.Random(5)),
                                 give_up=lambda r: r.status_code == 429 and r.json().get("code") == "no_credit",
                                 retry_hint=_wait_hint, rate_floor_s=1.0)
    out_of_credit = httpx.Response(429, json={"code": "no_credit"}, headers={"x-should-retry": "true"})
    assert not policy.should_retry_status(out_of_credit)  # final, whatever the status or the server's hint
    assert policy.should_retry_status(httpx.Response(429, json={"code": "busy"}))
    assert policy.wait_for(1, httpx.Response(429, json={"wait": 7})) == 7.0  # the body's hint
    assert policy.wait_for(1, httpx.Response(429, json={"wait": 7}, headers={"Retry-After": "3"})) == 3.0
    assert policy.wait_for(1, httpx.Response(503, json={"wait": 900})) == 120.0  # capped like any wait
    for attempt in (1, 2, 3):  # a bare 429: at least the floor, doubling, at most 25 % more
        wait = policy.wait_for(attempt, httpx.Response(429, json={}))
        assert 2 ** (attempt - 1) <= wait <= 1.25 * 2 ** (attempt - 1)
    assert policy.wait_for(1, httpx.Response(503, json={})) <= 0.5  # other statuses: full jitter as usual
    assert http.DEFAULT_POLICY.should_retry_status(out_of_credit)  # the shared default is unchanged


def test_require_keys_names_every_missing_key_and_hides_the_rest() -> None:
    with pytest.raises(BackendError) as err:
        http.require_keys({"A_KEY": "  ", "C_KEY": "present-value-1"}, "Vendor", "A_KEY", "B_KEY", "C_KEY")
    assert err.value.kind == ErrorKind.AUTH
    assert err.value.message == "Vendor needs A_KEY and B_KEY (add-on preferences or environment)"
    assert http.require_key({"A_KEY": " pasted-key-4321\n"}, "Vendor", "A_KEY") == "pasted-key-4321"
    assert redaction.redact("sent pasted-key-4321 along") == "sent *** along"


# --- send -------------------------------------------------------------------------------------------------------------


def test_get_retries_429_honouring_the_header(fake: FakeFal, client: httpx.Client, sleeps: Sleeps,
                                              policy: http.RetryPolicy) -> None:
    answer = client.post(f"{fake.base_url}/fal-ai/veo3.1", json={}, headers=AUTH).json()
    fake.fail_next("429", on="status", retry_after=3)
    fake.fail_next("429", on="status", retry_after_date=20)
    fake.fail_next("429", on="status")
    response = http.send(client, "GET", answer["status_url"], policy=policy, headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "COMPLETED"
    assert sleeps[0] == 3.0
    assert 18.5 <= sleeps[1] <= 20.0
    assert 0.0 <= sleeps[2] <= 2.0  # back-off on the third attempt: at most 0.5 * 2**2
    assert len(fake.requests_to("api", "GET")) == 4


def test_post_is_not_retried_unless_safe(fake: FakeFal, client: httpx.Client, sleeps: Sleeps,
                                         policy: http.RetryPolicy) -> None:
    url = f"{fake.base_url}/fal-ai/veo3.1"
    fake.fail_next("503", on="submit")
    response = http.send(client, "POST", url, policy=policy, json={}, headers=AUTH)
    assert response.status_code == 503 and sleeps == []
    fake.fail_next("503", on="submit")
    response = http.send(client, "POST", url, policy=policy, retry_safe=True, json={}, headers=AUTH)
    assert response.status_code == 200 and len(sleeps) == 1
    fake.fail_next("429", on="submit", retry_after=2)
    response = http.send(client, "POST", url, policy=policy, refused=lambda r: r.status_code == 429, json={},
                         headers=AUTH)
    assert response.status_code == 200 and sleeps[-1] == 2.0


def test_connect_errors_retry_even_a_post(client: httpx.Client, sleeps: Sleeps) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    policy = http.RetryPolicy(sleep=sleeps, max_attempts=3)
    with pytest.raises(BackendError) as err:
        http.send(client, "POST", f"http://127.0.0.1:{port}/x", policy=policy, json={}, backend_label="fal")
    assert err.value.kind == ErrorKind.NETWORK and err.value.kind.retryable
    assert err.value.message.startswith("fal: network error (ConnectError)")
    assert len(sleeps) == 2  # the request never left, so resending is safe


def test_x_should_retry_overrides_the_status() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(400, headers={"x-should-retry": "true"})
        if len(calls) == 2:
            return httpx.Response(503, headers={"x-should-retry": "false"})
        return httpx.Response(200)

    sleeps = Sleeps()
    with httpx.Client(transport=httpx.MockTransport(handler)) as c:
        response = http.send(c, "GET", "http://api.test/x", policy=http.RetryPolicy(sleep=sleeps))
    assert response.status_code == 503 and len(calls) == 2 and len(sleeps) == 1


def test_x_should_retry_true_makes_a_post_safe() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500, headers={"x-should-retry": "true"}) if len(calls) == 1 else httpx.Response(200)

    sleeps = Sleeps()
    with httpx.Client(transport=httpx.MockTransport(handler)) as c:
        response = http.send(c, "POST", "http://api.test/x", policy=http.RetryPolicy(sleep=sleeps), json={})
    assert response.status_code == 200 and len(calls) == 2


def test_redirects_drop_credentials_on_another_host(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "api.test":
            return httpx.Response(302, headers={"Location": "https://cdn.test/signed/file.png?sig=1"})
        return httpx.Response(200, content=png_bytes())

    with httpx.Client(transport=httpx.MockTransport(handler)) as c:
        downloads.download(c, "https://api.test/v1/content", tmp_path / "a.png", media="image", max_bytes=1 << 20,
                           auth_headers={"Authorization": "Bearer sk-abc"}, allowed_auth_hosts={"api.test"})
    assert [r.url.host for r in seen] == ["api.test", "cdn.test"]
    assert seen[0].headers["authorization"] == "Bearer sk-abc"
    assert "authorization" not in seen[1].headers
    assert http.auth_allowed("https://api.test/x", {"api.test"})
    assert not http.auth_allowed("https://api.test:8443/x", {"api.test"})
    assert http.auth_allowed("http://127.0.0.1:8000/x", {"127.0.0.1:8000"})


def test_retries_stop_at_the_cap(fake: FakeFal, client: httpx.Client, sleeps: Sleeps) -> None:
    answer = client.post(f"{fake.base_url}/fal-ai/veo3.1", json={}, headers=AUTH).json()
    fake.fail_next("503", on="status", times=10)
    policy = http.RetryPolicy(sleep=sleeps, max_attempts=4)
    response = http.send(client, "GET", answer["status_url"], policy=policy, headers=AUTH)
    assert response.status_code == 503 and len(sleeps) == 3
    assert http.error_for(response, "fal").kind == ErrorKind.VENDOR_DOWN


# --- error classification ---------------------------------------------------------------------------------------------


def _response(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers) if body is not None else \
        httpx.Response(status, headers=headers)


@pytest.mark.parametrize(("status", "kind"), [
    (401, ErrorKind.AUTH), (403, ErrorKind.AUTH), (402, ErrorKind.OUT_OF_CREDITS), (429, ErrorKind.RATE_LIMITED),
    (400, ErrorKind.INVALID_REQUEST), (404, ErrorKind.INVALID_REQUEST), (422, ErrorKind.INVALID_REQUEST),
    (500, ErrorKind.VENDOR_DOWN), (502, ErrorKind.VENDOR_DOWN), (503, ErrorKind.VENDOR_DOWN),
])
def test_error_kinds(status: int, kind: ErrorKind) -> None:
    error = http.error_for(_response(status, {"detail": "nope"}), "fal")
    assert error.kind == kind and error.status == status
    assert error.message.startswith("fal: ") and error.message.endswith(f"(HTTP {status}): nope")


def test_error_messages_from_common_shapes() -> None:
    assert "bad duration" in http.error_for(_response(400, {"detail": "bad duration"}), "v").message
    openai = http.error_for(_response(400, {"error": {"message": "Invalid size", "code": "invalid_size"}}), "openai")
    assert "Invalid size" in openai.message and openai.vendor_code == "invalid_size"
    assert "plain" in http.error_for(_response(400, {"message": "plain"}), "v").message
    fastapi = http.error_for(_response(422, {"detail": [{"loc": ["body", "duration"], "msg": "Input should be '5'",
                                                         "type": "literal_error"}]}), "fal")
    assert fastapi.kind == ErrorKind.INVALID_REQUEST
    assert "duration: Input should be '5'" in fastapi.message and fastapi.vendor_code == "literal_error"
    moderated = http.error_for(_response(422, {"detail": [{"loc": ["body", "prompt"], "msg": "flagged",
                                                           "type": "content_policy_violation"}]}), "fal")
    assert moderated.kind == ErrorKind.MODERATED_INPUT and not moderated.kind.retryable
    limited = http.error_for(_response(429, {"detail": "slow down"}, **{"Retry-After": "12"}), "fal")
    assert limited.retry_after_s == 12.0
    text = http.error_for(httpx.Response(502, text="<html>Bad gateway</html>"), "fal")
    assert "Bad gateway" in text.message and text.kind == ErrorKind.VENDOR_DOWN
    typed = http.error_for(_response(400, {"detail": "x"}, **{"x-fal-error-type": "request_timeout"}), "fal")
    assert typed.vendor_code == "request_timeout"


def test_error_messages_are_redacted() -> None:
    redaction.register_secret("sk-secret-value-0000111122223333")
    error = http.error_for(_response(401, {"error": {"message": "Incorrect API key sk-secret-value-0000111122223333"}}),
                           "openai")
    assert "sk-secret-value" not in str(error) and "***" in error.message


# --- redaction --------------------------------------------------------------------------------------------------------


def test_redact() -> None:
    redaction.register_secret("id-abcdef12345:secret-zyxw98765")
    assert redaction.redact("key id-abcdef12345:secret-zyxw98765 here") == "key *** here"
    assert redaction.redact("half: secret-zyxw98765") == "half: ***"
    assert redaction.redact("Authorization: Key fal-unknown-key-1234567") == "Authorization: ***"
    assert redaction.redact("sent Bearer sk-proj-ABCDEF0123456789 to x") == "sent Bearer *** to x"
    assert redaction.redact("{'authorization': 'Key abc'}") == "{'authorization': '***'}"
    # ordinary prose keeps its words
    prose = "the API key was rejected; Key ID and Secret"
    assert redaction.redact(prose) == prose
    redaction.register_secret("abc")  # too short to register safely
    assert redaction.redact("abc") == "abc"
    assert redaction.redact("") == ""


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    redaction.register_secret(KEY)
    caplog.set_level(logging.DEBUG)
    for name in ("blender_canvas", "blender_canvas.providers.http"):
        logging.getLogger(name).warning("sending %s", KEY)
    try:
        raise RuntimeError(f"boom {KEY}")
    except RuntimeError:
        logging.getLogger("blender_canvas").exception("failed")
    child = redaction.get_logger("blender_canvas.some.module")
    child.info("key=%s", KEY)
    assert len(caplog.records) == 4
    assert KEY not in caplog.text
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert "sending ***" in caplog.text


# --- downloads --------------------------------------------------------------------------------------------------------


def test_download_lands_atomically(fake: FakeFal, client: httpx.Client, tmp_path: Path,
                                   policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    dest = tmp_path / "deep" / "take.mp4"
    assert downloads.download(client, url, dest, media="video", max_bytes=10 << 20, policy=policy) == dest
    assert dest.read_bytes() == mp4_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["take.mp4"]


def test_download_sends_auth_only_to_allowed_hosts(fake: FakeFal, client: httpx.Client, tmp_path: Path,
                                                   policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    downloads.download(client, url, tmp_path / "a.mp4", media="video", max_bytes=10 << 20, auth_headers=AUTH,
                       allowed_auth_hosts={http.origin(fake.base_url)}, policy=policy)
    downloads.download(client, url, tmp_path / "b.mp4", media="video", max_bytes=10 << 20, auth_headers=AUTH,
                       allowed_auth_hosts={http.origin(fake.cdn_url)}, policy=policy)
    first, second = fake.requests_to("cdn")
    assert "authorization" not in first.headers  # same IP, another port: not the API host
    assert second.headers["authorization"] == f"Key {KEY}"


def test_download_cut_is_retried_and_restarts(fake: FakeFal, client: httpx.Client, tmp_path: Path, sleeps: Sleeps,
                                              policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    fake.fail_next("cut", times=2)
    dest = tmp_path / "take.mp4"
    downloads.download(client, url, dest, media="video", max_bytes=10 << 20, policy=policy)
    assert dest.read_bytes() == mp4_bytes()
    assert len(fake.requests_to("cdn")) == 3 and len(sleeps) == 2


def test_download_cut_every_time_leaves_nothing(fake: FakeFal, client: httpx.Client, tmp_path: Path,
                                               sleeps: Sleeps) -> None:
    url = video_url(fake, client)
    fake.fail_next("cut", times=3)
    dest = tmp_path / "take.mp4"
    dest_before = tmp_path / "keep.mp4"
    dest_before.write_bytes(b"old")
    with pytest.raises(BackendError) as err:
        downloads.download(client, url, dest, media="video", max_bytes=10 << 20,
                           policy=http.RetryPolicy(sleep=sleeps, max_attempts=3))
    assert err.value.kind == ErrorKind.NETWORK and err.value.kind.retryable
    assert not dest.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_download_checks_the_content(fake: FakeFal, client: httpx.Client, tmp_path: Path,
                                     policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    with pytest.raises(BackendError) as err:
        downloads.download(client, url, tmp_path / "x.png", media="image", max_bytes=10 << 20, policy=policy)
    assert err.value.kind == ErrorKind.VENDOR_DOWN and "expected a image file" in err.value.message
    fake.fail_next("garbage")
    with pytest.raises(BackendError) as err:
        downloads.download(client, url, tmp_path / "x.mp4", media="video", max_bytes=10 << 20, policy=policy)
    assert "not a media file" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_download_enforces_the_size_cap(fake: FakeFal, client: httpx.Client, tmp_path: Path,
                                        policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    with pytest.raises(BackendError) as err:
        downloads.download(client, url, tmp_path / "x.mp4", media="video", max_bytes=1000, policy=policy)
    assert err.value.kind == ErrorKind.INVALID_REQUEST and "1000-byte limit" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_download_of_an_expired_url(fake: FakeFal, client: httpx.Client, tmp_path: Path, sleeps: Sleeps,
                                    policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    fake.fail_next("expired", on="download")
    with pytest.raises(BackendError) as err:
        downloads.download(client, url, tmp_path / "x.mp4", media="video", max_bytes=10 << 20, policy=policy)
    assert err.value.kind == ErrorKind.RESULT_EXPIRED and sleeps == []


def test_download_retries_a_503(fake: FakeFal, client: httpx.Client, tmp_path: Path, sleeps: Sleeps,
                                policy: http.RetryPolicy) -> None:
    url = video_url(fake, client)
    fake.fail_next("503", on="download")
    downloads.download(client, url, tmp_path / "x.mp4", media="video", max_bytes=10 << 20, policy=policy)
    assert len(sleeps) == 1


def test_sniff() -> None:
    assert downloads.sniff(png_bytes()[:64]) == ("image", "image/png")
    assert downloads.sniff(mp4_bytes()[:64]) == ("video", "video/mp4")
    assert downloads.sniff(wav_bytes()[:64]) == ("audio", "audio/wav")
    assert downloads.sniff(b"\xff\xd8\xff\xe0" + bytes(8)) == ("image", "image/jpeg")
    assert downloads.sniff(b"RIFF\0\0\0\0WEBPVP8 ") == ("image", "image/webp")
    assert downloads.sniff(b"GIF89a....") == ("image", "image/gif")
    assert downloads.sniff(b"\x1a\x45\xdf\xa3....") == ("video", "video/webm")
    assert downloads.sniff(b"\0\0\0\x14ftypqt  ") == ("video", "video/quicktime")
    assert downloads.sniff(b"\0\0\0\x20ftypM4A ") == ("audio", "audio/mp4")
    assert downloads.sniff(b"ID3\x04\0") == ("audio", "audio/mpeg")
    assert downloads.sniff(b"\xff\xfb\x90\x00") == ("audio", "audio/mpeg")
    assert downloads.sniff(b"OggS\0") == ("audio", "audio/ogg")
    assert downloads.sniff(b"fLaC\0") == ("audio", "audio/flac")
    assert downloads.sniff(b"<html>") is None


def test_no_real_sleeping() -> None:
    # the shared default sleeps for real; every test above injects its own
    assert http.DEFAULT_POLICY.sleep is time.sleep
