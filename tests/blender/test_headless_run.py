"""Headless runs end to end on real bpy: the demo, draft runs of the shared canvases, a crash mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import av
import pytest

from tests.blender.helpers import CANVASES, ROOT, run_blender_script
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True,
                          env=environment, timeout=timeout, check=False, cwd=ROOT)


TRAY_SCRIPT = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
tree = bpy.data.node_groups["canvas"]
trays = {n.name: {"takes": [t.take_id for t in n.tray], "files": [t.file for t in n.tray],
                  "chosen": n.chosen_take, "state": n.render_state}
         for n in tree.nodes if hasattr(n, "tray")}
print("RESULT " + json.dumps({"trays": trays, "project_dir": tree.project_dir}))
"""


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("demo")
    return out, cli("demo", "--out", str(out))


def test_demo_lands_every_take_in_trays_ledger_and_manifest(demo_run: tuple[Path, Any]) -> None:
    out, proc = demo_run
    assert proc.returncode == 0, proc.stderr
    assert "20 take(s)" in proc.stdout and "Traceback" not in proc.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    takes = manifest["takes"]
    assert len(takes) == 20 and {t["status"] for t in takes} == {"landed"}
    with sqlite3.connect(out / "ledger.sqlite") as db:
        ledger_ids = {row[0] for row in db.execute("SELECT take_id FROM takes")}
    assert ledger_ids == {t["id"] for t in takes}
    trays = run_blender_script(TRAY_SCRIPT, str(out / "canvas.blend"))["trays"]
    assert "film: final.mp4" in proc.stdout
    with av.open(str(out / "final.mp4")) as film:  # the product-launch film, with its voice
        assert film.streams.audio and film.streams.video[0].codec_context.width == 640
    assert (out / "cut.otio").is_file()
    for node_id in BAKEOFF_NODES:
        tray = trays[node_id]
        assert sorted(tray["takes"]) == sorted(t["id"] for t in takes if t["node"] == node_id)
        assert len(tray["takes"]) == 3 and tray["chosen"] in tray["takes"] and tray["state"] == "done"
        assert all(f.startswith("//takes/") for f in tray["files"])  # relative to the .blend: the folder moves


def test_demo_writes_the_bakeoff_report_with_labelled_sample_scores(demo_run: tuple[Path, Any]) -> None:
    out, proc = demo_run
    report = json.loads((out / "report.json").read_text())
    assert [e["node"] for e in report["entrants"]] == list(BAKEOFF_NODES)
    takes = [t for e in report["entrants"] for t in e["takes"]]
    assert len(takes) == 12 and all(t["sample"] and len(t["scores"]) == 6 for t in takes)
    html = (out / "report.html").read_text()
    assert html.count('class="contact-sheet"') == 12 and "Sample scores" in html
    assert "(sample)" in (out / "report.txt").read_text()
    assert "bake-off: report.html" in proc.stdout
    # the controlled inputs: one still, one shot, 4 s and seed 7 on every entrant
    assert report["controlled"]["image_node"] == "still" and report["controlled"]["duration_s"] == 4
    assert {e["duration_s"] for e in report["entrants"]} == {4} and report["controlled"]["seed"] == 7


def test_demo_takes_decode_at_the_requested_duration_and_size_and_differ(demo_run: tuple[Path, Any]) -> None:
    out, _ = demo_run
    takes = json.loads((out / "manifest.json").read_text())["takes"]
    middles: dict[str, list[bytes]] = {}
    for take in takes:
        if take["media"] != "video":
            continue
        with av.open(str(out / take["file"])) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            assert (stream.codec_context.width, stream.codec_context.height) == (640, 360)
            assert stream.average_rate == 24
            assert len(frames) == round(take["duration_s"] * 24)
            if take["node"] in (*BAKEOFF_NODES, "opener", "hero", "finale"):
                assert len(frames) == 96  # the requested 4 s at 24 fps; the talking hook follows its voice
            middles.setdefault(take["node"], []).append(frames[48].to_ndarray(format="rgb24").tobytes())
    assert len(middles) == 8  # four bake-off nodes, four shots of the film
    for node in BAKEOFF_NODES:
        assert len(set(middles[node])) == 3, f"takes of {node} are identical"


BAKEOFF_NODES = ("kling-3-3.0", "kling-3-o3", "seedance-2-pro", "veo-3.1-standard")


@pytest.mark.parametrize("name", sorted(p.name for p in CANVASES.glob("*.json")))
def test_shared_canvases_run_end_to_end_in_draft_mode(name: str, tmp_path: Path) -> None:
    proc = cli("run", str(CANVASES / name), "--out", str(tmp_path), "--draft")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    canvas = json.loads((CANVASES / name).read_text())
    expected = sum(n.get("takes", 1) for n in canvas["nodes"] if n["kind"] in ("image", "video", "audio"))
    assert len(manifest["takes"]) == expected
    assert manifest["jobs_without_take"] == []
    rerun = cli("run", str(CANVASES / name), "--out", str(tmp_path), "--draft")
    assert rerun.returncode == 0
    assert f"(0 new, {expected} cached, 0 failed)" in rerun.stderr  # an unchanged canvas is all cache hits


def test_paid_canvas_without_online_stops_before_any_request(tmp_path: Path) -> None:
    with FakeFal() as fal:
        proc = cli("run", str(CANVASES / "bakeoff-four-models.json"), "--out", str(tmp_path),
                   env={"FAL_KEY": DEFAULT_KEY, "BLENDER_CANVAS_FAL_URL": fal.base_url})
        assert proc.returncode == 2
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr
        assert fal.requests == []


def fal_canvas(tmp_path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (640, 360), (30, 90, 160)).save(tmp_path / "still.png")
    nodes: list[dict[str, Any]] = [{"id": "still", "kind": "reference", "path": "still.png"},
                                   {"id": "shot", "kind": "shot", "subject": "a runner", "camera": "slow pan"}]
    for node_id, variant in (("a", "3.0"), ("b", "o3")):
        nodes.append({"id": node_id, "kind": "video", "model": "kling-3", "variant": variant, "takes": 2,
                      "route": "fal", "inputs": {"image": "still", "shot": "shot"}})
    path = tmp_path / "canvas.json"
    path.write_text(json.dumps({"version": 1, "nodes": nodes}))
    return path


def test_sigkill_mid_run_loses_nothing_and_resubmits_nothing(tmp_path: Path) -> None:
    canvas = fal_canvas(tmp_path)
    out = tmp_path / "out"
    with FakeFal(latency_s=0.05) as fal:
        fal.hold = True
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FAL_KEY": DEFAULT_KEY,
               "BLENDER_CANVAS_FAL_URL": fal.base_url}
        first = subprocess.Popen([sys.executable, "-m", "blender_canvas", "run", str(canvas), "--out", str(out),
                                  "--online"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(fal.jobs) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(fal.jobs) == 4, first.stderr.read().decode() if first.poll() is not None else "no submits"
        time.sleep(0.3)  # let the remote ids reach the ledger (journalled the moment submit returns)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        submits = len(fal.requests_to("api", "POST"))
        fal.release_all()
        second = cli("run", str(canvas), "--out", str(out), "--online",
                     env={"FAL_KEY": DEFAULT_KEY, "BLENDER_CANVAS_FAL_URL": fal.base_url})
        assert second.returncode == 0, second.stderr[-3000:]
        assert "resuming 4 job(s)" in second.stderr
        assert len(fal.requests_to("api", "POST")) == submits == 4, "a job was submitted twice"
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["takes"]) == 4
    assert {t["remote_job_id"] for t in manifest["takes"]} == set(fal.jobs)
    for path in out.rglob("*"):
        if path.is_file():
            assert DEFAULT_KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"
    assert DEFAULT_KEY not in second.stderr + second.stdout
