"""Is a file a canvas names really a still, a clip or a sound? Sniffed from its first bytes, never from its name.

A canvas someone sends you must never make the add-on upload, or place in the VSE, a file that is not media
(``/etc/passwd`` named ``logo.png``, ``/proc/self/environ`` as an end-card image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..providers.downloads import sniff

MediaKind = Literal["image", "video", "audio"]
HEAD_BYTES = 64


def sniff_head(head: bytes) -> tuple[MediaKind, str] | None:
    """(kind, format) from a file's first bytes: the formats vendors take (downloads.sniff) and the stills and clips
    Blender reads besides (TIFF, OpenEXR, BMP, AVI)."""
    known = sniff(head)
    if known is not None:
        return known
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image", "image/tiff"
    if head[:4] == b"\x76\x2f\x31\x01":
        return "image", "image/x-exr"
    if head[:2] == b"BM" and len(head) >= 14:
        return "image", "image/bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video", "video/x-msvideo"
    return None


def media_problem(path: Path, expected: MediaKind) -> str | None:
    """Why the file at ``path`` is not a usable ``expected`` file (unreadable, empty, another kind), or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as error:
        return f"cannot read {path} ({error.__class__.__name__})"
    if not head:
        return f"{path} is empty, not {_a(expected)} file"
    found = sniff_head(head)
    if found is None:
        return f"{path} is not {_a(expected)} file (its content is no still, clip or sound format)"
    kind, mime = found
    if kind == expected or (expected == "audio" and mime == "video/mp4"):  # an MP4 holding only sound
        return None
    return f"{path} is not {_a(expected)} file (its content is {_a(kind)}, {mime})"


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word
