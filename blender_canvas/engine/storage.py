"""Where a project folder lives, and how the ledger must open SQLite there.

SQLite's WAL mode needs shared memory that network file systems (NFS, SMB/CIFS, AFP, sshfs...) do not provide
safely, and their byte-range locks are unreliable: two machines writing one ledger over them can corrupt it. On such
a folder the ledger uses a rollback journal with ``locking_mode=EXCLUSIVE`` instead: one process holds the file while
it is open (a second Blender on the same project gets a clear "in use" refusal rather than a torn write).

The decision is made from what the operating system says about the folder: on Linux the mount table
(``/proc/self/mounts``, the longest mount point holding the folder); on macOS the file system type
``statfs`` reports; on Windows the drive type (a mapped network drive, or a ``\\\\server\\share`` path). Where Python
cannot tell, the folder is taken as local.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# file system types (as the mount table or statfs names them) that are reached over a network
NETWORK_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb2", "smb3", "smbfs", "afpfs", "afs", "webdav", "davfs", "fuse.sshfs", "sshfs",
    "9p", "ncpfs", "coda", "glusterfs", "fuse.glusterfs", "ceph", "fuse.ceph", "lustre", "gpfs", "fuse.rclone",
    "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "beegfs", "orangefs", "ocfs2", "gfs2",
})
MOUNTS = Path("/proc/self/mounts")


@dataclass(frozen=True)
class JournalMode:
    journal: str  # PRAGMA journal_mode
    exclusive: bool  # PRAGMA locking_mode=EXCLUSIVE
    fs_type: str  # what was found ("" when unknown)

    @property
    def network(self) -> bool:
        return self.exclusive


def _unescape(field: str) -> str:
    """Mount-table fields escape space, tab, newline and backslash as octal (``\\040``)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def fs_type_from_mounts(folder: Path, mounts_text: str) -> str:
    """The type of the file system holding ``folder`` per a Linux mount table (longest matching mount point)."""
    best, found = -1, ""
    target = str(folder)
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point, kind = _unescape(parts[1]), parts[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/") or point == "/"
        if inside and len(point) > best:
            best, found = len(point), kind
    return found


def _linux_type(folder: Path) -> str:
    try:
        return fs_type_from_mounts(folder, MOUNTS.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def _macos_type(folder: Path) -> str:
    """``f_fstypename`` of ``statfs(2)``, read by offset from macOS's 64-bit-inode layout (two 32-bit sizes, five
    64-bit counts, an 8-byte fsid, then owner, type, flags and subtype as 32-bit fields: the name starts at 72)."""
    try:
        libc = ctypes.CDLL("libc.dylib", use_errno=True)
        buffer = ctypes.create_string_buffer(2168)  # sizeof(struct statfs) on macOS is 2168
        if libc.statfs(str(folder).encode(), buffer) != 0:
            return ""
        return buffer.raw[72:88].split(b"\0", 1)[0].decode(errors="replace")  # f_fstypename[16] at offset 72
    except (OSError, AttributeError):
        return ""


def _windows_type(folder: Path) -> str:
    text = str(folder)
    if text.startswith("\\\\") and not text.startswith("\\\\?\\"):
        return "smb"
    try:
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        drive = os.path.splitdrive(text)[0] + "\\"
        return "smb" if kernel32.GetDriveTypeW(drive) == 4 else ""  # DRIVE_REMOTE
    except (OSError, AttributeError):
        return ""


def fs_type(folder: Path) -> str:
    """The file system type of ``folder`` (its nearest existing ancestor), "" where Python cannot tell."""
    probe = folder.absolute()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    with_real = probe.resolve()
    if sys.platform.startswith("linux"):
        return _linux_type(with_real)
    if sys.platform == "darwin":
        return _macos_type(with_real)
    if sys.platform == "win32":
        return _windows_type(with_real)
    return ""


def journal_mode(folder: Path, *, detect: Callable[[Path], str] = fs_type) -> JournalMode:
    """WAL on a local disk; a rollback journal with exclusive locking on a network file system."""
    kind = detect(folder).lower()
    if kind in NETWORK_TYPES or kind.startswith(("nfs", "smb", "cifs")):
        return JournalMode("DELETE", True, kind)
    return JournalMode("WAL", False, kind)
