"""The ledger's schema version: a ledger written by the release before versioning opens and migrates; one from a
newer release is refused untouched; network folders get a rollback journal with exclusive locking."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from blender_canvas.engine.ledger import Ledger, LedgerError
from blender_canvas.engine.ledger_schema import SCHEMA_VERSION
from blender_canvas.engine.session import Session
from blender_canvas.engine.storage import JournalMode, fs_type_from_mounts, journal_mode

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ledger-v1"

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
filer:/export/projects /mnt/projects nfs4 rw,relatime,vers=4.2 0 0
//nas/films /mnt/films cifs rw,relatime 0 0
/dev/vdb /mnt/projects/local\\040disk ext4 rw 0 0
"""


@pytest.fixture
def old_project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(FIXTURE, folder)
    return folder


def test_a_ledger_from_the_release_before_versioning_opens_with_everything_in_it(old_project: Path) -> None:
    raw = sqlite3.connect(old_project / "ledger.sqlite")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 0  # as today's release wrote it
    raw.close()
    ledger = Ledger(old_project / "ledger.sqlite")
    assert ledger.found_version == 0
    states = {j.job_id: j.state for j in ledger.jobs()}
    assert states == {"aaaaaaaaaaaaaaa0": "landed", "aaaaaaaaaaaaaaa1": "unknown", "aaaaaaaaaaaaaaa2": "submitted"}
    take = ledger.chosen("still")
    assert take is not None and take.take_id == "aaaaaaaaaaaaaaa0"
    file = old_project / take.file
    assert hashlib.sha256(file.read_bytes()).hexdigest() == take.sha256
    assert ledger.verdict(take.take_id).scores == {"look": 4}  # type: ignore[union-attr]
    assert all(j.resolution is None for j in ledger.jobs())  # the column version 2 added
    ledger.close()
    raw = sqlite3.connect(old_project / "ledger.sqlite")
    assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    raw.close()
    again = Ledger(old_project / "ledger.sqlite")  # a second open migrates nothing
    assert again.found_version == SCHEMA_VERSION
    again.close()


def test_an_old_project_keeps_its_unknown_job_undecided_and_its_take(old_project: Path) -> None:
    session = Session(old_project, keys={})
    assert [j.job_id for j in session.undecided()] == ["aaaaaaaaaaaaaaa1"]
    session.resume()  # the running fal job has no key here: held, never raised
    assert session.ledger.job("aaaaaaaaaaaaaaa2").state == "submitted"  # type: ignore[union-attr]
    assert (old_project / "takes" / "still" / "aaaaaaaaaaaaaaa0.png").is_file()  # explained by its row: kept
    session.close()


def test_a_ledger_from_a_newer_release_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    Ledger(path).close()
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    before = path.read_bytes()
    with pytest.raises(LedgerError, match=r"newer Blender Canvas \(ledger schema 3; this release reads up to 2\)"):
        Ledger(path)
    assert path.read_bytes() == before


def test_a_file_that_is_not_a_ledger_is_a_clear_refusal(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError, match="cannot be opened as a ledger"):
        Ledger(path)


@pytest.mark.parametrize(("folder", "expected"), [
    ("/mnt/projects/film", "nfs4"), ("/mnt/films", "cifs"), ("/mnt/filmsx", "ext4"), ("/tmp/p", "tmpfs"),
    ("/mnt/projects/local disk/p", "ext4"), ("/home/me", "ext4"),
])
def test_the_mount_table_names_the_file_system_of_a_folder(folder: str, expected: str) -> None:
    assert fs_type_from_mounts(Path(folder), MOUNTS) == expected


@pytest.mark.parametrize(("kind", "journal", "exclusive"), [
    ("nfs4", "DELETE", True), ("cifs", "DELETE", True), ("smbfs", "DELETE", True), ("fuse.sshfs", "DELETE", True),
    ("ext4", "WAL", False), ("apfs", "WAL", False), ("", "WAL", False),
])
def test_network_file_systems_get_a_rollback_journal_with_exclusive_locking(kind: str, journal: str,
                                                                             exclusive: bool) -> None:
    mode = journal_mode(Path("/anywhere"), detect=lambda _folder: kind)
    assert (mode.journal, mode.exclusive) == (journal, exclusive)


def test_a_ledger_on_a_network_folder_opens_in_the_safe_mode(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite", mode=JournalMode("DELETE", True, "nfs4"))
    with ledger._lock:
        assert ledger._db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert ledger._db.execute("PRAGMA locking_mode").fetchone()[0] == "exclusive"
    ledger.close()
    assert not (tmp_path / "ledger.sqlite-wal").exists()
    local = Ledger(tmp_path / "local.sqlite", mode=journal_mode(tmp_path, detect=lambda _f: "ext4"))
    with local._lock:
        assert local._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    local.close()


def test_the_command_line_refuses_a_newer_ledger_in_one_line(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    out = tmp_path / "out"
    Ledger(out / "ledger.sqlite").close()
    raw = sqlite3.connect(out / "ledger.sqlite")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    raw.close()
    canvas = tmp_path / "canvas.json"
    canvas.write_text(json.dumps({"version": 1, "nodes": [{"id": "still", "kind": "image", "model": "nano-banana-2",
                                                           "prompt": {"subject": "a shop"}}]}))
    proc = subprocess.run([sys.executable, "-m", "blender_canvas", "estimate", str(canvas), "--draft", "--out",
                           str(out)], capture_output=True, text=True, cwd=root, check=False, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "newer Blender Canvas" in proc.stderr
