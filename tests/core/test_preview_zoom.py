"""The camera's move as ffmpeg's zoompan (preview_zoom.py) and the glyph-laid timecode (preview_timecode.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image, ImageDraw

from blender_canvas.providers.preview_timecode import Timecode, timecode_text
from blender_canvas.providers.preview_yuv import frame_planes, rgb_to_planes
from blender_canvas.providers.preview_zoom import ahead, crop_of, per_frame, plate_frame, zoompan_frames


def _plate(w: int = 480, h: int = 270) -> np.ndarray:
    """A plate with structure everywhere (gradients and a grid), so a wrong crop shows."""
    ys, xs = np.mgrid[0:h, 0:w]
    rgb = np.stack([xs * 255 // w, ys * 255 // h, ((xs // 12 + ys // 12) % 2) * 200 + 20], axis=2)
    return rgb.astype(np.uint8)


def _reference(rgb: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]) -> np.ndarray:
    """The luma of ``box`` (as zoompan crops it: whole pixels) scaled to ``size`` by Pillow."""
    x, y, width = crop_of(box, (rgb.shape[1], rgb.shape[0]))
    height = int(rgb.shape[0] * (width + 0.25) / rgb.shape[1])
    crop = Image.fromarray(rgb).crop((x, y, x + width, y + height)).resize(size, Image.Resampling.BICUBIC)
    return rgb_to_planes(np.asarray(crop))[0]


def test_each_frame_is_its_own_box_of_the_plate() -> None:
    rgb = _plate()
    size = (160, 90)
    boxes = [(0.0, 0.0, 480.0, 270.0), (100.4, 50.7, 260.4, 140.7), (300.0, 0.0, 460.0, 90.0),
             (40.0, 150.0, 200.0, 240.0), (100.4, 50.7, 260.4, 140.7)]
    frames = list(zoompan_frames(plate_frame(rgb), boxes, size, Fraction(24)))
    assert len(frames) == len(boxes)
    assert all((f.width, f.height, f.format.name) == (160, 90, "yuv420p") for f in frames)
    lumas = [frame_planes(f)[0].astype(np.int16) for f in frames]
    for luma, box in zip(lumas, boxes, strict=True):
        errors = [float(np.abs(luma - _reference(rgb, other, size)).mean()) for other in boxes]
        assert errors[boxes.index(box)] < 6  # its own box, scaled
        assert min(e for e, other in zip(errors, boxes, strict=True) if other != box) > 3 * errors[boxes.index(box)]
    assert np.array_equal(lumas[1], lumas[4])  # the same box twice: the same frame


def test_frames_can_be_written_into() -> None:
    frames = zoompan_frames(plate_frame(_plate()), [(0.0, 0.0, 160.0, 90.0)] * 2, (64, 36), Fraction(25))
    first = next(frames)
    frame_planes(first)[0][:4, :4] = 7
    assert int(frame_planes(first)[0][0, 0]) == 7
    second = next(frames)
    assert int(frame_planes(second)[0][0, 0]) != 7  # a frame of its own, not a shared buffer


def test_the_expression_picks_each_frames_value() -> None:
    values = [str(v) for v in (5, 5, 5, 7, 9, 9, 2)]
    expression = per_frame(values)
    for on, expected in enumerate(values):  # evaluate the tree as ffmpeg would
        text = expression.replace("\\,", ",")
        assert _evaluate(text, on) == float(expected)
    assert per_frame(["3"] * 40) == "3"  # a run of one value collapses
    with pytest.raises(ValueError):
        per_frame([])


def _evaluate(text: str, on: int) -> float:
    if not text.startswith("if("):
        return float(text)
    depth, parts, start = 0, [], 3
    for index, char in enumerate(text[3:-1], start=3):
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:-1])
    condition, yes, no = parts
    assert condition.startswith("lt(on,")
    return _evaluate(yes if on < int(condition[6:-1]) else no, on)


def test_crops_stay_inside_the_plate_and_even() -> None:
    for box in ((-40.0, -20.0, 120.0, 70.0), (400.0, 230.0, 560.0, 320.0), (0.0, 0.0, 900.0, 500.0)):
        x, y, width = crop_of(box, (480, 270))
        assert width % 2 == 0 and 0 <= x <= 480 - width and y >= 0
        assert y + int(270 * (width + 0.25) / 480) <= 270


def test_a_plate_must_be_yuv420p_with_even_sides() -> None:
    with pytest.raises(ValueError):
        plate_frame(np.zeros((9, 16, 3), np.uint8))
    rgb_frame = plate_frame(_plate()).reformat(format="rgb24")
    with pytest.raises(ValueError):
        list(zoompan_frames(rgb_frame, [(0.0, 0.0, 10.0, 10.0)], (16, 16), Fraction(24)))


def test_the_glyph_timecode_reads_as_the_text_drawn_whole() -> None:
    size = (1280, 720)
    timecode = Timecode(size, 600)
    x0, y0, x1, y1 = timecode.box
    shown = []
    for code in ("00:00:01:12", "00:00:04:23", "00:01:00:00"):
        luma = np.full((720, 1280), 0, np.uint8)
        timecode.draw((luma, np.zeros((360, 640), np.uint8), np.zeros((360, 640), np.uint8)), code, 1.0)
        glyphs = luma[y0:y1, x0:x1].astype(np.int16)
        whole = Image.new("L", (x1 - x0, y1 - y0), timecode.luma)  # the string drawn whole from its top
        ImageDraw.Draw(whole).text((0, 0), code, font=timecode.font, anchor="lt", fill=235)
        assert np.abs(glyphs - np.asarray(whole).astype(np.int16)).mean() < 1.0
        assert int(glyphs.max()) > timecode.luma + 150  # white digits on the band's grey
        shown.append(glyphs)
    assert np.abs(shown[0] - shown[1]).mean() > 1.0  # other digits, other pixels
    assert timecode_text(24 * 61 + 5, 24) == "00:01:01:05"
    assert timecode_text(24 * 3600 * 100, 24) == "100:00:00:00"


def test_frames_made_ahead_come_in_order_and_errors_reach_the_encoder() -> None:
    assert list(ahead(iter(range(50)), depth=2)) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("zoompan broke")

    got = []
    with pytest.raises(RuntimeError, match="zoompan broke"):
        for item in ahead(failing()):
            got.append(item)
    assert got == [1]


def test_a_consumer_that_stops_early_stops_the_worker() -> None:
    made: list[int] = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            made.append(n)
            yield n
            n += 1

    stream = ahead(endless(), depth=2)
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()
    assert not any(t.name == "preview-frames" and t.is_alive() for t in threading.enumerate())
    assert len(made) <= 3 + 2 + 1  # no more than the queue held ahead
