"""What the bake-off report works out beyond the ledger's own figures.

- Departures: where a take was not made from what its entrant would send now (an earlier prompt, another seed),
  and an entrant whose tray holds another number of takes than the bake-off compares. The prompt check composes
  the entrant's prompt now exactly as the planner does and, where the take's prompt differs, finds the clause(s)
  that changed by matching the take's prompt against the current prompt with one, two or three clauses left open.
- Scores on axes the bake-off no longer has (renamed or removed after scoring): counted, never dropped silently.
- The entrant summary: per entrant, the mean score per axis over its scored takes, the overall mean (the mean of
  its axis means, so every axis weighs the same), its rank, the entrant(s) leading each axis, its spend and its
  spend per take kept; and, for takes made on the free preview backend, the paid route's list price (an estimate,
  kept apart from every spend figure).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from functools import lru_cache
from itertools import combinations, product
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from ..providers.catalog import Catalog, Model, Variant
from .cost import estimate_usd
from .document import PROMPT_FIELDS, Canvas, Prompt, VideoNode
from .planner import take_params
from .prompt import GRAMMARS, compose, merged_prompt
from .settings import resolve_settings, wired_shot

if TYPE_CHECKING:
    from .bakeoff import EntrantSettings
    from .ledger import JobRecord, TakeRecord
    from .report import EntrantReport

PREVIEW_BACKEND = "preview"
DURATION_TOLERANCE_S = 0.5
MAX_CHANGED_CLAUSES = 3  # beyond this many changed clauses the report just says "an earlier prompt"
MARK = "\x00[0-9]+\x00|\x01q[0-9]+qs"  # stands in for a clause left open (plain, or verb-led)
DepartureKind = Literal["image", "prompt", "seed", "duration", "takes", "settings"]


class Departure(BaseModel):
    """One way an entrant, or some of its takes, depart from the controlled inputs or from what it sends now."""

    kind: DepartureKind
    node: str
    label: str = ""  # the entrant's label, for people
    takes: list[int] = Field(default_factory=list)  # the take numbers concerned; empty: the entrant as a whole
    message: str

    @property
    def where(self) -> str:
        if not self.takes:
            return self.node
        numbers = [str(n) for n in self.takes]
        joined = numbers[0] if len(numbers) == 1 else ", ".join(numbers[:-1]) + " and " + numbers[-1]
        return f"{self.node} take{'s' if len(numbers) > 1 else ''} {joined}"

    @property
    def text(self) -> str:
        return f"{self.where}: {self.message}"


class OrphanScore(BaseModel):
    """A score on an axis the bake-off no longer has (renamed or removed after scoring)."""

    take_id: str
    node: str
    number: int
    axis: str
    score: int


class EntrantSummary(BaseModel):
    node: str
    label: str
    model_label: str
    variant_label: str
    takes: int  # in the tray now
    scored_takes: int  # with at least one score on a current axis
    axis_means: dict[str, float] = Field(default_factory=dict)  # axes with a score, over the takes scored on it
    axis_counts: dict[str, int] = Field(default_factory=dict)  # how many takes each mean is over
    overall_mean: float | None = None  # the mean of its axis means
    rank: int | None = None  # 1 = best overall mean; tied entrants share a rank; None without scores
    rank_tied: bool = False
    leads: list[str] = Field(default_factory=list)  # axes on which its mean is the highest (ties included)
    sample: bool = False  # some of its scores are samples a script filled in
    spend_usd: float = 0.0  # the ledger's spend on this entrant (every job that reached a vendor)
    cost_per_take_usd: float | None = None  # spend / takes in the tray
    preview_takes: int = 0  # takes made on the free preview backend
    list_price_usd: float | None = None  # those takes at the paid route's list price (est.); never spend
    list_price_per_take_usd: float | None = None
    list_price_route: str | None = None  # the backend whose list price it is


class AxisLeader(BaseModel):
    axis: str
    nodes: list[str] = Field(default_factory=list)  # every entrant tied on the highest mean
    mean: float | None = None


# --- what the entrant would send now ----------------------------------------------------------------------------
def prompt_now(canvas: Canvas, node: VideoNode, model: Model) -> str:
    """The prompt the planner composes for this entrant now."""
    return compose(merged_prompt(wired_shot(canvas, node), node.prompt), model.prompt_style)


def seed_now(canvas: Canvas, node: VideoNode, model: Model, variant: Variant, backend: str, number: int) -> int | None:
    """The seed take ``number`` (from 1) of this entrant would run with now on ``backend``: the resolved seed plus
    one per take after the first (as the planner asks), or None where the model (on that backend) takes no seed."""
    seed = resolve_settings(canvas, node, model, variant).seed.value
    takes_seed = variant.seed if backend == PREVIEW_BACKEND else variant.seed_on(backend)
    if not isinstance(seed, int) or not takes_seed:
        return None
    seeded: int = take_params({"seed": seed}, number - 1)["seed"]  # the planner's own rule, not a copy
    return seeded


def seed_message(recorded: int | None, now: int | None, number: int) -> str:
    if recorded is None:
        return f"ran without a seed; take {number} would run seed {now} now"
    if now is None:
        return f"ran seed {recorded}; the entrant runs without a seed now"
    return f"ran seed {recorded}; take {number} would run seed {now} now"


def prompt_message(recorded: str, canvas: Canvas, node: VideoNode, model: Model) -> str | None:
    """None when the take's prompt is the one the entrant would send now; else what a producer should read."""
    current = merged_prompt(wired_shot(canvas, node), node.prompt)
    style = model.prompt_style
    if recorded == compose(current, style):
        return None
    for other, grammar in GRAMMARS.items():
        if other != style and grammar(current) == recorded:
            return f"made with the earlier '{other}' prompt grammar (it reads '{style}' now)"
    candidates = changed_clauses(recorded, current, style)
    own = {f for f in PROMPT_FIELDS if node.prompt is not None and getattr(node.prompt, f)}
    fields = {f for candidate in candidates for f, _ in candidate}
    whose = "shot " if fields and not fields & own else ""
    if len(candidates) == 1:
        changes = candidates[0]
        shot_part = [(f, how) for f, how in changes if f not in own]
        own_part = [(f, how) for f, how in changes if f in own]
        described = "; ".join(filter(None, [
            _describe(shot_part, "the shot's" if own_part else "the"), _describe(own_part, "its own")]))
        return f"made from an earlier {whose}prompt ({described})"
    if candidates and all(len(c) == 1 for c in candidates):  # the same text fits more than one clause
        names = [c[0][0] for c in candidates]
        return f"made from an earlier {whose}prompt (the {', '.join(names[:-1])} or {names[-1]} changed)"
    return "made from an earlier prompt"


def _describe(changes: list[tuple[str, str]], owner: str) -> str:
    groups: dict[str, list[str]] = {}
    for field, how in changes:
        groups.setdefault(how, []).append(field)
    parts = []
    for how, fields in groups.items():
        names = fields[0] if len(fields) == 1 else ", ".join(fields[:-1]) + " and " + fields[-1]
        verb = {"changed": "changed", "added": "added since", "removed": "taken out since"}[how]
        if how != "changed":
            verb = ("was " if len(fields) == 1 else "were ") + verb
        parts.append(f"{owner} {names} {verb}")
    return ", ".join(parts)


def changed_clauses(recorded: str, current: Prompt, style: str) -> list[list[tuple[str, str]]]:
    """The smallest sets of clauses (up to three) whose change turns the current prompt into the recorded one, each
    clause with how it changed: "changed", "added" (the take's prompt lacked it) or "removed" (only the take's
    prompt has it). Several sets when the recorded text fits more than one; none when no set fits."""
    return [list(changes) for changes in _changed_clauses(recorded, tuple(getattr(current, f) for f in PROMPT_FIELDS),
                                                          style)]


@lru_cache(maxsize=256)  # a node's takes share their prompt: each is worked out once per report
def _changed_clauses(recorded: str, clauses: tuple[str, ...], style: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    current = Prompt(**dict(zip(PROMPT_FIELDS, clauses, strict=True)))
    grammar = GRAMMARS.get(style, GRAMMARS["plain"])
    for size in range(1, MAX_CHANGED_CLAUSES + 1):
        found: dict[tuple[tuple[str, str], ...], int] = {}
        for fields in combinations(PROMPT_FIELDS, size):
            # an open clause is tried as plain text and as a verb-led phrase, which some grammars join differently
            options = [("open", "verb", "empty") if getattr(current, f).strip() else ("open", "verb") for f in fields]
            for choice in product(*options):
                captured = _fits(recorded, current, grammar, fields, choice)
                if captured is None:
                    continue
                changes = tuple((f, ("added" if c == "empty" else "changed") if getattr(current, f).strip()
                                 else "removed") for f, c in zip(fields, choice, strict=True))
                found[changes] = min(captured, found.get(changes, captured))
        if found:  # where several fit, the one that explains the least text (a dropped mood, not a longer action)
            least = min(found.values())
            return tuple(changes for changes, captured in found.items() if captured == least)
    return ()


def _fits(recorded: str, current: Prompt, grammar: Callable[[Prompt], str], fields: tuple[str, ...],
          choice: tuple[str, ...]) -> int | None:
    """Whether the recorded prompt is the current one with each open field holding some other non-empty text and
    each emptied field left out: the length of the text the open fields take, or None when it does not fit."""
    marks = {"open": "\x00{}\x00", "verb": "\x01q{}qs", "empty": ""}  # "\x01q0qs" reads as a verb ending in s
    values = {f: marks[c].format(i) for i, (f, c) in enumerate(zip(fields, choice, strict=True))}
    template = grammar(current.model_copy(update=values))
    pattern = "".join("(.+?)" if re.fullmatch(MARK, piece) else re.escape(piece)
                      for piece in re.split(f"({MARK})", template))
    match = re.fullmatch(pattern, recorded, flags=re.DOTALL)
    if match is None or not all(group.strip() for group in match.groups()):
        return None
    return sum(len(group) for group in match.groups())


# --- departures, entrant by entrant and take by take ------------------------------------------------------------
def entrant_departures(entrant: EntrantReport, settings: EntrantSettings | None, seed: int | None,
                       takes: int) -> list[Departure]:
    """The entrant's own departures: its settings (duration, aspect, wiring, seed support, own clauses), a seed of
    its own, and another number of takes in its tray than the bake-off compares."""
    def departure(kind: DepartureKind, message: str) -> Departure:
        return Departure(kind=kind, node=entrant.node, label=entrant.label, message=message)

    found = [departure("settings", flag.split(": ", 1)[-1]) for flag in entrant.flags]
    if settings and settings.seed is not None and seed is not None and settings.seed != seed:
        found.append(departure("seed", f"runs its own seed {settings.seed}, not the controlled {seed}"))
    kept = len(entrant.takes)
    if kept != takes:
        found.append(departure("takes", f"has {kept or 'no'} take{'' if kept == 1 else 's'} in its tray; the "
                                        f"bake-off compares {takes} per entrant"))
    return found


def grouped(entrant: EntrantReport, found: list[tuple[int, DepartureKind, str]]) -> list[Departure]:
    """Take departures with the same wording become one line naming every take it concerns."""
    lines: dict[tuple[DepartureKind, str], list[int]] = {}
    for number, kind, message in found:
        lines.setdefault((kind, message), []).append(number)
    return [Departure(kind=kind, node=entrant.node, label=entrant.label, takes=sorted(numbers), message=message)
            for (kind, message), numbers in lines.items()]


def take_departures(take: TakeRecord, number: int, settings: EntrantSettings | None, canvas: Canvas,
                    catalog: Catalog, image_sha: str | None, image_node: str) -> list[tuple[DepartureKind, str]]:
    """Where the take was not made from what its entrant would send now: another version of the controlled image,
    another model, an earlier prompt, another seed, another length."""
    found: list[tuple[DepartureKind, str]] = []
    try:
        hashes = json.loads(take.input_hashes or "{}")
    except ValueError:
        hashes = {}
    used = hashes.get("image") if isinstance(hashes, dict) else None
    if image_sha and isinstance(used, list) and used and image_sha not in used:
        found.append(("image", f"made from another version of '{image_node}' than the one shown"))
    node = canvas.node(take.node_id)
    model = catalog.model(node.model) if isinstance(node, VideoNode) else None
    variant = model.variant(node.variant) if model and isinstance(node, VideoNode) else None
    if isinstance(node, VideoNode) and model is not None and variant is not None:
        if (take.model, take.variant) != (model.id, variant.id):
            found.append(("settings", f"made with {take.model} {take.variant}; the entrant runs {variant.label} "
                                      "now"))
        else:
            message = prompt_message(take.prompt, canvas, node, model)
            if message:
                found.append(("prompt", message))
            now = seed_now(canvas, node, model, variant, take.backend, number)
            if take.seed != now:
                found.append(("seed", seed_message(take.seed, now, number)))
    if (settings and settings.duration_s and take.duration_s
            and abs(take.duration_s - settings.duration_s) > DURATION_TOLERANCE_S):
        found.append(("duration", f"runs {take.duration_s:.1f} s, not {settings.duration_s} s"))
    return found


# --- the paid route's list price for a preview take -------------------------------------------------------------
def list_price(catalog: Catalog, take: TakeRecord, job: JobRecord | None, canvas: Canvas) -> tuple[float | None,
                                                                                                    str | None]:
    """What a take made on the preview backend would have cost on its variant's first live route with a price,
    from the catalog (an estimate), and that route's label; (None, None) for a take that ran on a paid route, or
    a variant with no priced live route."""
    if take.backend != PREVIEW_BACKEND:
        return None, None
    model = catalog.model(take.model)
    variant = model.variant(take.variant) if model else None
    route = next((r for r in variant.live_routes if r.price is not None), None) if variant else None
    if model is None or variant is None or route is None:
        return None, None
    params = _request_params(job)
    node = canvas.node(take.node_id)
    if not params and isinstance(node, VideoNode):
        settings = resolve_settings(canvas, node, model, variant)
        params = {"duration_s": settings.duration_s.value, "resolution": settings.resolution.value,
                  "audio": node.audio}
    seconds = params.get("duration_s")
    seconds = float(seconds) if isinstance(seconds, int | float) else take.duration_s
    resolution = params.get("resolution")
    text = params.get("text")
    price = estimate_usd(route.price, seconds=seconds, text=text if isinstance(text, str) else "",
                         resolution=resolution if isinstance(resolution, str) else None,
                         audio=bool(params.get("audio")))
    backend = catalog.backend(route.backend)
    return round(price, 6), backend.label if backend else route.backend


def _request_params(job: JobRecord | None) -> dict[str, object]:
    if job is None:
        return {}
    try:
        request = json.loads(job.request_json or "{}")
    except ValueError:
        return {}
    params = request.get("params") if isinstance(request, dict) else None
    return params if isinstance(params, dict) else {}


# --- the entrant summary --------------------------------------------------------------------------------------
def entrant_summary(entrants: Sequence[EntrantReport], axes: Sequence[str]) -> tuple[list[EntrantSummary],
                                                                                     list[AxisLeader]]:
    """Per entrant its means, rank and money; per axis the entrant(s) with the highest mean. Ranks and leaders are
    worked out on exact fractions, so two equal means always tie."""
    exact: dict[str, dict[str, Fraction]] = {}
    overall: dict[str, Fraction] = {}
    summaries: list[EntrantSummary] = []
    for entrant in entrants:
        means: dict[str, Fraction] = {}
        counts: dict[str, int] = {}
        for axis in axes:
            values = [t.scores[axis] for t in entrant.takes if axis in t.scores]
            if values:
                means[axis], counts[axis] = Fraction(sum(values), len(values)), len(values)
        exact[entrant.node] = means
        if means:
            overall[entrant.node] = sum(means.values(), Fraction(0)) / len(means)
        takes = len(entrant.takes)
        preview = [t for t in entrant.takes if t.backend == PREVIEW_BACKEND]
        priced = [t.list_price_usd for t in preview if t.list_price_usd is not None]
        list_total = round(sum(priced), 6) if preview and len(priced) == len(preview) else None
        summaries.append(EntrantSummary(
            node=entrant.node, label=entrant.label, model_label=entrant.model_label,
            variant_label=entrant.variant_label or entrant.variant, takes=takes,
            scored_takes=sum(1 for t in entrant.takes if t.scores),
            axis_means={a: float(m) for a, m in means.items()}, axis_counts=counts,
            overall_mean=float(overall[entrant.node]) if entrant.node in overall else None,
            sample=any(t.sample and t.scores for t in entrant.takes), spend_usd=entrant.spend_usd,
            cost_per_take_usd=round(entrant.spend_usd / takes, 6) if takes else None, preview_takes=len(preview),
            list_price_usd=list_total,
            list_price_per_take_usd=round(list_total / len(preview), 6) if list_total is not None else None,
            list_price_route=next((t.list_price_route for t in preview if t.list_price_route), None)))
    for summary in summaries:
        mine = overall.get(summary.node)
        if mine is not None:
            summary.rank = 1 + sum(1 for other in overall.values() if other > mine)
            summary.rank_tied = sum(1 for other in overall.values() if other == mine) > 1
    leaders: list[AxisLeader] = []
    for axis in axes:
        scored = {node: means[axis] for node, means in exact.items() if axis in means}
        top = max(scored.values()) if scored else None
        nodes = [s.node for s in summaries if top is not None and scored.get(s.node) == top]
        leaders.append(AxisLeader(axis=axis, nodes=nodes, mean=float(top) if top is not None else None))
        for summary in summaries:
            if summary.node in nodes:
                summary.leads.append(axis)
    # the ranking table reads top down: best rank first, ties and the unscored in entrant order (a stable sort)
    summaries.sort(key=lambda s: (s.rank is None, s.rank or 0))
    return summaries, leaders
