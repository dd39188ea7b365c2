"""The offline preview backend and its media: sizes, frame counts, takes, motion, stamps, voices, the backend flow."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from blender_canvas.providers.backend import Backend, BackendError, ErrorKind, JobRequest, JobState, RemoteJob
from blender_canvas.providers.media_probe import probe
from blender_canvas.providers.preview import PreviewBackend, label_lines
from blender_canvas.providers.preview_frames import frame_size
from blender_canvas.providers.preview_motion import make_animatic, parse_camera
from blender_canvas.providers.preview_sound import make_voice
from blender_canvas.providers.preview_stills import make_still, render_plate

LABELS = ["PREVIEW", "Kling 3.0 / O3 · 3.0", "take 1"]
PROMPT = "a runner jogs left to right along a desert road at dawn, dust in the light"


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


# --- sizes ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("ratio", "resolution", "kind", "expected"), [
    ("16:9", "360p", "video", (640, 360)),
    ("9:16", "360p", "video", (360, 640)),
    ("1:1", "360p", "video", (360, 360)),
    ("16:9", "480p", "video", (854, 480)),
    ("16:9", "720p", "video", (1280, 720)),
    ("16:9", "1080p", "video", (1920, 1080)),
    ("9:16", "1024p", "video", (1024, 1820)),
    ("21:9", "360p", "video", (840, 360)),
    ("4:5", "360p", "video", (360, 450)),
    (None, None, "video", (640, 360)),
    ("16:9", "1K", "image", (1024, 576)),
    ("9:16", "1K", "image", (576, 1024)),
    ("1:1", "2K", "image", (1024, 1024)),  # preview stills are capped at a 1024 long side
    ("3:2", "4K", "image", (1024, 682)),
    ("bogus", "huge", "image", (1024, 576)),
])
def test_frame_size(ratio: str | None, resolution: str | None, kind: str, expected: tuple[int, int]) -> None:
    size = frame_size(ratio, resolution, kind)
    assert size == expected
    assert size[0] % 2 == 0 and size[1] % 2 == 0


@pytest.mark.parametrize(("clause", "kind", "direction"), [
    ("slow push in", "push", 1), ("dolly forward toward her", "push", 1), ("zoom in", "push", 1),
    ("pull back to reveal the city", "pull", 1), ("dolly back", "pull", 1), ("zoom out", "pull", 1),
    ("pan left", "pan", -1), ("slow pan", "pan", 1), ("pans to the right", "pan", 1),
    ("tracking shot following the runner", "pan", 1), ("tilt up to the sky", "tilt", 1), ("tilt down", "tilt", -1),
    ("360 orbit around the car", "orbit", 1), ("arc left", "orbit", -1), ("locked-off", "static", 1),
    ("static wide", "static", 1), ("handheld", "handheld", 1), ("something unheard of", "push", 1),
])
def test_parse_camera(clause: str, kind: str, direction: int) -> None:
    move = parse_camera(clause)
    assert (move.kind, move.direction) == (kind, direction)


def test_unknown_camera_is_a_slow_push_and_handheld_shakes() -> None:
    assert parse_camera("").default and parse_camera("").speed < 1
    assert parse_camera("handheld push in").shake
    assert parse_camera("slow pan").speed < parse_camera("whip pan").speed


# --- animatics -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("duration", "fps"), [(2.0, 24.0), (1.5, 25.0)])
def test_animatic_frame_count_rate_duration_codec(tmp_path: Path, duration: float, fps: float) -> None:
    out = make_animatic(None, PROMPT, "push in", duration, fps, (640, 360), 7, 0, LABELS, tmp_path / "a.mp4")
    expected = round(duration * fps)
    assert len(frames_of(out)) == expected
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
        assert float(stream.average_rate or 0) == pytest.approx(fps)
    info = probe(out)
    assert info.kind == "video" and info.frames == expected and not info.has_audio
    assert info.duration_s == pytest.approx(expected / fps, abs=1 / fps)


def test_takes_differ_and_a_take_rerenders_identically(tmp_path: Path) -> None:
    args = (None, PROMPT, "slow push in", 2.0, 24.0, (640, 360), 11)
    take0 = make_animatic(*args, 0, LABELS, tmp_path / "t0.mp4")
    take1 = make_animatic(*args, 1, LABELS, tmp_path / "t1.mp4")
    again = make_animatic(*args, 0, LABELS, tmp_path / "t0-again.mp4")
    f0, f1 = frames_of(take0), frames_of(take1)
    middle = len(f0) // 2
    assert mean_diff(f0[middle], f1[middle]) > 4.0
    assert take0.read_bytes() == again.read_bytes()


def test_different_prompts_give_different_stills_and_same_inputs_the_same_png(tmp_path: Path) -> None:
    size = frame_size("16:9", "1K", "image")
    a = make_still("a red sports car on a wet street at night", 1, size, LABELS, tmp_path / "a.png")
    b = make_still("a bowl of ramen on a wooden table, steam", 1, size, LABELS, tmp_path / "b.png")
    a2 = make_still("a red sports car on a wet street at night", 1, size, LABELS, tmp_path / "a2.png")
    assert a.read_bytes() == a2.read_bytes()
    with Image.open(a) as ia, Image.open(b) as ib:
        assert ia.size == size
        assert mean_diff(np.asarray(ia.convert("RGB")), np.asarray(ib.convert("RGB"))) > 20


def test_still_from_references_uses_them(tmp_path: Path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (300, 200), (230, 20, 20)).save(red)
    out = make_still("the product", 3, (512, 288), LABELS, tmp_path / "s.png", reference_images=[red])
    with Image.open(out) as img:
        arr = np.asarray(img.convert("RGB")).astype(int)
    corner = arr[int(288 * 0.25):int(288 * 0.4), int(512 * 0.7):int(512 * 0.95)]  # away from stamp and caption
    assert corner[..., 0].mean() > corner[..., 1].mean() + 60


def _target(path: Path, size: tuple[int, int]) -> Path:
    """A grey frame with one pure green disc at its centre: a feature whose size and position are easy to measure."""
    w, h = size
    img = Image.new("RGB", size, (90, 90, 90))
    r = h * 0.12
    ImageDraw.Draw(img).ellipse((w / 2 - r, h / 2 - r, w / 2 + r, h / 2 + r), fill=(0, 255, 0))
    img.save(path)
    return path


def _disc(frame: np.ndarray) -> tuple[float, float, int]:
    rgb = frame.astype(int)
    mask = (rgb[..., 1] > 170) & (rgb[..., 0] < 130) & (rgb[..., 2] < 130)
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean()), int(mask.sum())


@pytest.mark.parametrize("camera", ["push in", "pull out", "pan right", "pan left", "tilt up"])
def test_motion_follows_the_camera_clause(tmp_path: Path, camera: str) -> None:
    size = (480, 270)
    first = _target(tmp_path / "target.png", size)
    out = make_animatic(first, "", camera, 1.5, 12.0, size, 5, 0, LABELS, tmp_path / "m.mp4")
    frames = frames_of(out)
    x0, y0, a0 = _disc(frames[0])
    x1, y1, a1 = _disc(frames[-1])
    assert abs(x0 - size[0] / 2) < 4 and abs(y0 - size[1] / 2) < 4  # the first frame is the input picture
    if camera == "push in":
        assert a1 > a0 * 1.3
    elif camera == "pull out":
        assert a1 < a0 / 1.3
    elif camera == "pan right":  # the camera moves right, so the picture slides left
        assert x1 < x0 - 40 and abs(y1 - y0) < 6
    elif camera == "pan left":
        assert x1 > x0 + 40 and abs(y1 - y0) < 6
    else:  # tilt up: the picture slides down
        assert y1 > y0 + 25 and abs(x1 - x0) < 6


def test_the_first_frame_is_the_input_picture(tmp_path: Path) -> None:
    still = make_still(PROMPT, 9, (640, 360), LABELS, tmp_path / "still.png")
    plain = tmp_path / "plain.png"
    with Image.open(still) as img:
        img.convert("RGB").save(plain)  # the same pixels without the preview recipe
        reference = np.asarray(img.convert("RGB").resize((64, 36), Image.Resampling.BOX))
    for source in (still, plain):  # a preview still is redrawn from its recipe, any other picture is cover-cropped
        out = make_animatic(source, "", "push in", 0.5, 12.0, (640, 360), 1, 0, LABELS, tmp_path / "f.mp4")
        first = np.asarray(Image.fromarray(frames_of(out)[0]).resize((64, 36), Image.Resampling.BOX))
        assert mean_diff(first, reference) < 10, source.name  # another prompt is ~40 apart


def test_orbit_and_handheld_move(tmp_path: Path) -> None:
    for camera in ("orbit", "handheld"):
        out = make_animatic(None, PROMPT, camera, 1.0, 12.0, (320, 180), 5, 0, LABELS, tmp_path / f"{camera}.mp4")
        frames = frames_of(out)
        assert mean_diff(frames[0], frames[-1]) > 2.0, camera


def test_every_frame_is_stamped(tmp_path: Path) -> None:
    black = tmp_path / "black.png"
    Image.new("RGB", (640, 360), (0, 0, 0)).save(black)
    out = make_animatic(black, "", "locked off", 1.0, 24.0, (640, 360), 1, 0, LABELS, tmp_path / "s.mp4")
    frames = frames_of(out)
    for frame in (frames[0], frames[-1]):
        centre = frame[130:230, 120:520].astype(int)
        assert (centre.sum(axis=2) > 200).sum() > 2000  # the big PREVIEW over a black picture
        badge = frame[0:40, 0:130].astype(int)
        assert ((badge[..., 0] > 170) & (badge[..., 1] < 90)).sum() > 200  # the red PREVIEW badge
    timecode = (slice(320, 360), slice(500, 640))  # at the right end of the caption band, shown mid-clip
    assert mean_diff(frames[8][timecode], frames[-9][timecode]) > 3  # the timecode runs
    plain = render_plate(PROMPT, 3, (640, 360))
    still = make_still(PROMPT, 3, (640, 360), LABELS, tmp_path / "s.png")
    with Image.open(still) as img:
        assert mean_diff(np.asarray(img.convert("RGB"))[130:230, 120:520], np.asarray(plain)[130:230, 120:520]) > 10


# --- voices and talking shots --------------------------------------------------------------------------------------

def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return wav.getnframes() / wav.getframerate()


def test_voice_length_follows_the_text(tmp_path: Path) -> None:
    five = "Built for the long run."
    twenty = ("Every morning the road is waiting, and every mile you run tells you something new "
              "about who you are today.")
    assert len(twenty.split()) == 20
    short = make_voice(five, 1, tmp_path / "5.wav")
    long = make_voice(twenty, 1, tmp_path / "20.wav")
    assert _wav_seconds(short) == pytest.approx(5 / 2.6 + 0.4, abs=0.01)
    assert _wav_seconds(long) == pytest.approx(20 / 2.6 + 0.4, abs=0.01)
    assert _wav_seconds(make_voice("Go.", 1, tmp_path / "1.wav")) == pytest.approx(1.0, abs=0.01)
    assert make_voice(five, 1, tmp_path / "again.wav").read_bytes() == short.read_bytes()
    assert make_voice(five, 2, tmp_path / "other.wav").read_bytes() != short.read_bytes()
    with wave.open(str(long)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(float)
    windows = np.sqrt(np.mean(samples[: len(samples) // 1200 * 1200].reshape(-1, 1200) ** 2, axis=1))
    assert (windows < 200).sum() >= 3 and (windows > 2000).sum() >= 10  # bursts with pauses, not a steady tone


def test_talking_shot_is_as_long_as_its_audio(tmp_path: Path) -> None:
    voice = make_voice("Built for the long run, every single day.", 4, tmp_path / "vo.wav")
    audio_s = _wav_seconds(voice)
    portrait = tmp_path / "face.png"
    Image.new("RGB", (512, 512), (150, 120, 100)).save(portrait)
    out = make_animatic(portrait, "", "static", 5.0, 24.0, (360, 360), 2, 0, LABELS, tmp_path / "talk.mp4",
                        audio=voice)
    info = probe(out)
    assert info.has_audio and info.audio_codec == "aac"
    assert info.frames == round(audio_s * 24)
    assert info.duration_s == pytest.approx(audio_s, abs=1 / 24)
    with av.open(str(out)) as container:
        assert container.duration is not None
        assert container.duration / 1_000_000 == pytest.approx(audio_s, abs=1 / 24 + 0.05)
    frames = frames_of(out)
    badge = (slice(270, 360), slice(200, 360))  # the mouth / level badge moves with the voice
    assert max(mean_diff(frames[0][badge], f[badge]) for f in frames[::6]) > 2


# --- the backend ---------------------------------------------------------------------------------------------------

def _request(tmp_path: Path, **fields: object) -> JobRequest:
    base: dict[str, object] = {"job_id": "job-1", "node_id": "wide", "model": "kling-3", "variant": "3.0",
                               "backend": "preview", "backend_model_id": "video", "media": "video",
                               "prompt": PROMPT, "params": {"duration_s": 1, "aspect_ratio": "16:9"},
                               "model_label": "Kling 3.0 / O3"}
    base.update(fields)
    return JobRequest.model_validate(base)


def test_backend_submit_poll_fetch_lands_the_file_atomically(tmp_path: Path) -> None:
    backend = PreviewBackend(tmp_path / "work")
    assert isinstance(backend, Backend) and backend.id == "preview" and backend.poll_interval_s < 1
    request = _request(tmp_path, params={"duration_s": 1, "aspect_ratio": "9:16", "camera": "pan left"})
    job = backend.submit(request)
    status = backend.poll(job)
    assert status.state is JobState.SUCCEEDED and len(status.artifacts) == 1
    artifact = status.artifacts[0]
    assert artifact.media == "video" and artifact.path is not None and artifact.path.is_file()
    dest = tmp_path / "takes" / "wide" / "take-1.mp4"
    assert backend.fetch(job, artifact, dest) == dest
    assert sorted(p.name for p in dest.parent.iterdir()) == ["take-1.mp4"]  # no temp file left beside it
    info = probe(dest)
    assert (info.width, info.height, info.frames) == (360, 640, 24)
    assert backend.cancel(job) is False
    # a restart that finds the work file gone renders it again, identically
    first_bytes = artifact.path.read_bytes()
    artifact.path.unlink()
    again = backend.poll(RemoteJob.model_validate_json(job.model_dump_json()))  # as if read back from the ledger
    assert again.artifacts[0].path is not None and again.artifacts[0].path.read_bytes() == first_bytes


def test_backend_serves_images_voices_avatars_and_video_to_video(tmp_path: Path) -> None:
    backend = PreviewBackend(tmp_path / "work")
    image_req = _request(tmp_path, job_id="img", model="nano-banana-2", variant="standard", media="image",
                         params={"aspect_ratio": "1:1", "resolution": "4K"}, model_label="Nano Banana 2")
    still = backend.poll(backend.submit(image_req)).artifacts[0]
    assert still.media == "image" and probe(still.path).width == 1024  # type: ignore[arg-type]
    voice_req = _request(tmp_path, job_id="vo", model="elevenlabs", variant="v3", media="audio",
                         params={"text": "Built for the long run."}, prompt="")
    voice = backend.poll(backend.submit(voice_req)).artifacts[0]
    assert voice.media == "audio" and voice.path is not None
    voice_s = _wav_seconds(voice.path)
    avatar_req = _request(tmp_path, job_id="hook", model="kling-avatar", variant="std", params={},
                          inputs={"image": [still.path], "audio": [voice.path]})
    avatar = probe(backend.poll(backend.submit(avatar_req)).artifacts[0].path)  # type: ignore[arg-type]
    assert avatar.has_audio and (avatar.width, avatar.height) == (360, 360)  # framing follows the square still
    assert avatar.duration_s == pytest.approx(voice_s, abs=1 / 24)
    v2v_req = _request(tmp_path, job_id="aleph", model="runway-aleph", variant="aleph2", params={},
                       inputs={"video": [tmp_path / "work" / "hook.mp4"]})
    v2v = probe(backend.poll(backend.submit(v2v_req)).artifacts[0].path)  # type: ignore[arg-type]
    assert not v2v.has_audio and v2v.duration_s == pytest.approx(voice_s, abs=1 / 24)
    assert label_lines(avatar_req) == ["PREVIEW", "Kling 3.0 / O3 · std", "take 1"]


def test_backend_reports_a_missing_input(tmp_path: Path) -> None:
    backend = PreviewBackend(tmp_path / "work")
    request = _request(tmp_path, inputs={"image": [tmp_path / "nope.png"]})
    with pytest.raises(BackendError) as info:
        backend.submit(request)
    assert info.value.kind is ErrorKind.INVALID_REQUEST
    assert list((tmp_path / "work").iterdir()) == []
