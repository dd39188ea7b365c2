"""Media for the offline preview backend: labelled stills, camera-move animatics and placeholder voices.

Everything here is deterministic (the same inputs give the same pixels and samples), needs no network and no bpy,
and is fast enough to make a dozen 5 s animatic takes in seconds: frames are made with Pillow's affine transforms and
numpy, never with per-pixel Python loops, and encoded with a fast x264 preset through PyAV.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import re
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont, ImageOps
from PIL.PngImagePlugin import PngInfo
from pydantic import BaseModel, ConfigDict

MediaKind = Literal["image", "video", "audio"]
Size = tuple[int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

PREVIEW_PNG_KEY = "blender-canvas-preview"
"""PNG text key of a preview still's recipe, so an animatic made from it can redraw the picture without the stamp."""

PREVIEW_IMAGE_MAX_SIDE = 1024
"""Preview stills never exceed this long side, whatever resolution was asked for: a preview is a stand-in."""

VIDEO_SHORT_SIDES = {"360p": 360, "480p": 480, "540p": 540, "720p": 720, "1024p": 1024, "1080p": 1080}
IMAGE_LONG_SIDES = {"1K": 1024, "2K": 2048, "4K": 3840}
DEFAULT_VIDEO_RESOLUTION = "360p"
DEFAULT_IMAGE_RESOLUTION = "1K"

X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}
AUDIO_RATE = 48_000

WORDS_PER_SECOND = 2.6
VOICE_LEAD_IN_S = 0.2
VOICE_TAIL_S = 0.2
VOICE_MIN_S = 1.0

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


# --- palettes and plates -------------------------------------------------------------------------------------------

def palette(prompt: str) -> list[tuple[int, int, int]]:
    """Five colours hashed from the prompt: a base hue, its neighbours, a complement and a dark and a light tone."""
    digest = hashlib.sha256(prompt.strip().lower().encode("utf-8")).digest()
    hue = digest[0] / 255
    spread = 0.05 + digest[1] / 255 * 0.12
    sat = 0.45 + digest[2] / 255 * 0.45
    specs = [
        (hue, sat, 0.35 + digest[3] / 255 * 0.25),
        (hue + spread, sat * 0.9, 0.55 + digest[4] / 255 * 0.3),
        (hue - spread, sat, 0.65 + digest[5] / 255 * 0.3),
        (hue + 0.5, 0.55 + digest[6] / 255 * 0.4, 0.75 + digest[7] / 255 * 0.25),
        (hue + 0.08, sat * 0.4, 0.12 + digest[8] / 255 * 0.1),
    ]
    return [tuple(round(c * 255) for c in colorsys.hsv_to_rgb(h % 1.0, s, v)) for h, s, v in specs]  # type: ignore[misc]


def _gradient(size: Size, home: tuple[int, int, int, int], top: tuple[int, int, int],
              bottom: tuple[int, int, int], angle: float) -> Image.Image:
    """A two-colour gradient at ``angle`` laid out relative to the home box (so a plate's home region matches a still
    of the same prompt), computed at a quarter of the size and scaled up: it is smooth anyway."""
    w, h = size
    hx0, hy0, hx1, hy1 = home
    sw, sh = max(2, w // 4), max(2, h // 4)
    ys, xs = np.mgrid[0:sh, 0:sw].astype(np.float32)
    u = (xs * (w / sw) - hx0) / max(hx1 - hx0, 1)
    v = (ys * (h / sh) - hy0) / max(hy1 - hy0, 1)
    t = (u - 0.5) * math.sin(angle) + (v - 0.5) * math.cos(angle) + 0.5
    t = np.clip(t, 0.0, 1.0)[..., None]
    arr = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return Image.fromarray(arr.astype(np.uint8), "RGB").resize(size, Image.Resampling.BILINEAR)


def _cover(image: Image.Image, size: Size) -> Image.Image:
    """Scale and centre-crop ``image`` so it fills ``size`` exactly."""
    return ImageOps.fit(ImageOps.exif_transpose(image).convert("RGB"), size, Image.Resampling.LANCZOS)


def _load_image(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        return ImageOps.exif_transpose(img).convert("RGB")


def _reference_collage(paths: Sequence[Path], size: Size) -> Image.Image:
    """The references cover-cropped into a near-square grid of tiles filling ``size``."""
    images = [_load_image(Path(p)) for p in paths]
    cols = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    w, h = size
    canvas = Image.new("RGB", size)
    for index, image in enumerate(images):
        r, c = divmod(index, cols)
        in_row = cols if r < rows - 1 else len(images) - cols * (rows - 1)
        x0, x1 = round(c * w / in_row), round((c + 1) * w / in_row)
        y0, y1 = round(r * h / rows), round((r + 1) * h / rows)
        canvas.paste(_cover(image, (max(1, x1 - x0), max(1, y1 - y0))), (x0, y0))
    return canvas


def _draw_shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, colours: Sequence[tuple[int, int, int]],
                centre: tuple[float, float], radius: float, horizon: float) -> None:
    colour = colours[int(rng.integers(0, 4))]
    alpha = int(rng.integers(110, 220))
    kind = int(rng.integers(0, 4))
    cx, cy, r = centre[0], centre[1], radius
    fill = (*colour, alpha)
    outline = (*colours[4], min(255, alpha + 30))
    if kind == 0:
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill, outline=outline, width=max(1, int(r / 12)))
    elif kind == 1:
        draw.rectangle((cx - r, cy - r * 0.7, cx + r, cy + r * 0.7), fill=fill, outline=outline,
                       width=max(1, int(r / 12)))
    elif kind == 2:
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=fill)
    else:  # a tower standing on the horizon
        draw.rectangle((cx - r * 0.35, horizon - r * 2.6, cx + r * 0.35, horizon), fill=fill, outline=outline)


def _draw_scene(size: Size, prompt: str, seed: int, home: tuple[int, int, int, int]) -> Image.Image:
    """Gradient sky, a perspective floor grid, seeded shapes and a silhouette: something camera moves read on.

    Everything is laid out relative to ``home`` (the first frame's box), so the home region of a larger plate looks
    like the still of the same prompt and seed; the plate around it gets shapes of its own.
    """
    w, h = size
    hx0, hy0, hx1, hy1 = home
    hw, hh = hx1 - hx0, hy1 - hy0
    colours = palette(prompt)
    rng = _rng("scene", prompt, seed)
    img = _gradient(size, home, colours[0], colours[2], angle=float(rng.uniform(-0.6, 0.6)))
    draw = ImageDraw.Draw(img, "RGBA")
    horizon = hy0 + hh * float(rng.uniform(0.55, 0.7))
    draw.rectangle((0, horizon, w, h), fill=(*colours[4], 255))
    grid = (*colours[3], 110)
    vanish_x = hx0 + hw * float(rng.uniform(0.35, 0.65))
    line_w = max(1, hh // 200)
    reach = math.ceil(max(hx0, w - hx1) / (hw * 0.16)) + 25
    for k in range(-reach, reach + 1):
        draw.line((vanish_x, horizon, vanish_x + k * hw * 0.16, h + hh), fill=grid, width=line_w)
    depth = horizon
    step = hh * 0.015
    while depth < h:
        draw.line((0, depth, w, depth), fill=grid, width=line_w)
        step *= 1.35
        depth += step
    for _ in range(int(rng.integers(14, 24))):  # sky and ground objects in the home frame
        centre = (hx0 + hw * float(rng.uniform(0, 1)), hy0 + float(rng.uniform(0, (horizon - hy0) / hh + 0.1)) * hh)
        _draw_shape(draw, rng, colours, centre, float(rng.uniform(0.03, 0.14)) * min(hw, hh), horizon)
    extra = (w * h - hw * hh) / max(hw * hh, 1)
    if extra > 0.05:  # the plate around the home frame, so moves off it still show content
        around = _rng("scene-around", prompt, seed)
        placed = 0
        for _ in range(round(18 * extra) * 4):
            if placed >= round(18 * extra):
                break
            radius = float(around.uniform(0.03, 0.14)) * min(hw, hh)
            cx, cy = float(around.uniform(0, w)), float(around.uniform(0, horizon + hh * 0.1))
            top = min(cy - radius, horizon - radius * 2.6)
            if cx + radius > hx0 and cx - radius < hx1 and cy + radius > hy0 and top < hy1:
                continue  # keep the home frame as the still has it
            _draw_shape(draw, around, colours, (cx, cy), radius, horizon)
            placed += 1
    # the subject: a silhouette standing on the floor inside the home frame
    sx = hx0 + hw * float(rng.uniform(0.35, 0.65))
    scale = hh * float(rng.uniform(0.22, 0.3))
    base = horizon + hh * 0.12
    body = (*colours[4], 240)
    rim = (*colours[3], 255)
    draw.rounded_rectangle((sx - scale * 0.45, base - scale * 1.2, sx + scale * 0.45, base), radius=scale * 0.3,
                           fill=body, outline=rim, width=max(2, int(scale / 30)))
    draw.ellipse((sx - scale * 0.27, base - scale * 1.78, sx + scale * 0.27, base - scale * 1.22), fill=body,
                 outline=rim, width=max(2, int(scale / 30)))
    return img


def _draw_prompt_panel(img: Image.Image, prompt: str, home: tuple[int, int, int, int]) -> None:
    hx0, hy0, hx1, hy1 = home
    hw, hh = hx1 - hx0, hy1 - hy0
    if not prompt.strip():
        return
    draw = ImageDraw.Draw(img, "RGBA")
    font = _font(max(10, round(min(hw, hh) / 22)), bold=False)
    pad = round(min(hw, hh) * 0.03)
    max_width = hw * 0.62
    lines = _wrap(draw, prompt, font, max_width, max_lines=3)
    line_h = _text_size(draw, "Ag", font)[1] + pad // 2
    top = hy0 + round(hh * 0.13)  # below the PREVIEW badge
    box = (hx0 + pad, top, hx0 + pad * 3 + max(_text_size(draw, ln, font)[0] for ln in lines),
           top + pad + line_h * len(lines))
    draw.rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 120))
    for index, line in enumerate(lines):
        draw.text((box[0] + pad, box[1] + pad // 2 + index * line_h), line, font=font, fill=(255, 255, 255, 235))


def render_plate(prompt: str, seed: int, size: Size, reference_images: Sequence[Path] = ()) -> Image.Image:
    """The unstamped picture of a preview still: a scene hashed from the prompt (or a collage of the references,
    tinted by it) with a wrapped snippet of the prompt. ``make_still`` is this plus the PREVIEW stamp and caption."""
    return _plate(prompt, seed, size, (0, 0, size[0], size[1]), reference_images)


def _plate(prompt: str, seed: int, size: Size, home: tuple[int, int, int, int],
           reference_images: Sequence[Path] = ()) -> Image.Image:
    img = _draw_scene(size, prompt, seed, home)
    if reference_images:
        collage = _reference_collage(reference_images, size)
        img = Image.blend(img, collage, 0.8)
    _draw_prompt_panel(img, prompt, home)
    return img


# --- stamps --------------------------------------------------------------------------------------------------------

def _stamp_overlay(size: Size, label_lines: Sequence[str]) -> Image.Image:
    """An RGBA layer: a big semi-transparent PREVIEW across the middle, a red badge and the caption."""
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
    caption = [line for line in lines[1:] if line]
    if caption:
        font = _font(max(9, round(short * 0.045)))
        line_h = _text_size(draw, "Ag", font)[1] + pad
        fitted = [_fit_line(draw, line, font, w * 0.9) for line in caption]
        width = max(_text_size(draw, line, font)[0] for line in fitted)
        top = h - pad * 3 - line_h * len(fitted)
        draw.rounded_rectangle((pad, top, pad * 3 + width, h - pad), radius=pad, fill=(0, 0, 0, 170))
        for index, line in enumerate(fitted):
            draw.text((pad * 2, top + pad + index * line_h), line, font=font, fill=(255, 255, 255, 255), anchor="lt")
    return layer


def _fit_line(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: float) -> str:
    while len(text) > 4 and _text_size(draw, text, font)[0] > max_width:
        text = text[:-2].rstrip() + "…"
    return text


def _overlay_parts(overlay: Image.Image) -> list[tuple[tuple[int, int], Image.Image]]:
    """The overlay cut into the bands of rows that have any pixels, each cropped to its columns: pasting only these
    parts onto every frame costs a fraction of pasting the whole layer."""
    alpha = np.asarray(overlay.getchannel("A")) > 0
    rows = alpha.any(axis=1)
    parts: list[tuple[tuple[int, int], Image.Image]] = []
    y = 0
    height = len(rows)
    while y < height:
        if not rows[y]:
            y += 1
            continue
        start = y
        while y < height and rows[y]:
            y += 1
        cols = np.nonzero(alpha[start:y].any(axis=0))[0]
        box = (int(cols[0]), start, int(cols[-1]) + 1, y)
        parts.append(((box[0], box[1]), overlay.crop(box)))
    return parts


def stamp(image: Image.Image, label_lines: Sequence[str]) -> Image.Image:
    """``image`` with the PREVIEW stamp, badge and caption composited on top (a new RGB image)."""
    out = image.convert("RGB").copy()
    overlay = _stamp_overlay(out.size, label_lines)
    out.paste(overlay, (0, 0), overlay)
    return out


def make_still(prompt: str, seed: int, size: Size, label_lines: Sequence[str], out_path: Path,
               reference_images: Sequence[Path] = ()) -> Path:
    """A deterministic, clearly stamped PNG preview still (same inputs -> byte-identical file).

    The palette comes from the prompt, the layout from the prompt and seed; references, when given, are tiled in a
    grid and blended over the scene. Every still carries a big semi-transparent "PREVIEW", a red badge and a
    caption with the remaining label lines (model label, take number).
    """
    image = stamp(_plate(prompt, seed, size, (0, 0, size[0], size[1]), reference_images), label_lines)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    info = PngInfo()
    recipe = {"prompt": prompt, "seed": seed, "references": [str(p) for p in reference_images]}
    info.add_text(PREVIEW_PNG_KEY, json.dumps(recipe, sort_keys=True))
    image.save(out_path, format="PNG", pnginfo=info)
    return out_path


def _preview_recipe(image: Image.Image) -> tuple[str, int, list[Path]] | None:
    """The prompt, seed and references a preview still was made from (its PNG text), when all are still there."""
    raw = image.info.get(PREVIEW_PNG_KEY) if hasattr(image, "info") else None
    if not isinstance(raw, str):
        return None
    try:
        recipe = json.loads(raw)
        prompt, seed = str(recipe["prompt"]), int(recipe["seed"])
        references = [Path(p) for p in recipe.get("references", [])]
    except (ValueError, KeyError, TypeError):
        return None
    if not all(p.is_file() for p in references):
        return None
    return prompt, seed, references


# --- camera moves ------------------------------------------------------------------------------------------------

MoveKind = Literal["push", "pull", "pan", "tilt", "orbit", "static", "handheld"]


@dataclass(frozen=True)
class CameraMove:
    """A parsed camera clause: the move, its direction (+1 right / up / in), a speed factor and handheld shake."""

    kind: MoveKind
    direction: int = 1
    speed: float = 1.0
    shake: bool = False
    default: bool = False  # nothing recognised: a slow push in


_MOVE_PATTERNS: tuple[tuple[MoveKind, str], ...] = (
    ("orbit", r"\b(?:orbit\w*|360|arc(?:s|ing|ed)?|circl\w*\s+(?:around|round)|revolv\w*|rotat\w*\s+around)\b"),
    ("pull", r"\b(?:pull\w*[\s-]*(?:out|back|away)|dolly\w*[\s-]*(?:out|back\w*)|zoom\w*[\s-]*out|"
             r"track\w*[\s-]*(?:out|back)|truck\w*[\s-]*out|push\w*[\s-]*out|retreat\w*)\b"),
    ("push", r"\b(?:push\w*[\s-]*(?:in|forward)|dolly\w*[\s-]*(?:in|forward)|zoom\w*[\s-]*in|crash[\s-]*zoom|"
             r"creep\w*[\s-]*in|move\w*[\s-]*in|track\w*[\s-]*in|close[\s-]*in)\b"),
    ("pan", r"\b(?:(?:whip[\s-]*)?pan(?:s|ning|ned)?|track(?:s|ing)?|follow\w*|truck\w*|crab\w*|lateral)\b"),
    ("tilt", r"\b(?:tilt\w*|crane\w*|pedestal\w*|boom\w*|jib\w*)\b"),
    ("static", r"\b(?:static|locked[\s-]*(?:off|down)?|lock[\s-]*off|still|tripod|fixed|no camera move\w*)\b"),
)
_HANDHELD = r"\b(?:hand[\s-]*held|shaky|shaking|documentary|run[\s-]*and[\s-]*gun|wobbl\w*)\b"


def parse_camera(text: str) -> CameraMove:
    """Read a camera clause ("slow push in", "pan left", "orbit", "handheld", ...) into a ``CameraMove``.

    The earliest recognised move wins; "pan" alone pans right, "tilt" alone tilts up; "handheld" adds a seeded shake
    to any move; "slow" / "fast" scale the speed. Nothing recognised means a slow push in.
    """
    lowered = text.lower()
    speed = 1.0
    if re.search(r"\b(?:slow\w*|gentl\w*|subtle|creep\w*|gradual\w*)\b", lowered):
        speed = 0.65
    if re.search(r"\b(?:fast|quick\w*|rapid\w*|whip|crash|swift\w*)\b", lowered):
        speed = 1.5
    shake = re.search(_HANDHELD, lowered) is not None
    found: list[tuple[int, MoveKind, re.Match[str]]] = []
    for kind, pattern in _MOVE_PATTERNS:
        match = re.search(pattern, lowered)
        if match:
            found.append((match.start(), kind, match))
    if not found:
        if shake:
            return CameraMove("handheld", speed=speed, shake=True)
        return CameraMove("push", speed=0.55, default=True)
    _, kind, match = min(found, key=lambda item: item[0])
    after = lowered[match.start():match.start() + 48]
    direction = 1
    if kind in ("pan", "orbit"):
        side = re.search(r"\b(left|right|counter[\s-]*clockwise|anti[\s-]*clockwise|clockwise)\b", after)
        if side and (side.group(1) == "left" or "counter" in side.group(1) or "anti" in side.group(1)):
            direction = -1
    elif kind == "tilt":
        side = re.search(r"\b(up|down|upward\w*|downward\w*|rise\w*|descend\w*|lower\w*)\b", after)
        if side and side.group(1).startswith(("down", "descend", "lower")):
            direction = -1
    if kind == "static" and shake:
        return CameraMove("handheld", speed=speed, shake=True)
    return CameraMove(kind, direction=direction, speed=speed, shake=shake)


def _ease(name: int) -> Callable[[float], float]:
    def smoothstep(t: float) -> float:
        return t * t * (3 - 2 * t)

    def cubic(t: float) -> float:
        return 4 * t ** 3 if t < 0.5 else 1 - (-2 * t + 2) ** 3 / 2

    def sine(t: float) -> float:
        return -(math.cos(math.pi * t) - 1) / 2

    def out_quad(t: float) -> float:
        return 1 - (1 - t) * (1 - t)

    return (smoothstep, cubic, sine, out_quad)[name % 4]


@dataclass(frozen=True)
class _View:
    """Where the virtual camera looks: centre (u, v) in home-frame units (0.5, 0.5 = home centre) and zoom."""

    u: float = 0.5
    v: float = 0.5
    zoom: float = 1.0


@dataclass(frozen=True)
class _TakeStyle:
    amplitude: float
    ease: Callable[[float], float]
    delay: float
    offset_u: float
    offset_v: float
    shake_phase: tuple[float, ...]


def _take_style(seed: int, take: int) -> _TakeStyle:
    rng = _rng("take", seed, take)
    offset_scale = 0.0 if take == 0 else 0.04
    return _TakeStyle(
        amplitude=float(rng.uniform(0.75, 1.3)),
        ease=_ease(int(rng.integers(0, 4))),
        delay=float(rng.uniform(0.0, 0.18)),
        offset_u=float(rng.uniform(-1, 1)) * offset_scale,
        offset_v=float(rng.uniform(-1, 1)) * offset_scale,
        shake_phase=tuple(float(x) for x in rng.uniform(0, 2 * math.pi, 9)),
    )


def _shake(style: _TakeStyle, seconds: float) -> tuple[float, float, float]:
    """A smooth seeded wobble of position and zoom: a few incommensurate sines."""
    p = style.shake_phase
    du = 0.007 * math.sin(2 * math.pi * 0.9 * seconds + p[0]) + 0.004 * math.sin(2 * math.pi * 2.3 * seconds + p[1])
    dv = 0.007 * math.sin(2 * math.pi * 0.7 * seconds + p[2]) + 0.004 * math.sin(2 * math.pi * 2.9 * seconds + p[3])
    dz = 0.006 * math.sin(2 * math.pi * 0.5 * seconds + p[4]) + 0.003 * math.sin(2 * math.pi * 1.7 * seconds + p[5])
    return du, dv, dz


def _views(move: CameraMove, style: _TakeStyle, t: float, seconds: float) -> tuple[_View, _View | None]:
    """The background view at time ``t`` (0..1), and for an orbit the foreground layer's view."""
    progress = style.ease(min(1.0, max(0.0, (t - style.delay) / (1 - style.delay))))
    amp = min(1.35, move.speed * style.amplitude)  # the plate's margin holds moves up to this size
    u0, v0 = 0.5 + style.offset_u, 0.5 + style.offset_v
    fg: _View | None = None
    if move.kind == "push":
        view = _View(u0 + style.offset_u * progress, v0 + style.offset_v * progress,
                     zoom=1.0 + 0.38 * amp * progress)
    elif move.kind == "pull":
        view = _View(u0, v0, zoom=1.0 / (1.0 + 0.38 * amp * progress))
    elif move.kind == "pan":
        view = _View(u0 + move.direction * 0.3 * amp * progress, v0, zoom=1.04)
    elif move.kind == "tilt":
        view = _View(u0, v0 - move.direction * 0.28 * amp * progress, zoom=1.04)
    elif move.kind == "orbit":
        swing = move.direction * 0.12 * amp * progress
        wobble = 0.05 * math.sin(math.pi * progress)
        view = _View(u0 + swing, v0, zoom=1.06 + wobble * 0.5)
        fg = _View(u0 - swing * 0.5, v0, zoom=1.1 + wobble)
    else:  # static and handheld: the camera stays on the home frame
        view = _View(0.5, 0.5, zoom=1.06 if move.kind == "handheld" else 1.0)
    if move.shake or move.kind == "handheld":
        du, dv, dz = _shake(style, seconds)
        view = _View(view.u + du, view.v + dv, view.zoom * (1.03 + dz))
        if fg is not None:
            fg = _View(fg.u + du, fg.v + dv, fg.zoom * (1.03 + dz))
    return view, fg


@dataclass(frozen=True)
class _World:
    image: Image.Image  # the plate the camera moves over
    home: tuple[int, int, int, int]  # the box of the first frame inside it
    subject_mask: Image.Image  # L: the central subject region (for the orbit's foreground layer)

    def without_subject(self) -> _World:
        """The plate with the subject region smeared out: the far layer of an orbit's parallax, so the subject
        does not show twice when the near layer slides over it."""
        hw = self.home[2] - self.home[0]
        smeared = self.image.filter(ImageFilter.BoxBlur(radius=max(4, hw // 14)))
        far = self.image.copy()
        far.paste(smeared, (0, 0), self.subject_mask)
        return _World(far, self.home, self.subject_mask)

    @property
    def subject_bbox(self) -> tuple[int, int, int, int]:
        return self.subject_mask.getbbox() or (0, 0, *self.subject_mask.size)


PLATE_DETAIL = 1.2  # plate pixels per output pixel: pushes in up to ~1.2x stay sharp
PLATE_MARGIN = 0.42  # extra plate around the home frame on each side, in home-frame units


def _world_from_image(image: Image.Image, size: Size) -> _World:
    """The input picture cover-cropped to the frame, surrounded by a blurred, darkened mirror of itself."""
    hw, hh = round(size[0] * PLATE_DETAIL), round(size[1] * PLATE_DETAIL)
    home_img = _cover(image, (hw, hh))
    mx, my = round(hw * PLATE_MARGIN), round(hh * PLATE_MARGIN)
    small = home_img.resize((max(8, hw // 4), max(8, hh // 4)), Image.Resampling.BILINEAR)
    arr = np.asarray(small)
    pad = ((max(1, my // 4), max(1, my // 4)), (max(1, mx // 4), max(1, mx // 4)), (0, 0))
    mirrored = np.pad(arr, pad, mode="symmetric")
    ext = Image.fromarray(mirrored).resize((hw + 2 * mx, hh + 2 * my), Image.Resampling.BILINEAR)
    ext = ext.filter(ImageFilter.GaussianBlur(radius=max(2, min(hw, hh) / 60)))
    ext = Image.blend(ext, Image.new("RGB", ext.size, (18, 18, 22)), 0.45)
    ext.paste(home_img, (mx, my))
    home = (mx, my, mx + hw, my + hh)
    return _World(ext, home, _subject_mask(ext.size, home))


def _world_from_prompt(prompt: str, seed: int, size: Size, references: Sequence[Path]) -> _World:
    if references:
        return _world_from_image(_plate(prompt, seed, size, (0, 0, *size), references), size)
    hw, hh = round(size[0] * PLATE_DETAIL), round(size[1] * PLATE_DETAIL)
    mx, my = round(hw * PLATE_MARGIN), round(hh * PLATE_MARGIN)
    world_size = (hw + 2 * mx, hh + 2 * my)
    home = (mx, my, mx + hw, my + hh)
    return _World(_plate(prompt, seed, world_size, home), home, _subject_mask(world_size, home))


def _subject_mask(size: Size, home: tuple[int, int, int, int]) -> Image.Image:
    hx0, hy0, hx1, hy1 = home
    hw, hh = hx1 - hx0, hy1 - hy0
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((hx0 + hw * 0.28, hy0 + hh * 0.26, hx0 + hw * 0.72, hy0 + hh * 1.05), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(radius=min(hw, hh) * 0.05))


def _box(world: _World, view: _View) -> tuple[float, float, float, float]:
    """The plate region this view sees, kept inside the plate."""
    hx0, hy0, hx1, hy1 = world.home
    half_w = (hx1 - hx0) / 2 / max(view.zoom, 1e-3)
    half_h = (hy1 - hy0) / 2 / max(view.zoom, 1e-3)
    pw, ph = world.image.size
    half_w, half_h = min(half_w, pw / 2), min(half_h, ph / 2)
    cx = min(max(hx0 + view.u * (hx1 - hx0), half_w), pw - half_w)
    cy = min(max(hy0 + view.v * (hy1 - hy0), half_h), ph - half_h)
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _render_view(world: _World, view: _View, size: Size, fg: _View | None,
                 far: _World | None = None) -> Image.Image:
    """One frame of the move: a box of the plate resampled to the frame (plus the orbit's foreground layer)."""
    frame = (far or world).image.resize(size, Image.Resampling.BILINEAR, box=_box(world, view))
    if fg is not None:  # only the part of the frame the subject mask covers is resampled twice
        bx0, by0, bx1, by1 = _box(world, fg)
        sx, sy = size[0] / (bx1 - bx0), size[1] / (by1 - by0)
        mx0, my0, mx1, my1 = world.subject_bbox
        ox0, oy0 = max(0, math.floor((mx0 - bx0) * sx)), max(0, math.floor((my0 - by0) * sy))
        ox1, oy1 = min(size[0], math.ceil((mx1 - bx0) * sx)), min(size[1], math.ceil((my1 - by0) * sy))
        if ox1 - ox0 >= 2 and oy1 - oy0 >= 2:
            sub = (bx0 + ox0 / sx, by0 + oy0 / sy, bx0 + ox1 / sx, by0 + oy1 / sy)
            part = (ox1 - ox0, oy1 - oy0)
            layer = world.image.resize(part, Image.Resampling.BILINEAR, box=sub)
            mask = world.subject_mask.resize(part, Image.Resampling.BILINEAR, box=sub)
            frame.paste(layer, (ox0, oy0), mask)
    return frame


# --- audio helpers -------------------------------------------------------------------------------------------------

def read_audio(path: Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """Decode any audio file PyAV reads into mono float32 samples at ``rate``."""
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise ValueError(f"{Path(path).name} has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def _levels(samples: np.ndarray, rate: int, frames: int, fps: float) -> np.ndarray:
    """Loudness per video frame, 0..1, lightly smoothed so the mouth does not flicker."""
    out = np.zeros(frames, np.float32)
    for i in range(frames):
        a, b = round(i * rate / fps), round((i + 1) * rate / fps)
        chunk = samples[a:b]
        out[i] = float(np.sqrt(np.mean(chunk * chunk))) if chunk.size else 0.0
    peak = float(np.percentile(out, 95)) if frames else 0.0
    if peak > 1e-4:
        out = np.clip(out / peak, 0.0, 1.0)
    smoothed = out.copy()
    for i in range(1, frames):
        smoothed[i] = max(out[i], smoothed[i - 1] * 0.55)
    return smoothed


def _draw_talking(draw: ImageDraw.ImageDraw, size: Size, level: float) -> None:
    """A mouth that opens with the loudness, and a level meter beside it, in a badge above the caption."""
    w, h = size
    short = min(w, h)
    bw, bh = short * 0.42, short * 0.17
    x0, y0 = w - bw - short * 0.03, h - bh - short * 0.03
    draw.rounded_rectangle((x0, y0, x0 + bw, y0 + bh), radius=bh * 0.25, fill=(0, 0, 0, 170))
    mx, my = x0 + bh * 0.75, y0 + bh / 2
    mw = bh * 0.5
    opening = 0.05 + 0.4 * level
    draw.ellipse((mx - mw, my - bh * opening, mx + mw, my + bh * opening), fill=(90, 10, 20, 255),
                 outline=(235, 90, 100, 255), width=max(2, round(bh / 18)))
    bars = 7
    gap = bw * 0.02
    left = x0 + bh * 1.5
    bar_w = (x0 + bw - bh * 0.25 - left - gap * (bars - 1)) / bars
    for k in range(bars):
        lit = level * bars > k + 0.15
        colour = (90, 220, 120, 255) if k < 5 else (240, 200, 60, 255)
        top = y0 + bh * (0.8 - 0.6 * (k + 1) / bars)
        bx = left + k * (bar_w + gap)
        draw.rectangle((bx, top, bx + bar_w, y0 + bh * 0.8), fill=colour if lit else (70, 70, 70, 255))


def _audio_frames(samples: np.ndarray, rate: int, chunk: int = 1024) -> Iterator[av.AudioFrame]:
    for start in range(0, len(samples), chunk):
        part = np.ascontiguousarray(samples[start:start + chunk], np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(part, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = start
        yield frame


# --- animatics -----------------------------------------------------------------------------------------------------

def _timecode(index: int, fps: float) -> str:
    whole = max(1, round(fps))
    seconds, frame = divmod(index, whole)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frame:02d}"


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def make_animatic(first_frame: Path | Image.Image | None, prompt: str, camera: str, duration_s: float, fps: float,
                  size: Size, seed: int, take: int, label_lines: Sequence[str], out_path: Path,
                  audio: Path | None = None) -> Path:
    """An H.264 (yuv420p) MP4 animatic whose camera move follows ``camera``.

    It has exactly ``round(duration_s * fps)`` frames at ``size`` and ``fps``; with ``audio`` the clip is as long as
    the audio instead (to the nearest frame), the audio is muxed as AAC and a mouth / level badge moves with its
    loudness. The first frame is ``first_frame`` cover-cropped to ``size`` (or a still generated from the prompt);
    the seed and take vary the speed, easing and start of the move. Every frame carries "PREVIEW", the label lines
    and a running timecode.
    """
    width, height = size
    if width % 2 or height % 2 or width < 16 or height < 16:
        raise ValueError(f"frame size must be even and at least 16x16, got {width}x{height}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    samples: np.ndarray | None = None
    if audio is not None:
        samples = read_audio(Path(audio))
        duration_s = len(samples) / AUDIO_RATE
    frames = max(1, round(duration_s * fps))
    if isinstance(first_frame, Image.Image):
        world = _world_from_image(first_frame, size)
    elif first_frame is not None:
        with Image.open(Path(first_frame)) as opened:
            recipe = _preview_recipe(opened)
            if recipe is not None:  # a preview still is redrawn: no stamp in the moving picture, content off-frame
                world = _world_from_prompt(recipe[0], recipe[1], size, recipe[2])
            else:
                world = _world_from_image(ImageOps.exif_transpose(opened).convert("RGB"), size)
    else:
        world = _world_from_prompt(prompt, seed, size, ())
    move = parse_camera(camera or prompt)
    far = world.without_subject() if move.kind == "orbit" else None
    style = _take_style(seed, take)
    overlay = _overlay_parts(_stamp_overlay(size, label_lines))
    levels = _levels(samples, AUDIO_RATE, frames, fps) if samples is not None else None
    grain: list[Image.Image] = []
    if move.kind == "static" and not move.shake:
        rng = _rng("grain", seed, take)
        for _ in range(4):
            noise = np.clip(rng.normal(128, 6, (height, width, 1)), 0, 255).astype(np.uint8)
            grain.append(Image.fromarray(np.repeat(noise, 3, axis=2), "RGB"))
    last: tuple[_View, _View | None, Image.Image] | None = None
    short = min(width, height)
    tc_font = _font(max(9, round(short * 0.045)))
    pad = max(3, round(short * 0.018))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rate = _rate(fps)
    with av.open(str(out_path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        astream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if samples is not None else None
        for index in range(frames):
            t = index / (frames - 1) if frames > 1 else 0.0
            view, fg = _views(move, style, t, index / fps)
            if last is not None and last[0] == view and last[1] == fg:
                image = last[2].copy()
            else:
                image = _render_view(world, view, size, fg, far)
                last = (view, fg, image.copy())
            if grain:  # a locked-off shot: film grain and a faint exposure flicker
                flicker = 4.0 * math.sin(index * 2.1 + seed % 7) + 3.0 * math.sin(index * 0.77)
                image = ImageChops.add(image, grain[index % len(grain)], scale=1.0, offset=round(flicker) - 128)
            for corner, part in overlay:
                image.paste(part, corner, part)
            draw = ImageDraw.Draw(image, "RGBA")
            code = _timecode(index, fps)
            tw, th = _text_size(draw, "00:00:00:00", tc_font)
            draw.rounded_rectangle((width - tw - pad * 3, pad, width - pad, pad * 3 + th), radius=pad,
                                   fill=(0, 0, 0, 170))
            draw.text((width - tw - pad * 2, pad * 2), code, font=tc_font, fill=(255, 255, 255, 255), anchor="lt")
            if levels is not None:
                _draw_talking(draw, size, float(levels[index]))
            frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if astream is not None and samples is not None:
            for audio_frame in _audio_frames(samples, AUDIO_RATE):
                container.mux(astream.encode(audio_frame))
            container.mux(astream.encode(None))
    return out_path


def read_first_frame(path: Path) -> Image.Image:
    """The first decodable frame of a video file as an RGB image."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{Path(path).name} has no video stream")
        for frame in container.decode(video=0):
            return frame.to_image().convert("RGB")
    raise ValueError(f"{Path(path).name} has no decodable video frame")


# --- voices --------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W_]+(?:['’\-][^\W_]+)*")
_PAUSE = re.compile(r"[,;:—–]|\.\.\.|[.!?…]")
_FULL_STOPS = frozenset({".", "!", "?", "…", "..."})


def voice_duration(text: str) -> float:
    """Seconds of a placeholder voice line: words / 2.6 plus 0.4 s of lead-in and tail, at least 1 s."""
    words = len(_WORD.findall(text))
    return max(VOICE_MIN_S, words / WORDS_PER_SECOND + VOICE_LEAD_IN_S + VOICE_TAIL_S)


def _syllables(word: str) -> int:
    groups = re.findall(r"[aeiouyäöüéèáíóúàâêîôû]+", word.lower())
    count = len(groups) - (1 if word.lower().endswith("e") and len(groups) > 1 else 0)
    return min(4, max(1, count if groups else math.ceil(len(word) / 3)))


def make_voice(text: str, seed: int, out_path: Path, sample_rate: int = 24000) -> Path:
    """A placeholder voice line as a 16-bit mono WAV: seeded syllable-like tone bursts with speech rhythm.

    Its length is ``voice_duration(text)``; pauses fall at punctuation, the pitch falls through a sentence and rises
    at a question mark. It is obviously not a voice, but a talking-shot preview can be timed against it.
    """
    duration = voice_duration(text)
    total = round(duration * sample_rate)
    signal = np.zeros(total, np.float64)
    rng = _rng("voice", text, seed)
    base_f0 = float(rng.uniform(95, 210))
    tokens: list[tuple[str, str]] = []
    for match in re.finditer(rf"{_WORD.pattern}|{_PAUSE.pattern}", text):
        token = match.group(0)
        tokens.append(("word" if _WORD.fullmatch(token) else "pause", token))
    weights: list[float] = []
    for kind, token in tokens:
        if kind == "word":
            weights.append(_syllables(token) + 0.45)
        else:
            weights.append(1.6 if token in _FULL_STOPS else 0.8)
    words = sum(1 for kind, _ in tokens if kind == "word")
    body = duration - VOICE_LEAD_IN_S - VOICE_TAIL_S if words else 0.0
    unit = body / sum(weights) if weights and body > 0 else 0.0
    cursor = VOICE_LEAD_IN_S
    sentence_pos = 0
    question = "?" in text
    for (kind, token), weight in zip(tokens, weights, strict=True):
        span = weight * unit
        if kind == "pause":
            cursor += span
            if token in _FULL_STOPS:
                sentence_pos = 0
            continue
        n = _syllables(token)
        syllable_s = (span - 0.45 * unit) / n
        for k in range(n):
            sentence_pos += 1
            intonation = 1.0 - 0.025 * min(sentence_pos, 12) + (0.25 if question and sentence_pos > 3 else 0.0)
            f0 = base_f0 * intonation * float(rng.uniform(0.9, 1.12))
            vowel = rng.uniform(0.2, 1.0, 6)
            start = round((cursor + k * syllable_s) * sample_rate)
            length = max(8, round(syllable_s * float(rng.uniform(0.7, 0.92)) * sample_rate))
            length = min(length, total - start)
            if length <= 8:
                continue
            tt = np.arange(length) / sample_rate
            glide = f0 * (1 + 0.06 * np.sin(np.pi * tt / tt[-1]) * float(rng.uniform(-1, 1)))
            phase = 2 * np.pi * np.cumsum(glide) / sample_rate
            burst = sum(float(vowel[h]) / (h + 1) * np.sin((h + 1) * phase) for h in range(6))
            envelope = np.sin(np.pi * np.linspace(0, 1, length)) ** 0.7
            burst = burst * envelope * float(rng.uniform(0.6, 1.0))
            if rng.random() < 0.6:  # a consonant: a short noise onset
                onset = min(length, round(0.025 * sample_rate))
                burst[:onset] += rng.normal(0, 0.25, onset) * np.linspace(1, 0, onset)
            signal[start:start + length] += burst
        cursor += span
    peak = float(np.max(np.abs(signal))) if total else 0.0
    if peak > 0:
        signal *= 0.6 / peak
    pcm = np.clip(np.round(signal * 32767), -32768, 32767).astype("<i2")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out_path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm.tobytes())
    return out_path


# --- probing -------------------------------------------------------------------------------------------------------

class MediaInfo(BaseModel):
    """What a media file is: its kind, size, length, rate and streams."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: MediaKind
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    fps: float | None = None
    frames: int | None = None  # where the container states it (MP4 does); None otherwise
    has_audio: bool = False
    video_codec: str | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None


def _stream_seconds(stream: av.stream.Stream, fallback: float | None) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return fallback


def probe(path: Path) -> MediaInfo:
    """Describe a still (with Pillow) or a video or audio file (with PyAV); ValueError when it is neither."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            frames = int(getattr(img, "n_frames", 1))
            return MediaInfo(kind="image", width=img.width, height=img.height, frames=frames)
    except (OSError, Image.DecompressionBombError, SyntaxError):
        pass
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ValueError(f"{path.name} is not a still, video or audio file PyAV or Pillow can read: {exc}") from exc
    with container:
        videos = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
        audios = list(container.streams.audio)
        container_s = container.duration / 1_000_000 if container.duration is not None else None
        audio_codec = audios[0].codec_context.name if audios else None
        sample_rate = audios[0].codec_context.sample_rate if audios else None
        if videos:
            video = videos[0]
            fps = float(video.average_rate) if video.average_rate else None
            return MediaInfo(kind="video", width=video.codec_context.width, height=video.codec_context.height,
                             duration_s=_stream_seconds(video, container_s), fps=fps, frames=video.frames or None,
                             has_audio=bool(audios), video_codec=video.codec_context.name, audio_codec=audio_codec,
                             sample_rate=sample_rate)
        if audios:
            duration = _stream_seconds(audios[0], container_s)
            return MediaInfo(kind="audio", duration_s=duration, has_audio=True, audio_codec=audio_codec,
                             sample_rate=sample_rate)
    raise ValueError(f"{path.name} has no video or audio stream")
