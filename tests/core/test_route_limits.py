"""Route-level limits from the vendors' SDKs: a route that cannot take a node's inputs is never chosen, and an
explicit one is refused before anything is submitted, naming the routes that would serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from blender_canvas.engine.ledger import Ledger
from blender_canvas.engine.planner import PlanError, plan_run
from blender_canvas.engine.validation import load_canvas
from blender_canvas.providers.catalog import load_catalog
from blender_canvas.providers.registry import IMPLEMENTED

CATALOG = load_catalog()


def canvas(*nodes: dict[str, Any]) -> dict[str, Any]:
    refs = [{"id": "a", "kind": "reference", "path": "a.png"}, {"id": "b", "kind": "reference", "path": "b.png"}]
    return {"version": 1, "nodes": [*refs, *nodes]}


def problems(data: dict[str, Any]) -> list[str]:
    return [str(p) for p in load_canvas(data, CATALOG).errors]


def test_replicate_kontext_takes_one_image_and_the_error_names_the_routes_that_take_two() -> None:
    node = {"id": "k", "kind": "image", "model": "flux", "variant": "kontext-pro", "route": "replicate",
            "inputs": {"images": ["a", "b"]}}
    assert problems(canvas(node)) == [
        "error: node 'k', route: FLUX.1 Kontext [pro]: replicate takes at most 1 'images' input here, 2 wired; "
        "allowed: bfl"]
    node["inputs"] = {"images": ["a"]}
    assert problems(canvas(node)) == []


def test_veo_on_runway_takes_no_reference_images() -> None:
    node = {"id": "v", "kind": "video", "model": "veo-3.1", "route": "runway", "inputs": {"images": ["a"]}}
    assert any("runway takes no 'images' inputs here, 1 wired; allowed: vertex or fal" in p
               for p in problems(canvas(node)))


def test_gen45_from_text_offers_only_16_9_and_9_16_but_any_ratio_from_a_first_frame() -> None:
    text_only = {"id": "g", "kind": "video", "model": "runway-gen-4.5", "aspect_ratio": "1:1",
                 "prompt": {"subject": "a kite"}}
    assert any("runway makes 1:1 only from a first frame; from text alone it offers 16:9 or 9:16" in p
               for p in problems(canvas(text_only)))
    with_frame = {**text_only, "inputs": {"image": "a"}}
    assert problems(canvas(with_frame)) == []


def test_automatic_routing_skips_a_route_that_cannot_take_the_inputs(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    node = {"id": "k", "kind": "image", "model": "flux", "variant": "kontext-pro", "inputs": {"images": ["a", "b"]}}
    report = load_canvas(canvas(node), CATALOG)
    assert report.canvas is not None
    ledger = Ledger(tmp_path / "p" / "ledger.sqlite")
    # only a Replicate key: the one route that could take two images is named, Replicate is never tried
    unkeyed = plan_run(report.canvas, CATALOG, ledger, base_dir=tmp_path, keys={"REPLICATE_API_TOKEN": "r8_x"},
                       implemented=IMPLEMENTED)
    assert [m.backend for m in unkeyed.missing_keys] == ["bfl"]
    with pytest.raises(PlanError, match=r"node 'k': no key for FLUX.1 Kontext \[pro\]: set BFL_API_KEY "
                                        r"\(Black Forest Labs\) for k"):
        unkeyed.require_runnable()
    plan = plan_run(report.canvas, CATALOG, ledger, base_dir=tmp_path, implemented=IMPLEMENTED,
                    keys={"REPLICATE_API_TOKEN": "r8_x", "BFL_API_KEY": "bfl_x"})
    assert {j.backend for j in plan.jobs} == {"bfl"}
    # the node names Replicate itself: refused before any submit, saying why
    pinned = report.canvas.model_copy(deep=True)
    pinned.nodes[2].route = "replicate"  # type: ignore[union-attr]
    with pytest.raises(PlanError, match="replicate takes at most 1 'images' input here, 2 wired"):
        plan_run(pinned, CATALOG, ledger, base_dir=tmp_path, keys={"REPLICATE_API_TOKEN": "r8_x"},
                 implemented=IMPLEMENTED).require_runnable()


def test_kling_lipsync_goes_through_fal_because_kling_cannot_take_a_video_file() -> None:
    nodes = [{"id": "clip", "kind": "reference", "path": "clip.mp4"},
             {"id": "vo", "kind": "reference", "path": "v.wav"},
             {"id": "sync", "kind": "video", "model": "kling-lipsync", "route": "kling",
              "inputs": {"video": "clip", "audio": "vo"}}]
    errors = problems({"version": 1, "nodes": nodes})
    assert errors == ["error: node 'sync', route: Kling Lip-Sync (audio to video): kling cannot send the wired video "
                      "from a file (its API takes a public URL or the id of a video it made itself); allowed: fal"]
    del nodes[2]["route"]
    assert problems({"version": 1, "nodes": nodes}) == []
