"""Preview animatics: camera clauses parsed into moves, and H.264 MP4s whose virtual camera makes that move over a
plate built from the first frame (or the prompt), optionally timed to and muxed with a voice track.

Frames are cut from the plate by ffmpeg's own zoompan through PyAV's filter graph (the whole move given to it at
once, preview_zoom.py), the overlays written into them in yuv420p, and encoded with a fast x264 preset, so a dozen
5 s takes take seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Literal

import av
import numpy as np
from PIL import Image, ImageDraw, ImageOps

from .preview_frames import BAND_RGB, Size, _rng, _stamp_overlay, caption_band
from .preview_sound import AUDIO_RATE, _audio_frames, _levels, read_audio
from .preview_stills import _preview_recipe
from .preview_timecode import Timecode, timecode_text
from .preview_world import _World, _world_from_image, _world_from_prompt
from .preview_yuv import Band, Overlay, YuvPlate, blend_patch, frame_planes, mix_bands
from .preview_zoom import ahead, zoompan_frames

X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}


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
    drift_u: float = 0.0  # a model family's own secondary drift over the move, in home-frame units
    drift_v: float = 0.0
    zoom_bias: float = 0.0  # and its own reframing: extra zoom reached by the end


def model_family(model: str) -> str:
    """The family a catalog model id belongs to ("kling-3" and "kling-o3" -> "kling", "veo-3.1-fast" -> "veo")."""
    head = model.strip().lower().split("/")[-1]
    return head.split("-")[0] if head else ""


def _take_style(seed: int, take: int, family: str = "") -> _TakeStyle:
    """How one take moves: the seed and take vary speed, easing, start and framing; a model family (when given)
    adds its own drift, reframing and timing, so previews of one still differ by model as well as by take."""
    rng = _rng("take", seed, family, take) if family else _rng("take", seed, take)
    offset_scale = 0.0 if take == 0 else 0.04
    style = _TakeStyle(
        amplitude=float(rng.uniform(0.75, 1.3)),
        ease=_ease(int(rng.integers(0, 4))),
        delay=float(rng.uniform(0.0, 0.18)),
        offset_u=float(rng.uniform(-1, 1)) * offset_scale,
        offset_v=float(rng.uniform(-1, 1)) * offset_scale,
        shake_phase=tuple(float(x) for x in rng.uniform(0, 2 * math.pi, 9)),
    )
    if not family:
        return style
    look = _rng("family", family)
    angle = float(look.uniform(0, 2 * math.pi))
    reach = float(look.uniform(0.06, 0.12))
    return _TakeStyle(amplitude=style.amplitude * float(look.uniform(0.8, 1.25)),
                      ease=_ease(int(look.integers(0, 4)) + take), delay=float(look.uniform(0.0, 0.3)),
                      offset_u=style.offset_u, offset_v=style.offset_v, shake_phase=style.shake_phase,
                      drift_u=reach * math.cos(angle), drift_v=reach * math.sin(angle) * 0.6,
                      zoom_bias=float(look.uniform(0.0, 0.18)))


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
    if style.drift_u or style.drift_v or style.zoom_bias:
        view = _View(view.u + style.drift_u * progress, view.v + style.drift_v * progress,
                     view.zoom * (1.0 + style.zoom_bias * progress))
    if move.shake or move.kind == "handheld":
        du, dv, dz = _shake(style, seconds)
        view = _View(view.u + du, view.v + dv, view.zoom * (1.03 + dz))
        if fg is not None:
            fg = _View(fg.u + du, fg.v + dv, fg.zoom * (1.03 + dz))
    return view, fg


def _box(world: _World, view: _View) -> tuple[float, float, float, float]:
    """The plate region this view sees, kept inside the plate."""
    hx0, hy0, hx1, hy1 = world.home
    half_w = (hx1 - hx0) / 2 / max(view.zoom, 1e-3)
    half_h = (hy1 - hy0) / 2 / max(view.zoom, 1e-3)
    pw, ph = world.size
    half_w, half_h = min(half_w, pw / 2), min(half_h, ph / 2)
    cx = min(max(hx0 + view.u * (hx1 - hx0), half_w), pw - half_w)
    cy = min(max(hy0 + view.v * (hy1 - hy0), half_h), ph - half_h)
    return (cx - half_w, cy - half_h, cx + half_w, cy + half_h)


# --- animatics -----------------------------------------------------------------------------------------------------

LABEL_GUARD_S = 0.75
"""The caption band and timecode stay off for this long at each end of an animatic (at most a quarter of it) and
fade in and out over a few frames: a crossfade up to this long blends two pictures, never two labels."""


def _talking_patch(size: Size, level: float) -> Image.Image:
    """A mouth that opens with the loudness and a level meter beside it, as a small RGBA badge."""
    short = min(size)
    bw, bh = short * 0.42, short * 0.17
    patch = Image.new("RGBA", (math.ceil(bw) + 2, math.ceil(bh) + 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(patch)
    draw.rounded_rectangle((0, 0, bw, bh), radius=bh * 0.25, fill=(0, 0, 0, 170))
    mx, my = bh * 0.75, bh / 2
    mw = bh * 0.5
    opening = 0.05 + 0.4 * level
    draw.ellipse((mx - mw, my - bh * opening, mx + mw, my + bh * opening), fill=(90, 10, 20, 255),
                 outline=(235, 90, 100, 255), width=max(2, round(bh / 18)))
    bars = 7
    gap = bw * 0.02
    left = bh * 1.5
    bar_w = (bw - bh * 0.25 - left - gap * (bars - 1)) / bars
    for k in range(bars):
        lit = level * bars > k + 0.15
        colour = (90, 220, 120, 255) if k < 5 else (240, 200, 60, 255)
        top = bh * (0.8 - 0.6 * (k + 1) / bars)
        bx = left + k * (bar_w + gap)
        draw.rectangle((bx, top, bx + bar_w, bh * 0.8), fill=colour if lit else (70, 70, 70, 255))
    return patch


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


def label_strength(index: int, frames: int, fps: float) -> float:
    """How strongly frame ``index`` of ``frames`` shows its caption band and timecode (0 off, 1 full)."""
    guard = min(round(LABEL_GUARD_S * fps), frames // 4)
    if guard <= 0:
        return 1.0
    fade = max(1, min(3, guard // 2))
    edge = min(index, frames - 1 - index)
    if edge < guard:
        return 0.0
    return min(1.0, (edge - guard + 1) / (fade + 1)) if edge < guard + fade else 1.0


def _load_world(first_frame: Path | Image.Image | None, prompt: str, seed: int, size: Size) -> _World:
    if isinstance(first_frame, Image.Image):
        return _world_from_image(first_frame, size)
    if first_frame is None:
        return _world_from_prompt(prompt, seed, size, ())
    with Image.open(Path(first_frame)) as opened:
        recipe = _preview_recipe(opened)
        if recipe is not None:  # a preview still is redrawn: no stamp in the moving picture, content off-frame
            return _world_from_prompt(recipe[0], recipe[1], size, recipe[2])
        return _world_from_image(ImageOps.exif_transpose(opened).convert("RGB"), size)


class _Camera:
    """The plate (an orbit's far layer without its subject) in yuv420p, and the whole move over it as encoder
    frames: zoompan cuts each view; an orbit's near layer is blended in over the part its subject covers."""

    def __init__(self, world: _World, orbit: bool, size: Size) -> None:
        self.world, self.size = world, size
        self.near = YuvPlate(world.image) if orbit else None
        self.far = world.without_subject().yuv if orbit else world.yuv

    def frames(self, views: Sequence[tuple[_View, _View | None]], rate: Fraction) -> Iterator[av.VideoFrame]:
        boxes = [_box(self.world, view) for view, _ in views]
        for frame, (_, fg) in zip(zoompan_frames(self.far, boxes, self.size, rate), views, strict=True):
            yield self._with_subject(frame, fg)

    def _with_subject(self, frame: av.VideoFrame, fg: _View | None) -> av.VideoFrame:
        if fg is None or self.near is None:
            return frame
        bx0, by0, bx1, by1 = _box(self.world, fg)  # only the part of the frame the subject mask covers
        sx, sy = self.size[0] / (bx1 - bx0), self.size[1] / (by1 - by0)
        mx0, my0, mx1, my1 = self.world.subject_bbox
        ox0, oy0 = max(0, math.floor((mx0 - bx0) * sx)), max(0, math.floor((my0 - by0) * sy))
        ox0, oy0 = ox0 - ox0 % 2, oy0 - oy0 % 2
        ox1, oy1 = min(self.size[0], math.ceil((mx1 - bx0) * sx)), min(self.size[1], math.ceil((my1 - by0) * sy))
        if ox1 - ox0 >= 2 and oy1 - oy0 >= 2:
            sub = (bx0 + ox0 / sx, by0 + oy0 / sy, bx0 + ox1 / sx, by0 + oy1 / sy)
            part = (ox1 - ox0, oy1 - oy0)
            mask = self.world.subject_mask.resize(part, Image.Resampling.BILINEAR, box=sub)
            self.near.paste(sub, part, (ox0, oy0), mask, frame_planes(frame))
        return frame


@lru_cache(maxsize=8)
def _stamp(size: Size, badge: str) -> Overlay:
    """The PREVIEW stamp and badge of a frame size, in yuv420p parts: every take of a run shares it (each blends
    through its own ``fresh`` copy)."""
    return Overlay.from_rgba(_stamp_overlay(size, [badge], caption=False))


def make_animatic(first_frame: Path | Image.Image | None, prompt: str, camera: str, duration_s: float, fps: float,
                  size: Size, seed: int, take: int, label_lines: Sequence[str], out_path: Path,
                  audio: Path | None = None, family: str = "") -> Path:
    """An H.264 (yuv420p) MP4 animatic whose camera move follows ``camera``.

    It has exactly ``round(duration_s * fps)`` frames at ``size`` and ``fps``; with ``audio`` the clip is as long as
    the audio instead (to the nearest frame), the audio is muxed as AAC and a mouth / level badge moves with its
    loudness. The first frame is ``first_frame`` cover-cropped to ``size`` (or a still generated from the prompt);
    the seed, take and model ``family`` vary the speed, easing, drift, reframing and start of the move. Every frame
    carries "PREVIEW" and its badge; a fixed opaque caption band (label lines and ``prompt``, this take's own, and a
    running timecode) is composited after the move, its text off for ``LABEL_GUARD_S`` at each end so a crossfade
    never overlaps two captions.

    Each frame is one swscale pass (ffmpeg's zoompan) from a crop of a yuv420p plate into a new encoder frame;
    overlays are written into that frame only where they have pixels.
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
    world = _load_world(first_frame, prompt, seed, size)
    move = parse_camera(camera or prompt)
    rig = _Camera(world, move.kind == "orbit", size)
    style = _take_style(seed, take, family)
    stamp_layer = _stamp(size, (list(label_lines) or ["PREVIEW"])[0] or "PREVIEW").fresh()
    band_image, band_top = caption_band(size, label_lines, prompt)
    band = Band(band_image, band_top)
    empty = Band.plain(size, band_top, BAND_RGB)
    fades: dict[float, Band] = {}
    timecode = Timecode(size, band.top)
    levels = _levels(samples, AUDIO_RATE, frames, fps) if samples is not None else None
    grain: list[np.ndarray] = []
    if move.kind == "static" and not move.shake:
        rng = _rng("grain", seed, take)
        grain = [np.rint(rng.normal(0, 6, (band.top, width))).astype(np.int16) for _ in range(4)]
    short = min(width, height)
    talk_corner = (round(width - short * 0.45), round(band.top - short * 0.2))

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    rate = _rate(fps)
    with av.open(str(out_path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(X264_OPTIONS))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = 1 / rate
        astream = container.add_stream("aac", rate=AUDIO_RATE, layout="mono") if samples is not None else None
        views = [_views(move, style, index / (frames - 1) if frames > 1 else 0.0, index / fps)
                 for index in range(frames)]
        def finished() -> Iterator[av.VideoFrame]:
            for index, frame in enumerate(rig.frames(views, rate)):
                planes = frame_planes(frame)
                if grain:  # a locked-off shot: film grain and a faint exposure flicker above the band
                    flicker = round(4.0 * math.sin(index * 2.1 + seed % 7) + 3.0 * math.sin(index * 0.77))
                    luma = planes[0][:band.top]
                    np.clip(luma + (grain[index % len(grain)] + flicker), 0, 255, out=luma, casting="unsafe")
                stamp_layer.blend(planes)
                strength = label_strength(index, frames, fps)
                if strength >= 1.0:
                    band.copy_into(planes)
                elif strength <= 0.0:
                    empty.copy_into(planes)
                else:
                    if strength not in fades:
                        fades[strength] = mix_bands(empty, band, strength)
                    fades[strength].copy_into(planes)
                if strength > 0.0:
                    timecode.draw(planes, timecode_text(index, fps), strength)
                if levels is not None:
                    blend_patch(planes, _talking_patch(size, float(levels[index])), talk_corner)
                frame.pts = index
                frame.time_base = 1 / rate
                yield frame

        for frame in ahead(finished()):  # the next frames are made while the encoder takes this one
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
