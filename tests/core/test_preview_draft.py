"""A draft cut that reads: four models from one still differ, the caption band stays whole through a push-in and
carries each take's own prompt, labels are off where a crossfade would overlap two of them, and a 720p draft."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from blender_canvas.providers.backend import JobRequest
from blender_canvas.providers.preview import render
from blender_canvas.providers.preview_frames import BAND_RGB
from blender_canvas.providers.preview_motion import LABEL_GUARD_S, label_strength, make_animatic, model_family
from blender_canvas.providers.preview_stills import make_still

STILL_PROMPT = "a barista in a sunlit cafe, pastel walls"
MODELS = (("kling-3", "3.0", "Kling 3.0"), ("veo-3.1", "fast", "Veo 3.1 Fast"), ("seedance-2", "2.0", "Seedance 2.0"),
          ("sora-2", "pro", "Sora 2 Pro"))


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _band_top(frame: np.ndarray) -> int:
    """The first row of the bottom run of rows that are the band's colour at their left edge."""
    edge = frame[:, 1].astype(int)
    band = np.abs(edge - np.array(BAND_RGB)).sum(axis=1) < 24
    top = len(band)
    while top > 0 and band[top - 1]:
        top -= 1
    return top


def _request(tmp: Path, model: str, variant: str, label: str, still: Path, take: int = 0,
             prompt: str = "she pours latte art, camera: slow push in") -> JobRequest:
    return JobRequest(job_id=f"{model}-{take}", node_id=model, model=model, variant=variant, backend="preview",
                      backend_model_id=f"{model}/{variant}", media="video", prompt=prompt,
                      params={"aspect_ratio": "16:9", "duration_s": 2.0, "fps": 12, "seed": 42},
                      inputs={"image": [still]}, take_index=take, model_label=label)


def _still(tmp: Path) -> Path:
    return make_still(STILL_PROMPT, 42, (640, 360), ["PREVIEW", "Nano Banana 2", "take 1"], tmp / "still.png")


def test_model_family() -> None:
    assert model_family("kling-3") == model_family("kling-o3") == "kling"
    assert model_family("veo-3.1-fast") == "veo" and model_family("") == ""


def test_four_models_from_one_still_differ_visibly(tmp_path: Path) -> None:
    still = _still(tmp_path)
    clips = [frames_of(render(_request(tmp_path, m, v, label, still), tmp_path / f"{m}.mp4"))
             for m, v, label in MODELS]
    firsts = [clip[0] for clip in clips]
    for clip in clips:
        assert len(clip) == 24
    top = _band_top(firsts[0])
    for index, a in enumerate(clips):
        for b in clips[index + 1:]:
            picture_a, picture_b = a[-1][:top].astype(int), b[-1][:top].astype(int)
            assert np.abs(picture_a - picture_b).mean() > 6.0  # the moves end in different framings
    # and the first frame of every one of them is the still (an image-to-video model starts from it)
    for first in firsts[1:]:
        assert np.abs(first[:top].astype(int) - firsts[0][:top].astype(int)).mean() < 3.0


def test_takes_of_one_model_differ(tmp_path: Path) -> None:
    still = _still(tmp_path)
    m, v, label = MODELS[0]
    take0 = frames_of(render(_request(tmp_path, m, v, label, still, 0), tmp_path / "t0.mp4"))
    take1 = frames_of(render(_request(tmp_path, m, v, label, still, 1), tmp_path / "t1.mp4"))
    top = _band_top(take0[0])
    assert np.abs(take0[-1][:top].astype(int) - take1[-1][:top].astype(int)).mean() > 4.0


def test_caption_stays_whole_through_a_push_in(tmp_path: Path) -> None:
    still = _still(tmp_path)
    out = make_animatic(still, "she pours latte art", "fast push in", 3.0, 12.0, (640, 360), 3, 0,
                        ["PREVIEW", "Kling 3.0 · 3.0", "take 2"], tmp_path / "push.mp4", family="kling")
    frames = frames_of(out)
    top = _band_top(frames[len(frames) // 2])
    assert 360 * 0.6 < top < 360 - 20  # a band along the bottom
    middle = [f for i, f in enumerate(frames) if label_strength(i, len(frames), 12.0) >= 1.0]
    assert len(middle) >= len(frames) // 3
    text = [(f[top:, :380].astype(int).sum(axis=2) > 500) for f in middle]  # the white caption text (left part)
    assert text[0].sum() > 300  # there is a caption
    for mask in text[1:]:  # the same pixels in every frame: nothing slid or cropped it
        assert (mask != text[0]).mean() < 0.01
    picture = [f[:top].astype(int) for f in (middle[0], middle[-1])]
    assert np.abs(picture[0] - picture[1]).mean() > 3.0  # while the picture above it moved


def test_each_take_shows_its_own_prompt_not_its_stills(tmp_path: Path) -> None:
    still = _still(tmp_path)
    m, v, label = MODELS[0]
    a = frames_of(render(_request(tmp_path, m, v, label, still, prompt="she pours latte art"), tmp_path / "a.mp4"))
    b = frames_of(render(_request(tmp_path, m, v, label, still, prompt="WIDE SHOT OF THE STREET OUTSIDE"),
                         tmp_path / "b.mp4"))
    mid = len(a) // 2
    top = _band_top(a[mid])
    assert np.abs(a[mid][top:].astype(int) - b[mid][top:].astype(int)).mean() > 1.0  # the band differs
    # and the picture carries no prompt panel of the still (its recipe is redrawn without one)
    assert np.abs(a[0][:top].astype(int) - b[0][:top].astype(int)).mean() < 1.0


def test_labels_are_off_where_a_crossfade_overlaps(tmp_path: Path) -> None:
    fps, frames = 12.0, 24
    guard = min(round(LABEL_GUARD_S * fps), frames // 4)  # at most a quarter of the clip at each end
    strengths = [label_strength(i, frames, fps) for i in range(frames)]
    assert strengths[:guard] == [0.0] * guard and strengths[-guard:] == [0.0] * guard
    assert max(strengths) == 1.0 and all(0.0 <= s <= 1.0 for s in strengths)
    still = _still(tmp_path)
    clips = [frames_of(render(_request(tmp_path, m, v, label, still), tmp_path / f"{m}.mp4"))
             for m, v, label in MODELS[:2]]
    top = _band_top(clips[0][0])
    # a crossfade of ``guard`` frames: the tail of one and the head of the next blend, and the band is plain in both
    for k in range(guard):
        mixed = (clips[0][-guard + k].astype(int) + clips[1][k].astype(int)) // 2
        assert np.abs(mixed[top + 2:] - np.array(BAND_RGB)).max() < 16
    assert np.abs(clips[0][frames // 2][top + 2:].astype(int) - np.array(BAND_RGB)).max() > 100  # text mid-clip


def test_a_720p_draft(tmp_path: Path) -> None:
    still = _still(tmp_path)
    m, v, label = MODELS[0]
    request = _request(tmp_path, m, v, label, still)
    request.params["preview_resolution"] = "720p"
    out = render(request, tmp_path / "hd.mp4")
    with av.open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (1280, 720)
    assert Image.open(still).size == (640, 360)


def test_probe_is_remembered_by_path_size_and_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from blender_canvas.providers import media_probe

    clip = make_animatic(None, "a", "static", 0.5, 12.0, (64, 36), 1, 0, ["PREVIEW"], tmp_path / "c.mp4")
    opened: list[Path] = []
    real = media_probe._probe

    def counted(path: Path) -> media_probe.MediaInfo:
        opened.append(path)
        return real(path)

    monkeypatch.setattr(media_probe, "_probe", counted)
    first = media_probe.probe(clip)
    assert media_probe.probe(clip) == first and len(opened) == 1  # the second probe opens nothing
    make_animatic(None, "a", "static", 1.0, 12.0, (64, 36), 1, 0, ["PREVIEW"], tmp_path / "c.mp4")
    again = media_probe.probe(clip)  # rewritten: new size and mtime, probed again
    assert len(opened) == 2 and again.frames == 12 and first.frames == 6
    with pytest.raises(ValueError):
        media_probe.probe(tmp_path / "gone.mp4")


def test_the_canvas_draft_resolution_reaches_the_preview(tmp_path: Path) -> None:
    from blender_canvas.engine.document import Canvas
    from blender_canvas.engine.ledger import Ledger
    from blender_canvas.engine.planner import plan_run
    from blender_canvas.engine.session import IMPLEMENTED
    from blender_canvas.providers.catalog import load_catalog

    doc = {"version": 1, "draft": True, "nodes": [
        {"id": "v", "kind": "video", "model": "kling-3", "variant": "3.0", "prompt": {"subject": "x"}}]}
    ledger = Ledger(tmp_path / "p" / "ledger.sqlite")
    plans = {}
    for resolution in (None, "360p", "720p"):
        canvas = Canvas.model_validate({**doc, **({"draft_resolution": resolution} if resolution else {})})
        plans[resolution] = plan_run(canvas, load_catalog(), ledger, base_dir=tmp_path, implemented=IMPLEMENTED)
    ledger.close()
    default, low, high = (plans[k].jobs[0] for k in (None, "360p", "720p"))
    assert "preview_resolution" not in default.params and default.params == low.params  # 360p keeps its keys
    assert high.params["preview_resolution"] == "720p" and high.backend == "preview"
    assert high.cache_key({}) != low.cache_key({})  # a 720p draft is a take of its own
