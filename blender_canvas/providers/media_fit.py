"""Stills fitted to a vendor's input limits with Pillow, and a note for every change made.

One routine for every adapter that has to change an input before sending it (Kling's first frames and portraits,
Runway's data URIs, Sora's reference frame, GPT Image's edit references): the changes it makes are reported in
plain words ("first frame upscaled from 240x240 to 300x300 (Kling needs 300 px on the short side)"), which the
adapter puts in ``RemoteJob.data["input_notes"]`` and the runner shows the user when the job is submitted. A file
that already fits is sent byte for byte, with no note.

The order of the changes: the EXIF orientation is applied (a re-encoded file would lose it); then either the exact
size a vendor wants is cover-cropped (Sora), or the aspect ratio is centre-cropped into range and a short side
under the minimum is upscaled (Kling, cropping, never padding, so no bars end up in the clip); then the image is
encoded: PNG when the source was PNG and the result fits, else JPEG at falling quality, then smaller (never under
the minimum side) until it fits.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from .backend import BackendError, ErrorKind

JPEG_QUALITIES = (95, 88, 80, 70)
SHRINK = 0.8  # the most one step of making an image smaller may take off each side


def _length(data: bytes, mime: str) -> int:
    return len(data)


@dataclass(frozen=True)
class ImageRules:
    """What one vendor takes for one kind of still input."""

    vendor: str
    formats: tuple[str, ...] | None = ("JPEG", "PNG")  # Pillow format names sent as they are; None: any image
    max_bytes: int | None = None  # as measured by ``measure``
    measure: Callable[[bytes, str], int] = _length  # (data, mime) -> size counted against max_bytes
    limit_text: str = ""  # why a file was re-encoded to fit; default "<vendor> takes up to N MB"
    max_aspect: float | None = None  # wider (or taller) than this is centre-cropped
    min_side: int = 1  # a shorter short side is upscaled
    size: tuple[int, int] | None = None  # the exact pixel size wanted (cover-cropped to it)
    size_text: str = ""  # why the exact size

    def fits(self, data: bytes, mime: str) -> bool:
        return self.max_bytes is None or self.measure(data, mime) <= self.max_bytes

    @property
    def limit(self) -> str:
        return self.limit_text or f"{self.vendor} takes up to {_mb(self.max_bytes or 0)}"


@dataclass(frozen=True)
class FittedImage:
    data: bytes
    mime: str
    width: int
    height: int
    notes: tuple[str, ...]  # empty: the file is sent as it is

    @property
    def suffix(self) -> str:
        return {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif"}.get(
            self.mime, "")


def fit_image(path: Path, role: str, rules: ImageRules) -> FittedImage:
    """``path`` made to fit ``rules``; ``role`` names the input in the notes ("first frame", "reference image 2")."""
    raw = Path(path).read_bytes()
    try:
        src = Image.open(io.BytesIO(raw))
        src.load()
    except (OSError, UnidentifiedImageError) as exc:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"{rules.vendor}: the {role} is not a readable image "
                                                      f"({exc})") from None
    fmt = src.format or "unknown"
    notes: list[str] = []
    img = ImageOps.exif_transpose(src) or src
    if src.getexif().get(0x0112, 1) != 1:
        notes.append(f"{role} rotated by its EXIF orientation")
    img = _reshape(img, role, rules, notes)
    mime = Image.MIME.get(fmt, "application/octet-stream")
    allowed = rules.formats is None or fmt in rules.formats
    if not notes and allowed and rules.fits(raw, mime):
        return FittedImage(raw, mime, img.width, img.height, ())
    data, out_fmt, final = _encode(img, role, rules, prefer_png=fmt == "PNG")
    if not allowed:
        notes.append(f"{role} converted from {fmt} to {out_fmt} ({rules.vendor} takes {_either(rules.formats)})")
    elif not rules.fits(raw, mime):
        notes.append(f"{role} re-encoded from {_mb(len(raw))} {fmt} to {_mb(len(data))} {out_fmt} ({rules.limit})")
    if final.size != img.size:
        notes.append(f"{role} scaled down from {img.width}x{img.height} to {final.width}x{final.height} to fit "
                     f"({rules.limit})")
    return FittedImage(data, Image.MIME[out_fmt], final.width, final.height, tuple(notes))


def _reshape(img: Image.Image, role: str, rules: ImageRules, notes: list[str]) -> Image.Image:
    w, h = img.size
    if rules.size is not None:
        if (w, h) == rules.size:
            return img
        tw, th = rules.size
        same_shape = abs(math.log((w / h) / (tw / th))) < 0.005
        img = ImageOps.fit(img, rules.size, method=Image.Resampling.LANCZOS)
        what = "scaled" if same_shape else "scaled and centre-cropped"
        why = rules.size_text or f"{rules.vendor} wants that size"
        notes.append(f"{role} {what} from {w}x{h} to {tw}x{th} ({why})")
        return img
    if rules.max_aspect is not None and (w > h * rules.max_aspect or h > w * rules.max_aspect):
        a = rules.max_aspect
        nw, nh = (math.floor(h * a), h) if w > h else (w, math.floor(w * a))
        left, top = (w - nw) // 2, (h - nh) // 2
        img = img.crop((left, top, left + nw, top + nh))
        notes.append(f"{role} centre-cropped from {w}x{h} to {nw}x{nh} ({rules.vendor} takes 1:{a:g} to {a:g}:1)")
        w, h = nw, nh
    if min(w, h) < rules.min_side:
        scale = rules.min_side / min(w, h)
        nw, nh = max(rules.min_side, math.ceil(w * scale)), max(rules.min_side, math.ceil(h * scale))
        if rules.max_aspect is not None:
            nw, nh = min(nw, math.floor(nh * rules.max_aspect)), min(nh, math.floor(nw * rules.max_aspect))
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
        notes.append(f"{role} upscaled from {w}x{h} to {nw}x{nh} ({rules.vendor} needs {rules.min_side} px on the "
                     "short side)")
    return img


def _encode(img: Image.Image, role: str, rules: ImageRules, *, prefer_png: bool) -> tuple[bytes, str, Image.Image]:
    """(data, Pillow format, the image encoded): PNG when preferred and it fits, else JPEG at falling quality, then
    smaller, never under the minimum side."""
    if prefer_png and (rules.formats is None or "PNG" in rules.formats):
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        if rules.fits(buf.getvalue(), "image/png"):
            return buf.getvalue(), "PNG", img
    flat = img.convert("RGBA") if img.mode in ("RGBA", "LA", "P", "PA") else img.convert("RGB")
    rgb = Image.alpha_composite(Image.new("RGBA", flat.size, "white"), flat).convert("RGB") \
        if flat.mode == "RGBA" else flat
    while True:
        size = 0
        for quality in JPEG_QUALITIES:
            buf = io.BytesIO()
            rgb.save(buf, format="JPEG", quality=quality)
            if rules.fits(buf.getvalue(), "image/jpeg"):
                return buf.getvalue(), "JPEG", rgb
            size = rules.measure(buf.getvalue(), "image/jpeg")
        w, h = rgb.size
        step = max(SHRINK, 0.95 * math.sqrt((rules.max_bytes or size) / size))
        scale = max(step, rules.min_side / min(w, h))
        if scale >= 1.0:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"{rules.vendor}: the {role} cannot be made to fit "
                                                          f"({rules.limit})")
        rgb = rgb.resize((max(rules.min_side, int(w * scale)), max(rules.min_side, int(h * scale))),
                         Image.Resampling.LANCZOS)


def _either(names: Sequence[str] | None) -> str:
    names = list(names or ())
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _mb(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB"
