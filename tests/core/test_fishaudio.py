"""The Fish Audio backend over real HTTP on 127.0.0.1, against the fake Fish Audio API (chunked, streamed audio)."""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from blender_canvas.providers import http
from blender_canvas.providers.backend import Artifact, Backend, BackendError, ErrorKind, JobRequest, JobState
from blender_canvas.providers.catalog import load_catalog
from blender_canvas.providers.fishaudio import FishAudioBackend
from tests.core.conftest import Sleeps
from tests.fakes.elevenlabs_server import speech_seconds, wav_bytes
from tests.fakes.fishaudio_server import FakeFishAudio

KEY = "fish-test-key-MARKER-7777"
TEXT = "Built for the long run."
VOICE = "802e3bc2b27e49c2995d23ef70e6ac89"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFishAudio]:
    with FakeFishAudio(KEY) as server:
        monkeypatch.setenv("BLENDER_CANVAS_FISHAUDIO_URL", server.base_url)
        yield server


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path / "work"


@pytest.fixture
def fish(fake: FakeFishAudio, sleeps: Sleeps, work: Path) -> Iterator[FishAudioBackend]:
    backend = FishAudioBackend({"FISH_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=sleeps))
    yield backend
    backend.close()


def voice_request(text: str = TEXT, *, model_id: str = "s2-pro", job_id: str = "take-1",
                  fixed: dict[str, str] | None = None, **params: object) -> JobRequest:
    return JobRequest(job_id=job_id, node_id="vo", model="fish-audio", variant=model_id, backend="fishaudio",
                      backend_model_id=model_id, media="audio", params={"text": text, **params}, fixed=fixed or {})


def audio_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def assert_no_file(work: Path) -> None:
    assert not work.exists() or list(work.iterdir()) == []


# --- construction and request shapes --------------------------------------------------------------------------------


def test_is_a_backend_and_needs_its_key(tmp_path: Path) -> None:
    backend = FishAudioBackend({"FISH_API_KEY": KEY}, tmp_path)
    assert isinstance(backend, Backend) and backend.id == "fishaudio"
    assert KEY not in repr(backend)
    backend.close()
    with pytest.raises(BackendError) as err:
        FishAudioBackend({"FISH_API_KEY": ""}, tmp_path)
    assert err.value.kind == ErrorKind.AUTH and "FISH_API_KEY" in err.value.message


@pytest.mark.parametrize("variant", ["s2-pro", "s1", "speech-1.6"])
def test_each_catalog_variant_sends_its_model_header_and_a_json_body(fish: FishAudioBackend, fake: FakeFishAudio,
                                                                     variant: str) -> None:
    model = load_catalog().model("fish-audio")
    assert model is not None
    route = next(r for r in model.variant(variant).routes if r.backend == "fishaudio")  # type: ignore[union-attr]
    fish.submit(voice_request(model_id=route.model_id, voice=VOICE, seed=9))
    [post] = fake.posts()
    assert post.path == "/v1/tts"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    assert post.headers["model"] == route.model_id
    assert post.headers["content-type"] == "application/json"
    # no seed: Fish Audio has none
    assert post.body == {"text": TEXT, "reference_id": VOICE, "format": "wav", "normalize": True, "latency": "normal"}


def test_deprecated_model_ids_fall_back_at_fish(fish: FishAudioBackend, fake: FakeFishAudio) -> None:
    # Fish's notes: an unrecognised model header is served (and billed) as s2.1-pro; speech-1.6 is no longer listed
    fish.submit(voice_request(model_id="s1", job_id="a"))
    fish.submit(voice_request(model_id="speech-1.6", job_id="b"))
    assert fake.served_models == ["s1", "s2.1-pro"]


def test_without_a_voice_no_reference_id_is_sent(fish: FishAudioBackend, fake: FakeFishAudio) -> None:
    fish.submit(voice_request())
    [post] = fake.posts()
    assert "reference_id" not in post.body


@pytest.mark.parametrize(("params", "field"), [({"output_format": "pcm"}, "output_format"),
                                                ({"output_format": "opus"}, "output_format"), ({"text": ""}, "text")])
def test_bad_params_are_refused_before_any_request(fish: FishAudioBackend, fake: FakeFishAudio,
                                                   params: dict[str, object], field: str) -> None:
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request(**params))  # type: ignore[arg-type]
    assert err.value.kind == ErrorKind.INVALID_REQUEST and f"{field}:" in err.value.message
    assert fake.posts() == []


def test_an_empty_route_model_is_refused(fish: FishAudioBackend, fake: FakeFishAudio) -> None:
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request(model_id=" "))
    assert "model:" in err.value.message and fake.posts() == []


# --- the whole cycle --------------------------------------------------------------------------------------------------


def test_streamed_wav_lands_and_decodes(fish: FishAudioBackend, fake: FakeFishAudio, work: Path,
                                        tmp_path: Path) -> None:
    job = fish.submit(voice_request(voice=VOICE))
    assert job.remote_id and job.data["output_format"] == "wav" and job.data["bytes_of_text"] == len(TEXT)
    status = fish.poll(job)
    assert status.state == JobState.SUCCEEDED
    [art] = status.artifacts
    assert art.media == "audio" and art.mime_type == "audio/wav" and art.path is not None
    dest = tmp_path / "takes" / "take-1.wav"
    fish.fetch(job, art, dest)
    assert dest.read_bytes() == wav_bytes(speech_seconds(TEXT), 44100)
    with wave.open(str(dest)) as w:
        assert w.getframerate() == 44100
        assert w.getnframes() / 44100 == pytest.approx(speech_seconds(TEXT), abs=0.01)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["take-1.wav"]


def test_mp3_on_request(fish: FishAudioBackend, fake: FakeFishAudio) -> None:
    job = fish.submit(voice_request(output_format="mp3"))
    [post] = fake.posts()
    assert post.body["format"] == "mp3"
    landed = Path(job.data["path"])
    assert landed.suffix == ".mp3" and job.data["mime_type"] == "audio/mpeg"
    assert audio_seconds(landed) == pytest.approx(speech_seconds(TEXT), abs=0.08)


def test_the_file_follows_the_text(fish: FishAudioBackend) -> None:
    short = fish.submit(voice_request("Go.", job_id="short"))
    long = fish.submit(voice_request(TEXT * 6, job_id="long"))
    assert audio_seconds(Path(long.data["path"])) > 5 * audio_seconds(Path(short.data["path"]))


# --- failures ---------------------------------------------------------------------------------------------------------


def test_wrong_key_is_auth_and_not_retried(fake: FakeFishAudio, work: Path, sleeps: Sleeps) -> None:
    wrong = "fish-wrong-key-MARKER-000"
    backend = FishAudioBackend({"FISH_API_KEY": wrong}, work, policy=http.RetryPolicy(sleep=sleeps))
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    assert err.value.kind == ErrorKind.AUTH and err.value.status == 401 and "Invalid token" in err.value.message
    assert wrong not in str(err.value) and len(fake.posts()) == 1 and sleeps == []
    backend.close()


def test_402_is_out_of_credits(fish: FishAudioBackend, fake: FakeFishAudio, sleeps: Sleeps) -> None:
    fake.fail_next("402")
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == ErrorKind.OUT_OF_CREDITS and "Insufficient API credit" in err.value.message
    assert len(fake.posts()) == 1 and sleeps == []


def test_unknown_voice_names_the_voice(fish: FishAudioBackend) -> None:
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request(voice="no-such-voice"))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 404
    assert "voice (reference_id): Reference model no-such-voice not found" in err.value.message


def test_422_names_the_field(fish: FishAudioBackend) -> None:
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request(fixed={"latency": "fastest"}))
    assert err.value.kind == ErrorKind.INVALID_REQUEST and err.value.status == 422
    assert "latency: Input should be" in err.value.message


def test_429_with_retry_after_then_success(fish: FishAudioBackend, fake: FakeFishAudio, sleeps: Sleeps) -> None:
    fake.fail_next("429", times=2, retry_after=4)
    job = fish.submit(voice_request())
    assert sleeps == [4.0, 4.0] and len(fake.posts()) == 3
    assert fish.poll(job).state == JobState.SUCCEEDED


def test_429_without_retry_after_waits_with_short_fixed_waits(fish: FishAudioBackend, fake: FakeFishAudio,
                                                              sleeps: Sleeps) -> None:
    fake.fail_next("429", times=6)
    fish.submit(voice_request())
    assert sleeps == [2.0] * 6 and len(fake.posts()) == 7


def test_429_past_the_cap_is_rate_limited(fish: FishAudioBackend, fake: FakeFishAudio, sleeps: Sleeps) -> None:
    fish.slot_attempts = 2
    fake.fail_next("429", times=2, retry_after=9)
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == ErrorKind.RATE_LIMITED and err.value.retry_after_s == 9.0 and sleeps == [9.0]


@pytest.mark.parametrize("status", ["500", "503"])
def test_5xx_is_not_resent_then_the_next_render_succeeds(fish: FishAudioBackend, fake: FakeFishAudio,
                                                         sleeps: Sleeps, work: Path, status: str) -> None:
    fake.fail_next(status)
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and err.value.status == int(status)
    assert "upstream error" in err.value.message  # the edge's HTML body, as text
    assert len(fake.posts()) == 1 and sleeps == []
    assert_no_file(work)
    assert fish.poll(fish.submit(voice_request())).state == JobState.SUCCEEDED


def test_stream_cut_is_not_resent_then_a_complete_file(fish: FishAudioBackend, fake: FakeFishAudio, sleeps: Sleeps,
                                                       work: Path) -> None:
    fake.fail_next("cut")
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == ErrorKind.NETWORK and "may have reached Fish Audio" in err.value.message
    assert len(fake.posts()) == 1 and sleeps == []
    assert_no_file(work)
    job = fish.submit(voice_request())
    assert Path(job.data["path"]).read_bytes() == wav_bytes(speech_seconds(TEXT), 44100)


def test_a_non_audio_answer_is_refused(fish: FishAudioBackend, fake: FakeFishAudio, work: Path) -> None:
    fake.fail_next("garbage")
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == ErrorKind.VENDOR_DOWN and "not audio" in err.value.message
    assert_no_file(work)


def test_a_vanished_work_file_is_expired(fish: FishAudioBackend, tmp_path: Path) -> None:
    job = fish.submit(voice_request())
    Path(job.data["path"]).unlink()
    status = fish.poll(job)
    assert status.state == JobState.EXPIRED and status.error_kind == ErrorKind.RESULT_EXPIRED
    with pytest.raises(BackendError) as err:
        fish.fetch(job, Artifact(media="audio", path=Path(job.data["path"])), tmp_path / "x.wav")
    assert err.value.kind == ErrorKind.RESULT_EXPIRED


@pytest.mark.parametrize(("fault", "kind"), [("moderation_input", ErrorKind.MODERATED_INPUT),
                                             ("moderation_output", ErrorKind.MODERATED_OUTPUT)])
def test_moderation_is_final(fish: FishAudioBackend, fake: FakeFishAudio, sleeps: Sleeps, fault: str,
                             kind: ErrorKind) -> None:
    fake.fail_next(fault)
    with pytest.raises(BackendError) as err:
        fish.submit(voice_request())
    assert err.value.kind == kind and err.value.kind.state == JobState.MODERATED
    assert "rejected by content moderation" in err.value.message
    assert len(fake.posts()) == 1 and sleeps == []


def test_the_key_never_leaks(fake: FakeFishAudio, work: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    backend = FishAudioBackend({"FISH_API_KEY": KEY}, work, policy=http.RetryPolicy(sleep=Sleeps()))
    errors: list[BackendError] = []
    fake.fail_next("401", message=f"Invalid token: Bearer {KEY}")
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    errors.append(err.value)
    fake.fail_next("429", retry_after=1)
    fake.fail_next("cut")
    with pytest.raises(BackendError) as err:
        backend.submit(voice_request())
    errors.append(err.value)
    job = backend.submit(voice_request())
    status = backend.poll(job)
    logging.getLogger("blender_canvas.providers.fishaudio").warning("oops %s", KEY)
    assert all(KEY not in str(e) and KEY not in e.message for e in errors) and "***" in errors[0].message
    assert caplog.records and KEY not in caplog.text
    assert KEY not in job.model_dump_json() and KEY not in status.model_dump_json()
    backend.close()


def test_key_only_to_the_api_host(fake: FakeFishAudio, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = FishAudioBackend({"FISH_API_KEY": KEY}, work)
    assert backend.own_origins() == {http.origin(fake.base_url)}
    with pytest.raises(BackendError):
        backend._post("http://127.0.0.2:9/v1/tts", headers={}, json={})
    monkeypatch.delenv("BLENDER_CANVAS_FISHAUDIO_URL")
    assert backend.base_url == "https://api.fish.audio" and backend.own_origins() == {"api.fish.audio:443"}
    backend.close()


# --- through the engine ---------------------------------------------------------------------------------------------


def test_a_voice_node_lands_a_take_through_the_engine(fake: FakeFishAudio, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_canvas.engine.cost import Budget
    from blender_canvas.engine.document import Canvas
    from blender_canvas.engine.session import Session
    from blender_canvas.providers import registry

    # registry.py is not this adapter's file: wire the factory in for the test
    monkeypatch.setitem(registry.FACTORIES, "fishaudio", lambda keys, work_dir: FishAudioBackend(keys, work_dir))
    monkeypatch.setattr("blender_canvas.engine.session.IMPLEMENTED", (*registry.IMPLEMENTED, "fishaudio"))
    doc = Canvas.model_validate({"version": 1, "defaults": {"seed": 7}, "nodes": [
        {"id": "vo", "kind": "audio", "model": "fish-audio", "route": "fishaudio", "text": TEXT}]})
    session = Session(tmp_path / "p", keys={"FISH_API_KEY": KEY})
    plan = session.plan(doc, tmp_path)
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, tmp_path)
    assert session.runner.wait(timeout=30)
    [take] = session.ledger.takes()
    [post] = fake.posts()
    assert post.headers["model"] == "s2-pro" and "seed" not in post.body
    landed = tmp_path / "p" / take.file
    assert landed.suffix == ".wav" and take.backend == "fishaudio"
    assert audio_seconds(landed) == pytest.approx(speech_seconds(TEXT), abs=0.01)
    session.close()
