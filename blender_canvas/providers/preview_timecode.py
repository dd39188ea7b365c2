"""The running timecode burnt into a preview's caption band, drawn from glyphs rendered once per take.

White luma on the band's own, so only the Y plane changes (the band is neutral grey, its chroma is the same under
the digits). Each character is rasterised once per brightness (the fade in and out has a few) and laid at its
place in "00:00:00:00" (the digits are tabular), so a frame costs a few small array maxima, not a text render.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .preview_frames import BAND_RGB, Size, _font, _text_size
from .preview_yuv import Planes

TEMPLATE = "00:00:00:00"


def timecode_text(index: int, fps: float) -> str:
    """Frame ``index`` at ``fps`` as HH:MM:SS:FF."""
    whole = max(1, round(fps))
    seconds, frame = divmod(index, whole)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}:{frame:02d}"


class Timecode:
    """The timecode at the right end of the caption band (whose top is ``band_top``)."""

    def __init__(self, size: Size, band_top: int) -> None:
        w, _ = size
        short = min(size)
        self.font = _font(max(8, round(short * 0.036)))
        self.pad = max(3, round(short * 0.018))
        self._measure = ImageDraw.Draw(Image.new("L", (1, 1)))
        tw, th = _text_size(self._measure, TEMPLATE, self.font)
        self.box = (w - tw - self.pad * 2, band_top + self.pad, w - self.pad, band_top + self.pad + th + 4)
        self.luma = round(16 + 0.257 * BAND_RGB[0] + 0.504 * BAND_RGB[1] + 0.098 * BAND_RGB[2])
        self.offsets = [round(self._measure.textlength(TEMPLATE[:i], font=self.font)) for i in range(len(TEMPLATE))]
        self._glyphs: dict[tuple[str, int], np.ndarray] = {}
        # every glyph on the baseline the whole template has when drawn from its top (a lone glyph anchored at
        # its own top would sit at the top of its own ink: a colon would ride high)
        self._baseline: float = 0
        if isinstance(self.font, ImageFont.FreeTypeFont):
            self._baseline = self.font.getbbox(TEMPLATE, anchor="lt")[1] - self.font.getbbox(TEMPLATE, anchor="ls")[1]

    def _render(self, text: str, fill: int, width: int) -> np.ndarray:
        patch = Image.new("L", (width, self.box[3] - self.box[1]), self.luma)
        draw = ImageDraw.Draw(patch)
        if isinstance(self.font, ImageFont.FreeTypeFont):
            draw.text((0, self._baseline), text, font=self.font, anchor="ls", fill=fill)
        else:  # Pillow's bitmap font has no anchors
            draw.text((0, 0), text, font=self.font, fill=fill)
        return np.asarray(patch)

    def _glyph(self, char: str, fill: int) -> np.ndarray:
        if (char, fill) not in self._glyphs:
            width = math.ceil(self._measure.textlength(char, font=self.font)) + self.pad
            self._glyphs[char, fill] = self._render(char, fill, width)
        return self._glyphs[char, fill]

    def draw(self, planes: Planes, code: str, strength: float) -> None:
        """Write ``code`` at ``strength`` (0..1: band grey to white) into the frame's luma."""
        x0, y0, x1, y1 = self.box
        region = planes[0][y0:y1, x0:x1]
        fill = round(self.luma + (235 - self.luma) * strength)
        if len(code) != len(TEMPLATE):  # past 99 hours: drawn whole
            region[...] = self._render(code, fill, x1 - x0)[:, :x1 - x0]
            return
        region[...] = self.luma
        for offset, char in zip(self.offsets, code, strict=True):
            glyph = self._glyph(char, fill)
            part = region[:, offset:offset + glyph.shape[1]]
            np.maximum(part, glyph[:, :part.shape[1]], out=part)
