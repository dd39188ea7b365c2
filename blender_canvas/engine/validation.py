"""Canvas validation: every problem at once, each naming the node, the field, the bad value and what is allowed.

Structure errors (a missing field, a number where text goes) come from pydantic and are translated into the
same :class:`Problem` shape as the catalog checks, so the node editor and the command line show one kind of
message. Nothing here raises on bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..providers.catalog import (
    INPUT_ACCEPTS,
    LIST_INPUTS,
    Catalog,
    InputName,
    Model,
    Variant,
    describe_choices,
    describe_seconds,
)
from .canvas_json import CanvasFileError as CanvasFileError
from .canvas_json import read_json_file as read_json_file
from .canvas_json import structure_problem
from .document import (
    PROMPT_FIELDS,
    AudioNode,
    Canvas,
    ImageNode,
    ModelNode,
    Node,
    ReferenceNode,
    SequenceNode,
    VideoNode,
    output_kind,
)
from .media_check import media_problem
from .problems import Problem as Problem
from .problems import pydantic_problems, short_value
from .settings import resolve_settings


class Report(BaseModel):
    canvas: Canvas | None
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.canvas is not None and not self.errors


_NODE_ADAPTER: TypeAdapter[Node] = TypeAdapter(Node)


def load_canvas(data: Any, catalog: Catalog, base_dir: Path | None = None) -> Report:
    """Parse and check a canvas document; ``base_dir`` (the canvas file's folder) enables file checks."""
    problems: list[Problem] = []
    shape = structure_problem(data)
    if shape:
        return Report(canvas=None, problems=[Problem(severity="error", node=None, field="(document)",
                                                     message=shape)])
    if not isinstance(data, dict):
        return Report(canvas=None, problems=[Problem(severity="error", node=None, field="(document)",
                                                     value=short_value(data), message="is not a JSON object")])
    raw_nodes = data.get("nodes", [])
    if not isinstance(raw_nodes, list):
        problems.append(Problem(severity="error", node=None, field="nodes", value=short_value(raw_nodes),
                                message="must be a list of nodes"))
        raw_nodes = []
    nodes: list[Node] = []
    for index, raw in enumerate(raw_nodes):
        node_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index}"
        try:
            nodes.append(_NODE_ADAPTER.validate_python(raw))
        except ValidationError as error:
            problems.extend(pydantic_problems(error, node_id))
    try:
        canvas = Canvas.model_validate({**data, "nodes": []})
    except ValidationError as error:
        problems.extend(pydantic_problems(error, None))
        # still check the nodes against the catalog, so one stray top-level field does not hide every other
        # problem; not when the defaults themselves are wrong, since every node inherits from them
        bad = {item["loc"][0] for item in error.errors() if item["loc"]}
        if "defaults" not in bad and "nodes" not in bad:
            try:
                rest = Canvas.model_validate({k: v for k, v in data.items() if k not in bad and k != "nodes"})
                rest.nodes = nodes
                problems.extend(check_canvas(rest, catalog, base_dir))
            except ValidationError:
                pass
        return Report(canvas=None, problems=problems)
    try:
        canvas.nodes = nodes  # re-checks the list as a whole (its length)
    except ValidationError as error:
        problems.extend(pydantic_problems(error, None))
        return Report(canvas=None, problems=problems)
    problems.extend(check_canvas(canvas, catalog, base_dir))
    return Report(canvas=canvas, problems=problems)


def check_canvas(canvas: Canvas, catalog: Catalog, base_dir: Path | None = None) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for node in canvas.nodes:
        if node.id in seen:
            problems.append(Problem(severity="error", node=node.id, field="id", value=node.id,
                                    message="is used by more than one node", allowed="a unique id per node"))
        seen.add(node.id)
    by_id = {n.id: n for n in canvas.nodes}
    by_kind: dict[str, list[str]] = {}
    for node in canvas.nodes:
        by_kind.setdefault(output_kind(node) or "", []).append(node.id)
    for node in canvas.nodes:
        if isinstance(node, ReferenceNode):
            problems.extend(_check_reference(node, base_dir))
        elif isinstance(node, (ImageNode, VideoNode, AudioNode)):
            problems.extend(_check_model_node(canvas, node, by_id, by_kind, catalog))
        elif isinstance(node, SequenceNode):
            problems.extend(_check_sequence(node, by_id, by_kind, base_dir))
    problems.extend(_check_cycles(canvas))
    from .bakeoff import check_bakeoff  # it builds on this module's checks

    problems.extend(check_bakeoff(canvas, catalog))
    return problems


def _err(node: str, field: str, value: Any, message: str, allowed: str = "") -> Problem:
    return Problem(severity="error", node=node, field=field, value=short_value(value), message=message, allowed=allowed)


def _warn(node: str, field: str, value: Any, message: str, allowed: str = "") -> Problem:
    return Problem(severity="warning", node=node, field=field, value=short_value(value), message=message,
                   allowed=allowed)


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a name the system refuses (too long, say) instead of an OSError."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _some(ids: list[str], leave_out: str = "") -> str:
    """At most a dozen ids for an 'allowed' hint, so a canvas with many mistakes stays linear to check."""
    shown = [i for i in ids[:13] if i != leave_out][:12]
    more = len(ids) - len(shown) - (leave_out in ids)
    return describe_choices(tuple(shown)) + (f" (and {more} more)" if more > 0 else "")


def _check_reference(node: ReferenceNode, base_dir: Path | None) -> list[Problem]:
    if node.media is None:
        return [_err(node.id, "path", node.path, f"'{node.path}' is not an image, video or audio file",
                     "files ending in .png, .jpg, .webp, .exr, .mp4, .mov, .webm, .wav, .mp3, .flac and similar")]
    if base_dir is not None and not _is_file(base_dir / node.path):
        return [_err(node.id, "path", node.path, f"no file at {base_dir / node.path}", "an existing file")]
    wrong = media_problem(base_dir / node.path, node.media) if base_dir is not None else None
    if wrong:
        return [_err(node.id, "path", node.path, wrong, f"{_a(node.media)} file (checked by its content)")]
    return []


def _models_of_kind(catalog: Catalog, kind: str) -> str:
    return describe_choices(tuple(m.id for m in catalog.models if m.kind == kind))


def _check_model_node(canvas: Canvas, node: ModelNode, by_id: dict[str, Node], by_kind: dict[str, list[str]],
                      catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    model = catalog.model(node.model)
    if model is None:
        return [_err(node.id, "model", node.model, f"'{node.model}' is not in the catalog",
                     _models_of_kind(catalog, node.kind))]
    if model.kind != node.kind:
        return [_err(node.id, "model", node.model, f"{model.label} makes {model.kind}, not {node.kind}",
                     _models_of_kind(catalog, node.kind))]
    variant = model.variant(node.variant)
    if variant is None:
        return [_err(node.id, "variant", node.variant, f"{model.label} has no variant '{node.variant}'",
                     describe_choices(tuple(v.id for v in model.variants)))]
    problems.extend(_check_lifecycle_and_route(canvas, node, model, variant, catalog))
    problems.extend(_check_settings(canvas, node, model, variant, catalog))
    problems.extend(_check_inputs(node, model, variant, by_id, by_kind))
    if isinstance(node, AudioNode) and not node.text.strip():
        problems.append(_err(node.id, "text", node.text, "a voice node needs the words to speak",
                             "non-empty text"))
    if isinstance(node, (ImageNode, VideoNode)):
        has_words = any(getattr(node.prompt, f) for f in PROMPT_FIELDS) or node.inputs.shot
        if variant.text_prompt and not has_words and not (node.inputs.image or node.inputs.video or node.inputs.images):
            problems.append(_err(node.id, "prompt", None, f"{model.label} needs something to work from",
                                 "a prompt clause, a wired shot node, or an input image"))
        if not variant.text_prompt and has_words:
            problems.append(_warn(node.id, "prompt", None, f"{variant.label} takes no prompt; it will not be sent"))
    return problems


def _fitting_routes(variant: Variant, counts: dict[str, int], aspect: str | None) -> str:
    fitting = tuple(r.backend for r in variant.live_routes if not r.refusal(counts, aspect))
    return describe_choices(fitting) if fitting else "fewer inputs, another aspect ratio, or another model"


def _check_lifecycle_and_route(canvas: Canvas, node: ModelNode, model: Model, variant: Variant,
                               catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    live = describe_choices(tuple(r.backend for r in variant.live_routes)) if variant.live_routes else ""
    status = variant.status
    if status.status == "retired":
        when = f" on {status.since.isoformat()}" if status.since else ""
        problems.append(_warn(node.id, "model", node.model,
                              f"{variant.label} was retired{when} ({status.note}); it runs only in draft mode",
                              live or "no live route; pick another model for a paid render"))
    elif status.status == "deprecated":
        problems.append(_warn(node.id, "variant", variant.id, f"{variant.label} is deprecated: {status.note}"))
    value = resolve_settings(canvas, node, model, variant).aspect_ratio.value
    aspect = str(value) if value is not None else None
    counts = node.inputs.counts()
    chosen = [variant.route(node.route)] if node.route is not None else list(variant.live_routes)
    refusals = [route.refusal(counts, aspect) for route in chosen if route is not None]
    if refusals and all(refusals):
        problems.append(_err(node.id, "route" if node.route else "inputs", node.route,
                             f"{variant.label}: " + "; ".join(refusals),
                             _fitting_routes(variant, counts, aspect)))
    if node.route is not None:
        route = variant.route(node.route)
        if route is None:
            problems.append(_err(node.id, "route", node.route, f"{variant.label} is not served by '{node.route}'",
                                 describe_choices(tuple(r.backend for r in variant.routes))))
        elif not route.lifecycle.usable and status.status != "retired":
            when = f" on {route.lifecycle.since.isoformat()}" if route.lifecycle.since else ""
            backend = catalog.backend(node.route)
            problems.append(_err(node.id, "route", node.route,
                                 f"{backend.label if backend else node.route} stopped serving {variant.label}{when} "
                                 f"({route.lifecycle.note})", live))
    return problems


def _check_settings(canvas: Canvas, node: ModelNode, model: Model, variant: Variant,
                    catalog: Catalog) -> list[Problem]:
    problems: list[Problem] = []
    settings = resolve_settings(canvas, node, model, variant)
    inherited = {"shot": " (from the wired shot node)", "defaults": " (from the canvas defaults)"}

    duration = settings.duration_s
    if isinstance(node, VideoNode) and duration.value is not None:
        if variant.duration_from and duration.origin == "node":
            problems.append(_warn(node.id, "duration_s", duration.value,
                                  f"{variant.label} makes a clip as long as its {variant.duration_from} input; "
                                  "the duration is ignored"))
        elif not variant.duration_from and variant.durations and duration.value not in variant.durations:
            problems.append(_err(node.id, "duration_s", duration.value,
                                 f"{variant.label} does not allow {duration.value} s"
                                 f"{inherited.get(duration.origin, '')}", describe_seconds(variant.durations)))
    aspect = settings.aspect_ratio
    if aspect.value is not None and variant.aspect_ratios and aspect.value not in variant.aspect_ratios:
        problems.append(_err(node.id, "aspect_ratio", aspect.value,
                             f"{variant.label} does not allow {aspect.value}{inherited.get(aspect.origin, '')}",
                             describe_choices(variant.aspect_ratios)))
    resolution = settings.resolution
    if resolution.value is not None and resolution.origin != "model":
        if not variant.resolutions:
            problems.append(_warn(node.id, "resolution", resolution.value,
                                  f"{variant.label} has no resolution choice; it is ignored"))
        elif resolution.value not in variant.resolutions:
            problems.append(_err(node.id, "resolution", resolution.value,
                                 f"{variant.label} does not offer {resolution.value}"
                                 f"{inherited.get(resolution.origin, '')}", describe_choices(variant.resolutions)))
    if isinstance(node, VideoNode) and node.audio and not variant.sound:
        makers = tuple(m.id for m in catalog.models if any(v.sound for v in m.variants))
        problems.append(_warn(node.id, "audio", True, f"{variant.label} makes no sound; the clip will be silent "
                              "(nothing asks the vendor for it, nothing is billed for it)",
                              f"a model that makes sound: {describe_choices(makers)}"))
    if node.seed is not None:
        routes = [node.route] if node.route else [r.backend for r in variant.live_routes or variant.routes]
        if not any(variant.seed_on(backend) for backend in routes):
            problems.append(_warn(node.id, "seed", node.seed,
                                  f"{variant.label} takes no seed; the seed will not be sent and takes will vary"))
    return problems


_GIVES = {"image": "an image", "video": "a video", "audio": "audio", "shot": "a shot"}


def _a(word: str) -> str:
    """'an image', 'an audio', 'a video': the indefinite article a word takes."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _check_inputs(node: ModelNode, model: Model, variant: Variant, by_id: dict[str, Node],
                  by_kind: dict[str, list[str]]) -> list[Problem]:
    problems: list[Problem] = []
    accepted = describe_choices(tuple(s.name.value for s in variant.inputs)) if variant.inputs else "none"
    for name, source_id in node.inputs.wired():
        field = f"inputs.{name}"
        input_name = InputName(name)
        spec = variant.input(input_name)
        if spec is None:
            problems.append(_err(node.id, field, source_id, f"{variant.label} has no '{name}' input", accepted))
            continue
        source = by_id.get(source_id)
        wanted = INPUT_ACCEPTS[input_name]
        if source is None:
            candidates = [i for i in by_kind.get(wanted, []) if i != node.id]
            problems.append(_err(node.id, field, source_id, f"no node has the id '{source_id}'",
                                 _some(by_kind.get(wanted, []), node.id) if candidates
                                 else f"the id of {_a(wanted)} node"))
            continue
        got = output_kind(source)
        if got != wanted:
            problems.append(_err(node.id, field, source_id,
                                 f"'{source_id}' gives {_GIVES.get(got or '', 'nothing usable')}, "
                                 f"but the '{name}' input takes {_GIVES[wanted]}",
                                 f"{_a(wanted)} node" + (" or a reference file" if wanted != "shot" else "")))
    for spec in variant.inputs:
        count = len(node.inputs.images) if spec.name in LIST_INPUTS else int(bool(getattr(node.inputs, spec.name)))
        if spec.required and count == 0:
            problems.append(_err(node.id, f"inputs.{spec.name.value}", None,
                                 f"{variant.label} needs {_a(INPUT_ACCEPTS[spec.name])} input",
                                 f"wire {_a(INPUT_ACCEPTS[spec.name])} node into '{spec.name.value}'"))
        if count > spec.max_items:
            problems.append(_err(node.id, f"inputs.{spec.name.value}", count,
                                 f"{variant.label} takes at most {spec.max_items} {spec.name.value}",
                                 f"1–{spec.max_items} items"))
    return problems


def _check_sequence(node: SequenceNode, by_id: dict[str, Node], by_kind: dict[str, list[str]],
                    base_dir: Path | None) -> list[Problem]:
    problems: list[Problem] = []
    videos = _some(by_kind.get("video", [])) if by_kind.get("video") else "the id of a video node"
    audios = _some(by_kind.get("audio", [])) if by_kind.get("audio") else "the id of an audio node"
    for index, shot in enumerate(node.shot_list()):
        field = f"shots[{index}]"
        source = by_id.get(shot.node)
        if source is None:
            problems.append(_err(node.id, field, shot.node, f"no node has the id '{shot.node}'", videos))
        elif output_kind(source) != "video":
            problems.append(_err(node.id, field, shot.node,
                                 f"'{shot.node}' gives {output_kind(source) or 'nothing usable'}, not video", videos))
    shot_ids = {s.node for s in node.shot_list()}
    for index, placement in enumerate(node.audio):
        field = f"audio[{index}]"
        source = by_id.get(placement.node)
        if source is None or output_kind(source) != "audio":
            problems.append(_err(node.id, f"{field}.node", placement.node, f"'{placement.node}' is not an audio node",
                                 audios))
        if placement.under is not None and placement.under not in shot_ids:
            problems.append(_err(node.id, f"{field}.under", placement.under, "is not a shot of this sequence",
                                 _some(sorted(shot_ids)) if shot_ids else "a shot's node id"))
    logo = node.end_card.image if node.end_card else None
    if logo and base_dir is not None:
        if not _is_file(base_dir / logo):
            problems.append(_err(node.id, "end_card.image", logo, f"no file at {base_dir / logo}",
                                 "an existing image"))
        elif wrong := media_problem(base_dir / logo, "image"):
            problems.append(_err(node.id, "end_card.image", logo, wrong, "an image file (checked by its content)"))
    return problems


def _edges(node: Node) -> list[str]:
    if isinstance(node, SequenceNode):
        return [s.node for s in node.shot_list()] + [a.node for a in node.audio]
    if isinstance(node, (ImageNode, VideoNode, AudioNode)):
        return [source for _, source in node.inputs.wired()]
    return []


def _check_cycles(canvas: Canvas) -> list[Problem]:
    graph = {n.id: _edges(n) for n in canvas.nodes}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    problems: list[Problem] = []
    reported: set[frozenset[str]] = set()

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            current, index = stack[-1]
            targets = graph.get(current, [])
            if index >= len(targets):
                stack.pop()
                path.pop()
                state[current] = 2
                continue
            stack[-1] = (current, index + 1)
            target = targets[index]
            if target not in graph:
                continue
            if state.get(target) == 1:
                cycle = [*path[path.index(target):], target]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    problems.append(_err(target, "inputs", " -> ".join(cycle),
                                         "the wires form a loop: " + " -> ".join(cycle),
                                         "wires that only run forward, from sources to the cut"))
            elif target not in state:
                state[target] = 1
                stack.append((target, 0))
                path.append(target)

    for node_id in graph:
        if node_id not in state:
            visit(node_id)
    return problems
