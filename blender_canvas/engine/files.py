"""Writing files a project shares: whole-file replacement, and paths relative to the file that names them. A leaf
(stdlib only), so the interchange, the reports, the project marker, the manifest and the crash snapshot all write
the same way without importing each other."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write beside `path`, then rename over it: a reader never sees half a file, a crash leaves the old one.

    The file is created with mode 0666 less the umask, like any file a program writes (mkstemp's 0600 would
    hide it from a colleague or a render-farm account on a shared volume)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def relative_posix(file: Path, folder: Path) -> str:
    """`file` relative to `folder` with forward slashes, or absolute when no relative path exists (another drive on
    Windows)."""
    try:
        return Path(os.path.relpath(os.path.abspath(file), os.path.abspath(folder))).as_posix()
    except ValueError:
        return Path(os.path.abspath(file)).as_posix()
