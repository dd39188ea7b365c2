"""The project folder after a crash: leftover partial files go, and ``takes/`` and ``work/`` keep only what a ledger
row explains. Also how take files get the permissions every other file gets (the umask), for a shared volume.

What a row explains:

* in ``takes/``: the file of every take (landed or removed) and its thumbnail, and any file named after a job still
  unresolved (its download may be re-done by the resume, which replaces it atomically);
* in ``work/`` (a backend's scratch space): only files named after an unresolved job; a landed take lives in
  ``takes/`` alone, so a scratch copy of it is dropped.

Anything ending in ``.part`` is an interrupted write and goes. Cleaning happens only while no other process has
the project open (each session holds a shared lock on ``.session.lock``; cleaning needs it exclusively), so a second
Blender or run never deletes the partial download of one still working.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .ledger import Ledger

_UMASK_LOCK = threading.Lock()
_JOB_ID = re.compile(r"[0-9a-f]{16}")


def current_umask() -> int:
    """The process umask, read without changing it where the OS tells (Linux), else set-and-restore under a lock."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def share_like_umask(path: Path) -> None:
    """Give ``path`` the mode a plain ``open()`` would have (0644 under umask 022), not ``mkstemp``'s 0600."""
    with contextlib.suppress(OSError):
        path.chmod(0o666 & ~current_umask())


try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks here, cleaning always runs
    fcntl = None  # type: ignore[assignment]


class ProjectLock:
    """A shared advisory lock held while a session has the project open; ``exclusively`` runs a call only if no
    other process holds it."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._file = (folder / ".session.lock").open("a+b")
        if fcntl is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_SH)

    def exclusively(self, call: Callable[[], Cleaned]) -> Cleaned:
        if fcntl is None:
            return call()
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return Cleaned(skipped=True)  # another process has this project open
        try:
            return call()
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_SH)

    def close(self) -> None:
        self._file.close()  # releases the lock


@dataclass
class Cleaned:
    partial: list[str] = field(default_factory=list)  # relative paths removed
    orphans: list[str] = field(default_factory=list)
    skipped: bool = False  # another process had the project open

    def __bool__(self) -> bool:
        return bool(self.partial or self.orphans)

    def describe(self) -> str:
        return (f"cleaned the project folder after an interrupted run: {len(self.partial)} partial download(s) and "
                f"{len(self.orphans)} file(s) no ledger row explains removed")


def clean_project(ledger: Ledger) -> Cleaned:
    """Remove partial files and unexplained files from ``takes/`` and ``work/``; returns what went."""
    root = ledger.path.parent
    cleaned = Cleaned()
    unresolved = {j.job_id for j in ledger.unresolved_jobs()}
    kept: set[str] = set()
    for take in ledger.takes(include_removed=True):
        file = Path(take.file)
        kept.add(file.as_posix())
        kept.add(file.with_suffix(".thumb.png").as_posix())
        if file.parts[:1] == ("trash",):  # a removed take moved to trash/ and left its thumbnail where it was
            kept.add(Path(*file.parts[1:]).with_suffix(".thumb.png").as_posix())
    for folder, explained in (("takes", kept), ("work", set())):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(p for p in base.rglob("*") if p.is_file() or p.is_symlink()):
            relative = path.relative_to(root).as_posix()
            if path.name.endswith(".part") or ".part." in path.name:
                _remove(path, relative, cleaned.partial)
                continue
            if relative in explained:
                continue
            if any(job_id in unresolved for job_id in _JOB_ID.findall(path.name)):
                continue
            _remove(path, relative, cleaned.orphans)
    return cleaned


def _remove(path: Path, relative: str, into: list[str]) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
        into.append(relative)
