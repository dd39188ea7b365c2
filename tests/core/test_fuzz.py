"""Property tests: load_canvas turns any document, however broken, into a Report and never raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blender_canvas.engine.validation import Report, load_canvas
from blender_canvas.providers.catalog import load_catalog

CATALOG = load_catalog()
BASE_DIRS = (None, Path(__file__).resolve().parents[1] / "canvases", Path(__file__).resolve().parent)

# --- raw JSON ---------------------------------------------------------------------------------------

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(["version", "title", "draft", "budget_usd", "defaults", "nodes", "id", "kind",
                               "model", "inputs", "shots", "video", "image", ""]) | st.text(max_size=8)
# documents shaped like a canvas at the top, with arbitrary JSON inside
JSON_CANVAS = st.dictionaries(FIELD_NAMES, JSON, max_size=5) | st.fixed_dictionaries(
    {"nodes": st.lists(st.dictionaries(FIELD_NAMES, SCALARS | JSON, max_size=5), max_size=5)})

# --- near-valid canvases ----------------------------------------------------------------------------

IDS = ["a", "b", "c", "hero", "shot", "vo", "cut", "v1", "bad id", "", "x" * 70]
JUNK: st.SearchStrategy[Any] = st.sampled_from(
    [None, "", "??", -1, 0, 3.5, True, [], {}, "x" * 300, "\x00", "../../etc/passwd"])
MODEL_NAMES = [*sorted({name for m in CATALOG.models for name in (m.id, *m.aliases)}), "sora-3", "", "KLING-3"]
VARIANTS = [*sorted({v.id for m in CATALOG.models for v in m.variants}), "4.0", ""]
BACKENDS = [b.id for b in CATALOG.backends] + ["nowhere"]
RATIOS = [*sorted({r for m in CATALOG.models for v in m.variants for r in v.aspect_ratios}), "5:1", "0:0", "wide"]
RESOLUTIONS = [*sorted({r for m in CATALOG.models for v in m.variants for r in v.resolutions}), "8K", "4k"]
PATHS = ["a.png", "b.jpg", "clip.mp4", "line.wav", "notes.txt", "assets/logo.png", "", "a" * 300 + ".png", "x.PNG"]


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a sensible value, one time in eight a wrong one."""
    return st.integers(0, 7).flatmap(lambda n: JUNK if n == 0 else strategy)


node_id = st.sampled_from(IDS) | JUNK
wire = st.sampled_from(IDS)
prompt = st.fixed_dictionaries({}, optional={"subject": st.sampled_from(["", "a runner", "x"]),
                                             "action": st.text(max_size=5), "mood": st.just("calm")})
inputs = st.fixed_dictionaries({}, optional={
    "image": maybe(wire), "images": st.lists(maybe(wire), max_size=18), "last_frame": maybe(wire),
    "audio": maybe(wire), "video": maybe(wire), "shot": maybe(wire), "unknown": wire})
model_fields = {
    "model": maybe(st.sampled_from(MODEL_NAMES)), "variant": maybe(st.sampled_from(VARIANTS)),
    "route": maybe(st.sampled_from(BACKENDS)), "takes": maybe(st.integers(-1, 12)),
    "seed": maybe(st.integers(-5, 2**32)), "inputs": maybe(inputs), "prompt": maybe(prompt),
    "aspect_ratio": maybe(st.sampled_from(RATIOS)), "resolution": maybe(st.sampled_from(RESOLUTIONS)),
    "duration_s": maybe(st.integers(-2, 700)), "text": maybe(st.text(max_size=10)), "audio": st.booleans(),
}
sequence_shot = maybe(wire) | st.fixed_dictionaries({"node": maybe(wire)}, optional={
    "trim_in_s": maybe(st.floats(-1, 5)), "crossfade_frames": maybe(st.integers(-1, 300))})
sequence_fields = {
    "shots": maybe(st.lists(sequence_shot, max_size=5)),
    "audio": maybe(st.lists(st.fixed_dictionaries({"node": maybe(wire)}, optional={"under": maybe(wire),
                                                  "at_s": maybe(st.floats(-1, 10))}), max_size=3)),
    "end_card": maybe(st.fixed_dictionaries({}, optional={"text": st.text(max_size=5),
                                                          "image": st.sampled_from(PATHS),
                                                          "seconds": maybe(st.floats(-1, 40))})),
    "grade": maybe(st.fixed_dictionaries({}, optional={"gain": maybe(st.lists(st.floats(-1, 5), max_size=4)),
                                                       "curves": st.sampled_from(["none", "filmic", "loud"])})),
}
shot_fields = {"subject": st.text(max_size=5), "duration_s": maybe(st.integers(0, 30)),
               "aspect_ratio": maybe(st.sampled_from(RATIOS)), "seed": maybe(st.integers(-1, 10))}
KIND_FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "image": model_fields, "video": model_fields, "audio": model_fields, "shot": shot_fields,
    "sequence": sequence_fields, "reference": {"path": maybe(st.sampled_from(PATHS))},
}


@st.composite
def near_valid_node(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from([*KIND_FIELDS, "painting", None]))
    fields = KIND_FIELDS.get(kind or "", model_fields)
    node: dict[str, Any] = {"id": draw(node_id)}
    if kind is not None:
        node["kind"] = kind
    node.update(draw(st.fixed_dictionaries({}, optional=fields)))
    same_kind = [m for m in CATALOG.models if m.kind == kind]
    deep = draw(st.integers(0, 3)) > 0  # mostly a model that makes what the node is, so the checks go deep
    if same_kind and deep:
        model = draw(st.sampled_from(same_kind))
        node["model"] = draw(st.sampled_from([model.id, *model.aliases]))
        if draw(st.booleans()):
            node["variant"] = draw(st.sampled_from([v.id for v in model.variants]))
    if draw(st.integers(0, 20)) == 0:
        node[draw(st.sampled_from(["colour", "kind", "id", "inputs", "position"]))] = draw(SCALARS | JSON)
    if draw(st.integers(0, 40)) == 0:
        return draw(SCALARS | JSON)  # now and then not a node at all
    return node


@st.composite
def cycle_nodes(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A ring of model nodes, each wired into the next: a -> b -> ... -> a."""
    size = draw(st.integers(1, 5))
    ids = [f"n{i}" for i in range(size)]
    kind = draw(st.sampled_from(["image", "video"]))
    model = draw(st.sampled_from([m.id for m in CATALOG.models if m.kind == kind] + ["sora-3"]))
    socket = draw(st.sampled_from(["image", "images", "video", "last_frame"]))
    nodes = []
    for i, this in enumerate(ids):
        source = ids[(i + 1) % size]
        nodes.append({"id": this, "kind": kind, "model": model,
                      "inputs": {socket: [source] if socket == "images" else source}})
    return nodes


near_valid_canvas = st.builds(
    lambda defaults, nodes, ring, extra: {**extra, "defaults": defaults, "nodes": nodes + ring},
    maybe(st.fixed_dictionaries({}, optional={"aspect_ratio": maybe(st.sampled_from(RATIOS)),
                                              "duration_s": maybe(st.integers(0, 30)),
                                              "resolution": maybe(st.sampled_from(RESOLUTIONS)),
                                              "seed": maybe(st.integers(-1, 10))})),
    st.lists(near_valid_node(), max_size=8),
    st.lists(cycle_nodes(), max_size=2).map(lambda rings: [n for ring in rings for n in ring]),
    st.fixed_dictionaries({}, optional={"version": maybe(st.just(1)), "title": maybe(st.text(max_size=5)),
                                        "draft": maybe(st.booleans()), "budget_usd": maybe(st.floats(-1, 10)),
                                        "colour": st.just("red")}),
)


def assert_sound_report(doc: Any, report: Any) -> None:
    assert isinstance(report, Report)
    raw_nodes = doc.get("nodes") if isinstance(doc, dict) else None
    raw_nodes = raw_nodes if isinstance(raw_nodes, list) else []
    known_ids = {n["id"] for n in raw_nodes if isinstance(n, dict) and isinstance(n.get("id"), str)}
    known_ids |= {f"#{i}" for i in range(len(raw_nodes))}
    for problem in report.problems:
        assert problem.severity in ("error", "warning")
        assert problem.field.strip(), problem
        assert problem.message.strip(), problem
        assert problem.node is None or problem.node in known_ids, problem
        text = str(problem)
        assert text.startswith(problem.severity + ": ") and problem.message in text
    if report.canvas is None:
        assert report.errors, "no canvas and no error to say why"
        assert not report.ok
    assert report.ok == (report.canvas is not None and not report.errors)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=JSON | JSON_CANVAS, base_dir=st.sampled_from(BASE_DIRS))
def test_raw_json_never_raises(doc: Any, base_dir: Path | None) -> None:
    assert_sound_report(doc, load_canvas(doc, CATALOG, base_dir=base_dir))


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=near_valid_canvas, base_dir=st.sampled_from(BASE_DIRS))
def test_near_valid_canvases_never_raise(doc: Any, base_dir: Path | None) -> None:
    assert_sound_report(doc, load_canvas(doc, CATALOG, base_dir=base_dir))


@settings(max_examples=300, deadline=None)
@given(ring=cycle_nodes())
def test_every_ring_is_reported_as_a_loop(ring: list[dict[str, Any]]) -> None:
    report = load_canvas({"nodes": ring}, CATALOG)
    loops = [p for p in report.problems if p.field == "inputs" and "form a loop" in p.message]
    assert len(loops) == 1, [str(p) for p in report.problems]
    assert loops[0].severity == "error"
