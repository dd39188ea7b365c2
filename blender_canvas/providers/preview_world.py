"""The plate a preview's camera moves over: the first frame cover-cropped to the frame inside a blurred, darkened
mirror of itself (or a prompt's plate drawn whole), its margins in the frame's own aspect so ffmpeg's zoompan (one
zoom for both axes) crops boxes of the frame's shape, and the plate as one yuv420p frame for zoompan."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from math import gcd
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .preview_frames import Size
from .preview_stills import _cover, _plate
from .preview_yuv import frame_planes, rgb_to_planes
from .preview_zoom import plate_frame


@dataclass(frozen=True)
class _World:
    """The plate the camera moves over: drawn whole (a prompt's), or a picture laid over a small blurred surround
    that is scaled up to the plate (in one swscale pass with the conversion to yuv420p, for the camera)."""

    size: Size  # the plate's
    home: tuple[int, int, int, int]  # the box of the first frame inside it (even corners)
    drawn: Image.Image | None = None  # RGB: the whole plate, or
    surround: Image.Image | None = None  # RGB, small: the margin, scaled up to ``size``
    picture: Image.Image | None = None  # RGB: the home frame, over it

    @cached_property
    def image(self) -> Image.Image:
        """RGB: the whole plate (only an orbit's layers need it in RGB)."""
        if self.drawn is not None:
            return self.drawn
        assert self.surround is not None and self.picture is not None
        plate = self.surround.resize(self.size, Image.Resampling.BILINEAR)
        plate.paste(self.picture, self.home[:2])
        return plate

    @cached_property
    def yuv(self) -> av.VideoFrame:
        """The plate as one yuv420p frame, for zoompan."""
        if self.drawn is not None:
            return plate_frame(np.asarray(self.drawn.convert("RGB")))
        assert self.surround is not None and self.picture is not None
        small = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.asarray(self.surround)), format="rgb24")
        frame = small.reformat(width=self.size[0], height=self.size[1], format="yuv420p", interpolation="BILINEAR")
        x0, y0 = self.home[:2]
        for plane, part, scale in zip(frame_planes(frame), rgb_to_planes(np.asarray(self.picture)), (1, 2, 2),
                                      strict=True):
            plane[y0 // scale:y0 // scale + part.shape[0], x0 // scale:x0 // scale + part.shape[1]] = part
        return frame

    @cached_property
    def subject_mask(self) -> Image.Image:
        """L: the central subject region (the orbit's foreground layer), made only for an orbit."""
        return _subject_mask(self.size, self.home)

    def without_subject(self) -> _World:
        """The plate with the subject region smeared out: the far layer of an orbit's parallax, so the subject
        does not show twice when the near layer slides over it."""
        hw = self.home[2] - self.home[0]
        smeared = self.image.filter(ImageFilter.BoxBlur(radius=max(4, hw // 14)))
        far = self.image.copy()
        far.paste(smeared, (0, 0), self.subject_mask)
        return _World(self.size, self.home, drawn=far)

    @property
    def subject_bbox(self) -> tuple[int, int, int, int]:
        return self.subject_mask.getbbox() or (0, 0, *self.subject_mask.size)


PLATE_DETAIL = 1.0  # plate pixels per output pixel: a frame at zoom 1 is the plate itself, pushes in upsample softly
PLATE_MARGIN = 0.42  # extra plate around the home frame on each side, in home-frame units (at least)


def _margins(hw: int, hh: int) -> tuple[int, int]:
    """The plate's margins around a ``hw`` x ``hh`` home frame: at least ``PLATE_MARGIN`` of it on each side, and
    in the frame's own aspect, so zoompan (one zoom for both axes) crops boxes of the frame's shape."""
    step = gcd(hw, hh)
    a, b = hw // step, hh // step
    k = max(1, math.ceil(hh * PLATE_MARGIN / b - 1e-9))
    k += k % 2  # even margins: the home frame's chroma lands on whole chroma samples
    return a * k, b * k


def _world_from_image(image: Image.Image, size: Size) -> _World:
    """The input picture cover-cropped to the frame, surrounded by a blurred, darkened mirror of itself."""
    hw, hh = round(size[0] * PLATE_DETAIL), round(size[1] * PLATE_DETAIL)
    home_img = _cover(image, (hw, hh))
    mx, my = _margins(hw, hh)
    small = home_img.resize((max(8, hw // 4), max(8, hh // 4)), Image.Resampling.BILINEAR)
    # blurred before it is mirrored out: a third of the pixels, and the mirror of a blur is as soft at its seams
    arr = np.asarray(small.filter(ImageFilter.GaussianBlur(radius=max(0.5, min(hw, hh) / 240))))
    pad = ((max(1, my // 4), max(1, my // 4)), (max(1, mx // 4), max(1, mx // 4)), (0, 0))
    small_ext = Image.fromarray(np.pad(arr, pad, mode="symmetric"))
    small_ext = Image.blend(small_ext, Image.new("RGB", small_ext.size, (18, 18, 22)), 0.45)
    return _World((hw + 2 * mx, hh + 2 * my), (mx, my, mx + hw, my + hh), surround=small_ext, picture=home_img)


def _world_from_prompt(prompt: str, seed: int, size: Size, references: Sequence[Path]) -> _World:
    """The plate a prompt (or a preview still's recipe) draws, without its prompt panel: the take's own prompt is
    burnt into the fixed caption band instead, where no camera move slides it off frame."""
    if references:
        return _world_from_image(_plate(prompt, seed, size, (0, 0, *size), references, panel=False), size)
    hw, hh = round(size[0] * PLATE_DETAIL), round(size[1] * PLATE_DETAIL)
    mx, my = _margins(hw, hh)
    world_size = (hw + 2 * mx, hh + 2 * my)
    home = (mx, my, mx + hw, my + hh)
    return _World(world_size, home, drawn=_plate(prompt, seed, world_size, home, panel=False))


def _subject_mask(size: Size, home: tuple[int, int, int, int]) -> Image.Image:
    hx0, hy0, hx1, hy1 = home
    hw, hh = hx1 - hx0, hy1 - hy0
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((hx0 + hw * 0.28, hy0 + hh * 0.26, hx0 + hw * 0.72, hy0 + hh * 1.05), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(radius=min(hw, hh) * 0.05))
