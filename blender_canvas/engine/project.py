"""The project folder a headless run writes (`--out`): made or refused in one clear line, and owned by one canvas.

A folder belongs to the canvas first run into it: `project.json` names that canvas (its file name without the
extension, `demo` for the built-in demo). A run of another canvas into it is refused instead of mixing two
canvases' takes, manifest and film. Nothing here imports bpy.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from .files import atomic_write_text

MARKER = "project.json"
LEDGER = "ledger.sqlite"


class ProjectFolderError(Exception):
    """The output folder cannot be used; the message (one line) says why and what to do."""


class ProjectMarker(BaseModel):
    version: int = 1
    canvas: str  # the owning canvas's name: its file name without the extension, or "demo"
    title: str = ""


def _reason(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.ENOTDIR:
        return "a part of the path is a file, not a folder"
    if error.errno == errno.EROFS:
        return "the volume is read-only"
    if error.errno == errno.ENOENT:
        return "its parent cannot hold new folders"
    return (error.strerror or str(error)).lower()


def prepare_out(out: Path) -> Path:
    """`out` made absolute and created if needed; ProjectFolderError for a file, an unmakeable or read-only path."""
    shown = str(out)
    out = Path(os.path.abspath(out))
    if out.exists() and not out.is_dir():
        raise ProjectFolderError(f"--out {shown}: is a file, not a folder; give a folder for the project")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:  # a file somewhere along the path
        raise ProjectFolderError(f"--out {shown}: cannot make the folder: a part of the path is a file, "
                                 "not a folder") from error
    except OSError as error:
        raise ProjectFolderError(f"--out {shown}: cannot make the folder: {_reason(error)}") from error
    if not os.access(out, os.W_OK | os.X_OK):
        raise ProjectFolderError(f"--out {shown}: cannot write into the folder: permission denied")
    return out


def claim(out: Path, canvas: str, title: str = "", node_ids: frozenset[str] = frozenset()) -> None:
    """Mark `out` as `canvas`'s project, or refuse if it holds another canvas's project.

    A project made before folders were marked is adopted when every node it has takes of is one of `node_ids`."""
    marker = out / MARKER
    owner = read_owner(out)
    if owner is not None and owner.canvas != canvas:
        raise ProjectFolderError(f"--out {out}: holds the project of canvas '{owner.canvas}', not '{canvas}'; "
                                 "give each canvas its own folder (or delete this one to start over)")
    if owner is None and (out / LEDGER).exists() and not _nodes_of(out) <= node_ids:
        raise ProjectFolderError(f"--out {out}: holds takes of nodes this canvas does not have (another "
                                 "canvas's project); give each canvas its own folder")
    if owner is None or owner.title != title:
        atomic_write_text(marker, ProjectMarker(canvas=canvas, title=title).model_dump_json(indent=1) + "\n")


def read_owner(out: Path) -> ProjectMarker | None:
    marker = out / MARKER
    if not marker.is_file():
        return None
    try:
        return ProjectMarker.model_validate(json.loads(marker.read_text(encoding="utf-8")))
    except (OSError, ValueError, ValidationError) as error:
        raise ProjectFolderError(f"--out {out}: its {MARKER} cannot be read ({type(error).__name__}); "
                                 "give this canvas its own folder") from error


def _nodes_of(out: Path) -> set[str]:
    from .ledger import Ledger

    ledger = Ledger(out / LEDGER)
    try:
        return {take.node_id for take in ledger.takes(include_removed=True)}
    finally:
        ledger.close()
