"""The bake-off without Blender: builder, controlled-input checks, verdicts in the ledger, per-model grammar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from blender_canvas.engine.bakeoff import (
    BakeOffError,
    Entrant,
    axis_winners,
    build_bakeoff,
    controlled,
    export_verdicts,
    import_verdicts,
    nearest_duration,
)
from blender_canvas.engine.document import DEFAULT_AXES, Canvas, Prompt, VideoNode
from blender_canvas.engine.ledger import Ledger, LedgerError, TakeRecord, VerdictRecord
from blender_canvas.engine.prompt import compose
from blender_canvas.engine.validation import load_canvas
from blender_canvas.providers.catalog import load_catalog

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()
FOUR = [Entrant(model="kling-3", variant="3.0"), Entrant(model="kling-3", variant="o3"),
        Entrant(model="seedance-2", variant="pro"), Entrant(model="veo-3.1", variant="standard")]


def base_canvas() -> Canvas:
    data = json.loads((ROOT / "tests" / "canvases" / "bakeoff-four-models.json").read_text())
    data["nodes"] = [n for n in data["nodes"] if n["kind"] in ("image", "shot")]
    report = load_canvas(data, CATALOG)
    assert report.canvas is not None and not report.errors
    return report.canvas


def test_four_pairs_by_three_takes_share_image_shot_aspect_and_seed() -> None:
    result = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR, takes=3, duration_s=5,
                           aspect_ratio="16:9", seed=1234)
    canvas = result.canvas
    assert result.created == ["kling-3-3.0", "kling-3-o3", "seedance-2-pro", "veo-3.1-standard"]
    shot = canvas.node("shot")
    assert shot is not None and (shot.aspect_ratio, shot.seed, shot.duration_s) == ("16:9", 1234, 5)  # type: ignore[union-attr]
    summary = controlled(canvas, CATALOG)
    assert summary is not None and len(summary.entrants) == 4
    for entrant in summary.entrants:
        node = canvas.node(entrant.node)
        assert isinstance(node, VideoNode)
        assert (node.inputs.image, node.inputs.shot, node.takes) == ("ref", "shot", 3)
        assert entrant.aspect_ratio == "16:9"
        # the seed goes wherever the model takes one, and nowhere else
        variant = CATALOG.model(entrant.model).variant(entrant.variant)  # type: ignore[union-attr]
        assert entrant.seed == (1234 if variant.seed else None)  # type: ignore[union-attr]
    by_node = {e.node: e for e in summary.entrants}
    assert [e.duration_s for e in summary.entrants] == [5, 5, 5, 4]
    assert any("cannot run 5 s" in f for f in by_node["veo-3.1-standard"].flags)
    assert not any("cannot run" in f for f in by_node["kling-3-3.0"].flags)
    assert any("Veo 3.1 cannot run 5 s (allows 4, 6 or 8 s); it runs 4 s" in f for f in result.flags)
    # the built canvas validates, and says which durations and seeds are not controlled
    report = load_canvas(canvas.to_json_data(), CATALOG)
    assert report.ok
    warnings = [str(w) for w in report.warnings if w.field == "bakeoff"]
    assert any("veo-3.1-standard" in w and "cannot run 5 s" in w for w in warnings)


def test_rebuilding_reuses_entrants_and_keeps_verdicts() -> None:
    first = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR[:2], takes=2)
    with_verdict = first.canvas.model_copy(update={"bakeoff": first.canvas.bakeoff.model_copy(  # type: ignore[union-attr]
        update={"brief": "hands"})})
    second = build_bakeoff(with_verdict, CATALOG, image="ref", shot="shot", entrants=FOUR[:3], takes=3)
    assert second.reused == ["kling-3-3.0", "kling-3-o3"] and second.created == ["seedance-2-pro"]
    assert second.canvas.bakeoff is not None and second.canvas.bakeoff.brief == "hands"
    assert len([n for n in second.canvas.nodes if isinstance(n, VideoNode)]) == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"image": "shot"}, "image: 'shot' is not an image or reference-still node; allowed: ref"),
    ({"shot": "ref"}, "shot: 'ref' is not a shot node; allowed: shot"),
    ({"entrants": [Entrant(model="kling-3")]}, "at least 2"),
    ({"entrants": [Entrant(model="kling-3"), Entrant(model="flux")]}, "entrant 2: 'flux' is not a video"),
    ({"entrants": [Entrant(model="kling-3", variant="x9"), FOUR[1]]}, "entrant 1: kling-3 has no variant"),
    ({"entrants": [Entrant(model="kling-avatar"), FOUR[1]]}, "runs as long as its audio input"),
    ({"entrants": [FOUR[0], FOUR[0]]}, "may enter once"),
    ({"aspect_ratio": "21:9"}, "aspect_ratio: 21:9 is not offered by"),
    ({"takes": 0}, "takes: 0 is out of range"),
    ({"entrants": [Entrant(model="preview-video"), FOUR[1]]}, "entrant 1: 'preview-video' is not a video"),
])
def test_builder_errors_name_the_field_and_what_is_allowed(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"image": "ref", "shot": "shot", "entrants": FOUR}
    args.update(kwargs)
    with pytest.raises(BakeOffError) as caught:
        build_bakeoff(base_canvas(), CATALOG, **args)
    assert message in str(caught.value)


def test_validation_flags_an_entrant_that_breaks_the_control() -> None:
    data = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR[:2]).canvas.to_json_data()
    node = next(n for n in data["nodes"] if n["id"] == "kling-3-o3")
    node["aspect_ratio"] = "9:16"
    node["prompt"] = {"camera": "whip pan"}
    data["bakeoff"]["verdicts"] = [{"take_id": "t1", "node": "kling-3-o3", "take": 1, "scores": {"smell": 3}}]
    report = load_canvas(data, CATALOG)
    errors = [str(p) for p in report.errors]
    assert any("bakeoff.verdicts[0].scores" in e and "smell" in e for e in errors)
    data["bakeoff"]["verdicts"] = []
    warnings = [str(p) for p in load_canvas(data, CATALOG).warnings]
    assert any("runs 9:16, not the controlled 16:9" in w for w in warnings)
    assert any("its own camera replace the shared shot's" in w for w in warnings)
    data["bakeoff"]["entrants"] = ["kling-3-o3", "ref"]
    assert any("bakeoff.entrants[1]" in str(p) and "not a video node" in str(p)
               for p in load_canvas(data, CATALOG).errors)


def test_nearest_duration_prefers_the_shorter_on_a_tie() -> None:
    assert nearest_duration(5, (4, 6, 8)) == 4
    assert nearest_duration(7, (5, 10)) == 5
    assert nearest_duration(9, (5, 10)) == 10


def _take(ledger: Ledger, take_id: str, node: str) -> None:
    from blender_canvas.engine.ledger import JobRecord

    ledger.add_job(JobRecord(job_id=take_id, node_id=node, take_index=int(take_id[-1]), cache_key=take_id,
                             model="kling-3", variant="3.0", backend="preview", backend_model_id="x", prompt="p",
                             request_json="{}", state="submitted", created_at=1.0))
    ledger.add_take(TakeRecord(take_id=take_id, node_id=node, cache_key=take_id, file=f"{take_id}.mp4", sha256="0",
                               media="video", size_bytes=1, model="kling-3", variant="3.0", backend="preview",
                               prompt="p", estimated_usd=0.0, input_hashes="{}", timings_json="{}", created_at=1.0))


def test_verdicts_and_pins_live_in_the_ledger_and_travel_with_the_canvas(tmp_path: Path) -> None:
    canvas = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR[:2]).canvas
    ledger = Ledger(tmp_path / "a" / "ledger.sqlite")
    for take_id, node in (("a0", "kling-3-3.0"), ("a1", "kling-3-3.0"), ("b0", "kling-3-o3")):
        _take(ledger, take_id, node)
    axes = list(DEFAULT_AXES)
    ledger.set_verdict("a0", {axes[0]: 5, axes[1]: 2}, "  lovely face  ")
    ledger.set_verdict("b0", {axes[0]: 5, axes[1]: 4}, sample=True)
    ledger.pin("node", "kling-3-3.0", "a1")
    ledger.pin("axis", axes[1], "a0")
    with pytest.raises(LedgerError, match="1 \\(poor\\) to 5 \\(best\\)"):
        ledger.set_verdict("a1", {axes[0]: 7})
    with pytest.raises(LedgerError, match="no take 'zz'"):
        ledger.pin("node", "x", "zz")
    assert ledger.verdict("a0") is not None and ledger.verdict("a0").note == "lovely face"  # type: ignore[union-attr]
    exported = export_verdicts(canvas, ledger)
    assert exported.bakeoff is not None
    assert {v.take_id: v.take for v in exported.bakeoff.verdicts} == {"a0": 1, "b0": 1}
    assert exported.bakeoff.best == {"kling-3-3.0": "a1"} and exported.bakeoff.best_per_axis == {axes[1]: "a0"}
    assert [v.sample for v in exported.bakeoff.verdicts if v.take_id == "b0"] == [True]
    # another machine: same takes, empty ledger; the canvas's verdicts fill it, the ledger wins a disagreement
    other = Ledger(tmp_path / "b" / "ledger.sqlite")
    for take_id, node in (("a0", "kling-3-3.0"), ("a1", "kling-3-3.0")):
        _take(other, take_id, node)
    other.set_verdict("a0", {axes[0]: 1})
    assert import_verdicts(exported, other) == 0  # a0 judged there since; b0 is not in that project
    assert other.verdict("a0").scores == {axes[0]: 1}  # type: ignore[union-attr]
    other.set_verdict("a0", {axes[0]: 2}, updated_at=1.0)  # an older verdict there: the canvas's newer one wins
    assert import_verdicts(exported, other) == 1
    assert other.verdict("a0").scores == {axes[0]: 5, axes[1]: 2}  # type: ignore[union-attr]
    assert other.pins("node") == {"kling-3-3.0": "a1"}
    # an empty verdict removes it
    ledger.set_verdict("a0", {}, "")
    assert ledger.verdict("a0") is None


def test_axis_winners_keep_ties_and_honour_pins() -> None:
    records = [VerdictRecord(take_id="a", node_id="n", scores={"x": 4, "y": 2}, updated_at=0),
               VerdictRecord(take_id="b", node_id="n", scores={"x": 4, "y": 5}, updated_at=0)]
    assert axis_winners(records, ["x", "y", "z"]) == {"x": ["a", "b"], "y": ["b"]}
    assert axis_winners(records, ["x", "y"], {"y": "a"}) == {"x": ["a", "b"], "y": ["a"]}


def test_each_model_family_gets_its_own_grammar_over_the_same_clauses() -> None:
    prompt = Prompt(subject="the barista", action="lifts the cup", camera="slow push in", lens="50mm",
                    lighting="morning sun", atmosphere="steam rising", mood="quietly content")
    texts = {style: compose(prompt, style) for style in ("plain", "sora", "kling", "veo", "seedance", "runway")}
    assert len(set(texts.values())) == 6
    for text in texts.values():  # the skeleton is shared: every clause reaches every model
        for clause in ("barista", "lifts the cup", "slow push in", "50mm", "morning sun", "steam rising"):
            assert clause in text.lower()
    assert texts["sora"].endswith("Environment: morning sun; steam rising.")  # the environmental tail
    # subject and action read as one clause when the action starts with a verb, with a comma when it does not
    assert compose(Prompt(subject="a rooftop at dawn", action="first light spreads")) == \
        "A rooftop at dawn, first light spreads."
    assert compose(Prompt(subject="the runner", action="jogs left to right")) == "The runner jogs left to right."
    assert texts["kling"].startswith("The barista lifts the cup, quietly content.")  # emotion in the action
    assert "Mood: quietly content" in texts["plain"] and "Mood:" not in texts["kling"]
    assert texts["veo"].startswith("Slow push in, 50mm.")  # camera first
    assert CATALOG.model("sora-2").prompt_style == "sora" and CATALOG.model("kling-3").prompt_style == "kling"  # type: ignore[union-attr]


def test_a_duration_fitted_by_an_earlier_build_is_named_as_such_when_the_shot_changes() -> None:
    canvas = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR, duration_s=5).canvas
    data = canvas.to_json_data()
    next(n for n in data["nodes"] if n["id"] == "shot")["duration_s"] = 6
    changed = load_canvas(data, CATALOG).canvas
    assert changed is not None
    summary = controlled(changed, CATALOG)
    assert summary is not None
    veo = next(e for e in summary.entrants if e.node == "veo-3.1-standard")
    assert veo.flags[0] == ("veo-3.1-standard: set to 4 s on the node, not the controlled 6 s "
                            "(Build again to fit it)")
    rebuilt = build_bakeoff(changed, CATALOG, image="ref", shot="shot", entrants=FOUR)
    assert rebuilt.reused == [e.node for e in summary.entrants] and not any("veo" in f for f in rebuilt.flags
                                                                            if "s on the node" in f)
    assert controlled(rebuilt.canvas, CATALOG).entrants[3].duration_s == 6  # type: ignore[union-attr]


def test_take_k_of_every_seeded_entrant_shares_a_seed_and_takes_of_one_node_differ(tmp_path: Path) -> None:
    from blender_canvas.engine.session import Session

    canvas = build_bakeoff(base_canvas(), CATALOG, image="ref", shot="shot", entrants=FOUR, takes=3,
                           seed=100).canvas
    plan = Session(tmp_path / "p", keys={}).plan(canvas, tmp_path, draft=True)
    seeds = {(j.node_id, j.take_index): j.params.get("seed") for j in plan.jobs}
    assert [seeds[("seedance-2-pro", k)] for k in range(3)] == [100, 101, 102]
    assert [seeds[("veo-3.1-standard", k)] for k in range(3)] == [100, 101, 102]
    assert seeds[("kling-3-o3", 0)] is None  # Kling takes no seed, and the draft does not pretend it does
