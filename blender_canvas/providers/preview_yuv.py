"""YUV 4:2:0 frames for the preview animatics: the plate converted once (swscale; zoompan cuts each frame from it,
preview_zoom.py), an orbit's near layer blended in, and the overlays (stamp, caption band, timecode) written into
each frame's planes only where they have pixels.

Working in the encoder's own format means no per-frame RGB -> YUV conversion and half the samples of RGB; an
overlay is converted once into sparse arrays (which pixels, their alpha, their premultiplied value) or, for the
opaque caption band, into rows copied whole, so compositing costs the overlay's pixel count, not the frame's.
Only PyAV APIs present in PyAV 14.1 are used (``VideoFrame.from_ndarray`` / ``to_ndarray`` for yuv420p and gray,
``VideoFrame.reformat``, the planes' buffer protocol).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import av
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]
Planes = tuple[np.ndarray, np.ndarray, np.ndarray]


def frame_planes(frame: av.VideoFrame) -> Planes:
    """Writable numpy views of a yuv420p frame's Y, U and V planes (line padding cut off)."""
    views = []
    for plane in frame.planes[:3]:
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        views.append(rows[:, :plane.width])
    return views[0], views[1], views[2]


def rgb_to_planes(rgb: np.ndarray) -> Planes:
    """Y (full size), U and V (half size) of an RGB array cropped to even dimensions, by swscale (BT.601, limited
    range: what the encoder was given from RGB frames before)."""
    h, w = rgb.shape[:2]
    rgb = np.ascontiguousarray(rgb[: h - h % 2, : w - w % 2])
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    y, u, v = frame_planes(frame)
    return y.copy(), u.copy(), v.copy()


class YuvPlate:
    """A plate in yuv420p whose regions an orbit's near layer is resampled from."""

    def __init__(self, image: Image.Image) -> None:
        self.y, self.u, self.v = rgb_to_planes(np.asarray(image.convert("RGB")))
        self._images: tuple[Image.Image, Image.Image, Image.Image] | None = None

    def paste(self, box: Box, size: tuple[int, int], corner: tuple[int, int], mask: Image.Image,
              planes: Planes) -> None:
        """Resample ``box`` to ``size`` and blend it in at ``corner`` through ``mask`` (L, at ``size``): the
        near layer of an orbit, over the part of the frame its subject covers."""
        if self._images is None:
            self._images = (Image.fromarray(self.y), Image.fromarray(self.u), Image.fromarray(self.v))
        x0, y0 = corner[0] - corner[0] % 2, corner[1] - corner[1] % 2
        w, h = size[0] - size[0] % 2, size[1] - size[1] % 2
        if w < 2 or h < 2:
            return
        bilinear = Image.Resampling.BILINEAR
        alpha = np.asarray(mask.resize((w, h), bilinear)).astype(np.uint16)
        half_alpha = np.asarray(mask.resize((w // 2, h // 2), bilinear)).astype(np.uint16)
        half = (box[0] / 2, box[1] / 2, box[2] / 2, box[3] / 2)
        for plane, source, a, (px, py), part, src_box in (
                (planes[0], self._images[0], alpha, (x0, y0), (w, h), box),
                (planes[1], self._images[1], half_alpha, (x0 // 2, y0 // 2), (w // 2, h // 2), half),
                (planes[2], self._images[2], half_alpha, (x0 // 2, y0 // 2), (w // 2, h // 2), half)):
            layer = np.asarray(source.resize(part, bilinear, box=src_box)).astype(np.uint16)
            region = plane[py:py + part[1], px:px + part[0]]
            rh, rw = region.shape
            mixed = (region.astype(np.uint16) * (255 - a[:rh, :rw]) + layer[:rh, :rw] * a[:rh, :rw] + 127) // 255
            region[...] = mixed.astype(np.uint8)


@dataclass(frozen=True)
class _DensePart:
    x: int  # even corner of the part in the frame (luma pixels)
    y: int
    keep: tuple[np.ndarray, np.ndarray, np.ndarray]  # per plane, uint16: 256 - alpha
    add: tuple[np.ndarray, np.ndarray, np.ndarray]  # per plane, uint16: value * alpha (+ rounding)
    scratch: tuple[np.ndarray, np.ndarray, np.ndarray]  # per plane, uint16: where a frame's blend is worked out


@dataclass(frozen=True)
class Overlay:
    """An RGBA layer converted once to yuv420p parts (the bands of rows that have pixels, each cut to its columns),
    blended into every frame as ``frame * (256 - alpha) + value * alpha`` over those parts only."""

    parts: tuple[_DensePart, ...]

    @classmethod
    def from_rgba(cls, layer: Image.Image) -> Overlay:
        rgba = np.asarray(layer.convert("RGBA"))
        h, w = rgba.shape[:2]
        used = rgba[..., 3] > 0
        parts: list[_DensePart] = []
        rows = used.any(axis=1)
        y = 0
        while y < h:
            if not rows[y]:
                y += 1
                continue
            start = y
            while y < h and rows[y]:
                y += 1
            cols = np.nonzero(used[start:y].any(axis=0))[0]
            x0, y0 = int(cols[0]) - int(cols[0]) % 2, start - start % 2
            x1, y1 = min(w - w % 2, (int(cols[-1]) + 2) // 2 * 2), min(h - h % 2, (y + 1) // 2 * 2)
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                parts.append(_dense(rgba[y0:y1, x0:x1], x0, y0))
        return cls(tuple(parts))

    def fresh(self) -> Overlay:
        """The same layer with scratch buffers of its own: a layer shared between takes (renders may run on
        several threads) blends through the copy each take makes."""
        return Overlay(tuple(replace(part, scratch=tuple(np.empty_like(k) for k in part.keep))  # type: ignore[arg-type]
                             for part in self.parts))

    def blend(self, planes: Planes) -> None:
        """``frame * (256 - alpha) + value * alpha`` over the parts, in place, through one scratch buffer per part
        plane (no temporaries per frame)."""
        for part in self.parts:
            for index, plane in enumerate(planes):
                scale = 1 if index == 0 else 2
                keep = part.keep[index]
                region = plane[part.y // scale:part.y // scale + keep.shape[0],
                               part.x // scale:part.x // scale + keep.shape[1]]
                scratch = part.scratch[index][:region.shape[0], :region.shape[1]]
                np.multiply(region, keep[:region.shape[0], :region.shape[1]], out=scratch)
                scratch += part.add[index][:region.shape[0], :region.shape[1]]
                scratch >>= 8
                np.copyto(region, scratch, casting="unsafe")


def _dense(rgba: np.ndarray, x: int, y: int) -> _DensePart:
    h, w = rgba.shape[:2]
    alpha = rgba[..., 3].astype(np.float32) / 255.0
    half_alpha = alpha.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    planes = rgb_to_planes(rgba[..., :3])
    keep, add = [], []
    for plane, a in zip(planes, (alpha, half_alpha, half_alpha), strict=True):
        weight = np.rint(a * 256).astype(np.uint16)
        keep.append((256 - weight).astype(np.uint16))
        add.append((plane.astype(np.uint16) * weight + 128).astype(np.uint16))
    scratch = tuple(np.empty_like(k) for k in keep)
    return _DensePart(x, y, (keep[0], keep[1], keep[2]), (add[0], add[1], add[2]),
                      (scratch[0], scratch[1], scratch[2]))


class Band:
    """An opaque strip of whole rows (the caption band), converted once and copied into each frame."""

    def __init__(self, strip: Image.Image, top: int) -> None:
        self.top = top - top % 2
        self.y, self.u, self.v = rgb_to_planes(np.asarray(strip.convert("RGB"))[self.top:])

    @classmethod
    def plain(cls, size: tuple[int, int], top: int, rgb: tuple[int, int, int]) -> Band:
        """The band of ``size`` (the frame's) from row ``top`` down, all ``rgb``: one colour converted once."""
        band = cls.__new__(cls)
        band.top = top - top % 2
        y, u, v = rgb_to_planes(np.full((2, 2, 3), rgb, np.uint8))
        rows = size[1] - band.top
        band.y = np.full((rows, size[0]), y[0, 0], np.uint8)
        band.u = np.full((rows // 2, size[0] // 2), u[0, 0], np.uint8)
        band.v = np.full((rows // 2, size[0] // 2), v[0, 0], np.uint8)
        return band

    def copy_into(self, planes: Planes) -> None:
        planes[0][self.top:self.top + self.y.shape[0]] = self.y
        half = self.top // 2
        planes[1][half:half + self.u.shape[0]] = self.u
        planes[2][half:half + self.v.shape[0]] = self.v


def mix_bands(a: Band, b: Band, strength: float) -> Band:
    """``b`` over ``a`` at ``strength`` (0..1): the caption fading in over the empty band."""
    mixed = Band.__new__(Band)
    mixed.top = a.top
    for name in ("y", "u", "v"):
        lo, hi = getattr(a, name).astype(np.float32), getattr(b, name).astype(np.float32)
        setattr(mixed, name, np.rint(lo + (hi - lo) * strength).astype(np.uint8))
    return mixed


def blend_patch(planes: Planes, patch: Image.Image, corner: tuple[int, int]) -> None:
    """Blend a small RGBA ``patch`` (drawn each frame: the talking badge) at ``corner``."""
    h, w = planes[0].shape
    x0, y0 = corner[0] - corner[0] % 2, corner[1] - corner[1] % 2
    pw, ph = min(patch.width, w - x0), min(patch.height, h - y0)
    pw, ph = pw - pw % 2, ph - ph % 2
    if pw < 2 or ph < 2 or x0 < 0 or y0 < 0:
        return
    rgba = np.asarray(patch.convert("RGBA"))[:ph, :pw]
    alpha = rgba[..., 3].astype(np.uint16)
    y, u, v = rgb_to_planes(rgba[..., :3])
    half_alpha = alpha.reshape(ph // 2, 2, pw // 2, 2).mean(axis=(1, 3)).astype(np.uint16)
    for plane, value, a, px, py in ((planes[0], y, alpha, x0, y0), (planes[1], u, half_alpha, x0 // 2, y0 // 2),
                                    (planes[2], v, half_alpha, x0 // 2, y0 // 2)):
        region = plane[py:py + value.shape[0], px:px + value.shape[1]]
        mixed = (region.astype(np.uint16) * (255 - a) + value.astype(np.uint16) * a + 127) // 255
        region[...] = mixed.astype(np.uint8)
