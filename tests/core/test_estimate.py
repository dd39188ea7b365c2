"""One plan for price and run: `estimate` needs no key, names every missing key at once, and counts as "to submit"
exactly what `run` submits, chains of generated inputs included."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blender_canvas.engine.cost import Budget, BudgetExceeded
from blender_canvas.engine.document import Canvas
from blender_canvas.engine.planner import Plan
from blender_canvas.engine.session import Session
from blender_canvas.headless import estimate_table
from blender_canvas.providers.catalog import load_catalog
from tests.core.test_engine_fal import run
from tests.fakes.fal_server import DEFAULT_KEY, FakeFal

ROOT = Path(__file__).resolve().parents[2]
KEY_NAMES = {name for backend in load_catalog().backends for name in backend.env_keys}


def cli(*args: str, keys: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in KEY_NAMES}
    env.update(keys or {})
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120, check=False)


def rows(stdout: str) -> dict[str, list[str]]:
    """The estimate table's rows by node id (columns split on runs of two spaces)."""
    table = stdout.split("keys a run needs")[0].strip().splitlines()
    split = [re.split(r"\s{2,}", line.strip()) for line in table[1:]]
    return {cells[0]: cells for cells in split if cells and cells[0]}


MIXED: dict[str, Any] = {"version": 1, "defaults": {"seed": 5}, "nodes": [
    {"id": "portrait", "kind": "reference", "path": "portrait.png"},
    {"id": "hero", "kind": "image", "model": "flux", "inputs": {"images": ["portrait"]},
     "prompt": {"subject": "the courier"}},
    {"id": "wide", "kind": "video", "model": "seedance-2", "route": "byteplus", "takes": 2,
     "inputs": {"image": "hero"}, "prompt": {"subject": "the courier walks"}},
    {"id": "close", "kind": "video", "model": "kling-3", "route": "kling", "inputs": {"image": "hero"},
     "prompt": {"subject": "the courier smiles"}},
    {"id": "vo", "kind": "audio", "model": "elevenlabs", "text": "Delivered, whatever the weather."},
]}


def test_estimate_with_no_key_prices_every_node_and_names_every_missing_key(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (64, 64), (1, 2, 3)).save(tmp_path / "portrait.png")
    (tmp_path / "canvas.json").write_text(json.dumps(MIXED), encoding="utf-8")
    proc = cli("estimate", str(tmp_path / "canvas.json"))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    table = rows(proc.stdout)
    for node_id in ("hero", "wide", "close", "vo"):
        assert float(table[node_id][-1].lstrip("$")) > 0, table[node_id]
        assert "(no key; list price)" in table[node_id][2]
    assert table["wide"][2].startswith("byteplus") and table["close"][2].startswith("kling")
    assert table["hero"][2].startswith("bfl")  # FLUX.2 [pro]: the cheapest live route, named
    assert table["total"][-2] == "5"
    needed = proc.stdout.split("keys a run needs (by backend):")[1]
    for keys in ("ARK_API_KEY (BytePlus ModelArk) for wide", "KLING_ACCESS_KEY + KLING_SECRET_KEY (Kling AI) for close",
                 "BFL_API_KEY (Black Forest Labs) for hero", "ELEVENLABS_API_KEY (ElevenLabs) for vo"):
        assert keys in needed, needed
    # with one key, the node it serves is planned there and only the others are listed
    keyed = cli("estimate", str(tmp_path / "canvas.json"), keys={"ARK_API_KEY": "ark-test"})
    assert keyed.returncode == 0, keyed.stderr
    assert rows(keyed.stdout)["wide"][2] == "byteplus"
    assert "ARK_API_KEY" not in keyed.stdout.split("keys a run needs")[1]
    # run refuses before anything, in one line naming every key
    ran = cli("run", str(tmp_path / "canvas.json"), "--out", str(tmp_path / "out"), "--online")
    assert ran.returncode == 2, ran.stderr
    refusal = [line for line in ran.stderr.splitlines() if "no key for" in line]
    assert len(refusal) == 1 and all(k in refusal[0] for k in ("ARK_API_KEY", "KLING_ACCESS_KEY", "BFL_API_KEY",
                                                                  "ELEVENLABS_API_KEY"))
    assert "Traceback" not in ran.stderr


def test_estimate_of_a_node_no_route_can_run_says_why_and_refuses_in_one_line(tmp_path: Path) -> None:
    doc = {"version": 1, "nodes": [{"id": "s", "kind": "video", "model": "sora-2", "prompt": {"subject": "x"}}]}
    (tmp_path / "canvas.json").write_text(json.dumps(doc), encoding="utf-8")
    proc = cli("estimate", str(tmp_path / "canvas.json"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.strip().splitlines() if not line.startswith("warning:")]
    assert errors == ["error: 1 node(s) cannot run: s (see above)"]
    assert "node 's': Sora 2 has no live route" in proc.stdout and "draft mode" in proc.stdout


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(latency_s=0.02) as fake:
        monkeypatch.setenv("BLENDER_CANVAS_FAL_URL", fake.base_url)
        yield fake


CHAIN: dict[str, Any] = {"version": 1, "defaults": {"seed": 11}, "nodes": [
    # no route named: with FAL_KEY alone the still goes to fal; without any key it would be priced on Gemini
    {"id": "hero", "kind": "image", "model": "nano-banana-2", "prompt": {"subject": "a lighthouse at dusk"}},
    {"id": "move", "kind": "video", "model": "kling-3", "route": "fal", "inputs": {"image": "hero"},
     "prompt": {"subject": "the lighthouse", "camera": "slow push in"}},
    {"id": "again", "kind": "video", "model": "veo-3.1", "variant": "fast", "route": "fal", "duration_s": 4,
     "inputs": {"image": "hero"}, "prompt": {"subject": "waves below the lighthouse"}},
]}


def test_a_finished_chain_of_generated_inputs_estimates_zero_to_submit(fal: FakeFal, tmp_path: Path) -> None:
    doc = Canvas.model_validate(CHAIN)
    (tmp_path / "canvas.json").write_text(json.dumps(CHAIN), encoding="utf-8")
    session = Session(tmp_path / "p", keys={"FAL_KEY": DEFAULT_KEY})
    first: Plan = session.plan(doc, tmp_path)
    assert len(first.submits) == 3
    run(session, doc, tmp_path)
    submitted = len(fal.requests_to("api", "POST"))
    assert submitted == 3
    rerun = session.plan(doc, tmp_path)
    assert rerun.submits == [] and rerun.estimate_usd == 0
    # a free rerun is never refused by a budget built on the same numbers
    session.check(rerun, online=True, budget=Budget(run_usd=0.0))
    events = run(session, doc, tmp_path)
    assert len(fal.requests_to("api", "POST")) == submitted
    assert [e.kind for e in events].count("cached") == 3  # type: ignore[attr-defined]
    session.close()
    for keys in ({"FAL_KEY": "x"}, {}):  # with the key, and with none (the cached route is the one priced)
        proc = cli("estimate", str(tmp_path / "canvas.json"), "--out", str(tmp_path / "p"), keys=keys)
        assert proc.returncode == 0, proc.stderr
        table = rows(proc.stdout)
        assert table["total"][-2:] == ["0", "$0.00"], proc.stdout
        assert table["hero"][2].startswith("fal")
        assert "keys a run needs" not in proc.stdout  # nothing to submit needs no key


def test_a_changed_upstream_counts_its_whole_chain_as_to_submit(fal: FakeFal, tmp_path: Path) -> None:
    doc = Canvas.model_validate(CHAIN)
    session = Session(tmp_path / "p", keys={"FAL_KEY": DEFAULT_KEY})
    run(session, doc, tmp_path)
    changed = doc.model_copy(deep=True)
    changed.node("hero").prompt.subject = "a lighthouse at dawn"  # type: ignore[union-attr]
    plan = session.plan(changed, tmp_path)
    assert sorted(j.node_id for j in plan.submits) == ["again", "hero", "move"]
    with pytest.raises(BudgetExceeded):
        session.check(plan, online=True, budget=Budget(run_usd=0.01))
    before = len(fal.requests_to("api", "POST"))
    run(session, changed, tmp_path)
    # the new still is submitted; what it feeds can only be known once it lands (the fake fal answers every still
    # with the same bytes, so here the videos turn out cached): the estimate is an upper bound, never short
    submitted = [r.path for r in fal.requests_to("api", "POST")[before:]]
    assert submitted[0] == "/fal-ai/nano-banana-2" and len(submitted) <= len(plan.submits)
    session.close()


def test_a_draft_chain_rerun_is_all_cached(tmp_path: Path) -> None:
    doc = Canvas.model_validate({**CHAIN, "draft": True})
    session = Session(tmp_path / "p", keys={})
    run(session, doc, tmp_path, timeout=120)
    rerun = session.plan(doc, tmp_path)
    assert rerun.submits == [], [j.node_id for j in rerun.submits]
    events = run(session, doc, tmp_path)
    assert [e.kind for e in events].count("cached") == len(rerun.jobs)  # type: ignore[attr-defined]
    assert [e.kind for e in events].count("landed") == 0  # type: ignore[attr-defined]
    session.close()


def test_the_table_names_a_route_chosen_without_a_key(tmp_path: Path) -> None:
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "v", "kind": "video", "model": "veo-3.1", "variant": "fast", "prompt": {"subject": "x"}}]})
    session = Session(tmp_path / "p", keys={})
    plan = session.plan(doc, tmp_path)
    session.close()
    table = estimate_table(plan)
    assert "(no key; list price)" in table and "keys a run needs (by backend):" in table
    assert plan.missing_keys and plan.missing_keys[0].alternatives  # other backends that could serve it
