"""The camera's move over a plate as ffmpeg's own ``zoompan`` filter, run through PyAV's filter graph.

A take's crop boxes are known before its first frame is made, so the whole move is handed to one ``zoompan`` as
expressions of the output frame number (``on``): a balanced tree of ``if(lt(on,k),...)`` over the per-frame
values, evaluated in C. The plate goes in once, in yuv420p; each output frame is one swscale pass from a crop of it
straight into a new frame of the output size, with no copy of the crop and no Python per pixel. (PyAV's own
reformatter re-initialises swscale whenever the crop size changes, which a zoom does on every frame, and costs
more per frame than the scale.)

Only PyAV APIs present in PyAV 14.1 are used: ``av.filter.Graph`` with ``add_buffer``, ``add``, ``link_to``,
``configure``, ``push`` and ``pull``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from fractions import Fraction
from typing import TypeVar

import av
import numpy as np

T = TypeVar("T")
Box = tuple[float, float, float, float]
Size = tuple[int, int]


def crop_of(box: Box, plate: Size) -> tuple[int, int, int]:
    """The whole-pixel crop zoompan takes for ``box``: its left and top edges (truncated, as zoompan truncates) and
    its even width, inside the plate."""
    pw, ph = plate
    width = max(2, min(pw, round(box[2] - box[0])))
    width -= width % 2
    x = min(max(0, int(box[0])), pw - width)
    height = int(ph * (width + 0.25) / pw)
    y = min(max(0, int(box[1])), max(0, ph - height))
    return x, y, width


def _tree(values: Sequence[str], lo: int, hi: int) -> str:
    """An expression of ``on`` that is ``values[on]`` for ``lo <= on <= hi`` (runs of one value collapse)."""
    if all(v == values[lo] for v in values[lo:hi + 1]):
        return values[lo]
    mid = (lo + hi + 1) // 2
    return f"if(lt(on\\,{mid})\\,{_tree(values, lo, mid - 1)}\\,{_tree(values, mid, hi)})"


def per_frame(values: Sequence[str]) -> str:
    """``values`` as one zoompan expression indexed by the output frame number."""
    if not values:
        raise ValueError("a move needs at least one frame")
    return _tree(values, 0, len(values) - 1)


def _rate_text(rate: Fraction) -> str:
    return f"{rate.numerator}/{rate.denominator}"


def zoompan_frames(plate: av.VideoFrame, boxes: Sequence[Box], size: Size, rate: Fraction) -> Iterator[av.VideoFrame]:
    """One yuv420p frame of ``size`` per box: that region of ``plate`` (a yuv420p frame) scaled to the frame.

    The zoom is given so that zoompan's crop width (``int(plate width / zoom)``) is the box's even width, and its
    corner is the box's, truncated to whole pixels (zoompan's own rule, as the frames it cuts are whole pixels)."""
    if plate.format.name != "yuv420p":
        raise ValueError(f"the plate must be yuv420p, got {plate.format.name}")
    pw, ph = plate.width, plate.height
    xs, ys, zooms = [], [], []
    for box in boxes:
        x, y, width = crop_of(box, (pw, ph))
        xs.append(str(x))
        ys.append(str(y))
        zooms.append(repr(pw / (width + 0.25)))
    graph = av.filter.Graph()
    source = graph.add_buffer(width=pw, height=ph, format=plate.format, time_base=1 / rate)
    zoom = graph.add("zoompan", f"z={per_frame(zooms)}:x={per_frame(xs)}:y={per_frame(ys)}:d={len(boxes)}:"
                                f"s={size[0]}x{size[1]}:fps={_rate_text(rate)}")
    sink = graph.add("buffersink")
    source.link_to(zoom)
    zoom.link_to(sink)
    graph.configure()
    plate.pts = 0
    plate.time_base = 1 / rate
    graph.push(plate)
    graph.push(None)
    made = 0
    while made < len(boxes):
        try:
            frame = graph.pull()
        except (av.BlockingIOError, av.EOFError):
            break
        assert isinstance(frame, av.VideoFrame)
        made += 1
        yield frame
    if made != len(boxes):
        raise RuntimeError(f"zoompan made {made} of {len(boxes)} frames")


def plate_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An RGB plate (even dimensions) as one yuv420p frame, by swscale (BT.601, limited range: the overlays' own
    conversion)."""
    h, w = rgb.shape[:2]
    if w % 2 or h % 2:
        raise ValueError(f"the plate must have even dimensions, got {w}x{h}")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")


_DONE = object()


def ahead(items: Iterator[T], depth: int = 3) -> Iterator[T]:
    """``items``, made up to ``depth`` ahead on a worker thread: zoompan and the overlays (which release the GIL in
    C and numpy) make the next frames while the encoder takes this one. An error making them is raised here; when
    the consumer stops early (or fails), the worker stops at its next frame."""
    made: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        made.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            made.put(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            made.put(error)

    worker = threading.Thread(target=work, name="preview-frames", daemon=True)
    worker.start()
    try:
        while True:
            item = made.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # let a worker blocked on a full queue see the stop
            try:
                made.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.05)
