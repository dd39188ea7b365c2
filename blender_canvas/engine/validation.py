"""Canvas validation: every problem at once, each naming the node, the field, the bad value and what is allowed.

Structure errors (a missing field, a number where text goes) come from pydantic and are translated into the
same :class:`Problem` shape as the catalog checks, so the node editor and the command line show one kind of
message. Nothing here raises on bad input.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

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
from .document import (
    NODE_KINDS,
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
from .settings import resolve_settings


class Problem(BaseModel):
    severity: Literal["error", "warning"]
    node: str | None  # None for canvas-level problems
    field: str
    value: Any = None
    message: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f"node '{self.node}'" if self.node else "canvas"
        allowed = f"; allowed: {self.allowed}" if self.allowed else ""
        return f"{self.severity}: {where}, {self.field}: {self.message}{allowed}"


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


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def _is_union_label(part: str | int) -> bool:
    """Pydantic names the branch of a union in the location ('constrained-str', 'SequenceShot'): not a field."""
    return isinstance(part, str) and (part[:1].isupper() or "-" in part or "[" in part)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def _field_path(parts: list[str | int]) -> str:
    """('inputs', 'images', 0) -> 'inputs.images[0]', the same shape the catalog checks use."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _PLAIN_NAME.match(part) else repr(part)  # a user's odd key (' ', '') stays visible
            text += f".{name}" if text else name
    return text


def _pydantic_problems(error: ValidationError, node_id: str | None) -> list[Problem]:
    problems: list[Problem] = []
    from_union: set[tuple[str, str]] = set()  # (field, message) pairs that came from one branch of a union
    for item in error.errors(include_url=False):
        loc: list[str | int] = list(item["loc"])
        kind = item["type"]
        # a node's discriminated union puts the kind tag in the location: drop it, it is not a field the user wrote
        if node_id is not None and loc and loc[0] in NODE_KINDS:
            loc = loc[1:]
        # the last part of an unknown field is the user's own key; anything before it may name a union branch
        keep_last = kind == "extra_forbidden" and loc
        kept = [p for p in (loc[:-1] if keep_last else loc) if not _is_union_label(p)] + (loc[-1:] if keep_last else [])
        branch = len(kept) != len(loc)
        field = _field_path(kept) or ("(node)" if node_id is not None else "(document)")
        ctx = item.get("ctx") or {}
        allowed = ""
        message = item["msg"]
        if kind == "extra_forbidden":
            message = "is not a known field"
        elif kind == "missing":
            message = "is required"
        elif kind == "model_attributes_type" and not kept:
            message = "is not a JSON object"
            allowed = "an object with an id and a kind"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            field = "kind"
            message = "is missing" if kind == "union_tag_not_found" else "is not a node kind"
            allowed = describe_choices(NODE_KINDS)
        elif kind == "literal_error":
            allowed = str(ctx.get("expected", ""))
        elif kind == "string_pattern_mismatch":
            message = "has characters or a shape that is not allowed"
            last = kept[-1] if kept else ""
            allowed = {
                "id": "letters, digits, '_', '-', '.', starting with a letter or digit, up to 63 characters",
                "aspect_ratio": "W:H, for example 16:9",
            }.get(last if isinstance(last, str) else "", str(ctx.get("pattern", "")))
        problem = Problem(severity="error", node=node_id, field=field, value=_short(item.get("input")),
                          message=message, allowed=allowed)
        previous = problems[-1] if problems else None
        if branch and previous is not None and (previous.field, previous.message) in from_union \
                and previous.field == field:
            # one mistake, several union branches refused it: one problem that names every branch's wish
            merged = previous.message + "; or " + message[:1].lower() + message[1:]
            problems[-1] = previous.model_copy(update={"message": merged})
            from_union.add((field, merged))
            continue
        if branch:
            from_union.add((field, message))
        problems.append(problem)
    return problems


class CanvasFileError(Exception):
    """A canvas file that cannot be read, or does not validate; the message says why. Nothing was changed."""

    def __init__(self, message: str, report: Report | None = None) -> None:
        super().__init__(message)
        self.report = report


def read_json_file(path: Path) -> Any:
    """A JSON file's data, or CanvasFileError with a one-line reason (missing, unreadable, where the JSON breaks)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise CanvasFileError(f"{path}: no such file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise CanvasFileError(f"{path}: cannot read it ({error.__class__.__name__}: {error})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CanvasFileError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}: "
                              f"{error.msg}") from error


def load_canvas(data: Any, catalog: Catalog, base_dir: Path | None = None) -> Report:
    """Parse and check a canvas document; ``base_dir`` (the canvas file's folder) enables file checks."""
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return Report(canvas=None, problems=[Problem(severity="error", node=None, field="(document)",
                                                     value=_short(data), message="is not a JSON object")])
    raw_nodes = data.get("nodes", [])
    if not isinstance(raw_nodes, list):
        problems.append(Problem(severity="error", node=None, field="nodes", value=_short(raw_nodes),
                                message="must be a list of nodes"))
        raw_nodes = []
    nodes: list[Node] = []
    for index, raw in enumerate(raw_nodes):
        node_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{index}"
        try:
            nodes.append(_NODE_ADAPTER.validate_python(raw))
        except ValidationError as error:
            problems.extend(_pydantic_problems(error, node_id))
    try:
        canvas = Canvas.model_validate({**data, "nodes": []})
    except ValidationError as error:
        problems.extend(_pydantic_problems(error, None))
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
        problems.extend(_pydantic_problems(error, None))
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
    for node in canvas.nodes:
        if isinstance(node, ReferenceNode):
            problems.extend(_check_reference(node, base_dir))
        elif isinstance(node, (ImageNode, VideoNode, AudioNode)):
            problems.extend(_check_model_node(canvas, node, by_id, catalog))
        elif isinstance(node, SequenceNode):
            problems.extend(_check_sequence(node, by_id, base_dir))
    problems.extend(_check_cycles(canvas))
    from .bakeoff import check_bakeoff  # it builds on this module's checks

    problems.extend(check_bakeoff(canvas, catalog))
    return problems


def _err(node: str, field: str, value: Any, message: str, allowed: str = "") -> Problem:
    return Problem(severity="error", node=node, field=field, value=_short(value), message=message, allowed=allowed)


def _warn(node: str, field: str, value: Any, message: str, allowed: str = "") -> Problem:
    return Problem(severity="warning", node=node, field=field, value=_short(value), message=message, allowed=allowed)


def _is_file(path: Path) -> bool:
    """Path.is_file, but False for a name the system refuses (too long, say) instead of an OSError."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _check_reference(node: ReferenceNode, base_dir: Path | None) -> list[Problem]:
    if node.media is None:
        return [_err(node.id, "path", node.path, f"'{node.path}' is not an image, video or audio file",
                     "files ending in .png, .jpg, .webp, .exr, .mp4, .mov, .webm, .wav, .mp3, .flac and similar")]
    if base_dir is not None and not _is_file(base_dir / node.path):
        return [_err(node.id, "path", node.path, f"no file at {base_dir / node.path}", "an existing file")]
    return []


def _models_of_kind(catalog: Catalog, kind: str) -> str:
    return describe_choices(tuple(m.id for m in catalog.models if m.kind == kind))


def _check_model_node(canvas: Canvas, node: ModelNode, by_id: dict[str, Node], catalog: Catalog) -> list[Problem]:
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
    problems.extend(_check_settings(canvas, node, model, variant))
    problems.extend(_check_inputs(node, model, variant, by_id))
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


def _check_settings(canvas: Canvas, node: ModelNode, model: Model, variant: Variant) -> list[Problem]:
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


def _check_inputs(node: ModelNode, model: Model, variant: Variant, by_id: dict[str, Node]) -> list[Problem]:
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
            candidates = tuple(n.id for n in by_id.values() if output_kind(n) == wanted and n.id != node.id)
            problems.append(_err(node.id, field, source_id, f"no node has the id '{source_id}'",
                                 describe_choices(candidates) if candidates else f"the id of {_a(wanted)} node"))
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


def _check_sequence(node: SequenceNode, by_id: dict[str, Node], base_dir: Path | None) -> list[Problem]:
    problems: list[Problem] = []
    videos = tuple(n.id for n in by_id.values() if output_kind(n) == "video")
    audios = tuple(n.id for n in by_id.values() if output_kind(n) == "audio")
    for index, shot in enumerate(node.shot_list()):
        field = f"shots[{index}]"
        source = by_id.get(shot.node)
        if source is None:
            problems.append(_err(node.id, field, shot.node, f"no node has the id '{shot.node}'",
                                 describe_choices(videos) if videos else "the id of a video node"))
        elif output_kind(source) != "video":
            problems.append(_err(node.id, field, shot.node,
                                 f"'{shot.node}' gives {output_kind(source) or 'nothing usable'}, not video",
                                 describe_choices(videos) if videos else "the id of a video node"))
    shot_ids = {s.node for s in node.shot_list()}
    for index, placement in enumerate(node.audio):
        field = f"audio[{index}]"
        source = by_id.get(placement.node)
        if source is None or output_kind(source) != "audio":
            problems.append(_err(node.id, f"{field}.node", placement.node, f"'{placement.node}' is not an audio node",
                                 describe_choices(audios) if audios else "the id of an audio node"))
        if placement.under is not None and placement.under not in shot_ids:
            problems.append(_err(node.id, f"{field}.under", placement.under, "is not a shot of this sequence",
                                 describe_choices(tuple(sorted(shot_ids))) if shot_ids else "a shot's node id"))
    logo = node.end_card.image if node.end_card else None
    if logo and base_dir is not None and not _is_file(base_dir / logo):
        problems.append(_err(node.id, "end_card.image", logo, f"no file at {base_dir / logo}", "an existing image"))
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
