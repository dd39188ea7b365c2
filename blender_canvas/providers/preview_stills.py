"""Preview stills: a deterministic scene (or reference collage) hashed from the prompt, stamped PREVIEW and saved
as a PNG that records its recipe, so an animatic made from it can redraw the picture without the stamp.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps
from PIL.PngImagePlugin import PngInfo

from .preview_frames import Size, _font, _rng, _text_size, _wrap, stamp

PREVIEW_PNG_KEY = "blender-canvas-preview"
"""PNG text key of a preview still's recipe, so an animatic made from it can redraw the picture without the stamp."""


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
           reference_images: Sequence[Path] = (), panel: bool = True) -> Image.Image:
    img = _draw_scene(size, prompt, seed, home)
    if reference_images:
        collage = _reference_collage(reference_images, size)
        img = Image.blend(img, collage, 0.8)
    if panel:
        _draw_prompt_panel(img, prompt, home)
    return img


# --- stills ------------------------------------------------------------------------------------------------------

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
