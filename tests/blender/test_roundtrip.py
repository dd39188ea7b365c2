"""Canvas JSON -> node tree -> canvas JSON, in one process and across a save and a reopen in a fresh one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import pytest

from blender_canvas.engine.validation import load_canvas
from blender_canvas.operators.canvas_io import CanvasFileError, export_canvas_file, import_canvas_file
from blender_canvas.providers.catalog import InputName, load_catalog
from tests.blender.helpers import CANVASES, run_blender_script


def canonical(data: dict[str, Any], base_dir: Path | None = None) -> dict[str, Any]:
    report = load_canvas(data, load_catalog(), base_dir)
    assert report.canvas is not None and not report.errors, [str(p) for p in report.errors]
    return report.canvas.to_json_data()


def without_positions(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "nodes": [{k: v for k, v in n.items() if k != "position"} for n in data["nodes"]]}


def every_model_canvas() -> dict[str, Any]:
    """A canvas that uses every node kind and every variant of every catalog model, with every option set."""
    nodes: list[dict[str, Any]] = [
        {"id": "still", "kind": "reference", "path": "media/still.png", "label": "Hero still", "position": [0, 0]},
        {"id": "clip", "kind": "reference", "path": "media/clip.mp4", "position": [0, -300]},
        {"id": "sound", "kind": "reference", "path": "media/voice.wav", "position": [0, -600]},
        {"id": "shot", "kind": "shot", "subject": "a runner", "action": "jogs left to right",
         "camera": "slow pan", "lens": "24mm", "lighting": "golden hour", "atmosphere": "dust in the light",
         "seed": 4242, "aspect_ratio": "16:9", "duration_s": 5, "position": [0, -900]},
    ]
    catalog = load_catalog()
    column = 1
    for model in catalog.models:
        for row, variant in enumerate(model.variants):
            node_id = f"{model.id}.{variant.id}".replace(" ", "_")
            node: dict[str, Any] = {"id": node_id, "kind": model.kind.value, "model": model.id,
                                    "variant": variant.id, "takes": 1 + row % 3,
                                    "position": [column * 400.0, row * -320.5]}
            live = variant.live_routes
            if live and row % 2 == 0:
                node["route"] = live[-1].backend
            routes = [node.get("route")] if node.get("route") else [r.backend for r in live or variant.routes]
            if any(variant.seed_on(b) for b in routes):
                node["seed"] = 7 + row
            inputs: dict[str, Any] = {}
            for spec in variant.inputs:
                source = {InputName.IMAGE: "still", InputName.LAST_FRAME: "still", InputName.AUDIO: "sound",
                          InputName.VIDEO: "clip", InputName.SHOT: "shot"}.get(spec.name)
                if spec.name == InputName.IMAGES:
                    # as many as the variant takes, and no more than the node's own route takes
                    limit = variant.route(node["route"]).max_inputs.get("images", spec.max_items) \
                        if node.get("route") else spec.max_items  # type: ignore[union-attr]
                    if limit:
                        inputs["images"] = ["still", "still"][: min(spec.max_items, limit)]
                elif source:
                    inputs[spec.name.value] = source
            if inputs:
                node["inputs"] = inputs
            if model.kind.value == "audio":
                node["text"] = f"Line for {variant.label}."
                node["voice"] = "JBFqnCBsd6RMkjVDRZzb"
            else:
                if variant.text_prompt:
                    node["prompt"] = {"subject": f"subject for {node_id}", "lighting": "soft"}
                if variant.aspect_ratios:
                    node["aspect_ratio"] = variant.aspect_ratios[-1]
                if variant.resolutions:
                    node["resolution"] = variant.resolutions[-1]
            if model.kind.value == "video" and variant.durations and not variant.duration_from:
                node["duration_s"] = variant.durations[-1]
                node["audio"] = row % 2 == 1
            nodes.append(node)
        column += 1
    nodes.append({
        "id": "cut", "kind": "sequence", "label": "Final cut", "position": [column * 400.0, 0],
        "shots": ["kling-3.3.0", {"node": "veo-3.1.standard", "trim_in_s": 0.5, "trim_out_s": 1.25,
                                  "crossfade_frames": 12}, "clip"],
        "audio": [{"node": "elevenlabs.v3", "under": "kling-3.3.0", "volume": 0.8},
                  {"node": "sound", "at_s": 3.5}],
        "end_card": {"text": "BRAND", "image": "media/still.png", "seconds": 2.5, "background": [0.1, 0.2, 0.3]},
        "grade": {"lift": [0.98, 0.98, 1.0], "gamma": [1.0, 1.1, 1.0], "gain": [1.05, 1.0, 0.95],
                  "saturation": 1.1, "contrast": 1.05, "white_balance": [0.95, 1.0, 1.02], "curves": "filmic"},
        "fps": 30,
    })
    return {"version": 1, "title": "Every model", "draft": True, "budget_usd": 12.5,
            "defaults": {"aspect_ratio": "16:9", "seed": 99, "fps": 25, "resolution": None}, "nodes": nodes}


@pytest.fixture
def every_model_file(tmp_path: Path) -> Path:
    media = tmp_path / "media"
    media.mkdir()
    # media files are checked by their content: the first bytes of a PNG, an MP4 and a WAV
    heads = {"still.png": b"\x89PNG\r\n\x1a\n", "clip.mp4": b"\x00\x00\x00\x18ftypisom",
             "voice.wav": b"RIFF\x24\x00\x00\x00WAVEfmt "}
    for name, head in heads.items():
        (media / name).write_bytes(head + bytes(32))
    path = tmp_path / "every-model.json"
    path.write_text(json.dumps(every_model_canvas()), encoding="utf-8")
    return path


def test_every_model_canvas_is_valid_and_complete(every_model_file: Path) -> None:
    data = json.loads(every_model_file.read_text())
    report = load_canvas(data, load_catalog(), every_model_file.parent)
    assert not report.errors, [str(p) for p in report.errors]
    used = {(n["model"], n["variant"]) for n in data["nodes"] if "model" in n}
    every = {(m.id, v.id) for m in load_catalog().models for v in m.variants}
    assert used == every
    assert {n["kind"] for n in data["nodes"]} == {"reference", "shot", "image", "video", "audio", "sequence"}


def test_json_tree_json_round_trip_is_exact(every_model_file: Path, tmp_path: Path) -> None:
    expected = canonical(json.loads(every_model_file.read_text()), every_model_file.parent)
    tree, _ = import_canvas_file(every_model_file)
    assert len(tree.nodes) == len(expected["nodes"])
    out = tmp_path / "exported.json"
    export_canvas_file(tree, out)
    assert json.loads(out.read_text()) == expected


@pytest.mark.parametrize("name", sorted(p.name for p in CANVASES.glob("*.json")))
def test_shared_canvases_round_trip(name: str, tmp_path: Path) -> None:
    source = CANVASES / name
    expected = canonical(json.loads(source.read_text()), source.parent)
    tree, _ = import_canvas_file(source)
    out = CANVASES / f".roundtrip-{tmp_path.name}.json"  # beside the source, so relative paths compare equal
    try:
        export_canvas_file(tree, out)
        exported = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    assert all(len(n["position"]) == 2 for n in exported["nodes"])  # the importer laid the nodes out
    assert without_positions(exported) == expected


REOPEN_SCRIPT = """
import json, sys
from pathlib import Path
import bpy
import blender_canvas
blender_canvas.register()
from blender_canvas.operators.canvas_io import export_canvas_file
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
tree = bpy.data.node_groups[sys.argv[2]]
out = Path(sys.argv[3])
export_canvas_file(tree, out)
node = tree.nodes["kling-3.3.0"]
print("RESULT " + json.dumps({"exported": json.loads(out.read_text()), "model_id": node.model_id,
                              "ref_path": tree.nodes["still"].filepath}))
blender_canvas.unregister()
"""


def test_saved_blend_reopens_in_a_fresh_process(every_model_file: Path, tmp_path: Path) -> None:
    expected = canonical(json.loads(every_model_file.read_text()), every_model_file.parent)
    blend = tmp_path / "canvas.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))  # saved first, so media paths become '//' relative
    tree, _ = import_canvas_file(every_model_file)
    assert tree.nodes["still"].filepath == "//media/still.png"
    bpy.ops.wm.save_as_mainfile(filepath=str(blend))
    result = run_blender_script(REOPEN_SCRIPT, str(blend), tree.name, str(tmp_path / "reopened.json"))
    assert result["model_id"] == "kling-3"
    assert result["ref_path"] == "//media/still.png"
    assert result["exported"] == expected


def test_invalid_canvas_imports_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "nodes": [
        {"id": "v", "kind": "video", "model": "kling-3", "duration_s": 20, "inputs": {"image": "nowhere"}},
        {"id": "a", "kind": "video", "model": "kling-avatar", "inputs": {"image": "v"}},
    ]}))
    before = len(bpy.data.node_groups)
    with pytest.raises(CanvasFileError) as caught:
        import_canvas_file(bad)
    assert len(bpy.data.node_groups) == before
    message = str(caught.value)
    assert "node 'v', inputs.image: no node has the id 'nowhere'" in message
    assert "node 'a', inputs.audio: Kling Avatar (std) needs" in message
    assert "node 'v', duration_s: Kling 3.0 (std) does not allow 20 s; allowed: 3–15 s" in message
    assert "node 'a', inputs.image: 'v' gives a video, but the 'image' input takes an image" in message
    assert caught.value.report is not None and len(caught.value.report.errors) == 4


def test_import_operator_headless() -> None:
    result = bpy.ops.canvas.import_json(filepath=str(CANVASES / "product-ad-vertical.json"))
    assert result == {"FINISHED"}
    tree = bpy.data.node_groups["product-ad-vertical"]
    assert tree.bl_idname == "BlenderCanvasTree"
    assert tree.nodes["hero"].model_id == "seedance-2"
    assert tree.nodes["hero"].variant_id == "pro"
    assert [link.from_node.name for link in tree.nodes["closer"].inputs["Audio"].links] == ["line"]


def test_import_operator_reports_a_missing_file_without_traceback() -> None:
    with pytest.raises(RuntimeError, match="no such file"):
        bpy.ops.canvas.import_json(filepath="/nonexistent/canvas.json")
