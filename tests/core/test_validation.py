"""Canvas validation: one test per kind of mistake, each asserting the exact message a user reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blender_canvas.engine.document import Canvas, Inputs, ReferenceNode, VideoNode
from blender_canvas.engine.validation import Problem, Report, check_canvas, load_canvas
from blender_canvas.providers.catalog import Catalog

CANVAS_NAMES = (  # the five production-workflow canvases (shared/canvases)
    "spokesperson-in-place.json",
    "spokesperson-composited.json",
    "character-through-scene.json",
    "product-ad-vertical.json",
    "bakeoff-four-models.json",
)

SORA_RETIRED = ("warning: node 'v', model: Sora 2 was retired on 2026-09-24 (OpenAI shut the Sora video API down "
                "on 2026-09-24); it runs only in draft mode; allowed: no live route; pick another model for a paid "
                "render")
NODE_KINDS = "reference, shot, image, video, audio or sequence"
VIDEO_MODELS = ("sora-2, kling-3, kling-avatar, kling-lipsync, seedance-2, veo-3.1, runway-aleph, runway-gen-4.5 "
                "or preview-video")
IMAGE_MODELS = "nano-banana-2, gpt-image-2, flux, imagen-4 or preview-image"


def video(**fields: Any) -> dict[str, Any]:
    return {"id": "v", "kind": "video", "prompt": {"subject": "a runner"}, **fields}


def image(**fields: Any) -> dict[str, Any]:
    return {"id": "i", "kind": "image", "prompt": {"subject": "a still life"}, **fields}


def ref(node_id: str, path: str) -> dict[str, Any]:
    return {"id": node_id, "kind": "reference", "path": path}


def check(catalog: Catalog, doc: Any, base_dir: Path | None = None) -> Report:
    report = load_canvas(doc, catalog, base_dir=base_dir)
    assert isinstance(report, Report)
    return report


def messages(catalog: Catalog, doc: Any) -> list[str]:
    return [str(p) for p in check(catalog, doc).problems]


# --- a sound canvas -------------------------------------------------------------------------------

def test_design_sketch_is_valid(catalog: Catalog) -> None:
    doc = {"version": 1, "defaults": {"aspect_ratio": "16:9", "duration_s": 5, "seed": 42}, "nodes": [
        ref("portrait", "stills/spokesperson.png"),
        {"id": "hero", "kind": "image", "model": "nano-banana-2", "inputs": {"images": ["portrait"]},
         "prompt": {"subject": "the spokesperson on a rooftop", "lighting": "golden hour"}},
        {"id": "shot", "kind": "shot", "subject": "the runner", "action": "jogs left to right"},
        {"id": "vo", "kind": "audio", "model": "elevenlabs", "text": "Built for the long run."},
        {"id": "close", "kind": "video", "model": "kling-3", "variant": "3.0", "route": "kling",
         "inputs": {"image": "hero", "shot": "shot"}},
        {"id": "hook", "kind": "video", "model": "kling-avatar", "inputs": {"image": "hero", "audio": "vo"},
         "prompt": {"action": "subtle nod"}},
        {"id": "cut", "kind": "sequence", "shots": ["close", "hook"], "audio": [{"node": "vo", "under": "hook"}],
         "grade": {"gain": [1.05, 1.0, 0.95]}, "end_card": {"text": "BRAND", "seconds": 2}},
    ]}
    report = check(catalog, doc)
    assert report.problems == []
    assert report.ok and report.canvas is not None and len(report.canvas.nodes) == 7


@pytest.mark.parametrize("name", CANVAS_NAMES)
def test_shared_canvases_validate_without_errors(catalog: Catalog, canvas_dir: Path, name: str) -> None:
    path = canvas_dir / name
    report = check(catalog, json.loads(path.read_text(encoding="utf-8")), base_dir=path.parent)
    assert report.ok, [str(p) for p in report.errors]
    assert report.errors == []
    assert report.canvas is not None and report.canvas.nodes
    sora_nodes = {n.id for n in report.canvas.nodes if isinstance(n, VideoNode) and n.model == "sora-2"}
    # the only warnings are Sora's retirement, one per Sora node
    assert {p.node for p in report.warnings} == sora_nodes
    assert all("was retired on 2026-09-24" in p.message for p in report.warnings)


# --- catalog checks -------------------------------------------------------------------------------

def test_unknown_model(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="sora-3")]}) == [
        f"error: node 'v', model: 'sora-3' is not in the catalog; allowed: {VIDEO_MODELS}"]


def test_unknown_variant(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", variant="4.0")]}) == [
        "error: node 'v', variant: Kling 3.0 / O3 has no variant '4.0'; allowed: 3.0, 3.0-pro, o3 or o3-pro"]


def test_model_of_the_wrong_kind(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [image(model="kling-3")]}) == [
        f"error: node 'i', model: Kling 3.0 / O3 makes video, not image; allowed: {IMAGE_MODELS}"]


def test_alias_is_accepted(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="veo", duration_s=6)]}) == []


def test_duration_not_allowed_kling(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", duration_s=20)]}) == [
        "error: node 'v', duration_s: Kling 3.0 (std) does not allow 20 s; allowed: 3–15 s"]


def test_duration_not_allowed_sora(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="sora-2", duration_s=5)]}) == [
        SORA_RETIRED, "error: node 'v', duration_s: Sora 2 does not allow 5 s; allowed: 4, 8 or 12 s"]


def test_duration_from_canvas_defaults(catalog: Catalog) -> None:
    doc = {"defaults": {"duration_s": 7}, "nodes": [video(model="veo-3.1")]}
    assert messages(catalog, doc) == [
        "error: node 'v', duration_s: Veo 3.1 does not allow 7 s (from the canvas defaults); allowed: 4, 6 or 8 s"]


def test_duration_from_wired_shot(catalog: Catalog) -> None:
    doc = {"nodes": [{"id": "s", "kind": "shot", "subject": "a", "duration_s": 7},
                     {"id": "v", "kind": "video", "model": "veo-3.1", "inputs": {"shot": "s"}}]}
    assert messages(catalog, doc) == [
        "error: node 'v', duration_s: Veo 3.1 does not allow 7 s (from the wired shot node); allowed: 4, 6 or 8 s"]


def test_node_duration_beats_defaults(catalog: Catalog) -> None:
    doc = {"defaults": {"duration_s": 7}, "nodes": [video(model="veo-3.1", duration_s=8)]}
    assert messages(catalog, doc) == []


def test_duration_on_a_clip_that_follows_its_audio_is_a_warning(catalog: Catalog) -> None:
    doc = {"nodes": [ref("p", "face.png"), ref("a", "line.wav"),
                     video(model="kling-avatar", duration_s=5, inputs={"image": "p", "audio": "a"})]}
    assert messages(catalog, doc) == [
        "warning: node 'v', duration_s: Kling Avatar (std) makes a clip as long as its audio input; "
        "the duration is ignored"]


def test_aspect_ratio_not_allowed(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="veo-3.1", aspect_ratio="1:1")]}) == [
        "error: node 'v', aspect_ratio: Veo 3.1 does not allow 1:1; allowed: 16:9 or 9:16"]


def test_aspect_ratio_from_canvas_defaults(catalog: Catalog) -> None:
    doc = {"defaults": {"aspect_ratio": "4:5"}, "nodes": [video(model="veo-3.1")]}
    assert messages(catalog, doc) == [
        "error: node 'v', aspect_ratio: Veo 3.1 does not allow 4:5 (from the canvas defaults); allowed: 16:9 or 9:16"]


def test_resolution_not_allowed(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", resolution="1080p")]}) == [
        "error: node 'v', resolution: Kling 3.0 (std) does not offer 1080p; allowed: 720p"]
    assert messages(catalog, {"nodes": [video(model="kling-3", variant="3.0-pro", resolution="1080p")]}) == []


def test_seed_on_a_model_without_seed_is_a_warning(catalog: Catalog) -> None:
    report = check(catalog, {"nodes": [video(model="kling-3", seed=7)]})
    assert [str(p) for p in report.problems] == [
        "warning: node 'v', seed: Kling 3.0 (std) takes no seed; the seed will not be sent and takes will vary"]
    assert report.errors == [] and report.ok


def test_seed_warning_follows_the_route(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [image(model="imagen-4", seed=7)]}) == []  # vertex honours it
    assert messages(catalog, {"nodes": [image(model="imagen-4", route="fal", seed=7)]}) == [
        "warning: node 'i', seed: Imagen 4 takes no seed; the seed will not be sent and takes will vary"]


# --- inputs and wiring ----------------------------------------------------------------------------

def test_missing_required_input(catalog: Catalog) -> None:
    doc = {"nodes": [ref("p", "face.png"), video(model="kling-avatar", inputs={"image": "p"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.audio: Kling Avatar (std) needs an audio input; "
        "allowed: wire an audio node into 'audio'"]


def test_audio_wired_where_an_image_goes(catalog: Catalog) -> None:
    doc = {"nodes": [{"id": "a", "kind": "audio", "model": "elevenlabs", "text": "hi"},
                     video(model="kling-3", inputs={"image": "a"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.image: 'a' gives audio, but the 'image' input takes an image; "
        "allowed: an image node or a reference file"]


def test_reference_file_kind_follows_its_extension(catalog: Catalog) -> None:
    doc = {"nodes": [ref("clip", "plate.mov"), video(model="kling-3", inputs={"image": "clip"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.image: 'clip' gives a video, but the 'image' input takes an image; "
        "allowed: an image node or a reference file"]


def test_input_the_model_does_not_have(catalog: Catalog) -> None:
    doc = {"nodes": [ref("a", "line.wav"), video(model="kling-3", inputs={"audio": "a"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.audio: Kling 3.0 (std) has no 'audio' input; allowed: image, last_frame or shot"]


def test_too_many_reference_images(catalog: Catalog) -> None:
    doc = {"nodes": [ref("p", "a.png"), video(model="veo-3.1", inputs={"images": ["p"] * 4})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.images: Veo 3.1 takes at most 3 images; allowed: 1–3 items"]


def test_dangling_reference_lists_candidates(catalog: Catalog) -> None:
    doc = {"nodes": [ref("p", "a.png"), image(id="q", model="flux"), ref("snd", "a.wav"),
                     video(model="kling-3", inputs={"image": "nope"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs.image: no node has the id 'nope'; allowed: p or q"]


def test_dangling_reference_with_no_candidates(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", inputs={"image": "nope"})]}) == [
        "error: node 'v', inputs.image: no node has the id 'nope'; allowed: the id of an image node"]


def test_cycle(catalog: Catalog) -> None:
    doc = {"nodes": [{"id": "a", "kind": "image", "model": "flux", "inputs": {"images": ["b"]}},
                     {"id": "b", "kind": "image", "model": "flux", "inputs": {"images": ["a"]}}]}
    assert messages(catalog, doc) == [
        "error: node 'a', inputs: the wires form a loop: a -> b -> a; "
        "allowed: wires that only run forward, from sources to the cut"]


def test_node_wired_into_itself(catalog: Catalog) -> None:
    doc = {"nodes": [video(model="runway-aleph", inputs={"video": "v"})]}
    assert messages(catalog, doc) == [
        "error: node 'v', inputs: the wires form a loop: v -> v; "
        "allowed: wires that only run forward, from sources to the cut"]


def test_duplicate_ids(catalog: Catalog) -> None:
    doc = {"nodes": [ref("p", "a.png"), ref("p", "b.png")]}
    assert messages(catalog, doc) == [
        "error: node 'p', id: is used by more than one node; allowed: a unique id per node"]


def test_sequence_shots_and_audio(catalog: Catalog) -> None:
    doc = {"nodes": [ref("a", "a.png"),
                     {"id": "c", "kind": "sequence", "shots": ["a", "zz"], "audio": [{"node": "a", "under": "q"}]}]}
    assert messages(catalog, doc) == [
        "error: node 'c', shots[0]: 'a' gives image, not video; allowed: the id of a video node",
        "error: node 'c', shots[1]: no node has the id 'zz'; allowed: the id of a video node",
        "error: node 'c', audio[0].node: 'a' is not an audio node; allowed: the id of an audio node",
        "error: node 'c', audio[0].under: is not a shot of this sequence; allowed: a or zz",
    ]


def test_missing_files_are_reported_with_a_base_dir(catalog: Catalog, tmp_path: Path) -> None:
    (tmp_path / "here.png").write_bytes(b"\x89PNG\r\n\x1a\n")  # a still by its content
    doc = {"nodes": [ref("ok", "here.png"), ref("gone", "missing.png"),
                     {"id": "c", "kind": "sequence", "end_card": {"image": "logo.png"}}]}
    assert messages(catalog, doc) == []  # no base_dir: no file checks
    report = check(catalog, doc, base_dir=tmp_path)
    assert [str(p) for p in report.problems] == [
        f"error: node 'gone', path: no file at {tmp_path / 'missing.png'}; allowed: an existing file",
        f"error: node 'c', end_card.image: no file at {tmp_path / 'logo.png'}; allowed: an existing image",
    ]


def test_reference_that_is_not_media(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [ref("a", "notes.txt")]}) == [
        "error: node 'a', path: 'notes.txt' is not an image, video or audio file; allowed: files ending in .png, "
        ".jpg, .webp, .exr, .mp4, .mov, .webm, .wav, .mp3, .flac and similar"]


def test_prompt_and_text_are_needed(catalog: Catalog) -> None:
    doc = {"nodes": [{"id": "v", "kind": "video", "model": "kling-3"},
                     {"id": "a", "kind": "audio", "model": "elevenlabs", "text": "  "}]}
    assert messages(catalog, doc) == [
        "error: node 'v', prompt: Kling 3.0 / O3 needs something to work from; "
        "allowed: a prompt clause, a wired shot node, or an input image",
        "error: node 'a', text: a voice node needs the words to speak; allowed: non-empty text",
    ]


def test_deprecated_variant_is_a_warning(catalog: Catalog) -> None:
    report = check(catalog, {"nodes": [image(model="flux", variant="kontext-pro")]})
    assert [str(p) for p in report.problems] == [
        "warning: node 'i', variant: FLUX.1 Kontext [pro] is deprecated: BFL lists Kontext as legacy; "
        "use FLUX.2 [pro] for editing"]
    assert report.ok


# --- routes ---------------------------------------------------------------------------------------

def test_explicit_route_on_retired_sora(catalog: Catalog) -> None:
    """The whole variant is retired, so the retirement warning covers the dead route: no second message."""
    report = check(catalog, {"nodes": [video(model="sora-2", route="openai")]})
    assert [str(p) for p in report.problems] == [SORA_RETIRED]
    assert report.errors == []


def test_retired_route_on_a_live_model(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [image(model="imagen-4", route="gemini")]}) == [
        "error: node 'i', route: Google Gemini API stopped serving Imagen 4 on 2026-08-17 (Imagen left the Gemini "
        "Developer API; use Vertex AI or fal); allowed: vertex or fal"]
    assert messages(catalog, {"nodes": [video(model="veo-3.1", route="gemini")]}) == [
        "error: node 'v', route: Google Gemini API stopped serving Veo 3.1 on 2026-11-06 (Veo left the Gemini "
        "Developer API; use Vertex AI, fal or Runway); allowed: vertex, fal or runway"]


def test_route_not_serving_the_variant(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", route="openai")]}) == [
        "error: node 'v', route: Kling 3.0 (std) is not served by 'openai'; allowed: kling, fal or runway"]
    assert messages(catalog, {"nodes": [video(model="kling-3", route="kling")]}) == []


# --- structure (pydantic, translated) ----------------------------------------------------------------

def test_unknown_top_level_field(catalog: Catalog) -> None:
    assert messages(catalog, {"colour": "red", "nodes": []}) == ["error: canvas, colour: is not a known field"]


def test_unknown_top_level_field_named_like_a_node_kind(catalog: Catalog) -> None:
    assert messages(catalog, {"video": 1}) == ["error: canvas, video: is not a known field"]


def test_unknown_node_field(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", colour="red")]}) == [
        "error: node 'v', colour: is not a known field"]


def test_unknown_nested_field(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", inputs={"first": "x"})]}) == [
        "error: node 'v', inputs.first: is not a known field"]


def test_unknown_node_kind(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [{"id": "x", "kind": "painting"}]}) == [
        f"error: node 'x', kind: is not a node kind; allowed: {NODE_KINDS}"]


def test_missing_node_kind(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [{"id": "x"}]}) == [
        f"error: node 'x', kind: is missing; allowed: {NODE_KINDS}"]


def test_bad_id_pattern(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [ref("bad id!", "a.png")]}) == [
        "error: node 'bad id!', id: has characters or a shape that is not allowed; allowed: letters, digits, "
        "'_', '-', '.', starting with a letter or digit, up to 63 characters"]


def test_bad_aspect_ratio_pattern(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [video(model="kling-3", aspect_ratio="wide")]}) == [
        "error: node 'v', aspect_ratio: has characters or a shape that is not allowed; allowed: W:H, for example 16:9"]


def test_missing_required_field(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [{"id": "r", "kind": "reference"}]}) == [
        "error: node 'r', path: is required"]


def test_list_positions_read_like_the_catalog_checks(catalog: Catalog) -> None:
    doc = {"nodes": [image(model="flux", inputs={"images": [1]}),
                     {"id": "c", "kind": "sequence", "shots": [5]}]}
    assert messages(catalog, doc) == [
        "error: node 'i', inputs.images[0]: Input should be a valid string",
        # a shot is an id or an object: one problem naming both, not one per union branch
        "error: node 'c', shots[0]: Input should be a valid string; "
        "or input should be a valid dictionary or instance of SequenceShot",
    ]


def test_nodes_that_are_not_objects(catalog: Catalog) -> None:
    assert messages(catalog, {"nodes": [1, None]}) == [
        "error: node '#0', (node): is not a JSON object; allowed: an object with an id and a kind",
        "error: node '#1', (node): is not a JSON object; allowed: an object with an id and a kind",
    ]


def test_wrong_version(catalog: Catalog) -> None:
    report = check(catalog, {"version": 2})
    assert [str(p) for p in report.problems] == ["error: canvas, version: Input should be 1; allowed: 1"]
    assert report.canvas is None and not report.ok


def test_too_many_nodes_is_a_problem_not_an_exception(catalog: Catalog) -> None:
    doc = {"nodes": [ref(f"r{i}", "a.png") for i in range(2001)]}
    report = check(catalog, doc)
    assert report.canvas is None
    assert [(p.node, p.field) for p in report.problems] == [(None, "nodes")]


def test_file_name_too_long_is_a_problem_not_an_exception(catalog: Catalog, tmp_path: Path) -> None:
    long = "a" * 300 + ".png"
    doc = {"nodes": [ref("r", long), {"id": "c", "kind": "sequence", "end_card": {"image": long}}]}
    report = check(catalog, doc, base_dir=tmp_path)
    assert [(p.node, p.field, p.message) for p in report.problems] == [
        ("r", "path", f"no file at {tmp_path / long}"), ("c", "end_card.image", f"no file at {tmp_path / long}")]


# --- all at once ------------------------------------------------------------------------------------

def test_every_problem_reported_at_once(catalog: Catalog) -> None:
    doc = {
        "colour": "red",  # unknown top-level field
        "nodes": [
            {"id": "x", "kind": "painting"},  # unknown kind
            video(id="a", model="kling-3", duration_s=20),  # duration
            video(id="b", model="sora-3"),  # unknown model
            video(id="c", model="kling-3", inputs={"image": "ghost"}),  # dangling wire
            image(id="d", model="flux", aspect_ratio="5:1"),  # aspect ratio
        ],
    }
    report = check(catalog, doc)
    # a stray top-level field makes the document invalid but hides none of the node problems
    assert report.canvas is None and not report.ok
    assert [(p.node, p.field) for p in report.problems] == [
        ("x", "kind"), (None, "colour"), ("a", "duration_s"), ("b", "model"), ("c", "inputs.image"),
        ("d", "aspect_ratio")]


def test_wrong_defaults_do_not_cascade(catalog: Catalog) -> None:
    """Every node inherits the defaults: when they are unreadable, say so once instead of blaming each node."""
    doc = {"defaults": {"duration_s": "long"}, "nodes": [video(id="a", model="kling-3"), video(id="b", model="x")]}
    assert messages(catalog, doc) == [
        "error: canvas, defaults.duration_s: Input should be a valid integer, unable to parse string as an integer"]


def test_five_mistakes_five_problems(catalog: Catalog) -> None:
    doc = {"nodes": [
        {"id": "x", "kind": "painting"},
        video(id="a", model="kling-3", duration_s=20),
        video(id="b", model="sora-3"),
        video(id="c", model="kling-3", inputs={"image": "ghost"}),
        video(id="d", model="veo-3.1", resolution="8K"),
    ]}
    report = check(catalog, doc)
    assert [(p.severity, p.node, p.field) for p in report.problems] == [
        ("error", "x", "kind"), ("error", "a", "duration_s"), ("error", "b", "model"),
        ("error", "c", "inputs.image"), ("error", "d", "resolution")]
    assert report.canvas is not None and [n.id for n in report.canvas.nodes] == ["a", "b", "c", "d"]


# --- garbage never raises ---------------------------------------------------------------------------

@pytest.mark.parametrize("garbage", [None, [], [1, 2], "canvas", 3, 2.5, True])
def test_load_canvas_never_raises_on_garbage(catalog: Catalog, garbage: Any) -> None:
    report = check(catalog, garbage)
    assert report.canvas is None
    assert [str(p) for p in report.problems] == ["error: canvas, (document): is not a JSON object"]


@pytest.mark.parametrize("nodes", ["x", None, 3, {"id": "a"}])
def test_nodes_not_a_list(catalog: Catalog, nodes: Any) -> None:
    report = check(catalog, {"nodes": nodes})
    assert [str(p) for p in report.problems] == ["error: canvas, nodes: must be a list of nodes"]


def test_empty_document_is_an_empty_canvas(catalog: Catalog) -> None:
    report = check(catalog, {})
    assert report.ok and report.canvas is not None and report.canvas.nodes == []


def test_check_canvas_on_a_built_canvas(catalog: Catalog) -> None:
    canvas = Canvas(nodes=[ReferenceNode(id="p", path="a.png"),
                           VideoNode(id="v", model="kling-3", duration_s=2, inputs=Inputs(image="p"))])
    problems = check_canvas(canvas, catalog)
    assert all(isinstance(p, Problem) for p in problems)
    assert [str(p) for p in problems] == [
        "error: node 'v', duration_s: Kling 3.0 (std) does not allow 2 s; allowed: 3–15 s"]
