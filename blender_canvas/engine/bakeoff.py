"""Fair bake-offs: one image, one shot skeleton, one aspect ratio and seed, several models, judged axis by axis.

The builder wires the entrants so the controlled inputs are shared by construction (every entrant reads aspect
ratio, seed and duration from the one shot node). Where a model cannot run the controlled duration, its node gets
the nearest one it can, and that difference is reported (by the builder, by validation and in the report), never
hidden. Verdicts and pins are the ledger's; ``export_verdicts`` / ``import_verdicts`` carry them in the canvas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from ..providers.catalog import Catalog, InputName, Model, Variant, describe_choices, describe_seconds
from .document import (
    DEFAULT_AXES,
    PROMPT_FIELDS,
    BakeOff,
    Canvas,
    Inputs,
    Node,
    ShotNode,
    Verdict,
    VideoNode,
    output_kind,
)
from .ledger import Ledger, VerdictRecord

if TYPE_CHECKING:
    from .validation import Problem

DEFAULT_DURATION_S = 5
DEFAULT_SEED = 42
COLUMN_GAP = 340.0
ROW_GAP = 300.0


class BakeOffError(ValueError):
    """The bake-off cannot be built as asked; the message names the field and what is allowed."""


class Entrant(BaseModel):
    model: str
    variant: str | None = None


class EntrantSettings(BaseModel):
    """What one entrant actually runs with, and where that departs from the controlled inputs."""

    node: str
    model: str
    variant: str
    label: str
    prompt_style: str
    takes: int
    duration_s: int | None
    aspect_ratio: str | None
    seed: int | None
    flags: list[str]


class Controlled(BaseModel):
    """The controlled inputs of a bake-off, as the report and the node editor show them."""

    image: str
    shot: str
    skeleton: dict[str, str]
    aspect_ratio: str | None
    seed: int | None
    duration_s: int | None
    entrants: list[EntrantSettings]


class BuildResult(BaseModel):
    canvas: Canvas
    created: list[str]
    reused: list[str]
    flags: list[str]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "-", text).strip("-._").lower() or "entrant"


def nearest_duration(wanted: int, allowed: Sequence[int]) -> int:
    """The allowed duration closest to the wanted one; on a tie, the shorter (it costs less)."""
    return min(allowed, key=lambda seconds: (abs(seconds - wanted), seconds))


def _resolve(catalog: Catalog, entrant: Entrant, index: int) -> tuple[Model, Variant]:
    field = f"entrant {index + 1}"  # counted as the panel's list shows it
    model = catalog.model(entrant.model)
    if model is None or model.kind.value != "video" or model.preview_only:
        videos = [m.id for m in catalog.models if m.kind.value == "video" and not m.preview_only]
        raise BakeOffError(f"{field}: '{entrant.model}' is not a video model; allowed: "
                           f"{describe_choices(tuple(videos))}")
    variant = model.variant(entrant.variant)
    if variant is None:
        raise BakeOffError(f"{field}: {model.id} has no variant '{entrant.variant}'; allowed: "
                           f"{describe_choices(tuple(v.id for v in model.variants))}")
    if variant.input(InputName.IMAGE) is None:
        raise BakeOffError(f"{field}: {variant.label} takes no first-frame image, so it cannot start from the "
                           "controlled image")
    if variant.duration_from:
        raise BakeOffError(f"{field}: {variant.label} runs as long as its {variant.duration_from} input, so its "
                           "duration cannot be controlled")
    return model, variant


def _duration_flag(node_id: str, variant: Variant, controlled: int | None, actual: int | None) -> str:
    if controlled is None or actual is None or actual == controlled:
        return ""
    if not variant.durations or controlled in variant.durations:
        return f"{node_id}: set to {actual} s on the node, not the controlled {controlled} s (Build again to fit it)"
    return (f"{node_id}: {variant.label} cannot run {controlled} s (allows {describe_seconds(variant.durations)}); "
            f"it runs {actual} s")


def _lifecycle_flag(node_id: str, variant: Variant) -> str:
    status = variant.status
    if status.status == "retired":
        return f"{node_id}: {variant.label} was retired ({status.note}); it runs in draft mode only"
    return ""


def _seed_flag(node_id: str, variant: Variant, seed: int | None) -> str:
    if seed is None or variant.seed:
        return ""
    return f"{node_id}: {variant.label} takes no seed, so its takes vary freely"


def build_bakeoff(canvas: Canvas, catalog: Catalog, *, image: str, shot: str, entrants: Sequence[Entrant],
                  takes: int = 3, duration_s: int | None = None, aspect_ratio: str | None = None,
                  seed: int | None = None, brief: str | None = None,
                  axes: Sequence[str] | None = None) -> BuildResult:
    """A copy of the canvas with the bake-off wired in; entrants already on the canvas are reused, not doubled."""
    image_node, shot_node = canvas.node(image), canvas.node(shot)
    if image_node is None or output_kind(image_node) != "image":
        stills = [n.id for n in canvas.nodes if output_kind(n) == "image"]
        raise BakeOffError(f"image: '{image}' is not an image or reference-still node; allowed: "
                           f"{describe_choices(tuple(stills)) if stills else 'none on this canvas'}")
    if not isinstance(shot_node, ShotNode):
        shots = [n.id for n in canvas.nodes if isinstance(n, ShotNode)]
        raise BakeOffError(f"shot: '{shot}' is not a shot node; allowed: "
                           f"{describe_choices(tuple(shots)) if shots else 'none on this canvas (add a Shot node)'}")
    if len(entrants) < 2:
        raise BakeOffError(f"entrants: a bake-off compares at least 2 model / variant pairs, got {len(entrants)}")
    resolved = [_resolve(catalog, entrant, index) for index, entrant in enumerate(entrants)]
    pairs = [(m.id, v.id) for m, v in resolved]
    if len(set(pairs)) != len(pairs):
        raise BakeOffError("entrants: each model / variant pair may enter once (raise takes for more takes)")
    if not 1 <= takes <= 10:
        raise BakeOffError(f"takes: {takes} is out of range; allowed: 1 to 10 (2 or 3 is usual)")

    aspect = aspect_ratio or shot_node.aspect_ratio or canvas.defaults.aspect_ratio
    refusing = [v.label for _, v in resolved if v.aspect_ratios and aspect not in v.aspect_ratios]
    if refusing:
        common = sorted(set.intersection(*(set(v.aspect_ratios) for _, v in resolved if v.aspect_ratios)))
        raise BakeOffError(f"aspect_ratio: {aspect} is not offered by {', '.join(refusing)}; ratios every entrant "
                           f"offers: {describe_choices(tuple(common)) if common else 'none'}")
    chosen_seed = seed if seed is not None else shot_node.seed if shot_node.seed is not None else (
        canvas.defaults.seed if canvas.defaults.seed is not None else DEFAULT_SEED)
    duration = duration_s or shot_node.duration_s or canvas.defaults.duration_s or DEFAULT_DURATION_S

    nodes: list[Node] = [n.model_copy(deep=True) for n in canvas.nodes]
    by_id = {n.id: n for n in nodes}
    by_id[shot] = shot_node.model_copy(update={"aspect_ratio": aspect, "seed": chosen_seed, "duration_s": duration})
    nodes = [by_id[n.id] for n in nodes]
    origin = _origin(image_node, shot_node)
    created: list[str] = []
    reused: list[str] = []
    flags: list[str] = []
    ids: list[str] = []
    for row, (model, variant) in enumerate(resolved):
        actual = duration if not variant.durations or duration in variant.durations else nearest_duration(
            duration, variant.durations)
        existing = next((n for n in nodes if isinstance(n, VideoNode) and n.model == model.id
                         and (n.variant or model.default_variant) == variant.id and n.inputs.image == image
                         and n.inputs.shot == shot), None)
        node_id = existing.id if existing else _unique(_slug(f"{model.id}-{variant.id}"), by_id)
        update = {"takes": takes, "duration_s": actual if actual != duration else None, "aspect_ratio": None,
                  "seed": None}
        if existing is not None:
            replacement = existing.model_copy(update=update)
            nodes = [replacement if n.id == node_id else n for n in nodes]
            reused.append(node_id)
        else:
            position = (origin[0] + COLUMN_GAP, origin[1] - row * ROW_GAP) if origin else None
            replacement = VideoNode(id=node_id, model=model.id, variant=variant.id, takes=takes,
                                    duration_s=update["duration_s"], position=position,
                                    label=variant.label, inputs=Inputs(image=image, shot=shot))
            nodes.append(replacement)
            created.append(node_id)
        by_id[node_id] = replacement
        ids.append(node_id)
        flags.extend(f for f in (_duration_flag(node_id, variant, duration, actual),
                                 _seed_flag(node_id, variant, chosen_seed), _lifecycle_flag(node_id, variant)) if f)
    previous = canvas.bakeoff
    bakeoff = BakeOff(
        brief=brief if brief is not None else (previous.brief if previous else ""),
        image=image, shot=shot, entrants=ids, takes=takes,
        axes=list(axes) if axes else (list(previous.axes) if previous else list(DEFAULT_AXES)),
        verdicts=previous.verdicts if previous else [], best=previous.best if previous else {},
        best_per_axis=previous.best_per_axis if previous else {},
    )
    result = canvas.model_copy(update={"nodes": nodes, "bakeoff": bakeoff})
    return BuildResult(canvas=Canvas.model_validate(result.model_dump()), created=created, reused=reused,
                       flags=flags)


def _origin(image_node: Node, shot_node: ShotNode) -> tuple[float, float] | None:
    placed = [n.position for n in (image_node, shot_node) if n.position is not None]
    if not placed:
        return None
    return max(p[0] for p in placed), max(p[1] for p in placed)


def _unique(base: str, taken: dict[str, Node]) -> str:
    candidate, counter = base[:60], 2
    while candidate in taken:
        candidate, counter = f"{base[:56]}_{counter}", counter + 1
    return candidate


def controlled(canvas: Canvas, catalog: Catalog) -> Controlled | None:
    """The controlled inputs and what each entrant really runs with; None when the canvas has no bake-off."""
    bakeoff = canvas.bakeoff
    shot = canvas.node(bakeoff.shot) if bakeoff else None
    if bakeoff is None or not isinstance(shot, ShotNode):
        return None
    from .settings import resolve_settings

    aspect = shot.aspect_ratio or canvas.defaults.aspect_ratio
    seed = shot.seed if shot.seed is not None else canvas.defaults.seed
    duration = shot.duration_s or canvas.defaults.duration_s
    entrants: list[EntrantSettings] = []
    for node_id in bakeoff.entrants:
        node = canvas.node(node_id)
        model = catalog.model(node.model) if isinstance(node, VideoNode) else None
        variant = model.variant(node.variant) if model and isinstance(node, VideoNode) else None
        if not isinstance(node, VideoNode) or model is None or variant is None:
            continue
        settings = resolve_settings(canvas, node, model, variant)
        actual_duration = settings.duration_s.value if isinstance(settings.duration_s.value, int) else None
        actual_aspect = str(settings.aspect_ratio.value) if settings.aspect_ratio.value else None
        actual_seed = settings.seed.value if isinstance(settings.seed.value, int) and variant.seed else None
        flags = [f for f in (_duration_flag(node_id, variant, duration, actual_duration),
                             _seed_flag(node_id, variant, seed), _lifecycle_flag(node_id, variant)) if f]
        if actual_aspect != aspect:
            flags.append(f"{node_id}: runs {actual_aspect}, not the controlled {aspect}")
        if node.inputs.image != bakeoff.image:
            flags.append(f"{node_id}: starts from '{node.inputs.image}', not the controlled image '{bakeoff.image}'")
        if node.inputs.shot != bakeoff.shot:
            flags.append(f"{node_id}: reads shot '{node.inputs.shot}', not the controlled shot '{bakeoff.shot}'")
        overridden = [f for f in PROMPT_FIELDS if getattr(node.prompt, f)]
        if overridden:
            flags.append(f"{node_id}: its own {', '.join(overridden)} replace the shared shot's")
        entrants.append(EntrantSettings(node=node_id, model=model.id, variant=variant.id, label=variant.label,
                                        prompt_style=model.prompt_style, takes=node.takes,
                                        duration_s=actual_duration, aspect_ratio=actual_aspect, seed=actual_seed,
                                        flags=flags))
    skeleton = {f: getattr(shot, f) for f in PROMPT_FIELDS if getattr(shot, f)}
    return Controlled(image=bakeoff.image, shot=bakeoff.shot, skeleton=skeleton, aspect_ratio=aspect, seed=seed,
                      duration_s=duration, entrants=entrants)


def check_bakeoff(canvas: Canvas, catalog: Catalog) -> list[Problem]:
    """Validation of the bake-off section: structure errors, and a warning for every uncontrolled input."""
    from .validation import Problem

    bakeoff = canvas.bakeoff
    if bakeoff is None:
        return []
    problems: list[Problem] = []

    def error(field: str, value: object, message: str, allowed: str = "") -> None:
        problems.append(Problem(severity="error", node=None, field=f"bakeoff.{field}", value=value,
                                message=message, allowed=allowed))

    image = canvas.node(bakeoff.image)
    if image is None or output_kind(image) != "image":
        error("image", bakeoff.image, "is not an image or reference-still node on this canvas",
              describe_choices(tuple(n.id for n in canvas.nodes if output_kind(n) == "image")))
    if not isinstance(canvas.node(bakeoff.shot), ShotNode):
        error("shot", bakeoff.shot, "is not a shot node on this canvas",
              describe_choices(tuple(n.id for n in canvas.nodes if isinstance(n, ShotNode))))
    videos = tuple(n.id for n in canvas.nodes if isinstance(n, VideoNode))
    for index, node_id in enumerate(bakeoff.entrants):
        if not isinstance(canvas.node(node_id), VideoNode):
            error(f"entrants[{index}]", node_id, "is not a video node on this canvas", describe_choices(videos))
    if len(set(bakeoff.entrants)) != len(bakeoff.entrants):
        error("entrants", bakeoff.entrants, "lists a node twice")
    if len({a.casefold() for a in bakeoff.axes}) != len(bakeoff.axes):
        error("axes", bakeoff.axes, "names an axis twice")
    axes = set(bakeoff.axes)
    for index, verdict in enumerate(bakeoff.verdicts):
        unknown = sorted(set(verdict.scores) - axes)
        if unknown:
            error(f"verdicts[{index}].scores", unknown, f"scores {', '.join(repr(a) for a in unknown)}, not an axis "
                  "of this bake-off",
                  describe_choices(tuple(bakeoff.axes)))
        if verdict.node not in bakeoff.entrants:
            error(f"verdicts[{index}].node", verdict.node, "is not an entrant", describe_choices(
                tuple(bakeoff.entrants)))
    for key in bakeoff.best:
        if key not in bakeoff.entrants:
            error(f"best.{key}", key, "is not an entrant", describe_choices(tuple(bakeoff.entrants)))
    for key in bakeoff.best_per_axis:
        if key not in axes:
            error(f"best_per_axis.{key}", key, "is not an axis of the bake-off", describe_choices(tuple(bakeoff.axes)))
    if any(p.severity == "error" for p in problems):
        return problems
    summary = controlled(canvas, catalog)
    for entrant in summary.entrants if summary else []:
        for flag in entrant.flags:
            problems.append(Problem(severity="warning", node=entrant.node, field="bakeoff",
                                    value=None, message=flag.split(": ", 1)[1]))
        if entrant.takes != bakeoff.takes:
            problems.append(Problem(severity="warning", node=entrant.node, field="takes", value=entrant.takes,
                                    message=f"makes {entrant.takes} take(s); the bake-off compares "
                                            f"{bakeoff.takes} per entrant"))
    return problems


# --- verdicts between the ledger (the truth) and the canvas file (the copy that travels) ---------------------
def export_verdicts(canvas: Canvas, ledger: Ledger) -> Canvas:
    """The canvas with its bake-off carrying the ledger's verdicts and pins for the entrants' takes."""
    bakeoff = canvas.bakeoff
    if bakeoff is None:
        return canvas
    records = ledger.verdicts(node_ids=bakeoff.entrants)
    verdicts = [Verdict(take_id=r.take_id, node=r.node_id, take=ledger.take_number(r.take_id),
                        scores={k: v for k, v in r.scores.items() if k in bakeoff.axes}, note=r.note,
                        sample=r.sample, updated_at=datetime.fromtimestamp(r.updated_at, UTC)) for r in records]
    best = {k: v for k, v in ledger.pins("node").items() if k in bakeoff.entrants}
    per_axis = {k: v for k, v in ledger.pins("axis").items() if k in bakeoff.axes}
    updated = bakeoff.model_copy(update={"verdicts": verdicts, "best": best, "best_per_axis": per_axis})
    return canvas.model_copy(update={"bakeoff": updated})


def import_verdicts(canvas: Canvas, ledger: Ledger) -> int:
    """Write the canvas's verdicts into the ledger where it has none for that take or an older one (a colleague's
    rescoring travels back), and its pins where the ledger has none. Takes this project lacks are skipped.
    Returns how many verdicts were written."""
    bakeoff = canvas.bakeoff
    if bakeoff is None:
        return 0
    written = 0
    for verdict in bakeoff.verdicts:
        if ledger.take(verdict.take_id) is None:
            continue
        held = ledger.verdict(verdict.take_id)
        incoming = verdict.updated_at.timestamp() if verdict.updated_at else None
        if held is None or (incoming is not None and incoming > held.updated_at):
            ledger.set_verdict(verdict.take_id, dict(verdict.scores), verdict.note, sample=verdict.sample,
                               updated_at=incoming)
            written += 1
    for scope, pins in (("node", bakeoff.best), ("axis", bakeoff.best_per_axis)):
        pinned = ledger.pins(scope)  # type: ignore[arg-type]
        for key, take_id in pins.items():
            if key not in pinned and ledger.take(take_id) is not None:
                ledger.pin(scope, key, take_id)  # type: ignore[arg-type]
    return written


def mean_score(record: VerdictRecord | Verdict, axes: Sequence[str]) -> float | None:
    values = [record.scores[a] for a in axes if a in record.scores]
    return round(sum(values) / len(values), 2) if values else None


def axis_winners(records: Sequence[VerdictRecord], axes: Sequence[str],
                 pinned: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Per axis, the take(s) with the highest score (all tied ones), unless a take is pinned on that axis."""
    winners: dict[str, list[str]] = {}
    for axis in axes:
        if pinned and axis in pinned:
            winners[axis] = [pinned[axis]]
            continue
        scored = [(r.scores[axis], r.take_id) for r in records if axis in r.scores]
        if scored:
            top = max(score for score, _ in scored)
            winners[axis] = [take_id for score, take_id in scored if score == top]
    return winners
