"""Side-by-side review as plain data: where each reviewed take sits in the review frame, how big, and for how long.

The VSE side (vse/review.py) only copies these numbers onto strips. Coordinates follow Blender's sequencer:
pixels, origin at the bottom-left of the frame, y up. A movie strip added with ``fit_method='ORIGINAL'`` (the
default of ``strips.new_movie`` in 4.5 and 5.0) sits at its own pixel size centred in the frame, and its
``transform`` scales about the picture's centre (``origin`` 0.5, 0.5) and then moves it by ``offset_x/offset_y``
pixels, so a cell's offset is the cell centre minus the frame centre (checked by rendering on 4.5.15 and 5.0.1).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

LayoutKind = Literal["side_by_side", "grid", "wipe"]
LAYOUTS: tuple[LayoutKind, ...] = ("side_by_side", "grid", "wipe")
TAKE_COUNTS: dict[str, tuple[int, int]] = {"side_by_side": (2, 4), "grid": (2, 16), "wipe": (2, 2)}
MAX_WIDTH, MAX_HEIGHT = 3840, 2160  # the review frame never exceeds UHD, whatever the takes' sizes
FIRST_FRAME = 1
LABEL_BAND = 0.1  # of a cell's height: a band under each row for the labels, so no label covers a picture
CHAR_WIDTH = 0.62  # of the font size: Blender's default text-strip font is monospaced (DejaVu Sans Mono, 0.6)


class ReviewLayoutError(ValueError):
    """The takes cannot be laid out this way; the message names the field and what is allowed."""


class ReviewTake(BaseModel):
    """One take to review: its picture size and its length (frames at the review rate, or seconds)."""

    model_config = ConfigDict(extra="forbid")

    label: str = ""
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    frames: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _has_length(self) -> ReviewTake:
        if self.frames is None and self.duration_s is None:
            raise ValueError("duration_s or frames: give the take's length (seconds or frames), both are missing")
        return self

    def frame_count(self, fps: float) -> int:
        return self.frames if self.frames is not None else max(1, round((self.duration_s or 0) * fps))


class Rect(BaseModel):
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def top(self) -> float:
        return self.y + self.height

    def overlaps(self, other: Rect) -> bool:
        eps = 1e-6
        return (self.x < other.right - eps and other.x < self.right - eps
                and self.y < other.top - eps and other.y < self.top - eps)


class CellPlacement(BaseModel):
    index: int  # the take's position in the request
    label: str
    cell: Rect  # the cell the take is fitted into (its label band below it is not part of it)
    picture: Rect  # where the scaled picture lands inside it
    scale: float  # transform.scale_x and scale_y (aspect kept)
    offset_x: float  # transform.offset_x: cell centre minus frame centre, pixels
    offset_y: float
    frames: int
    label_x: float  # where the label's anchor point sits, as a fraction of the frame (a text strip's location)
    label_y: float  # its bottom edge
    label_anchor: Literal["LEFT", "CENTER", "RIGHT"] = "CENTER"  # which point of the label is at label_x


class ReviewLayout(BaseModel):
    layout: LayoutKind
    fps: float
    width: int  # the review frame, even numbers
    height: int
    cols: int
    rows: int
    cells: list[CellPlacement]
    frame_start: int = FIRST_FRAME
    frame_end: int  # the last frame of the longest take (inclusive, as scene.frame_end)
    wipe_frames: int = 0  # a wipe runs while both takes play: the shorter take's length
    label_band: int  # pixels under each row of cells where the labels sit
    font_size: int


def check_take_count(layout: str, count: int) -> None:
    """ReviewLayoutError unless `count` takes fit `layout`."""
    if layout not in TAKE_COUNTS:
        raise ReviewLayoutError(f"layout: '{layout}' is not a review layout; use one of {', '.join(LAYOUTS)}")
    low, high = TAKE_COUNTS[layout]
    if low <= count <= high:
        return
    if layout == "wipe":
        raise ReviewLayoutError(f"takes: a wipe compares exactly 2 takes, got {count}")
    hint = " (use grid for up to 16)" if layout == "side_by_side" and count > high else ""
    raise ReviewLayoutError(f"takes: {layout} shows {low} to {high} takes, got {count}{hint}")


def grid_shape(layout: str, count: int) -> tuple[int, int]:
    """(columns, rows): one row side by side, a near-square grid, one full frame for a wipe."""
    if layout == "wipe":
        return 1, 1
    if layout == "side_by_side":
        return count, 1
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


def _even_floor(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def cell_size(takes: list[ReviewTake], cols: int, rows: int) -> tuple[int, int, int]:
    """(width, height, label band) of a cell: the largest take's size (by area), shrunk so that cols x rows cells
    and their label bands fit in UHD; all even, so H.264 can encode the review."""
    biggest = max(takes, key=lambda t: t.width * t.height)
    factor = min(1.0, MAX_WIDTH / (cols * biggest.width),
                 MAX_HEIGHT / (rows * biggest.height * (1 + LABEL_BAND)))
    height = _even_floor(biggest.height * factor)
    band = _even_floor(height * LABEL_BAND)
    while rows * (height + band) > MAX_HEIGHT:  # the two roundings together may overshoot by a pixel or two
        height -= 2
    return _even_floor(biggest.width * factor), height, band


def fit(take: ReviewTake, cell: Rect, frame_w: int, frame_h: int) -> tuple[float, Rect, float, float]:
    """(scale, picture, offset_x, offset_y) of a take fitted inside `cell`, aspect kept, centred."""
    scale = min(cell.width / take.width, cell.height / take.height)
    w, h = take.width * scale, take.height * scale
    cx, cy = cell.x + cell.width / 2, cell.y + cell.height / 2
    return scale, Rect(x=cx - w / 2, y=cy - h / 2, width=w, height=h), cx - frame_w / 2, cy - frame_h / 2


def plan_review(takes: list[ReviewTake], layout: str, fps: float = 24) -> ReviewLayout:
    """Lay `takes` out for review. Raises ReviewLayoutError for a wrong count or layout, or a bad frame rate."""
    check_take_count(layout, len(takes))
    if not fps > 0:
        raise ReviewLayoutError(f"fps: the review frame rate must be above 0, got {fps}")
    cols, rows = grid_shape(layout, len(takes))
    cell_w, cell_h, band = cell_size(takes, cols, rows)
    width, height = cols * cell_w, rows * (cell_h + band)
    frames = [t.frame_count(fps) for t in takes]
    cells: list[CellPlacement] = []
    for index, take in enumerate(takes):
        anchor: Literal["LEFT", "CENTER", "RIGHT"] = "CENTER"
        if layout == "wipe":  # both fill the picture; the wipe shows A on the left, B on the right
            cell = Rect(x=0, y=band, width=width, height=cell_h)
            label_x, anchor = (0.02, "LEFT") if index == 0 else (0.98, "RIGHT")
        else:
            col, row = index % cols, index // cols  # row 0 is the top row; each row's label band is under it
            cell = Rect(x=col * cell_w, y=height - (row + 1) * (cell_h + band) + band, width=cell_w, height=cell_h)
            label_x = (cell.x + cell.width / 2) / width
        scale, picture, offset_x, offset_y = fit(take, cell, width, height)
        cells.append(CellPlacement(index=index, label=take.label, cell=cell, picture=picture, scale=scale,
                                   offset_x=offset_x, offset_y=offset_y, frames=frames[index], label_x=label_x,
                                   label_y=(cell.y - band * 0.8) / height, label_anchor=anchor))
    return ReviewLayout(layout=layout, fps=fps, width=width, height=height, cols=cols, rows=rows, cells=cells,
                        frame_end=FIRST_FRAME + max(frames) - 1,
                        wipe_frames=min(frames) if layout == "wipe" else 0,
                        label_band=band, font_size=font_size(takes, band, width / 2 if layout == "wipe" else cell_w))


def font_size(takes: list[ReviewTake], band: int, room: float) -> int:
    """As big as the band allows, but small enough that the longest label fits in `room` pixels."""
    longest = max((len(t.label) for t in takes), default=0)
    fits = room * 0.94 / (CHAR_WIDTH * longest) if longest else band
    return max(8, int(min(band * 0.55, fits)))
