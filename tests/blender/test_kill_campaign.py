"""The kill campaign: a 4 x 3 fan-out on fal and Kling run headless in a subprocess, SIGKILLed again and again (at
start-up, inside the submit burst, while polling, while downloading, during the final writes), then rerun until it
finishes. Nothing paid may be lost or sent twice. Run it alone with ``pytest -m kill_campaign``.

The fakes run in this process, so what they count survives every kill. A take is identified at the vendor by the
remote id its ledger row records; a fal job no landed take claims is the vendor's copy of a job cut off mid-submit
(``unknown``, at most one per such job) or else a duplicate. Kling's creates carry our job id (``external_task_id``),
so a Kling submit cut off mid-flight is found again and none may end ``unknown``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.blender.helpers import ROOT
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal
from tests.fakes.kling_server import ACCESS_KEY, SECRET_KEY, FakeKling

pytestmark = pytest.mark.kill_campaign

NODES = (("fal_std", "3.0", "fal"), ("fal_o3", "o3", "fal"), ("kling_pro", "3.0-pro", "kling"),
         ("kling_o3", "o3-pro", "kling"))
TAKES = 3


def campaign_canvas(folder: Path) -> Path:
    Image.new("RGB", (640, 360), (30, 90, 160)).save(folder / "still.png")
    nodes: list[dict[str, Any]] = [{"id": "still", "kind": "reference", "path": "still.png"},
                                   {"id": "shot", "kind": "shot", "subject": "a runner", "camera": "slow pan"}]
    nodes += [{"id": node_id, "kind": "video", "model": "kling-3", "variant": variant, "takes": TAKES, "route": route,
               "duration_s": 5, "inputs": {"image": "still", "shot": "shot"}} for node_id, variant, route in NODES]
    path = folder / "canvas.json"
    path.write_text(json.dumps({"version": 1, "defaults": {"seed": 5}, "nodes": nodes}))
    return path


class Campaign:
    def __init__(self, folder: Path, fal: FakeFal, kling: FakeKling) -> None:
        self.canvas = campaign_canvas(folder)
        self.out = folder / "out"
        self.fal, self.kling = fal, kling
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "FAL_KEY": DEFAULT_KEY, "KLING_ACCESS_KEY": ACCESS_KEY,
                    "KLING_SECRET_KEY": SECRET_KEY, "BLENDER_CANVAS_FAL_URL": fal.base_url,
                    "BLENDER_CANVAS_KLING_URL": kling.base_url}
        self.kill_points: list[str] = []

    def creates(self) -> int:
        return len(self.fal.jobs) + self.kling.submits

    def downloads(self) -> int:
        return len(self.fal.requests_to("cdn", "GET")) + len(self.kling.requests_to("cdn", "GET"))

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "blender_canvas", "run", str(self.canvas), "--out",
                                 str(self.out), "--online", *extra], env=self.env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill_when(self, proc: subprocess.Popen[bytes], condition: Callable[[], bool], label: str,
                  limit_s: float = 60) -> bool:
        """SIGKILL ``proc`` as soon as ``condition`` holds; False when the run ended first."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if condition():
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                self.kill_points.append(label)
                return True
            time.sleep(0.002)
        proc.kill()
        proc.wait(timeout=30)
        raise AssertionError(f"the run neither ended nor reached {label}")

    def finish(self, *extra: str) -> tuple[int, str]:
        proc = self.start(*extra)
        _, err = proc.communicate(timeout=300)
        return proc.returncode, err.decode(errors="replace")


def ledger_rows(out: Path, sql: str) -> list[Any]:
    db = sqlite3.connect(out / "ledger.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def one_round(campaign: Campaign, rng: random.Random, point: str) -> None:
    proc = campaign.start()
    creates, downloads = campaign.creates(), campaign.downloads()
    started = time.monotonic()
    if point == "burst":  # inside the submit burst
        k = rng.randint(1, 11)
        campaign.kill_when(proc, lambda: campaign.creates() >= creates + k, f"submit burst +{k}")
    elif point == "start-up":  # start-up, planning, resume
        pause = rng.uniform(0.2, 2.0)
        campaign.kill_when(proc, lambda: time.monotonic() - started > pause, f"start-up {pause:.1f} s")
    elif point == "download":  # a download under way
        campaign.kill_when(proc, lambda: campaign.downloads() > downloads, "mid-download")
    else:  # polling, landing, the final writes
        pause = rng.uniform(0.5, 4.0)
        campaign.kill_when(proc, lambda: time.monotonic() - started > pause, f"late {pause:.1f} s")
    if proc.returncode != -signal.SIGKILL:
        tail = proc.stderr.read().decode(errors="replace")[-600:] if proc.stderr else ""
        assert proc.returncode in (0, 3), f"exit {proc.returncode}: {tail}"
        campaign.kill_points.append(f"({point}: ended first)")


@pytest.mark.parametrize("project", range(4))
def test_kill_campaign_loses_nothing_and_submits_nothing_twice(tmp_path: Path, project: int) -> None:
    rng = random.Random(project)
    schedule = ["burst", "start-up", "download", "late", "burst" if project % 2 else "start-up"]
    with FakeFal(latency_s=1.5) as fal, FakeKling(latency_s=0.0) as kling:
        campaign = Campaign(tmp_path, fal, kling)
        for fake in (fal, kling):  # a client killed mid-request is the point here, not a fault of the fake
            for server in fake._servers:
                server.handle_error = lambda *_args: None  # type: ignore[method-assign]
        for point in schedule:
            one_round(campaign, rng, point)
        code, err = campaign.finish()
        assert code in (0, 3), err[-3000:]
        assert "Traceback" not in err

        # what the vendors hold against what the ledger says
        out = campaign.out
        assert ledger_rows(out, "PRAGMA integrity_check") == [("ok",)]
        assert not list(out.rglob("*.part")), "a partial download was left behind"
        jobs = ledger_rows(out, "SELECT node_id, take_index, state, backend, remote_id FROM jobs")
        landed = {(n, i): r for n, i, s, _b, r in jobs if s == "landed"}
        unknown = [(n, i, b) for n, i, s, b, _r in jobs if s == "unknown"]
        wanted = {(n, i) for n, _v, _r in NODES for i in range(TAKES)}
        assert set(landed) | {(n, i) for n, i, _b in unknown} == wanted, "a take was lost"
        assert not set(landed) & {(n, i) for n, i, _b in unknown}
        assert all(b == "fal" for _n, _i, b in unknown), "Kling offers a lookup: nothing there may stay unknown"
        claimed = set(landed.values())
        fal_orphans = [rid for rid in fal.jobs if rid not in claimed]
        kling_ids = [t.body.get("external_task_id") for t in kling.tasks.values()]
        duplicates = max(0, len(fal_orphans) - len(unknown)) + (len(kling_ids) - len(set(kling_ids)))
        duplicates += sum(1 for t in kling.tasks if t not in claimed)
        kills = [k for k in campaign.kill_points if "ended first" not in k]
        print(f"\nkill campaign {project}: {len(kills)} kills ({', '.join(campaign.kill_points)}); "
              f"{campaign.creates()} creates for {len(wanted)} takes; {len(landed)} landed, {len(unknown)} unknown; "
              f"{len(fal_orphans)} fal job(s) no take claims; duplicates {duplicates}")
        assert duplicates == 0
        assert len(kills) >= 3, campaign.kill_points  # the campaign really cut runs short
        assert (code == 3) == bool(unknown)
        assert len(list((out / "takes").rglob("*.mp4"))) == len(landed)

        # the user's decision: send every unknown job again, exactly once each
        creates_before = campaign.creates()
        code, err = campaign.finish("--resubmit-unknown")
        assert code == 0, err[-3000:]
        assert campaign.creates() - creates_before == len(unknown)
        if unknown:
            assert "may still be billed" in err
        jobs = ledger_rows(out, "SELECT node_id, take_index FROM jobs WHERE state = 'landed'")
        assert set(jobs) == wanted and len(jobs) == len(wanted)
        code, err = campaign.finish()  # and a rerun after that is all cache
        assert code == 0 and campaign.creates() - creates_before == len(unknown)
