"""The command line's refusals, run as a user runs it: exit 2, one line a problem, no traceback, and nothing of
Blender's own chatter on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.blender.helpers import ROOT

TINY = {"version": 1, "title": "tiny", "nodes": [
    {"id": "still", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a red door"}}]}


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300, check=False)


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and lines[0].count("error:") == 1, lines[0]
    return lines[0]


@pytest.fixture()
def canvas(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def test_an_out_that_is_a_file_is_refused_for_run_and_demo(tmp_path: Path, canvas: Path) -> None:
    (tmp_path / "taken").write_text("not a folder")
    line = refused(run(tmp_path, "run", "tiny.json", "--out", "taken", "--draft"))
    assert line == "error: --out taken: is a file, not a folder; give a folder for the project"
    assert refused(run(tmp_path, "demo", "--out", "taken")) == line
    assert (tmp_path / "taken").read_text() == "not a folder"


@pytest.mark.parametrize("where", ["/proc/blender-canvas-test/out", "below-a-file/out"])
def test_an_out_no_one_can_create_is_refused(tmp_path: Path, canvas: Path, where: str) -> None:
    (tmp_path / "below-a-file").write_text("a file")
    line = refused(run(tmp_path, "run", "tiny.json", "--out", where, "--draft"))
    assert line.startswith(f"error: --out {where}: cannot make the folder: ")
    assert not (tmp_path / "below-a-file").is_dir()


def test_another_canvas_s_project_is_refused_and_left_as_it_was(tmp_path: Path, canvas: Path) -> None:
    first = run(tmp_path, "run", "tiny.json", "--out", "project", "--draft")
    assert first.returncode == 0, first.stderr[-2000:]
    assert not [line for line in first.stdout.splitlines() if line.startswith(("Info:", "Read blend"))], first.stdout
    assert first.stdout.splitlines()[0].startswith("node ")  # the summary table is the first thing on stdout
    assert not (tmp_path / "project" / "canvas.blend1").exists()
    manifest = (tmp_path / "project" / "manifest.json").read_text()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**TINY, "nodes": [{**TINY["nodes"][0], "id": "door"}]}))
    line = refused(run(tmp_path, "run", "other.json", "--out", "project", "--draft"))
    assert "holds the project of canvas 'tiny', not 'other'" in line
    assert refused(run(tmp_path, "demo", "--out", "project")) == line.replace("'other'", "'demo'")
    assert (tmp_path / "project" / "manifest.json").read_text() == manifest
    assert not (tmp_path / "project" / "assets").exists()  # the demo wrote nothing into it
    again = run(tmp_path, "run", "tiny.json", "--out", "project", "--draft")  # its own canvas: welcome back
    assert again.returncode == 0 and "(0 new, 1 cached, 0 failed)" in again.stderr
    assert not (tmp_path / "project" / "canvas.blend1").exists()  # a second save leaves no backup either


def test_a_canvas_with_problems_prints_each_once_with_one_prefix(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"version": 1, "nodes": [
        {"id": "a", "kind": "video", "model": "nope"}, {"id": "b", "kind": "image", "model": "nope-either"}]}))
    proc = run(tmp_path, "run", "bad.json", "--out", "out", "--draft")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2, proc.stderr
    for line, node in zip(lines, ("a", "b"), strict=True):
        assert line.startswith(f"error: bad.json: node '{node}', model: ") and line.count("error") == 1, line
    assert not (tmp_path / "out").exists()  # refused before anything was made


def test_a_missing_canvas_file_stays_a_one_line_refusal(tmp_path: Path) -> None:
    assert refused(run(tmp_path, "run", "nowhere.json", "--out", "out")) == "error: nowhere.json: no such file"
