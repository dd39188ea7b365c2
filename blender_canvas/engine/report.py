"""The bake-off report: what was compared, under which controlled inputs, how each take scored, and what it cost.

``bakeoff_report`` gathers everything from the canvas and the ledger (the single source of truth for takes, verdicts,
pins and spend) into one pydantic model; ``write_report`` writes it three ways: ``report.html`` (self-contained, every
picture embedded, for a person and a client), ``report.json`` (the same data without the pictures, for scripts) and
``report.txt`` (a plain-text summary). Only takes still in their node's tray are shown; spend counts every job that
reached a vendor, removed takes and failed jobs included, as ``Ledger.spent_usd`` does, and is given for the entrants'
takes, the controlled image's takes (when it is a model node) and both together.

Beyond the ledger's figures (engine/report_summary.py): departures (a take made from an earlier prompt or another
seed than its entrant would send now, an entrant with another number of takes than the bake-off compares), scores
on axes the bake-off no longer has, and the entrant summary (means per axis, rank, axis leaders, spend per take, and
the paid route's list price of preview takes, which is never added to any spend).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, PrivateAttr

from ..providers.catalog import Catalog
from .bakeoff import EntrantSettings, axis_winners, controlled, mean_score
from .contact_sheet import ContactSheet, contact_sheet, placeholder, sheet_times, still_sheet
from .document import Canvas, ImageNode, ReferenceNode
from .files import atomic_write_text, relative_posix
from .ledger import LANDED, SUBMITTING, UNKNOWN, JobRecord, Ledger, TakeRecord, VerdictRecord
from .report_summary import (
    AxisLeader,
    Departure,
    DepartureKind,
    EntrantSummary,
    OrphanScore,
    entrant_departures,
    entrant_summary,
    grouped,
    list_price,
    take_departures,
)

REPORT_KIND = "blender-canvas.bakeoff-report"
REPORT_VERSION = 2  # 2: departures, orphan scores, the entrant summary, spend split entrants / image
HTML_NAME, JSON_NAME, TEXT_NAME = "report.html", "report.json", "report.txt"
FAILED_STATES = ("failed", "expired", UNKNOWN)  # UNKNOWN: a crash inside submit; the vendor may have billed it
FINISHED_STATES = (*FAILED_STATES, "moderated", "cancelled")  # any other state of a job without a take is pending


class ReportError(ValueError):
    """The canvas cannot be reported on (it has no bake-off); the message says what to do."""


class Timings(BaseModel):
    """When the job was queued, submitted and finished (epoch seconds, from the job row) and the take's own steps."""

    queued_at: float | None = None
    submitted_at: float | None = None
    finished_at: float | None = None
    wait_s: float | None = None  # queued -> submitted
    steps: dict[str, float] = Field(default_factory=dict)  # the take's timings: submitted_to_done_s, fetch_s, total_s


class TakeEntry(BaseModel):
    take_id: str
    number: int
    node: str
    model: str
    model_label: str
    variant: str
    variant_label: str
    backend: str
    backend_label: str
    remote_id: str | None = None
    seed: int | None = None
    prompt: str  # exactly what was sent
    media: str
    file: str  # relative to the project folder; in a written report, to the report's folder
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    estimated_usd: float
    actual_usd: float | None = None
    cost_usd: float  # actual where known, else the estimate
    timings: Timings
    scores: dict[str, int] = Field(default_factory=dict)  # only the bake-off's axes
    orphan_scores: dict[str, int] = Field(default_factory=dict)  # on axes the bake-off no longer has
    note: str = ""
    sample: bool = False  # the scores were filled in by a script, not a person
    mean_score: float | None = None
    pinned_best: bool = False
    pinned_axes: list[str] = Field(default_factory=list)
    won_axes: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)  # where this take departs from the controlled inputs
    list_price_usd: float | None = None  # a preview take at the paid route's list price (est.); never spend
    list_price_route: str | None = None
    contact_sheet: ContactSheet


class JobProblem(BaseModel):
    """A job of an entrant that left no take: failed, moderated, expired, cancelled, unknown or still pending."""

    job_id: str
    number: int
    state: str
    error_kind: str | None = None
    message: str = ""
    remote_id: str | None = None
    counted_usd: float = 0.0  # what this job adds to the spend (it reached a vendor)


class EntrantReport(BaseModel):
    node: str
    label: str
    model: str
    model_label: str
    variant: str
    variant_label: str
    prompt_style: str = ""
    duration_s: int | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    flags: list[str] = Field(default_factory=list)
    takes: list[TakeEntry] = Field(default_factory=list)
    spend_usd: float = 0.0
    problems: list[JobProblem] = Field(default_factory=list)
    removed_takes: int = 0
    pinned_best: str | None = None

    @property
    def failed_count(self) -> int:
        return sum(1 for p in self.problems if p.state in FAILED_STATES)

    @property
    def moderated_count(self) -> int:
        return sum(1 for p in self.problems if p.state == "moderated")


class ControlledInputs(BaseModel):
    image_node: str
    image_label: str
    image_file: str | None = None
    image_sha256: str | None = None
    image: ContactSheet
    shot_node: str
    skeleton: dict[str, str] = Field(default_factory=dict)
    aspect_ratio: str | None = None
    seed: int | None = None
    duration_s: int | None = None
    flags: list[str] = Field(default_factory=list)  # every departure as one line (BakeOffReport.departures)


class AxisWinner(BaseModel):
    axis: str
    take_ids: list[str] = Field(default_factory=list)  # all tied takes; the pinned one alone when pinned
    score: int | None = None
    pinned: bool = False


class BakeOffReport(BaseModel):
    kind: str = REPORT_KIND
    version: int = REPORT_VERSION
    title: str
    brief: str = ""
    generated_at: str  # ISO 8601, UTC
    axes: list[str]
    controlled: ControlledInputs
    entrants: list[EntrantReport]
    winners: list[AxisWinner]
    departures: list[Departure] = Field(default_factory=list)  # entrant by entrant; equal take lines grouped
    orphan_scores: list[OrphanScore] = Field(default_factory=list)  # scores on axes the bake-off no longer has
    entrant_summary: list[EntrantSummary] = Field(default_factory=list)
    entrant_axis_winners: list[AxisLeader] = Field(default_factory=list)  # the highest entrant mean per axis
    entrants_spend_usd: float  # Ledger.spent_usd of the entrants: every job that reached a vendor
    image_spend_usd: float | None = None  # Ledger.spent_usd of the controlled image when it is a model node
    total_spend_usd: float  # the two added up
    takes_cost_usd: float  # the shown takes' costs added up
    sample_scores: bool = False  # some scores are samples a script filled in
    contact_sheet_times_s: list[float]  # the fixed times every take is sampled at (then its last frame)
    contact_sheet_last_frame: bool = True
    # where the file paths were gathered (the project folder, the controlled image): `write_report` rewrites them
    # relative to the folder the report is written to
    _files_from: tuple[Path, Path | None] | None = PrivateAttr(default=None)

    @property
    def takes(self) -> list[TakeEntry]:
        return [take for entrant in self.entrants for take in entrant.takes]

    def take(self, take_id: str) -> TakeEntry | None:
        return next((t for t in self.takes if t.take_id == take_id), None)

    def take_label(self, take_id: str) -> str:
        take = self.take(take_id)
        if take is None:
            return take_id
        entrant = next((e for e in self.entrants if e.node == take.node), None)
        return f"{entrant.label if entrant else take.node} take {take.number}"

    def entrant_label(self, node: str) -> str:
        return next((e.label for e in self.entrants if e.node == node), node)

    @property
    def departure_takes(self) -> int:
        """How many takes depart in at least one way."""
        return len({(d.node, n) for d in self.departures for n in d.takes})

    @property
    def orphan_counts(self) -> dict[str, int]:
        """Scores on each axis the bake-off no longer has, the most scored first (then by name)."""
        counts: dict[str, int] = {}
        for orphan in self.orphan_scores:
            counts[orphan.axis] = counts.get(orphan.axis, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class ReportFiles(BaseModel):
    html: Path
    json_path: Path
    text_path: Path


# --- gathering ------------------------------------------------------------------------------------------------
def bakeoff_report(canvas: Canvas, catalog: Catalog, ledger: Ledger, base_dir: Path, *,
                   generated_at: datetime | None = None) -> BakeOffReport:
    """Everything the report shows, from the canvas (what was asked) and the ledger (what happened and was scored).

    ``base_dir`` is the canvas file's folder (reference paths are relative to it); take files are relative to the
    ledger's folder."""
    bakeoff = canvas.bakeoff
    if bakeoff is None:
        raise ReportError("this canvas has no bake-off: build one first (Bake-off panel, or engine.bakeoff."
                          "build_bakeoff)")
    project_dir = ledger.path.parent
    summary = controlled(canvas, catalog)
    settings = {e.node: e for e in summary.entrants} if summary else {}
    duration = summary.duration_s if summary else None
    seed = summary.seed if summary else None
    entrant_takes = {node: ledger.takes(node) for node in bakeoff.entrants}
    if duration is None:
        lengths = [t.duration_s for takes in entrant_takes.values() for t in takes if t.duration_s]
        duration = round(max(lengths)) if lengths else None
    times = sheet_times(duration)
    image, image_file, image_sha = _controlled_image(canvas, bakeoff.image, ledger, base_dir)

    take_ids = {t.take_id for takes in entrant_takes.values() for t in takes}
    verdicts = {v.take_id: v for v in ledger.verdicts(node_ids=bakeoff.entrants) if v.take_id in take_ids}
    records = [_only_axes(v, bakeoff.axes) for v in verdicts.values()]
    axis_pins = {a: t for a, t in ledger.pins("axis").items() if a in bakeoff.axes and t in take_ids}
    node_pins = {n: t for n, t in ledger.pins("node").items() if n in bakeoff.entrants and t in take_ids}
    winners = axis_winners(records, bakeoff.axes, axis_pins)
    marks = ", ".join("?" * len(bakeoff.entrants))
    jobs = {j.job_id: j for j in ledger.jobs(f"node_id IN ({marks})", tuple(bakeoff.entrants))}
    context = _Context(canvas=canvas, catalog=catalog, project_dir=project_dir, times=times, axes=bakeoff.axes,
                       winners=winners, node_pins=node_pins, axis_pins=axis_pins, image_sha=image_sha,
                       image_node=bakeoff.image)

    entrants: list[EntrantReport] = []
    departures: list[Departure] = []
    for node_id in bakeoff.entrants:
        entrant = _entrant(canvas, catalog, node_id, settings.get(node_id))
        found: list[tuple[int, DepartureKind, str]] = []
        for take in entrant_takes[node_id]:
            entry, take_departures = _take(take, jobs.get(take.take_id), verdicts.get(take.take_id),
                                           settings.get(node_id), context)
            entrant.takes.append(entry)
            found += [(entry.number, kind, message) for kind, message in take_departures]
        entrant.takes.sort(key=lambda t: (t.number, t.timings.queued_at or 0.0))
        entrant.spend_usd = ledger.spent_usd([node_id])
        every_take = {t.take_id for t in ledger.takes(node_id, include_removed=True)}
        entrant.removed_takes = len(every_take) - len(entrant.takes)
        entrant.problems = [_problem(job) for job in jobs.values()
                            if job.node_id == node_id and job.job_id not in every_take and job.state != LANDED]
        entrant.pinned_best = node_pins.get(node_id)
        own = entrant_departures(entrant, settings.get(node_id), seed, bakeoff.takes)
        entrant.flags = [d.text for d in own]
        departures += own + grouped(entrant, found)
        entrants.append(entrant)

    order = [t.take_id for e in entrants for t in e.takes]  # entrant by entrant, take by take
    scores_by_take = {r.take_id: r.scores for r in records}
    axis_winner_list = [AxisWinner(axis=axis, take_ids=sorted(winners.get(axis, []), key=order.index),
                                   pinned=axis in axis_pins, score=_top(winners.get(axis, []), axis, scores_by_take))
                        for axis in bakeoff.axes]
    orphans = [OrphanScore(take_id=t.take_id, node=t.node, number=t.number, axis=axis, score=score)
               for e in entrants for t in e.takes for axis, score in t.orphan_scores.items()]
    summaries, leaders = entrant_summary(entrants, bakeoff.axes)
    image_node = canvas.node(bakeoff.image)
    entrants_spend = ledger.spent_usd(bakeoff.entrants)
    image_spend = ledger.spent_usd([bakeoff.image]) if isinstance(image_node, ImageNode) else None
    report = BakeOffReport(
        title=canvas.title or "Bake-off", brief=bakeoff.brief,
        generated_at=(generated_at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds"),
        axes=list(bakeoff.axes),
        controlled=ControlledInputs(
            image_node=bakeoff.image, image_label=(image_node.label if image_node and image_node.label else
                                                   bakeoff.image),
            image_file=image_file, image_sha256=image_sha, image=image, shot_node=bakeoff.shot,
            skeleton=summary.skeleton if summary else {}, aspect_ratio=summary.aspect_ratio if summary else None,
            seed=seed, duration_s=summary.duration_s if summary else None, flags=[d.text for d in departures]),
        entrants=entrants, winners=axis_winner_list, departures=departures, orphan_scores=orphans,
        entrant_summary=summaries, entrant_axis_winners=leaders,
        entrants_spend_usd=entrants_spend, image_spend_usd=image_spend,
        total_spend_usd=entrants_spend + (image_spend or 0.0),
        takes_cost_usd=round(sum(t.cost_usd for e in entrants for t in e.takes), 6),
        sample_scores=any(t.sample and (t.scores or t.note) for e in entrants for t in e.takes),
        contact_sheet_times_s=times,
    )
    report._files_from = (project_dir.absolute(), None if image_file is None else (
        (base_dir if isinstance(image_node, ReferenceNode) else project_dir) / image_file).absolute())
    return report


@dataclass(frozen=True)
class _Context:
    """What every take of the report is judged against."""

    canvas: Canvas
    catalog: Catalog
    project_dir: Path
    times: list[float]
    axes: list[str]
    winners: dict[str, list[str]]
    node_pins: dict[str, str]
    axis_pins: dict[str, str]
    image_sha: str | None
    image_node: str


def _only_axes(record: VerdictRecord, axes: list[str]) -> VerdictRecord:
    return record.model_copy(update={"scores": {k: v for k, v in record.scores.items() if k in axes}})


def _top(take_ids: list[str], axis: str, scores: dict[str, dict[str, int]]) -> int | None:
    values = [scores[t][axis] for t in take_ids if axis in scores.get(t, {})]
    return max(values) if values else None


def _controlled_image(canvas: Canvas, node_id: str, ledger: Ledger,
                      base_dir: Path) -> tuple[ContactSheet, str | None, str | None]:
    """The controlled image as shown in the report: the reference file, or the image node's chosen take."""
    node = canvas.node(node_id)
    if isinstance(node, ReferenceNode):
        path = Path(node.path.replace("\\", "/"))
        path = path if path.is_absolute() else base_dir / path
        sha = _sha256(path)
        return still_sheet(path), node.path, sha
    if isinstance(node, ImageNode):
        take = ledger.chosen(node_id)
        if take is None:
            return placeholder(f"'{node_id}' has no take yet", frames=2), None, None
        return still_sheet(ledger.path.parent / take.file), take.file, take.sha256
    return placeholder(f"'{node_id}' is not an image node", frames=2), None, None


def _sha256(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    except OSError:
        return None


def _entrant(canvas: Canvas, catalog: Catalog, node_id: str, settings: EntrantSettings | None) -> EntrantReport:
    node = canvas.node(node_id)
    model_id = getattr(node, "model", "") or (settings.model if settings else "")
    model = catalog.model(model_id) if model_id else None
    variant = model.variant(getattr(node, "variant", None)) if model else None
    label = (node.label if node is not None and node.label else "") or (variant.label if variant else node_id)
    return EntrantReport(
        node=node_id, label=label, model=model.id if model else model_id,
        model_label=model.label if model else model_id,
        variant=variant.id if variant else "", variant_label=variant.label if variant else "",
        prompt_style=settings.prompt_style if settings else "", duration_s=settings.duration_s if settings else None,
        aspect_ratio=settings.aspect_ratio if settings else None, seed=settings.seed if settings else None,
        flags=list(settings.flags) if settings else [f"{node_id}: not a video node with a known model"])


def _take(take: TakeRecord, job: JobRecord | None, verdict: VerdictRecord | None, settings: EntrantSettings | None,
          context: _Context) -> tuple[TakeEntry, list[tuple[DepartureKind, str]]]:
    catalog, axes = context.catalog, context.axes
    model = catalog.model(take.model)
    variant = model.variant(take.variant) if model else None
    backend = catalog.backend(take.backend)
    number = job.take_index + 1 if job else 1
    scores = {a: verdict.scores[a] for a in axes if verdict and a in verdict.scores}
    orphans = {a: s for a, s in verdict.scores.items() if a not in axes} if verdict else {}
    price, route = list_price(catalog, take, job, context.canvas)
    departures = take_departures(take, number, settings, context.canvas, catalog, context.image_sha,
                                 context.image_node)
    entry = TakeEntry(
        take_id=take.take_id, number=number, node=take.node_id, model=take.model,
        model_label=model.label if model else take.model, variant=take.variant,
        variant_label=variant.label if variant else take.variant, backend=take.backend,
        backend_label=backend.label if backend else take.backend, remote_id=take.remote_id, seed=take.seed,
        prompt=take.prompt, media=take.media, file=take.file, duration_s=take.duration_s, width=take.width,
        height=take.height, estimated_usd=take.estimated_usd, actual_usd=take.actual_usd,
        cost_usd=take.actual_usd if take.actual_usd is not None else take.estimated_usd,
        timings=_timings(take, job), scores=scores, orphan_scores=orphans, note=verdict.note if verdict else "",
        sample=bool(verdict and verdict.sample), mean_score=mean_score(verdict, axes) if verdict else None,
        pinned_best=context.node_pins.get(take.node_id) == take.take_id,
        pinned_axes=[a for a in axes if context.axis_pins.get(a) == take.take_id],
        won_axes=[a for a in axes if take.take_id in context.winners.get(a, [])],
        flags=[f"{take.node_id} take {number}: {message}" for _, message in departures],
        list_price_usd=price, list_price_route=route,
        contact_sheet=contact_sheet(context.project_dir / take.file, take.media, context.times))
    return entry, departures


def _timings(take: TakeRecord, job: JobRecord | None) -> Timings:
    try:
        raw: Any = json.loads(take.timings_json or "{}")
    except ValueError:
        raw = {}
    steps = {k: float(v) for k, v in raw.items() if isinstance(v, int | float) and not isinstance(v, bool)} if (
        isinstance(raw, dict)) else {}
    if job is None:
        return Timings(steps=steps)
    wait = round(job.submitted_at - job.created_at, 3) if job.submitted_at is not None else None
    return Timings(queued_at=job.created_at, submitted_at=job.submitted_at, finished_at=job.finished_at,
                   wait_s=wait, steps=steps)


def _problem(job: JobRecord) -> JobProblem:
    reached = job.remote_id is not None or job.state in (SUBMITTING, UNKNOWN)
    cost = (job.actual_usd if job.actual_usd is not None else job.estimated_usd) if reached else 0.0
    pending = job.state not in FINISHED_STATES
    state = f"pending ({job.state})" if pending else job.state
    message = job.error_message or ("not finished; the next start resumes it" if pending else "")
    return JobProblem(job_id=job.job_id, number=job.take_index + 1, state=state, error_kind=job.error_kind,
                      message=message, remote_id=job.remote_id, counted_usd=cost)


# --- writing --------------------------------------------------------------------------------------------------
def write_report(report: BakeOffReport, out_dir: Path) -> ReportFiles:
    """``report.html``, ``report.json`` and ``report.txt`` in ``out_dir``, each written whole or not at all."""
    from .report_html import render_html
    from .report_text import report_text

    out_dir.mkdir(parents=True, exist_ok=True)
    report = relative_to(report, out_dir)
    files = ReportFiles(html=out_dir / HTML_NAME, json_path=out_dir / JSON_NAME, text_path=out_dir / TEXT_NAME)
    atomic_write_text(files.json_path, report_json(report))
    atomic_write_text(files.text_path, report_text(report))
    atomic_write_text(files.html, render_html(report))
    return files


def relative_to(report: BakeOffReport, folder: Path) -> BakeOffReport:
    """A copy of `report` whose take files and controlled image are relative to `folder` (the report's own), so
    the report moves with the project; a report read back from JSON is returned as it is."""
    if report._files_from is None:
        return report
    project, image = report._files_from
    moved = report.model_copy(deep=True)
    for take in moved.takes:
        take.file = relative_posix(project / take.file, folder)
    if image is not None:
        moved.controlled.image_file = relative_posix(image, folder)
    return moved


def report_json(report: BakeOffReport) -> str:
    """The JSON twin: the report's data without the embedded pictures (the contact sheets keep their times)."""
    return report.model_dump_json(indent=1) + "\n"
