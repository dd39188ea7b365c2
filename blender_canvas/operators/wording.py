"""What a person reads in Blender, in Blender's words.

The engine speaks to two audiences: the command line (``--online``, ``--draft``, field names as the JSON spells
them) and Blender. The engine's messages are written once, for the command line; this module translates them at the
Blender boundary (the operators' reports and the node's status line): no command-line flags, no field names with
underscores, no exception class names, no doubled "error:" prefixes.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any

from ..providers.backend import ErrorKind


class CanvasActionError(Exception):
    """A user-facing reason an action cannot run; shown on the node / in the status bar, never a traceback."""


# whole phrases first (the engine's own wording, engine/session.py and engine/planner.py), then single flags
_PHRASES: tuple[tuple[str, str], ...] = (
    ("run with --online (or allow online access in Blender), or use --draft",
     "turn on Allow Online Access (Preferences ▸ System ▸ Network), or turn on Draft in the Canvas panel"),
    ("it can only run in draft mode (--draft)", "it can only run as a draft: turn on Draft in the Canvas panel"),
    ("or run in draft mode (--draft)", "or turn on Draft in the Canvas panel"),
    ("in the add-on preferences or the environment", "in the add-on's preferences (or the environment)"),
    ("String should have at least 1 character", "is empty"),
)
_FLAGS: tuple[tuple[str, str], ...] = (
    (r"\(?--online\)?", "Allow Online Access (Preferences ▸ System ▸ Network)"),
    (r"\(?--draft\)?", "Draft (Canvas panel)"),
    (r"\(?--out\)?", "the project folder"),
)
_NETWORK = re.compile(r"network error \((\w+)\):\s*(?:\[Errno -?\d+\]\s*)?(.*)")
_KIND_PREFIX = re.compile(r"^(" + "|".join(k.value for k in ErrorKind) + r")(\s*\[[^\]]*\])?:\s*")
_LEVEL_PREFIX = re.compile(r"^(?:(?:error|warning):\s*)+", re.IGNORECASE)
_FIELD = re.compile(r"\b([a-z]+(?:_[a-z0-9]+)+)\b")
_UNIT_SUFFIXES = {"s": "", "usd": "", "px": ""}


def field_words(field: str) -> str:
    """A document field as Blender names it: ``duration_s`` -> "Duration", ``end_card.text`` -> "End Card Text"."""
    words: list[str] = []
    for part in re.split(r"[._\[\]]+", field):
        if not part or part.isdigit():
            continue
        if part in _UNIT_SUFFIXES and words:
            continue
        words.append(part.capitalize())
    return " ".join(words) or field


def blender_words(message: str) -> str:
    """The engine's message in Blender's words (see the module docstring)."""
    text = _LEVEL_PREFIX.sub("", message.strip())
    kind = _KIND_PREFIX.match(text)
    if kind:  # a backend error's kind ("rate_limited [429]: ...") reads as words
        text = f"{kind.group(1).replace('_', ' ').capitalize()}: {text[kind.end():]}"
    for old, new in _PHRASES:
        text = text.replace(old, new)
    for pattern, new in _FLAGS:
        text = re.sub(pattern, new, text)
    network = _NETWORK.search(text)
    if network:
        detail = network.group(2).strip().rstrip(".") or "no answer"
        text = text[:network.start()] + f"could not reach the service ({detail[:1].lower() + detail[1:]})"
    return _FIELD.sub(lambda m: field_words(m.group(1)), text)


def problem_words(problem: Any, with_node: bool = True) -> str:
    """A validation problem (engine/validation.py) as a sentence: "'plate': Duration: Sora 2 does not allow 7 s"."""
    where = f"'{problem.node}': " if with_node and problem.node else ""
    field = "" if problem.field.startswith("(") else f"{field_words(problem.field)}: "
    allowed = f" (allowed: {problem.allowed})" if problem.allowed else ""
    return blender_words(f"{where}{field}{problem.message}{allowed}")


def write_error(path: Path, error: OSError, what: str = "the file") -> str:
    """Why `path` could not be written, naming the folder: never the exception's class or a traceback."""
    folder = path.parent
    if isinstance(error, FileNotFoundError) or error.errno == errno.ENOENT:
        return f"Cannot write {what}: the folder {folder} does not exist"
    # ENOTDIR: writing below a file; EEXIST: making a folder where a file stands
    if isinstance(error, NotADirectoryError | FileExistsError) or error.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        return f"Cannot write {what} in {folder}: {blocker} is a file, not a folder"
    if isinstance(error, PermissionError) or error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Cannot write {what}: no permission to write in the folder {folder}"
    if isinstance(error, IsADirectoryError):
        return f"Cannot write {what}: {path} is a folder"
    reason = error.strerror or "the system refused"
    return f"Cannot write {what} in the folder {folder}: {reason[:1].lower() + reason[1:]}"
