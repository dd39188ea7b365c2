"""The project folder: what a crash leaves is cleaned at start, take files honour the umask, and a take has one copy
on disk (none kept in ``work/``)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from blender_canvas.engine.cost import Budget
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.housekeeping import clean_project, current_umask
from blender_canvas.engine.ledger import SUBMITTING, JobRecord
from blender_canvas.engine.session import Session
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.02) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


def image_canvas(route: str) -> Canvas:
    return Canvas.model_validate({"version": 1, "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2", "takes": 2, "route": route,
         "prompt": {"subject": "a bicycle shop"}}]})


def render(session: Session, doc: Canvas, base: Path, **kwargs: object) -> None:
    plan = session.plan(doc, base, **kwargs)  # type: ignore[arg-type]
    session.check(plan, online=True, budget=Budget())
    session.start(plan, doc, base)
    assert session.runner.wait(timeout=60)


def test_take_files_honour_the_umask(tmp_path: Path, fal: FakeFal, umask_022: None) -> None:
    assert current_umask() == 0o022
    session = Session(tmp_path / "project", keys={"FAL_KEY": DEFAULT_KEY})
    render(session, image_canvas("fal"), tmp_path)
    takes = session.ledger.takes()
    assert len(takes) == 2
    for take in takes:
        assert stat.S_IMODE((tmp_path / "project" / take.file).stat().st_mode) == 0o644  # downloads: not mkstemp's 0600
    session.close()


def test_a_draft_take_has_one_copy_and_work_keeps_none(tmp_path: Path, umask_022: None) -> None:
    session = Session(tmp_path / "project")
    render(session, image_canvas("fal"), tmp_path, draft=True)
    takes = session.ledger.takes()
    assert len(takes) == 2
    work = tmp_path / "project" / "work"
    assert not work.exists() or [p for p in work.rglob("*") if p.is_file()] == []
    for take in takes:
        assert stat.S_IMODE((tmp_path / "project" / take.file).stat().st_mode) == 0o644
    session.close()


def test_start_removes_partial_files_and_files_no_row_explains(tmp_path: Path) -> None:
    project = tmp_path / "project"
    session = Session(project)
    render(session, image_canvas("fal"), tmp_path, draft=True)
    take, removed = session.ledger.takes()
    trash = project / "trash" / removed.file
    trash.parent.mkdir(parents=True)
    (project / removed.file).rename(trash)  # as the Remove Take operator does; its thumbnail stays in takes/
    session.ledger.mark_removed(removed.take_id, trash.relative_to(project).as_posix())
    in_flight = JobRecord(job_id="0123456789abcdef", node_id="still", take_index=5, cache_key="k", model="m",
                          variant="v", backend="fal", backend_model_id="x", prompt="", request_json="{}",
                          state=SUBMITTING, created_at=1.0)
    session.ledger.add_job(in_flight)
    node_dir = project / "takes" / "still"
    leftovers = [node_dir / ".x.png.abcd.part", node_dir / "fedcba9876543210.png", project / "work" / "stray.png",
                 project / "work" / "fedcba9876543210.png", node_dir / "fedcba9876543210.thumb.png.part"]
    kept = [project / take.file, node_dir / "0123456789abcdef.mp4", project / "work" / "0123456789abcdef.png",
            trash, (project / removed.file).with_suffix(".thumb.png")]
    for path in leftovers + kept[1:3]:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(path, format="PNG")
    session.close()

    again = Session(project)
    again.resume()
    assert sorted(again.cleaned.partial) == sorted(p.relative_to(project).as_posix() for p in leftovers
                                                   if p.name.endswith(".part"))
    assert len(again.cleaned.orphans) == 3
    assert not any(p.exists() for p in leftovers)
    assert all(p.exists() for p in kept)  # a take, and the files of a job still unresolved
    assert clean_project(again.ledger).partial == [] and not clean_project(again.ledger)  # nothing left to clean
    again.close()


def test_no_cleaning_while_another_session_has_the_project_open(tmp_path: Path) -> None:
    project = tmp_path / "project"
    first = Session(project)
    partial = project / "takes" / "still" / ".0123456789abcdef.mp4.x.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a download")
    second = Session(project)  # e.g. a Blender opening the project a headless run is rendering
    second.resume()
    assert second.cleaned.skipped and partial.exists()
    second.close()
    first.resume()  # alone now: it cleans
    assert not first.cleaned.skipped and not partial.exists()
    first.close()
