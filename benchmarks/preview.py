"""The preview renderer beside ffmpeg's own zoompan, one run, side by side.

Both make a 5 s 1280x720 push-in from one still and encode it with libx264 at the renderer's preset
(``X264_OPTIONS``): ffmpeg's ``zoompan`` through PyAV's filter graph (``av.filter``, no ffmpeg binary needed), and
``make_animatic``, which also burns in the caption band, badge and timecode. The runs alternate A B A B and the median
of the per-pair ratios is printed beside the target (<= 1.0x).

    python benchmarks/preview.py [--pairs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_canvas.providers.preview_motion import X264_OPTIONS, make_animatic  # noqa: E402

SIZE = (1280, 720)
FPS = 24
SECONDS = 5
TARGET = 1.0


def _still(path: Path) -> Image.Image:
    rng = np.random.default_rng(7)
    ys, xs = np.mgrid[0:SIZE[1], 0:SIZE[0]]
    arr = np.stack([(xs * 255 // SIZE[0]), (ys * 255 // SIZE[1]), ((xs + ys) % 255)], axis=2).astype(np.uint8)
    arr = np.clip(arr.astype(np.int16) + rng.integers(-20, 20, arr.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(arr, "RGB")
    image.save(path)
    return image


def zoompan(image: Image.Image, out: Path) -> int:
    """ffmpeg's zoompan push-in (the same 1.0 -> ~1.25 zoom) encoded at the same preset."""
    frames = FPS * SECONDS
    rate = Fraction(FPS)
    with av.open(str(out), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        graph = av.filter.Graph()
        source = graph.add_buffer(width=SIZE[0], height=SIZE[1], format="rgb24", time_base=Fraction(1, FPS))
        zoom = graph.add("zoompan", f"z='min(zoom+0.002,1.25)':d={frames}:x='iw/2-(iw/zoom/2)':"
                                    f"y='ih/2-(ih/zoom/2)':s={SIZE[0]}x{SIZE[1]}:fps={FPS}")
        fmt = graph.add("format", "yuv420p")
        sink = graph.add("buffersink")
        source.link_to(zoom)
        zoom.link_to(fmt)
        fmt.link_to(sink)
        graph.configure()
        frame = av.VideoFrame.from_image(image)
        frame.pts = 0
        frame.time_base = Fraction(1, FPS)
        graph.push(frame)
        graph.push(None)
        count = 0
        while True:
            try:
                out_frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            out_frame.pts = count
            out_frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(out_frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def animatic(still: Path, out: Path) -> int:
    make_animatic(still, "a barista pours latte art", "push in", SECONDS, FPS, SIZE, 42, 0,
                  ["PREVIEW", "Kling 3.0 · 3.0", "take 1"], out)
    with av.open(str(out)) as container:
        return int(container.streams.video[0].frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        still_path = folder / "still.png"
        image = _still(still_path)
        counts = (zoompan(image, folder / "warm_z.mp4"), animatic(still_path, folder / "warm_a.mp4"))
        ratios, zs, ans = [], [], []
        for index in range(args.pairs):
            start = time.perf_counter()
            zoompan(image, folder / f"z{index}.mp4")
            mid = time.perf_counter()
            animatic(still_path, folder / f"a{index}.mp4")
            end = time.perf_counter()
            zs.append(mid - start)
            ans.append(end - mid)
            ratios.append((end - mid) / (mid - start))
    print(f"frames: zoompan {counts[0]}, animatic {counts[1]} at {SIZE[0]}x{SIZE[1]}, {X264_OPTIONS}")
    print(f"zoompan median {statistics.median(zs):.3f} s, animatic median {statistics.median(ans):.3f} s")
    ratio = statistics.median(ratios)
    print(f"preview / zoompan: {ratio:.2f}x (min {min(ratios):.2f}x, max {max(ratios):.2f}x)  target <= {TARGET:.2f}x  "
          f"{'OK' if ratio <= TARGET else 'OVER'}")


if __name__ == "__main__":
    main()
