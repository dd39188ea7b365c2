"""Frame geometry and the PREVIEW stamp shared by every offline preview medium: frame sizes from aspect ratio and
resolution, seeded random generators, fonts and text fitting, and the stamp overlay.

Everything in the preview modules is deterministic (the same inputs give the same pixels and samples), needs no
network and no bpy, and is fast enough to make a dozen 5 s animatic takes in seconds: frames are made with Pillow's
affine transforms and numpy, never with per-pixel Python loops.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .media_probe import MediaKind

Size = tuple[int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

PREVIEW_IMAGE_MAX_SIDE = 1024
"""Preview stills never exceed this long side, whatever resolution was asked for: a preview is a stand-in."""

VIDEO_SHORT_SIDES = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "1024p": 1024, "1080p": 1080}
IMAGE_LONG_SIDES = {"1K": 1024, "2K": 2048, "4K": 3840}
DEFAULT_VIDEO_RESOLUTION = "360p"
DEFAULT_IMAGE_RESOLUTION = "1K"

_FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
              Path("/usr/share/fonts/TTF"), Path("/Library/Fonts"), Path("C:/Windows/Fonts"))


# --- sizes -------------------------------------------------------------------------------------------------------

def _ratio(aspect_ratio: str | None) -> float:
    """Width / height of an "W:H" aspect ratio; 16:9 when it cannot be read."""
    if aspect_ratio:
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)\s*", aspect_ratio)
        if match:
            w, h = float(match.group(1)), float(match.group(2))
            if w > 0 and h > 0:
                return w / h
    return 16 / 9


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def frame_size(aspect_ratio: str | None, resolution: str | None, media: MediaKind | str) -> Size:
    """The (width, height) in pixels, both even, of a preview of ``media`` at this aspect ratio and resolution.

    Video resolutions ("360p", "480p", "720p", "1080p", "1024p", or any "<n>p") name the *short* side, so 16:9 at
    360p is 640x360 and 9:16 is 360x640. Image resolutions ("1K", "2K", "4K") name the *long* side, but preview
    stills are capped at a long side of ``PREVIEW_IMAGE_MAX_SIDE`` (1024) whatever was asked for, since a preview is
    only a stand-in. An unknown or missing resolution means 360p for video and 1K for images; an unreadable aspect
    ratio means 16:9.
    """
    ratio = _ratio(aspect_ratio)
    if media == "image":
        long_side = min(IMAGE_LONG_SIDES.get((resolution or "").strip().upper(), 1024), PREVIEW_IMAGE_MAX_SIDE)
        return (_even(long_side), _even(long_side / ratio)) if ratio >= 1 else (_even(long_side * ratio),
                                                                               _even(long_side))
    key = (resolution or "").strip().lower()
    short_side = VIDEO_SHORT_SIDES.get(key)
    if short_side is None:
        match = re.fullmatch(r"(\d{3,4})p", key)
        short_side = int(match.group(1)) if match else VIDEO_SHORT_SIDES[DEFAULT_VIDEO_RESOLUTION]
    return (_even(short_side * ratio), _even(short_side)) if ratio >= 1 else (_even(short_side),
                                                                             _even(short_side / ratio))


def nearest_aspect_ratio(width: int, height: int,
                         choices: Sequence[str] = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "4:5")) -> str:
    """The listed aspect ratio closest (in log scale) to width:height."""
    actual = math.log(max(width, 1) / max(height, 1))
    return min(choices, key=lambda choice: abs(math.log(_ratio(choice)) - actual))


# --- determinism helpers -----------------------------------------------------------------------------------------

def _seed_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(repr(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(_seed_int(*parts))


# --- fonts and text ------------------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _font(size: int, bold: bool = True) -> Font:
    size = max(6, int(size))
    names = ("DejaVuSans-Bold.ttf", "DejaVuSansCondensed-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf") if bold else (
        "DejaVuSans.ttf", "DejaVuSansCondensed.ttf", "Arial.ttf", "arial.ttf")
    for directory in _FONT_DIRS:
        for name in names:
            path = directory / name
            if path.is_file():
                try:
                    return ImageFont.truetype(str(path), size)
                except OSError:
                    continue
    return ImageFont.load_default(size=size)


def _text_size(draw: ImageDraw.ImageDraw, text: str, font: Font, stroke: int = 0) -> Size:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    return int(right - left), int(bottom - top)


def _fit_font(draw: ImageDraw.ImageDraw, text: str, max_width: float, start: int, bold: bool = True) -> Font:
    size = max(8, start)
    font = _font(size, bold)
    while size > 8 and _text_size(draw, text, font)[0] > max_width:
        size = int(size * 0.9)
        font = _font(size, bold)
    return font


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: float, max_lines: int) -> list[str]:
    """Greedy word wrap to a pixel width; the last kept line ends with an ellipsis when text was cut."""
    words = " ".join(text.split()).split(" ") if text.strip() else []
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if _text_size(draw, candidate, font)[0] <= max_width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _text_size(draw, last + " …", font)[0] > max_width:
            last = last[:-1]
        lines[-1] = last.rstrip() + " …"
    return lines


# --- stamps --------------------------------------------------------------------------------------------------------

def _stamp_overlay(size: Size, label_lines: Sequence[str], caption: bool = True) -> Image.Image:
    """An RGBA layer: a big semi-transparent PREVIEW across the middle, a red badge and (unless ``caption`` is
    False: an animatic burns its caption into a band of its own) the caption."""
    w, h = size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    short = min(w, h)
    big = _fit_font(draw, "PREVIEW", w * 0.78, start=round(short * 0.3))
    stroke = max(2, round(big.size / 22) if isinstance(big, ImageFont.FreeTypeFont) else 2)
    draw.text((w / 2, h / 2), "PREVIEW", font=big, fill=(255, 255, 255, 92), stroke_width=stroke,
              stroke_fill=(200, 20, 30, 120), anchor="mm")
    lines = list(label_lines) or ["PREVIEW"]
    badge_text = lines[0] or "PREVIEW"
    pad = max(3, round(short * 0.018))
    badge_font = _font(max(9, round(short * 0.05)))
    bw, bh = _text_size(draw, badge_text, badge_font)
    draw.rounded_rectangle((pad, pad, pad * 3 + bw, pad * 3 + bh), radius=pad, fill=(210, 25, 35, 230))
    draw.text((pad * 2, pad * 2), badge_text, font=badge_font, fill=(255, 255, 255, 255), anchor="lt")
    caption_lines = [line for line in lines[1:] if line] if caption else []
    if caption_lines:
        font = _font(max(9, round(short * 0.045)))
        line_h = _text_size(draw, "Ag", font)[1] + pad
        fitted = [_fit_line(draw, line, font, w * 0.9) for line in caption_lines]
        width = max(_text_size(draw, line, font)[0] for line in fitted)
        top = h - pad * 3 - line_h * len(fitted)
        draw.rounded_rectangle((pad, top, pad * 3 + width, h - pad), radius=pad, fill=(0, 0, 0, 170))
        for index, line in enumerate(fitted):
            draw.text((pad * 2, top + pad + index * line_h), line, font=font, fill=(255, 255, 255, 255), anchor="lt")
    return layer


BAND_RGB = (16, 16, 20)
"""The caption band's colour: an opaque strip, so it is copied into frames whole and nothing moves under it."""


def caption_band(size: Size, label_lines: Sequence[str], prompt: str) -> tuple[Image.Image, int]:
    """The caption band of an animatic: an opaque dark strip along the bottom edge with the model, variant and take
    on one line and the take's own prompt (wrapped to two lines, ellipsized) below it; returns the RGBA layer and the
    band's top row. It is composited after the camera move, so no move slides it off frame."""
    w, h = size
    short = min(w, h)
    pad = max(3, round(short * 0.018))
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    head = "  ·  ".join(line for line in label_lines[1:] if line)
    head_font = _font(max(9, round(short * 0.042)))
    body_font = _font(max(8, round(short * 0.036)), bold=False)
    head = _fit_line(draw, head, head_font, w - pad * 4) if head else ""
    body = _wrap(draw, prompt, body_font, w - pad * 4, max_lines=2) if prompt.strip() else []
    head_h = _text_size(draw, "Ag", head_font)[1] + pad if head else 0
    body_h = _text_size(draw, "Ag", body_font)[1] + pad // 2
    top = h - pad * 2 - head_h - body_h * len(body)
    top -= top % 2
    draw.rectangle((0, top, w, h), fill=(*BAND_RGB, 255))
    y = top + pad
    if head:
        draw.text((pad * 2, y), head, font=head_font, fill=(255, 255, 255, 255), anchor="lt")
        y += head_h
    for line in body:
        draw.text((pad * 2, y), line, font=body_font, fill=(225, 225, 225, 255), anchor="lt")
        y += body_h
    return layer, top


def _fit_line(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: float) -> str:
    while len(text) > 4 and _text_size(draw, text, font)[0] > max_width:
        text = text[:-2].rstrip() + "…"
    return text


def stamp(image: Image.Image, label_lines: Sequence[str]) -> Image.Image:
    """``image`` with the PREVIEW stamp, badge and caption composited on top (a new RGB image)."""
    out = image.convert("RGB").copy()
    overlay = _stamp_overlay(out.size, label_lines)
    out.paste(overlay, (0, 0), overlay)
    return out
