"""The command line, run as a user runs it: ``python -m blender_canvas ...`` in a fresh process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blender_canvas.engine.document import NODE_KINDS, NODE_TYPES
from blender_canvas.providers.catalog import Catalog, load_catalog

ROOT = Path(__file__).resolve().parents[2]
SEED_MODEL_IDS = (
    "nano-banana-2", "gpt-image-2", "flux", "imagen-4", "sora-2", "kling-3", "kling-avatar", "kling-lipsync",
    "seedance-2", "veo-3.1", "runway-aleph", "runway-gen-4.5", "elevenlabs", "fish-audio",
    "preview-image", "preview-video", "preview-voice",
)


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120, check=False)


@pytest.fixture(scope="module")
def models_json() -> dict[str, Any]:
    proc = run_cli("models", "--json")
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def test_models_json_lists_every_seed_model(models_json: dict[str, Any]) -> None:
    by_id = {m["id"]: m for m in models_json["models"]}
    for model_id in SEED_MODEL_IDS:
        assert model_id in by_id, model_id
        model = by_id[model_id]
        assert model["kind"] in ("image", "video", "audio")
        assert model["variants"], model_id
        for variant in model["variants"]:
            assert variant["lifecycle"]["status"] in ("active", "deprecated", "retired")
            assert variant["routes"], f"{model_id}/{variant['id']}"
            for route in variant["routes"]:
                assert route["backend"] and route["model_id"]
                assert route["lifecycle"]["status"] in ("active", "deprecated", "retired")


def test_models_json_shows_retirements(models_json: dict[str, Any]) -> None:
    by_id = {m["id"]: m for m in models_json["models"]}
    sora_routes = [r for v in by_id["sora-2"]["variants"] for r in v["routes"]]
    assert sora_routes and all(r["lifecycle"]["status"] == "retired" for r in sora_routes)
    assert all(r["lifecycle"]["since"] == "2026-09-24" for r in sora_routes)
    aleph = by_id["runway-aleph"]["variants"][0]["routes"]
    assert [r["model_id"] for r in aleph] == ["aleph2"]
    assert {b["id"] for b in models_json["backends"]} >= {"preview", "fal", "openai", "gemini", "vertex", "kling"}


def test_models_json_matches_the_catalog(models_json: dict[str, Any], catalog: Catalog) -> None:
    assert [m["id"] for m in models_json["models"]] == catalog.model_ids


def test_models_table() -> None:
    proc = run_cli("models")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["model", "variant", "name", "kind", "status"]
    assert "routes" in lines[0] and "durations" in lines[0]
    assert set(lines[1].replace(" ", "")) == {"-"}  # the rule under the header
    rows = [line.split() for line in lines[2:] if line.strip() and not line.startswith("*")]
    listed = {row[0] for row in rows}
    assert set(SEED_MODEL_IDS) <= listed
    sora = [line for line in lines if line.startswith("sora-2 ")]
    assert len(sora) == 2 and all("retired 2026-09-24" in line for line in sora)
    kling = next(line for line in lines if line.startswith("kling-3 ") and " 3.0 " in line)
    assert "3–15 s" in kling and "Kling 3.0 (std) (default)" in kling  # the name a person knows, by its ids
    (hint,) = [line for line in lines if line.startswith("In a canvas, type the model and variant ids: ")]
    example = json.loads(hint[hint.index("{"):hint.index("}") + 1])
    model = next(m for m in load_catalog().models if m.id == example["model"])
    assert model.variant(example["variant"]) is not None and model.kind.value == example["kind"]
    assert any(line.startswith("* price from a secondary") for line in lines)
    assert proc.stderr == ""


def test_schema_is_json_schema_with_every_node_kind() -> None:
    proc = run_cli("schema")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert {"version", "defaults", "nodes"} <= set(schema["properties"])
    defs = schema["$defs"]
    for kind, node_type in NODE_TYPES.items():
        name = node_type.__name__
        assert name in defs, f"$defs lacks {name} (kind {kind})"
        assert defs[name]["properties"]["kind"]["const"] == kind
        assert defs[name]["additionalProperties"] is False
    items = schema["properties"]["nodes"]["items"]
    assert items["discriminator"]["propertyName"] == "kind"
    assert set(items["discriminator"]["mapping"]) == set(NODE_KINDS)

    def refs(value: Any) -> list[str]:
        if isinstance(value, dict):
            return [v for k, v in value.items() if k == "$ref"] + [r for v in value.values() for r in refs(v)]
        if isinstance(value, list):
            return [r for v in value for r in refs(v)]
        return []

    found = refs(schema)
    assert found
    for ref in found:  # every reference resolves inside the document
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs, ref


def test_validate_good_canvas(canvas_dir: Path) -> None:
    proc = run_cli("validate", str(canvas_dir / "spokesperson-composited.json"))
    assert proc.returncode == 0, proc.stderr
    assert "valid (7 nodes, 0 warning(s))" in proc.stdout
    assert proc.stderr == ""


def test_validate_canvas_with_warnings_still_passes(canvas_dir: Path) -> None:
    proc = run_cli("validate", str(canvas_dir / "bakeoff-four-models.json"))
    assert proc.returncode == 0, proc.stderr
    assert "warning: node 'sora', model: Sora 2 was retired on 2026-09-24" in proc.stdout
    assert "2 warning(s)" in proc.stdout


def test_validate_bad_canvas(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"nodes": [
        {"id": "v", "kind": "video", "model": "kling-3", "duration_s": 20, "prompt": {"subject": "x"}},
        {"id": "w", "kind": "painting"}]}), encoding="utf-8")
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2
    assert "error: node 'v', duration_s: Kling 3.0 (std) does not allow 20 s; allowed: 3–15 s" in proc.stderr
    assert "error: node 'w', kind: is not a node kind" in proc.stderr
    assert f"{path}: 2 error(s), 0 warning(s)" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_validate_reports_missing_asset(tmp_path: Path, canvas_dir: Path) -> None:
    shutil.copy(canvas_dir / "spokesperson-in-place.json", tmp_path / "canvas.json")  # without assets/
    proc = run_cli("validate", str(tmp_path / "canvas.json"))
    assert proc.returncode == 2
    assert f"end_card.image: no file at {tmp_path / 'assets' / 'logo.png'}" in proc.stderr
    assert "Traceback" not in proc.stderr


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_validate_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    assert one_line_error(run_cli("validate", str(path))) == f"error: {path}: no such file"


def test_validate_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"nodes": [\n', encoding="utf-8")
    assert one_line_error(run_cli("validate", str(path))) == (
        f"error: {path}: not valid JSON at line 2, column 1: Expecting value")


def test_validate_a_directory(tmp_path: Path) -> None:
    assert one_line_error(run_cli("validate", str(tmp_path))).startswith(f"error: {tmp_path}: cannot read it")


def test_validate_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"title": "caf\xe9"}')
    assert one_line_error(run_cli("validate", str(path))).startswith(f"error: {path}: cannot read it")


def test_validate_json_that_is_not_a_canvas(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("[1, 2]", encoding="utf-8")
    proc = run_cli("validate", str(path))
    assert proc.returncode == 2
    assert "error: canvas, (document): is not a JSON object" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_no_command_is_a_usage_error() -> None:
    proc = run_cli()
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "Traceback" not in proc.stderr


def test_core_imports_without_blender() -> None:
    """The command line and the core never pull in bpy (design: providers/ and engine/ are bpy-free)."""
    code = ("import sys, blender_canvas, blender_canvas.cli, blender_canvas.engine.validation, "
            "blender_canvas.engine.settings, blender_canvas.providers.catalog; "
            "blender_canvas.cli.build_parser(); print(sorted(m for m in sys.modules if m.split('.')[0] == 'bpy'))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_check_reports_an_accepted_and_a_refused_key_against_the_vendors_fake() -> None:
    from tests.fakes.runway_server import DEFAULT_KEY, FakeRunway

    with FakeRunway() as fake:
        env = {"RUNWAYML_API_SECRET": DEFAULT_KEY, "BLENDER_CANVAS_RUNWAY_URL": fake.base_url}
        good = run_cli_env(env, "check", "runway")
        assert good.returncode == 0, good.stdout + good.stderr
        assert good.stdout.startswith("ok     runway:") and "GET /v1/organization" in good.stdout
        bad = run_cli_env({**env, "RUNWAYML_API_SECRET": "key_wrong_marker_123"}, "check", "runway")
        assert bad.returncode == 1 and bad.stdout.startswith("FAILED runway:")
        assert "RUNWAYML_API_SECRET" in bad.stdout and "key_wrong_marker_123" not in bad.stdout + bad.stderr
        assert len(fake.requests_to("api", "GET", "/v1/organization")) == 2


def test_check_names_an_unknown_backend_and_the_keys_it_would_need() -> None:
    proc = run_cli_env({}, "check", "nope")
    assert proc.returncode == 2 and "no backend named nope; backends: preview, fal," in proc.stderr
    proc = run_cli_env({}, "check", "kling")
    assert proc.returncode == 1 and "KLING_ACCESS_KEY and KLING_SECRET_KEY" in proc.stdout


def run_cli_env(extra: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    names = ("FAL_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "KLING_ACCESS_KEY", "KLING_SECRET_KEY", "ARK_API_KEY",
             "RUNWAYML_API_SECRET", "BFL_API_KEY", "ELEVENLABS_API_KEY", "FISH_API_KEY", "REPLICATE_API_TOKEN")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update({"PYTHONPATH": str(ROOT), **extra})
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120, check=False)


def test_bakeoff_command_wires_a_controlled_bakeoff_and_flags_what_it_cannot_control(tmp_path: Path) -> None:
    data = json.loads((ROOT / "tests" / "canvases" / "bakeoff-four-models.json").read_text())
    data["nodes"] = [n for n in data["nodes"] if n["kind"] in ("image", "shot")]
    source = tmp_path / "base.json"
    source.write_text(json.dumps(data))
    out = tmp_path / "built.json"
    proc = run_cli("bakeoff", str(source), "--image", "ref", "--shot", "shot", "--entrant", "kling-3/o3",
                   "--entrant", "veo-3.1", "--entrant", "seedance-2/pro", "--duration", "5", "--takes", "2",
                   "--brief", "hands and faces", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "flag: veo-3.1-standard: Veo 3.1 cannot run 5 s (allows 4, 6 or 8 s); it runs 4 s" in proc.stdout
    built = json.loads(out.read_text())
    assert built["bakeoff"]["entrants"] == ["kling-3-o3", "veo-3.1-standard", "seedance-2-pro"]
    assert built["bakeoff"]["brief"] == "hands and faces" and built["bakeoff"]["takes"] == 2
    assert run_cli("validate", str(out)).returncode == 0
    bad = run_cli("bakeoff", str(source), "--image", "shot", "--shot", "shot", "--entrant", "kling-3",
                  "--entrant", "veo-3.1", "--out", str(tmp_path / "x.json"))
    assert bad.returncode == 2 and "image: 'shot' is not an image or reference-still node; allowed: ref" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "x.json").exists()
