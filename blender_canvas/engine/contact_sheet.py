"""Contact sheets for a bake-off report: frames of each take at the same fixed times, in one JPEG strip.

Every take of a bake-off is sampled at the same moments (0, 25, 50 and 75 % of the controlled duration), clamped to
the take's own length, plus the take's last frame, so the strips line up column by column. Frames are decoded with
PyAV (seek to the keyframe before the time, then decode forward) and composed with Pillow, each with its time under
it. An image take's sheet is the still itself. A missing or undecodable file gives a placeholder that says why; a
report is never lost to one bad take.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path

import av
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, Field

FRACTIONS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
FRAME_WIDTH = 240
STILL_LONG_SIDE = 480
JPEG_QUALITY = 82
LABEL_HEIGHT = 22
GAP = 4
PAD = 8
BACKGROUND = (22, 24, 29)
LABEL_INK = (226, 228, 233)
PLACEHOLDER_BACKGROUND = (236, 233, 228)
PLACEHOLDER_INK = (120, 64, 40)
LAST_SEEK_S = 2.0  # the last frame is found by decoding from the keyframe before (end - this)


class SheetError(ValueError):
    """The file cannot give the frames asked for; the message says why in a user's words."""


class ContactSheet(BaseModel):
    """One take's strip (or still, or placeholder) as image bytes, and the times of the frames it shows."""

    image: bytes = Field(default=b"", exclude=True, repr=False)  # left out of JSON: the HTML embeds it
    mime: str = "image/jpeg"
    width: int
    height: int
    frame_times_s: list[float] = Field(default_factory=list)  # the decoded frames' own times, the last one last
    labels: list[str] = Field(default_factory=list)
    error: str | None = None  # set when this is a placeholder: why the take has no frames here

    @property
    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.image).decode('ascii')}"


def sheet_times(duration_s: float | None) -> list[float]:
    """The fixed times every take of one bake-off is sampled at (each take adds its own last frame)."""
    length = duration_s if duration_s and duration_s > 0 else 0.0
    return [round(length * fraction, 3) for fraction in FRACTIONS]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError, ValueError):  # a Pillow built without FreeType has one bitmap size
        return ImageFont.load_default()


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def _seconds(value: float) -> str:
    return f"{value:.2f} s"


def placeholder(message: str, *, frames: int = len(FRACTIONS) + 1, frame_width: int = FRAME_WIDTH,
                frame_height: int | None = None) -> ContactSheet:
    """A plain card the size of a strip, saying why there are no frames (the message is also kept as text)."""
    frame_height = frame_height or round(frame_width * 9 / 16)
    width = PAD * 2 + frames * frame_width + (frames - 1) * GAP
    height = PAD * 2 + frame_height + LABEL_HEIGHT
    image = Image.new("RGB", (width, height), PLACEHOLDER_BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.rectangle((2, 2, width - 3, height - 3), outline=PLACEHOLDER_INK, width=2)
    font = _font(16)
    lines = _wrap(f"No frames: {message}", font, width - 4 * PAD, draw)
    line_height = 22
    top = (height - line_height * len(lines)) // 2
    for index, line in enumerate(lines[:6]):
        draw.text((2 * PAD, top + index * line_height), line, fill=PLACEHOLDER_INK, font=font)
    return ContactSheet(image=_jpeg(image), width=width, height=height, error=message)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int,
          draw: ImageDraw.ImageDraw) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}".strip()
        if current and draw.textlength(trial, font=font) > width:
            lines.append(current)
            current = word
        else:
            current = trial
    return [*lines, current] if current else lines


def still_sheet(path: Path, *, long_side: int = STILL_LONG_SIDE) -> ContactSheet:
    """The still itself, scaled to fit ``long_side``: an image take's sheet, or the controlled image."""
    try:
        with Image.open(path) as opened:
            opened.load()
            image = opened.convert("RGB")
    except FileNotFoundError:
        return placeholder(f"file missing ({path.name})")
    except (OSError, ValueError) as error:
        return placeholder(f"cannot read {path.name} as an image ({error.__class__.__name__})")
    image.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    return ContactSheet(image=_jpeg(image), width=image.width, height=image.height)


def contact_sheet(path: Path, media: str, times_s: Sequence[float], *,
                  frame_width: int = FRAME_WIDTH) -> ContactSheet:
    """The take's sheet: for a clip, frames at ``times_s`` (clamped to its length) and its last frame."""
    if media == "image":
        return still_sheet(path)
    if media != "video":
        return placeholder(f"a {media} take has no pictures")
    if not path.is_file():
        return placeholder(f"file missing ({path.name})")
    try:
        frames = grab_frames(path, times_s)
    except SheetError as error:
        return placeholder(f"{path.name}: {error}")
    except (OSError, av.FFmpegError, ValueError, IndexError) as error:
        return placeholder(f"cannot decode {path.name} ({error.__class__.__name__})")
    return compose(frames, frame_width=frame_width)


def compose(frames: Sequence[tuple[float, Image.Image, bool]], *, frame_width: int = FRAME_WIDTH) -> ContactSheet:
    """Frames side by side on a dark strip, each with its time underneath (the take's last one says so)."""
    first = frames[0][1]
    frame_height = max(1, round(frame_width * first.height / max(first.width, 1)))
    width = PAD * 2 + len(frames) * frame_width + (len(frames) - 1) * GAP
    height = PAD * 2 + frame_height + LABEL_HEIGHT
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = _font(13)
    labels: list[str] = []
    for index, (time_s, frame, last) in enumerate(frames):
        left = PAD + index * (frame_width + GAP)
        fitted = frame.convert("RGB").resize((frame_width, frame_height), Image.Resampling.LANCZOS)
        sheet.paste(fitted, (left, PAD))
        label = f"last · {_seconds(time_s)}" if last else _seconds(time_s)
        labels.append(label)
        text_width = draw.textlength(label, font=font)
        draw.text((left + (frame_width - text_width) / 2, PAD + frame_height + 4), label, fill=LABEL_INK, font=font)
    return ContactSheet(image=_jpeg(sheet), width=width, height=height,
                        frame_times_s=[round(t, 3) for t, _, _ in frames], labels=labels)


def grab_frames(path: Path, times_s: Sequence[float]) -> list[tuple[float, Image.Image, bool]]:
    """(time, picture, is-the-last-frame) for each wanted time clamped to the clip, then the clip's last frame."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise SheetError("the file has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        last_time, last_image = _last_frame(container, stream)
        rate = float(stream.average_rate or stream.guessed_rate or 24)
        tolerance = 0.5 / rate if rate > 0 else 0.02
        picked: list[tuple[float, Image.Image, bool]] = []
        for wanted in times_s:
            if wanted >= last_time - tolerance:
                picked.append((last_time, last_image, True))
                continue
            found = _frame_at(container, stream, max(wanted, 0.0), tolerance)
            picked.append(found if found is not None else (last_time, last_image, True))
        picked.append((last_time, last_image, True))
    return [(t, image, last and index == len(picked) - 1) for index, (t, image, last) in enumerate(picked)]


def _start(stream: av.video.stream.VideoStream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _frame_time(frame: av.VideoFrame, start: float, index: int, rate: float) -> float:
    if frame.time is not None:
        return max(float(frame.time) - start, 0.0)
    return index / rate if rate > 0 else 0.0


def _seek(container: av.container.InputContainer, stream: av.video.stream.VideoStream, seconds: float) -> None:
    if stream.time_base is None:
        container.seek(0)
        return
    offset = round((seconds + _start(stream)) / stream.time_base)
    container.seek(max(offset, 0), stream=stream, backward=True, any_frame=False)


def _frame_at(container: av.container.InputContainer, stream: av.video.stream.VideoStream, wanted: float,
              tolerance: float) -> tuple[float, Image.Image, bool] | None:
    """The first frame at or after ``wanted`` (within half a frame), decoding from the keyframe before it."""
    rate = float(stream.average_rate or 24)
    start = _start(stream)
    try:
        _seek(container, stream, wanted)
    except av.FFmpegError:
        container.seek(0)
    previous: tuple[float, av.VideoFrame] | None = None
    for index, frame in enumerate(container.decode(stream)):
        time_s = _frame_time(frame, start, index, rate)
        if time_s >= wanted - tolerance:
            if previous is not None and wanted - previous[0] < time_s - wanted:
                return previous[0], previous[1].to_image(), False
            return time_s, frame.to_image(), False
        previous = (time_s, frame)
    return None


def _last_frame(container: av.container.InputContainer,
                stream: av.video.stream.VideoStream) -> tuple[float, Image.Image]:
    """The clip's last decodable frame and its time, decoding from a keyframe a little before the end."""
    rate = float(stream.average_rate or 24)
    start = _start(stream)
    length = _length(container, stream)
    for from_s in ((max(length - LAST_SEEK_S, 0.0),) if length else ()) + (0.0,):
        try:
            _seek(container, stream, from_s)
        except av.FFmpegError:
            continue
        last: tuple[float, av.VideoFrame] | None = None
        for index, frame in enumerate(container.decode(stream)):
            last = (_frame_time(frame, start, index, rate), frame)
        if last is not None:
            return last[0], last[1].to_image()
    raise SheetError("no frame could be decoded")


def _length(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None
