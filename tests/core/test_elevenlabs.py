"""The ElevenLabs backend over real HTTP on 127.0.0.1, against the fake ElevenLabs API."""

from __future__ import annotations

import logging
import socket
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from blender_canvas.providers import http
from blender_canvas.providers.backend import Artifact, Backend, BackendError, ErrorKind, JobRequest, JobState, RemoteJob
from blender_canvas.providers.catalog import load_catalog
from blender_canvas.providers.elevenlabs import DEFAULT_VOICE_ID, ElevenLabsBackend
from tests.core.conftest import Sleeps
from tests.fakes.elevenlabs_server import FakeElevenLabs, mp3_bytes, speech_seconds

KEY = "xi-test-key-MARKER-4242"
TEXT = "Built for the long run."


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs(KEY) as server:
        monkeypatch.setenv("BLENDER_CANVAS_ELEVENLABS_URL", server.base_url)
        yield server


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def eleven(fake: FakeElevenLabs, sleeps: Sleeps, work: Path) -> Iterator[ElevenLabsBackend]:
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


def voice_request(text: str = TEXT, *, model_id: str = "eleven_multilingual_v2", variant: str = "multilingual-v2",
                  job_id: str = "take-1", fixed: dict[str, str] | None = None, **params: object) -> JobRequest:
    return JobRequest(job_id=job_id, node_id="vo", model="elevenlabs", variant=variant, backend="elevenlabs",
                      backend_model_id=model_id, media="audio", params={"text": text, **params},
                      fixed=fixed or {})


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


# --- construction and request shapes --------------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend) and backend.id == "elevenlabs"
    assert KEY not in repr(backend)
    assert backend.cancel(RemoteJob(backend="elevenlabs", remote_id="x")) is False
    backend.close()
    with pytest.raises(BackendError) as err:
        ElevenLabsBackend({}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "ELEVENLABS_API_KEY" in err.value.message


@pytest.mark.parametrize("variant", ["multilingual-v2", "v3", "flash-v2.5", "turbo-v2.5"])
def test_each_catalog_variant_sends_its_model_id_and_seed(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                          variant: str) -> None:
    model = load_catalog().model("elevenlabs")
    assert model is not None
    route = next(r for r in model.variant(variant).routes if r.backend == "elevenlabs")  # type: ignore[union-attr]
    eleven.submit(voice_request(model_id=route.model_id, variant=variant, seed=4294967295))
    [post] = fake.posts()
    assert post.path == f"/v1/text-to-speech/{DEFAULT_VOICE_ID}"  # the SDK examples' voice when none is given
    assert post.query == {"output_format": ["mp3_44100_128"]}
    assert post.headers["xi-api-key"] == KEY and "authorization" not in post.headers
    assert post.headers["content-type"] == "application/json"
    assert post.body == {"text": TEXT, "model_id": route.model_id, "seed": 4294967295}


def test_voice_settings_and_wav_output(eleven: ElevenLabsBackend, fake: FakeElevenLabs, work: Path) -> None:
    settings = {"stability": 0.4, "similarity_boost": 0.8, "speed": 1.1}
    job = eleven.submit(voice_request(voice="21m00Tcm4TlvDq8ikWAM", voice_settings=settings,
                                      output_format="wav_22050"))
    [post] = fake.posts()
    assert post.path == "/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM"
    assert post.query == {"output_format": ["wav_22050"]}
    assert post.body == {"text": TEXT, "model_id": "eleven_multilingual_v2", "voice_settings": settings}
    landed = Path(job.data["path"])
    assert landed.parent == work and landed.suffix == ".wav"
    with wave.open(str(landed)) as w:
        assert w.getframerate() == 22050
        assert w.getnframes() / 22050 == pytest.approx(speech_seconds(TEXT), abs=0.01)


@pytest.mark.parametrize(("params", "field"), [
    ({"seed": 4294967296}, "seed"), ({"seed": -1}, "seed"), ({"output_format": "pcm_44100"}, "output_format"),
    ({"output_format": "flac_44100"}, "output_format"), ({"voice_settings": {"pitch": 2}}, "voice_settings"),
    ({"text": "   "}, "text"),
])
def test_bad_params_are_refused_before_any_request(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                   params: dict[str, object], field: str) -> None:
    request = voice_request(**params)  # type: ignore[arg-type]
    with pytest.raises(BackendError) as err:
        eleven.submit(request)
    assert err.value.kind == ErrorKind.INVALID_REQUEST and f"{field}:" in err.value.message
    assert fake.posts() == []


# --- the whole cycle --------------------------------------------------------------------------------------------------


def test_finished_at_submit_then_poll_and_fetch_land_a_decodable_mp3(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                                     work: Path, tmp_path: Path) -> None:
    job = eleven.submit(voice_request())
    assert job.backend == "elevenlabs" and job.remote_id and "path" in job.data
    status = eleven.poll(job)
    assert status.state == JobState.SUCCEEDED and status.progress == 1.0
    [art] = status.artifacts
    assert art.media == "audio" and art.path is not None and art.mime_type == "audio/mpeg" and art.url is None
    dest = tmp_path / "takes" / "vo" / "take-1.mp3"
    assert eleven.fetch(job, art, dest) == dest
    assert dest.read_bytes() == mp3_bytes(speech_seconds(TEXT), 44100)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["take-1.mp3"]  # no partial file left
    assert audio_seconds(dest) == pytest.approx(speech_seconds(TEXT), abs=0.08)
    assert sorted(p.name for p in work.iterdir()) == ["take-1.mp3"]
    assert len(fake.posts()) == 1


def test_the_file_follows_the_text(eleven: ElevenLabsBackend) -> None:
    short = eleven.submit(voice_request("Go.", job_id="short"))
    long = eleven.submit(voice_request(TEXT * 6, job_id="long"))
    assert audio_seconds(Path(long.data["path"])) > 5 * audio_seconds(Path(short.data["path"]))


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_and_not_retried(fake: FakeElevenLabs, work: Path, sleeps: Sleeps) -> None:
    wrong = "xi-wrong-key-MARKER-999"
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": wrong}, work, policy=http.RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and err.value.vendor_code == "invalid_api_key"
    assert "API key was rejected" in err.value.message and "Invalid API key" in err.value.message
    assert wrong not in str(err.value) and len(fake.posts()) == 1 and sleeps == []
    backend.close()


def test_quota_exceeded_is_out_of_credits_though_sent_with_401(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                                sleeps: Sleeps) -> None:
    fake.fail_next("quota")
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and err.value.vendor_code == "quota_exceeded"
    assert "credits remaining" in err.value.message and not err.value.kind.retryable
    assert len(fake.posts()) == 1 and sleeps == []


def test_character_limit_names_the_text(eleven: ElevenLabsBackend, fake: FakeElevenLabs) -> None:
    fake.char_limit = 10
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 400
    assert err.value.vendor_code == "max_character_limit_exceeded"
    assert "text: This request's text has 23 characters" in err.value.message


def test_unknown_voice_names_the_voice(eleven: ElevenLabsBackend, fake: FakeElevenLabs) -> None:
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request(voice="Rachel"))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.vendor_code == "voice_not_found"
    assert "voice: A voice with the voice_id Rachel was not found" in err.value.message


def test_vendor_422_names_the_field(eleven: ElevenLabsBackend, fake: FakeElevenLabs) -> None:
    # a route's fixed fields are sent as they are; the vendor's validation list names the field
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request(fixed={"seed": "x"}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 422
    assert "seed: Input should be" in err.value.message


def test_concurrency_429_waits_for_a_slot_honouring_retry_after(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                                sleeps: Sleeps) -> None:
    fake.fail_next("concurrency", times=2, retry_after=3)
    job = eleven.submit(voice_request())
    assert sleeps == [3.0, 3.0] and len(fake.posts()) == 3
    assert eleven.poll(job).state == JobState.SUCCEEDED


def test_concurrency_429_without_retry_after_uses_short_fixed_waits(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                                    sleeps: Sleeps) -> None:
    fake.fail_next("concurrency", times=7)  # more than the policy's 5 attempts: a slot is worth waiting for
    eleven.submit(voice_request())
    assert sleeps == [2.0] * 7 and len(fake.posts()) == 8


def test_concurrency_429_past_the_cap_is_rate_limited(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                      sleeps: Sleeps) -> None:
    eleven.slot_attempts = 3
    fake.fail_next("concurrency", times=3)
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.vendor_code == "too_many_concurrent_requests"
    assert err.value.retry_after_s == 2.0 and sleeps == [2.0, 2.0]


def test_system_busy_backs_off_exponentially(eleven: ElevenLabsBackend, fake: FakeElevenLabs, sleeps: Sleeps) -> None:
    fake.fail_next("busy", times=3)
    eleven.submit(voice_request())
    assert len(sleeps) == 3 and len(fake.posts()) == 4
    for attempt, wait in enumerate(sleeps, start=1):
        assert 0.0 <= wait <= 0.5 * 2 ** (attempt - 1)


def test_system_busy_honours_retry_after_and_gives_up_at_the_policy_cap(eleven: ElevenLabsBackend,
                                                                        fake: FakeElevenLabs, sleeps: Sleeps) -> None:
    fake.fail_next("busy", times=5, retry_after=5)
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.vendor_code == "system_busy"
    assert sleeps == [5.0] * 4 and len(fake.posts()) == 5


@pytest.mark.parametrize("status", ["500", "503"])
def test_5xx_is_not_resent_then_the_next_render_succeeds(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                         sleeps: Sleeps, work: Path, status: str) -> None:
    fake.fail_next(status, retry_after=1)
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and err.value.status == int(status)
    assert len(fake.posts()) == 1 and sleeps == []  # a POST that reached the vendor is never resent
    assert not work.exists() or list(work.iterdir()) == []
    job = eleven.submit(voice_request())
    assert eleven.poll(job).state == JobState.SUCCEEDED


def test_connection_refused_is_retried_before_sending(work: Path, sleeps: Sleeps,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("BLENDER_CANVAS_ELEVENLABS_URL", f"http://127.0.0.1:{port}")
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    assert err.value.kind == ErrorKind.NETWORK and len(sleeps) == 4  # nothing was sent, so every attempt was made
    assert "ConnectError" in err.value.message and "billed" not in err.value.message
    backend.close()


def test_connection_cut_mid_body_is_not_resent_then_a_complete_file(eleven: ElevenLabsBackend, fake: FakeElevenLabs,
                                                                    sleeps: Sleeps, work: Path) -> None:
    fake.fail_next("cut")
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.NETWORK and "not resent" in err.value.message
    assert len(fake.posts()) == 1 and sleeps == []
    assert not work.exists() or list(work.iterdir()) == []  # no partial file
    job = eleven.submit(voice_request())
    landed = Path(job.data["path"])
    assert landed.read_bytes() == mp3_bytes(speech_seconds(TEXT), 44100)
    assert audio_seconds(landed) == pytest.approx(speech_seconds(TEXT), abs=0.08)


def test_a_non_audio_answer_is_refused(eleven: ElevenLabsBackend, fake: FakeElevenLabs, work: Path) -> None:
    fake.fail_next("garbage")
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and "not audio" in err.value.message
    assert not work.exists() or list(work.iterdir()) == []


def test_a_vanished_work_file_is_expired(eleven: ElevenLabsBackend, tmp_path: Path) -> None:
    job = eleven.submit(voice_request())
    Path(job.data["path"]).unlink()
    status = eleven.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    assert "billed again" in status.message
    with pytest.raises(BackendError) as err:
        eleven.fetch(job, Artifact(media="audio", path=Path(job.data["path"])), tmp_path / "x.mp3")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED
    assert not (tmp_path / "x.mp3").exists()


@pytest.mark.parametrize(("fault", "kind"), [("moderation_input", ErrorKind.MODERATED_INPUT),
                                             ("moderation_output", ErrorKind.MODERATED_OUTPUT)])
def test_moderation_is_final(eleven: ElevenLabsBackend, fake: FakeElevenLabs, sleeps: Sleeps, fault: str,
                             kind: ErrorKind) -> None:
    fake.fail_next(fault)
    with pytest.raises(BackendError) as err:
        eleven.submit(voice_request())
    assert err.value.kind == kind and err.value.kind.state == JobState.MODERATED
    assert "flagged by content moderation" in err.value.message and "refused by moderation" in err.value.message
    assert len(fake.posts()) == 1 and sleeps == []


def test_the_key_never_leaks(fake: FakeElevenLabs, work: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("401", message=f"Invalid API key {KEY}")  # a vendor message that echoes the key
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    errors.append(err.value)
    fake.fail_next("concurrency", retry_after=1)
    fake.fail_next("cut")
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    errors.append(err.value)
    job = backend.submit(voice_request())
    status = backend.poll(job)
    logging.getLogger("blender_canvas.providers.elevenlabs").warning("oops %s", KEY)
    assert all(KEY not in str(e) and KEY not in e.message for e in errors)
    assert "***" in errors[0].message
    assert caplog.records and KEY not in caplog.text
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    assert all(r.headers.get("xi-api-key") == KEY for r in fake.posts())
    backend.close()


def test_key_only_to_the_api_host(fake: FakeElevenLabs, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = ElevenLabsBackend({"ELEVENLABS_API_KEY": KEY}, work)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    with pytest.raises(BackendError) as err:
        backend._post("http://127.0.0.2:9/v1/text-to-speech/x", headers={}, json={})
    assert "refusing to send the key" in err.value.message
    monkeypatch.delenv("BLENDER_CANVAS_ELEVENLABS_URL")
    assert backend.base_url == "https://api.elevenlabs.io"
    assert backend.own_origins() == {"api.elevenlabs.io:443"}
    backend.close()


# --- through the engine ---------------------------------------------------------------------------------------------


def test_a_voice_node_lands_a_take_through_the_engine(fake: FakeElevenLabs, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_canvas.engine.cost import Budget
    from blender_canvas.engine.document import Canvas
    from blender_canvas.engine.session import Session
    from blender_canvas.providers import registry

    # registry.py is not this adapter's file: wire the factory in for the test
    monkeypatch.setitem(registry.FACTORIES, "elevenlabs", lambda keys, work_dir: ElevenLabsBackend(keys, work_dir))
    monkeypatch.setattr("blender_canvas.engine.session.IMPLEMENTED", (*registry.IMPLEMENTED, "elevenlabs"))
    doc = Canvas.model_validate({"version": 1, "defaults": {"seed": 7}, "nodes": [
        {"id": "vo", "kind": "audio", "model": "elevenlabs", "route": "elevenlabs", "text": TEXT}]})
    session = Session(tmp_path / "p", keys={"ELEVENLABS_API_KEY": KEY})
    plan = session.plan(doc, tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=30)
    [take] = session.ledger.takes()
    [post] = fake.posts()
    assert post.body == {"text": TEXT, "model_id": "eleven_multilingual_v2", "seed": 7}
    landed = tmp_path / "p" / take.file
    assert landed.suffix == ".mp3" and take.backend == "elevenlabs" and take.seed == 7
    assert audio_seconds(landed) == pytest.approx(speech_seconds(TEXT), abs=0.08)
    session.close()
