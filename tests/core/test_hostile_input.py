"""Bad input never crashes: deep nesting, huge integers, NaN / Infinity, absurd numbers, huge strings and files that
are not media all come back as validation problems naming the field (and the node and file), never an exception,
through the reader, the validator and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from blender_canvas.engine import validation
from blender_canvas.engine.canvas_json import parse_canvas_json
from blender_canvas.engine.document import MAX_DEPTH, Canvas
from blender_canvas.engine.validation import CanvasFileError, load_canvas, read_json_file
from blender_canvas.providers.catalog import load_catalog

CATALOG = load_catalog()
ROOT = Path(__file__).resolve().parents[2]


def cut(**sequence: Any) -> dict[str, Any]:
    return {"version": 1, "nodes": [
        {"id": "v", "kind": "video", "model": "preview-video", "prompt": {"subject": "x"}},
        {"id": "vo", "kind": "audio", "model": "preview-voice", "text": "hello"},
        {"id": "cut", "kind": "sequence", "shots": ["v"], **sequence}]}


def errors(data: Any, base_dir: Path | None = None) -> list[str]:
    return [str(p) for p in load_canvas(data, CATALOG, base_dir=base_dir).errors]


# --- the reader ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_100, 100_000])
def test_nesting_deeper_than_the_limit_is_one_problem(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"nodes": ' + "[" * depth + "]" * depth + "}", encoding="utf-8")
    with pytest.raises(CanvasFileError, match=rf"deep.json: is nested deeper than "
                                              rf"{MAX_DEPTH} levels"):
        read_json_file(path)


def test_nesting_at_the_limit_is_read() -> None:
    data = parse_canvas_json("[" * MAX_DEPTH + "]" * MAX_DEPTH)
    assert isinstance(data, list)


@pytest.mark.parametrize("digits", [31, 4_301, 100_000])
def test_an_integer_literal_longer_than_30_digits_is_one_problem(tmp_path: Path, digits: int) -> None:
    path = tmp_path / "big.json"
    path.write_text('{"version": 1, "budget_usd": -' + "9" * digits + "}", encoding="utf-8")
    with pytest.raises(CanvasFileError, match=rf"big.json: has an integer literal of "
                                              rf"{digits} digits \(at most 30\)"):
        read_json_file(path)
    assert parse_canvas_json('{"seed": ' + "9" * 30 + "}") == {"seed": int("9" * 30)}


def test_the_same_limits_hold_for_data_handed_in_directly() -> None:
    deep: Any = []
    for _ in range(200):
        deep = [deep]
    assert errors({"nodes": deep}) == [f"error: canvas, (document): is nested deeper than {MAX_DEPTH} levels of "
                                       "lists and objects"]
    assert errors({"budget_usd": 10 ** 40}) == ["error: canvas, (document): has an integer of 41 digits (at most 30)"]


# --- numbers -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "1e308"])
def test_non_finite_and_absurd_numbers_are_refused_naming_the_field(number: str) -> None:
    documents = {
        "budget_usd": '{"version": 1, "budget_usd": %s}',
        "position": '{"version": 1, "nodes": [{"id": "s", "kind": "shot", "position": [%s, 0]}]}',
        "shots[0].trim_in_s": json.dumps(cut(shots=[{"node": "v", "trim_in_s": "N"}])).replace('"N"', "%s"),
        "shots[0].trim_out_s": json.dumps(cut(shots=[{"node": "v", "trim_out_s": "N"}])).replace('"N"', "%s"),
        "audio[0].at_s": json.dumps(cut(audio=[{"node": "vo", "at_s": "N"}])).replace('"N"', "%s"),
        "end_card.seconds": json.dumps(cut(end_card={"seconds": "N"})).replace('"N"', "%s"),
        "grade.gain": json.dumps(cut(grade={"gain": [1, 1, "N"]})).replace('"N"', "%s"),
    }
    for field, template in documents.items():
        problems = errors(parse_canvas_json(template % number))
        assert problems, (field, number)
        assert any(f", {field}" in p for p in problems), (field, number, problems)


def test_ordinary_numbers_still_pass() -> None:
    assert errors(cut(shots=[{"node": "v", "trim_in_s": 0.5, "trim_out_s": 1.25}], audio=[{"node": "vo", "at_s": 3}],
                      end_card={"seconds": 2.5})) == []
    assert errors({"version": 1, "budget_usd": 250.0, "nodes": [{"id": "s", "kind": "shot",
                                                                 "position": [-1200.5, 800]}]}) == []


# --- strings -----------------------------------------------------------------------------------------------------


def test_strings_have_maximum_lengths_naming_the_field() -> None:
    long_clause = {"version": 1, "nodes": [{"id": "i", "kind": "image", "model": "preview-image",
                                            "prompt": {"subject": "x" * 4_001}}]}
    assert any("node 'i', prompt.subject: String should have at most 4000 characters" in p
               for p in errors(long_clause))
    ten_megabytes = {"version": 1, "nodes": [{"id": "s", "kind": "shot", "action": "y" * 10_000_000}]}
    problems = errors(ten_megabytes)
    assert len(problems) == 1 and "node 's', action: String should have at most 4000 characters" in problems[0]
    assert len(problems[0]) < 400  # the value is shortened in the message
    label = {"version": 1, "nodes": [{"id": "s", "kind": "shot", "label": "z" * 201}]}
    assert any("label: String should have at most 200" in p for p in errors(label))
    voice = {"version": 1, "nodes": [{"id": "a", "kind": "audio", "model": "preview-voice", "text": "hi",
                                      "voice": "v" * 201}]}
    assert any("voice: String should have at most 200" in p for p in errors(voice))
    assert errors({"version": 1, "nodes": [{"id": "s", "kind": "shot", "subject": "x" * 4_000}]}) == []


# --- files that are not media --------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/etc/passwd", "/proc/self/environ"])
def test_a_system_file_as_an_end_card_image_is_refused(tmp_path: Path, target: str) -> None:
    problems = errors(cut(end_card={"image": target}), base_dir=tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith(f"error: node 'cut', end_card.image: {target} is not an image file")


def test_reference_files_are_checked_by_content_not_by_name(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_text("root:x:0:0:root:/root:/bin/bash\n", encoding="utf-8")
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    (tmp_path / "voice.wav").write_bytes((tmp_path / "still.png").read_bytes())  # a still named as a sound
    (tmp_path / "empty.mp4").write_bytes(b"")
    doc = {"version": 1, "nodes": [{"id": "fake", "kind": "reference", "path": "logo.png"},
                                   {"id": "good", "kind": "reference", "path": "still.png"},
                                   {"id": "named", "kind": "reference", "path": "voice.wav"},
                                   {"id": "hollow", "kind": "reference", "path": "empty.mp4"}]}
    problems = errors(doc, base_dir=tmp_path)
    assert problems == [
        f"error: node 'fake', path: {tmp_path / 'logo.png'} is not an image file (its content is no still, clip or "
        "sound format); allowed: an image file (checked by its content)",
        f"error: node 'named', path: {tmp_path / 'voice.wav'} is not an audio file (its content is an image, "
        "image/png); allowed: an audio file (checked by its content)",
        f"error: node 'hollow', path: {tmp_path / 'empty.mp4'} is empty, not a video file; allowed: a video file "
        "(checked by its content)",
    ]


# --- linear in the number of nodes (counted, not timed) -------------------------------------------------------------


def _wide_canvas(n: int) -> dict[str, Any]:
    """n video nodes and n sequence nodes, each sequence with a shot that is wrong: the worst case of the old
    per-sequence scan of every node."""
    nodes: list[dict[str, Any]] = []
    for i in range(n):
        nodes.append({"id": f"v{i}", "kind": "video", "model": "preview-video", "prompt": {"subject": "x"}})
        nodes.append({"id": f"c{i}", "kind": "sequence", "shots": [f"v{i}", f"missing{i}"]})
    return {"version": 1, "nodes": nodes}


def test_validation_work_grows_linearly_with_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = validation.output_kind

    def counted(node: Any) -> Any:
        calls["n"] += 1
        return real(node)

    monkeypatch.setattr(validation, "output_kind", counted)
    work = {}
    for n in (250, 500, 1000):
        calls["n"] = 0
        report = load_canvas(_wide_canvas(n), CATALOG)
        assert len(report.errors) == n
        assert all(len(p.allowed) < 300 for p in report.errors)  # hints stay short whatever the canvas size
        work[n] = calls["n"]
    assert work[1000] <= 2.1 * work[500] <= 4.5 * work[250], work


def test_canvas_node_lookup_follows_changes() -> None:
    canvas = Canvas.model_validate({"version": 1, "nodes": [{"id": "a", "kind": "shot"}, {"id": "b", "kind": "shot"}]})
    assert canvas.node("b") is canvas.nodes[1]
    canvas.nodes[1].id = "renamed"
    assert canvas.node("b") is None and canvas.node("renamed") is canvas.nodes[1]
    canvas.nodes.append(canvas.nodes[0].model_copy(update={"id": "c"}))
    assert canvas.node("c") is canvas.nodes[2]
    canvas.nodes = [canvas.nodes[2]]
    assert canvas.node("a") is None and canvas.node("c") is canvas.nodes[0]


# --- fuzz: hostile documents give problems, never an exception --------------------------------------------------------

HOSTILE_NUMBERS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e308", "-1e400", "9" * 31, "-" + "1" * 5_000,
                                   "1e-400", "0", "3.5"])
HOSTILE_PATHS = st.sampled_from(["/etc/passwd", "/proc/self/environ", "/dev/null", "/", ".", "../../etc/shadow",
                                 "logo.png", "notes.png", "still.png", "missing.png", "a\x00b.png", "x" * 5_000])
HOSTILE_STRINGS = (st.sampled_from(["", "x" * 4_001, "y" * 1_000_000, "\udcff", "\x00", "é" * 300])
                   | st.text(max_size=20))
SLOTS = ["budget_usd", "position", "trim_in_s", "trim_out_s", "at_s", "seconds", "subject", "label", "image", "path",
         "seed", "takes", "duration_s", "volume", "fps", "text", "voice", "crossfade_frames"]


def _template() -> dict[str, Any]:
    return {"version": 1, "budget_usd": "@budget_usd", "defaults": {"fps": "@fps", "seed": "@seed"}, "nodes": [
        {"id": "still", "kind": "reference", "path": "@path", "position": ["@position", 0]},
        {"id": "shot", "kind": "shot", "subject": "@subject", "label": "@label", "duration_s": "@duration_s"},
        {"id": "v", "kind": "video", "model": "preview-video", "takes": "@takes", "inputs": {"image": "still"},
         "prompt": {"subject": "@subject"}},
        {"id": "vo", "kind": "audio", "model": "preview-voice", "text": "@text", "voice": "@voice"},
        {"id": "cut", "kind": "sequence",
         "shots": [{"node": "v", "trim_in_s": "@trim_in_s", "trim_out_s": "@trim_out_s",
                    "crossfade_frames": "@crossfade_frames"}],
         "audio": [{"node": "vo", "at_s": "@at_s", "volume": "@volume"}],
         "end_card": {"image": "@image", "seconds": "@seconds"}}]}


@st.composite
def hostile_documents(draw: st.DrawFn) -> str:
    """A canvas's JSON text with hostile values in some slots, maybe wrapped in deep nesting."""
    text = json.dumps(_template())
    for slot in SLOTS:
        choice = draw(st.sampled_from(["keep", "number", "path", "string"]))
        if choice == "number" or (choice == "keep" and slot not in ("subject", "label", "image", "path", "text",
                                                                    "voice")):
            value = draw(HOSTILE_NUMBERS) if choice == "number" else "1"
        elif choice == "path" or (choice == "keep" and slot in ("image", "path")):
            value = json.dumps(draw(HOSTILE_PATHS))
        else:
            value = json.dumps(draw(HOSTILE_STRINGS))
        text = text.replace(f'"@{slot}"', value)
    depth = draw(st.sampled_from([0, 0, 10, MAX_DEPTH, 5_000]))
    if depth:
        text = '{"nodes": [' + "[" * depth + text + "]" * depth + "]}"
    return text


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    Image.new("RGB", (8, 8)).save(folder / "still.png")
    (folder / "notes.png").write_text("not an image", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"")
    return folder


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(text=hostile_documents())
def test_hostile_documents_give_problems_never_an_exception(text: str, media_dir: Path) -> None:
    path = media_dir / "canvas.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        data = read_json_file(path)
    except CanvasFileError as error:
        assert "\n" not in str(error)
        return
    report = load_canvas(data, CATALOG, base_dir=media_dir)
    assert report.canvas is not None or report.errors
    for problem in report.errors:
        assert problem.field and len(str(problem)) < 2_000


# --- the command line: exit 2, one clear line, no traceback ---------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "blender_canvas", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=180, check=False)


HOSTILE_FILES = {
    "deep": '{"nodes": ' + "[" * 50_000 + "]" * 50_000 + "}",
    "huge-int": '{"version": 1, "budget_usd": ' + "7" * 5_000 + "}",
    "nan": '{"version": 1, "budget_usd": NaN}',
    "overflow": json.dumps(cut(shots=[{"node": "v", "trim_out_s": "N"}])).replace('"N"', "1e308"),
    "end-card": json.dumps(cut(end_card={"image": "/proc/self/environ"})),
    "prompt": json.dumps({"version": 1, "nodes": [{"id": "s", "kind": "shot", "subject": "w" * 2_000_000}]}),
}


@pytest.mark.parametrize("command", ["validate", "estimate", "run"])
def test_the_command_line_refuses_hostile_files_in_one_line(tmp_path: Path, command: str) -> None:
    for name, text in HOSTILE_FILES.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        extra = ["--out", str(tmp_path / f"out-{name}")] if command == "run" else []
        proc = cli(command, str(path), *extra)
        assert proc.returncode == 2, (command, name, proc.stderr[-500:])
        assert "Traceback" not in proc.stderr, (command, name, proc.stderr[-2000:])
        errors_out = [line for line in proc.stderr.splitlines() if line.startswith("error")]
        assert errors_out, (command, name, proc.stderr[-500:])
        assert all(len(line) < 2_000 for line in proc.stderr.splitlines()), (command, name)
        if command == "run":
            assert not (tmp_path / f"out-{name}" / "manifest.json").exists()


def test_the_planner_never_sends_a_wired_file_that_is_not_media(tmp_path: Path) -> None:
    from blender_canvas.engine.planner import PlanError
    from blender_canvas.engine.session import Session

    (tmp_path / "face.png").write_text("SECRET=1\n", encoding="utf-8")  # named as a still, is not one
    doc = Canvas.model_validate({"version": 1, "nodes": [
        {"id": "face", "kind": "reference", "path": "face.png"},
        {"id": "v", "kind": "video", "model": "kling-3", "route": "fal", "inputs": {"image": "face"},
         "prompt": {"subject": "x"}}]})
    session = Session(tmp_path / "p", keys={"FAL_KEY": "k"})
    with pytest.raises(PlanError, match=r"node 'v', inputs.image: reference 'face': .*face.png is not an image file"):
        session.plan(doc, tmp_path)
    session.close()


def test_asking_a_silent_model_for_sound_is_a_warning_not_a_rebill() -> None:
    doc = {"version": 1, "nodes": [{"id": "g", "kind": "video", "model": "runway-gen-4.5", "audio": True,
                                    "prompt": {"subject": "x"}}]}
    report = load_canvas(doc, CATALOG)
    assert report.errors == []
    assert [str(w) for w in report.warnings] == [
        "warning: node 'g', audio: Runway Gen-4.5 makes no sound; the clip will be silent (nothing asks the vendor "
        "for it, nothing is billed for it); allowed: a model that makes sound: kling-3, seedance-2 or veo-3.1"]
    doc["nodes"][0]["model"] = "veo-3.1"
    assert load_canvas(doc, CATALOG).warnings == []
