""""Test connection" for every backend, over real HTTP on 127.0.0.1 against each vendor's fake: the right key is
accepted, a wrong key is refused with a message naming what to fix (and never the key), an unreachable host and a
vendor that is down are told apart, and a missing key is a report, not an exception."""

from __future__ import annotations

import functools
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from blender_canvas.providers.backend import ConnectionCheck, ErrorKind
from blender_canvas.providers.connection import check_backend
from blender_canvas.providers.registry import IMPLEMENTED
from tests.fakes import (
    bfl_server,
    byteplus_server,
    elevenlabs_server,
    fal_server,
    fishaudio_server,
    google_server,
    kling_server,
    openai_server,
    replicate_server,
    runway_server,
)

PROJECT = "canvas-test"
EMAIL = "canvas@canvas-test.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Vendor:
    backend: str
    label: str
    make: Callable[[], Any]  # the fake (a context manager)
    url: Callable[[Any], str]  # what BLENDER_CANVAS_<BACKEND>_URL points at
    keys: dict[str, str]
    wrong: dict[str, str]  # the same keys, one of them wrong
    endpoint: str  # the check call, as the report names it
    says: str  # words the success message must carry (what the vendor told about the account)
    down: Callable[[Any], None]  # make the check call answer 503 once
    fix: str = ""  # the key name a refusal must mention (default: the first wrong key's name)
    extra_env: dict[str, str] = field(default_factory=dict)


def _openai_url(fake: Any) -> str:
    return str(fake.host_url)


VENDORS: dict[str, Vendor] = {v.backend: v for v in (
    Vendor("fal", "fal", fal_server.FakeFal, lambda f: f.base_url, {"FAL_KEY": fal_server.DEFAULT_KEY},
           {"FAL_KEY": "fal-wrong-key-0000-1111"}, "POST /storage/auth/token", "upload token",
           lambda f: f.fail_next("503", on="token")),
    Vendor("openai", "OpenAI", openai_server.FakeOpenAI, _openai_url, {"OPENAI_API_KEY": openai_server.DEFAULT_KEY},
           {"OPENAI_API_KEY": "sk-wrong-openai-0000-1111"}, "GET /v1/models", "gpt-image-2",
           lambda f: f.fail_next("503", on="models")),
    Vendor("gemini", "Gemini API", lambda: google_server.FakeGoogle(project=PROJECT), lambda f: f.base_url,
           {"GEMINI_API_KEY": google_server.GEMINI_KEY}, {"GEMINI_API_KEY": "AIzaSy-wrong-gemini-0000"},
           "GET /v1/models", "model list", lambda f: f.fail_next("503", on="list")),
    Vendor("vertex", "Vertex AI", lambda: google_server.FakeGoogle(project=PROJECT), lambda f: f.base_url,
           {"GOOGLE_CLOUD_PROJECT": PROJECT}, {"GOOGLE_CLOUD_PROJECT": PROJECT},
           f"GET /v1/projects/{PROJECT}/locations/us-central1/models", f"project {PROJECT} in us-central1",
           lambda f: f.fail_next("503", on="list"), fix="GOOGLE_APPLICATION_CREDENTIALS"),
    Vendor("kling", "Kling", kling_server.FakeKling, lambda f: f.base_url,
           {"KLING_ACCESS_KEY": kling_server.ACCESS_KEY, "KLING_SECRET_KEY": kling_server.SECRET_KEY},
           {"KLING_ACCESS_KEY": kling_server.ACCESS_KEY, "KLING_SECRET_KEY": "kling-wrong-secret-0000-1111-2222-3333"},
           "GET /account/costs", "1 resource pack in effect, 118 units left",
           lambda f: f.fail_next("503", on="account"), fix="KLING_SECRET_KEY"),
    Vendor("byteplus", "BytePlus", byteplus_server.FakeBytePlus, lambda f: f.root_url,
           {"ARK_API_KEY": byteplus_server.DEFAULT_KEY}, {"ARK_API_KEY": "ark-wrong-key-0000-1111"},
           "GET /api/v3/contents/generations/tasks", "0 tasks on record", lambda f: f.fail_next("503", on="list")),
    Vendor("runway", "Runway", runway_server.FakeRunway, lambda f: f.base_url,
           {"RUNWAYML_API_SECRET": runway_server.DEFAULT_KEY}, {"RUNWAYML_API_SECRET": "key_wrong00001111"},
           "GET /v1/organization", "1250 credits ($12.50)", lambda f: f.fail_next("503", on="organization")),
    Vendor("bfl", "Black Forest Labs", bfl_server.FakeBfl, lambda f: f.base_url,
           {"BFL_API_KEY": bfl_server.DEFAULT_KEY}, {"BFL_API_KEY": "bfl-wrong-key-0000-1111"},
           "GET /v1/credits", "412.5 credits", lambda f: f.fail_next("503", on="credits")),
    Vendor("elevenlabs", "ElevenLabs", elevenlabs_server.FakeElevenLabs, lambda f: f.base_url,
           {"ELEVENLABS_API_KEY": elevenlabs_server.DEFAULT_KEY}, {"ELEVENLABS_API_KEY": "xi-wrong-key-0000-1111"},
           "GET /v1/user/subscription", "creator plan, 98,760 of 100,000 characters left",
           lambda f: f.fail_next("503")),
    Vendor("fishaudio", "Fish Audio", fishaudio_server.FakeFishAudio, lambda f: f.base_url,
           {"FISH_API_KEY": fishaudio_server.DEFAULT_KEY}, {"FISH_API_KEY": "fish-wrong-key-0000-1111"},
           "GET /wallet/self/api-credit", "API credit 18.75", lambda f: f.fail_next("503")),
    Vendor("replicate", "Replicate", replicate_server.FakeReplicate, lambda f: f.base_url,
           {"REPLICATE_API_TOKEN": replicate_server.DEFAULT_TOKEN}, {"REPLICATE_API_TOKEN": "r8_wrong-token-0000"},
           "GET /v1/account", "account canvas-tester (user)", lambda f: f.fail_next("503", on="account")),
)}


@functools.cache
def rsa_pem() -> tuple[str, bytes]:
    """(private PEM, public PEM) of a throw-away service-account key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def service_account(path: Path, private_pem: str) -> Path:
    path.write_text(json.dumps({"type": "service_account", "project_id": PROJECT, "private_key_id": KEY_ID,
                                "private_key": private_pem, "client_email": EMAIL, "client_id": "1234",
                                "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


@dataclass
class Live:
    vendor: Vendor
    fake: Any
    keys: dict[str, str]
    wrong: dict[str, str]


@pytest.fixture(params=sorted(VENDORS))
def live(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Live]:
    vendor = VENDORS[request.param]
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    with vendor.make() as fake:
        monkeypatch.setenv(f"BLENDER_CANVAS_{vendor.backend.upper()}_URL", vendor.url(fake))
        keys, wrong = dict(vendor.keys), dict(vendor.wrong)
        if vendor.backend == "vertex":
            pytest.importorskip("cryptography", reason="service-account sign-in needs cryptography")
            private, public = rsa_pem()
            fake.add_service_account(EMAIL, KEY_ID, public)
            keys["GOOGLE_APPLICATION_CREDENTIALS"] = str(service_account(tmp_path / "sa.json", private))
            # a key file the fake never saw: signed with another key, so the token endpoint refuses it
            other = rsa_pem.__wrapped__()[0]
            wrong["GOOGLE_APPLICATION_CREDENTIALS"] = str(service_account(tmp_path / "other.json", other))
        yield Live(vendor, fake, keys, wrong)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _secrets(keys: dict[str, str]) -> list[str]:
    return [v for k, v in keys.items() if k not in ("GOOGLE_CLOUD_PROJECT",) and len(v) > 8]


def test_every_adapter_has_a_connection_test_and_the_suite_covers_it() -> None:
    assert set(VENDORS) == set(IMPLEMENTED) - {"preview"}


def test_the_right_key_is_accepted(live: Live, tmp_path: Path) -> None:
    report = check_backend(live.vendor.backend, live.keys, tmp_path)
    assert report.ok, report.message
    assert report.error_kind is None and report.status == 200
    assert report.endpoint == live.vendor.endpoint
    assert report.message.startswith(f"{live.vendor.label}: connected, key accepted")
    assert live.vendor.says in report.message
    assert report.latency_ms is not None and report.latency_ms >= 0
    text = report.model_dump_json()
    assert not any(secret in text for secret in _secrets(live.keys))
    assert "token" not in report.account and "cdn-token-" not in text  # fal's upload token is dropped


def test_a_wrong_key_is_rejected_clearly_without_showing_it(live: Live, tmp_path: Path) -> None:
    report = check_backend(live.vendor.backend, live.wrong, tmp_path)
    assert not report.ok
    assert report.error_kind == ErrorKind.AUTH
    assert f"key rejected by {live.vendor.label}" in report.message
    fix = live.vendor.fix or next(iter(live.vendor.wrong))
    assert fix in report.message and "add-on preferences or the environment" in report.message
    text = report.model_dump_json()
    assert not any(secret in text for secret in _secrets(live.wrong) + _secrets(live.keys))


def test_an_unreachable_host_is_named(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    env = f"BLENDER_CANVAS_{live.vendor.backend.upper()}_URL"
    monkeypatch.setenv(env, f"http://127.0.0.1:{port}")
    report = check_backend(live.vendor.backend, live.keys, tmp_path)
    assert not report.ok
    assert report.error_kind == ErrorKind.NETWORK and report.status is None
    assert f"cannot reach 127.0.0.1:{port}" in report.message
    assert env in report.message  # the override that sent it there


def test_a_vendor_that_is_down_says_so(live: Live, tmp_path: Path) -> None:
    live.vendor.down(live.fake)
    report = check_backend(live.vendor.backend, live.keys, tmp_path)
    assert not report.ok
    assert report.status == 503 and report.error_kind == ErrorKind.VENDOR_DOWN
    assert f"{live.vendor.label} is down or overloaded (HTTP 503); try again later" in report.message
    assert "<html" not in report.message  # the error page's markup is not the message
    assert check_backend(live.vendor.backend, live.keys, tmp_path).ok  # one attempt only: the next one passes


@pytest.mark.parametrize("backend", sorted(VENDORS))
def test_a_missing_key_is_a_report_naming_the_variable(backend: str, tmp_path: Path) -> None:
    report = check_backend(backend, {}, tmp_path)
    assert not report.ok and report.error_kind == ErrorKind.AUTH
    assert next(iter(VENDORS[backend].keys)) in report.message


def test_preview_is_ready_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLENDER_CANVAS_PREVIEW_URL", f"http://127.0.0.1:{closed_port()}")
    report = check_backend("preview", {}, tmp_path)
    assert report.ok and "no key and no network" in report.message


def test_an_unknown_backend_is_a_report(tmp_path: Path) -> None:
    report = check_backend("nosuchvendor", {}, tmp_path)
    assert not report.ok and "nosuchvendor" in report.message


def test_every_adapter_class_offers_the_check() -> None:
    from blender_canvas.providers.registry import build_backend

    keys = {k: "x" * 12 for v in VENDORS.values() for k in v.keys} | {"GOOGLE_CLOUD_PROJECT": PROJECT}
    for backend_id in sorted(set(IMPLEMENTED) - {"vertex"}):  # vertex needs a credentials file to be built
        backend = build_backend(backend_id, keys, Path("."))
        assert isinstance(backend, ConnectionCheck), backend_id


def test_elevenlabs_scoped_key_without_user_read_is_accepted(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    scoped = "xi-scoped-key-2222-3333"
    with elevenlabs_server.FakeElevenLabs() as fake:
        fake.scoped_keys.add(scoped)
        monkeypatch.setenv("BLENDER_CANVAS_ELEVENLABS_URL", fake.base_url)
        report = check_backend("elevenlabs", {"ELEVENLABS_API_KEY": scoped}, tmp_path)
    assert report.ok and report.status == 401
    assert "without the user_read permission" in report.message and scoped not in report.message


def test_elevenlabs_quota_exceeded_is_out_of_credits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with elevenlabs_server.FakeElevenLabs() as fake:
        fake.fail_next("quota")
        monkeypatch.setenv("BLENDER_CANVAS_ELEVENLABS_URL", fake.base_url)
        report = check_backend("elevenlabs", VENDORS["elevenlabs"].keys, tmp_path)
    assert not report.ok and report.error_kind == ErrorKind.OUT_OF_CREDITS
    assert "accepted the key, but the account is out of credits" in report.message


def test_vertex_other_project_is_refused_naming_the_project_variable(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("cryptography", reason="service-account sign-in needs cryptography")
    monkeypatch.delenv("GOOGLE_CLOUD_LOCATION", raising=False)
    with google_server.FakeGoogle(project=PROJECT) as fake:
        private, public = rsa_pem()
        fake.add_service_account(EMAIL, KEY_ID, public)
        monkeypatch.setenv("BLENDER_CANVAS_VERTEX_URL", fake.base_url)
        keys = {"GOOGLE_CLOUD_PROJECT": "someone-elses-project",
                "GOOGLE_APPLICATION_CREDENTIALS": str(service_account(tmp_path / "sa.json", private))}
        report = check_backend("vertex", keys, tmp_path)
    assert not report.ok and report.status == 403 and report.error_kind == ErrorKind.AUTH
    assert "GOOGLE_CLOUD_PROJECT" in report.message and "aiplatform.models.list" in report.message


def test_kling_without_a_resource_pack_still_connects_and_says_so(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    with kling_server.FakeKling() as fake:
        fake.resource_packs = [("Video Generation - 100 units", 100.0, 0.0, "runOut")]
        monkeypatch.setenv("BLENDER_CANVAS_KLING_URL", fake.base_url)
        report = check_backend("kling", VENDORS["kling"].keys, tmp_path)
        query = fake.requests_to("api", "GET")[-1].query
    assert report.ok and "no resource pack is in effect" in report.message
    assert int(query["end_time"][0]) - int(query["start_time"][0]) == 30 * 86_400_000  # milliseconds


class _NotAVendor(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        data = b'{"hello": "a captive portal or another service"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_host_that_is_not_the_vendor_is_not_reported_as_connected(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAVendor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("BLENDER_CANVAS_BFL_URL", f"http://127.0.0.1:{server.server_address[1]}")
        report = check_backend("bfl", VENDORS["bfl"].keys, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert not report.ok and report.status == 200
    assert "not like Black Forest Labs's API" in report.message and "BLENDER_CANVAS_BFL_URL" in report.message
