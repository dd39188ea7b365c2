"""The output folder of a headless run: made or refused in one line, and owned by the canvas first run into it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blender_canvas.engine.ledger import Ledger, TakeRecord
from blender_canvas.engine.project import MARKER, ProjectFolderError, claim, prepare_out, read_owner


def test_prepare_out_makes_the_folder_absolute_and_refuses_what_cannot_be_one(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    made = prepare_out(Path("a/b"))
    assert made == tmp_path / "a" / "b" and made.is_dir() and made.is_absolute()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectFolderError, match=r"^--out file: is a file, not a folder"):
        prepare_out(Path("file"))
    with pytest.raises(ProjectFolderError, match=r"^--out file/sub: cannot make the folder: a part of the path is "
                                                 r"a file"):
        prepare_out(Path("file/sub"))
    with pytest.raises(ProjectFolderError, match=r"^--out /proc/nope/out: cannot make the folder: "):
        prepare_out(Path("/proc/nope/out"))


def test_a_folder_belongs_to_the_canvas_first_run_into_it(tmp_path: Path) -> None:
    claim(tmp_path, "harbour", "Harbour launch")
    owner = read_owner(tmp_path)
    assert owner is not None and (owner.canvas, owner.title) == ("harbour", "Harbour launch")
    claim(tmp_path, "harbour", "Harbour, recut")  # the same canvas, retitled: still its folder
    assert json.loads((tmp_path / MARKER).read_text())["title"] == "Harbour, recut"
    with pytest.raises(ProjectFolderError, match="holds the project of canvas 'harbour', not 'demo'"):
        claim(tmp_path, "demo")


def _take(node: str) -> TakeRecord:
    return TakeRecord(take_id=f"{node}-1", node_id=node, cache_key="k", file=f"takes/{node}/1.mp4", sha256="0",
                      media="video", size_bytes=1, model="m", variant="v", backend="preview", prompt="",
                      estimated_usd=0.0, input_hashes="{}", timings_json="{}", created_at=0.0)


def test_a_project_from_before_the_marker_is_adopted_only_by_a_canvas_with_its_nodes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add_take(_take("wide"))
    ledger.close()
    with pytest.raises(ProjectFolderError, match="holds takes of nodes this canvas does not have"):
        claim(tmp_path, "other", node_ids=frozenset({"close"}))
    assert not (tmp_path / MARKER).exists()
    claim(tmp_path, "cut", node_ids=frozenset({"wide", "close"}))
    owner = read_owner(tmp_path)
    assert owner is not None and owner.canvas == "cut"


def test_an_unreadable_marker_is_a_refusal_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text("{not json")
    with pytest.raises(ProjectFolderError, match=f"its {MARKER} cannot be read"):
        claim(tmp_path, "cut")
