"""Headless runs: `run`, `estimate` and `demo`, the same engine and drain the add-on uses, without a window."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .engine.cost import Budget, BudgetExceeded
from .engine.document import Canvas
from .engine.files import atomic_write_text
from .engine.ledger import PENDING_STATES, Ledger, LedgerError
from .engine.planner import Plan, PlanError
from .engine.runner import Event
from .engine.session import Session, keys_from_environment
from .engine.validation import CanvasFileError, load_canvas, read_json_file
from .providers.catalog import load_catalog

# 0: every requested take landed, nothing needs a decision; 1: some failed; 2: refused before any submit;
# 3: takes landed but some jobs need the user's decision (cut off mid-submit, or waiting for a key)
EXIT_OK, EXIT_FAILED_TAKES, EXIT_USAGE, EXIT_DECIDE = 0, 1, 2, 3


class RunRefused(Exception):
    """The run stopped before any submit; the message says why."""


def load_valid_canvas(data: Any, base_dir: Path, source: str) -> Canvas:
    report = load_canvas(data, load_catalog(), base_dir=base_dir)
    for warning in report.warnings:
        print(warning, file=sys.stderr)
    if report.canvas is None or report.errors:
        # one line a problem, each printed once with "error: " in front (the problem's own severity word dropped)
        raise RunRefused("\n".join(f"{source}: {str(p).removeprefix(p.severity + ': ')}" for p in report.errors))
    return report.canvas


def usd(amount: float) -> str:
    """Dollars to the cent; a price under a cent keeps four places, so a paid take never reads as free."""
    return f"${amount:.4f}" if 0 < amount < 0.005 else f"${amount:.2f}"


def estimate_table(plan: Plan) -> str:
    """What a run would submit and cost, node by node (one pass over the jobs). A route chosen without a key is
    marked: it is the one the node would most likely take, priced at its list price."""
    rows = [("node", "model", "route", "takes", "to submit", "estimate")]
    # one pass over the jobs: per node its first job, how many takes, how many to submit and their price
    nodes: dict[str, list[Any]] = {node_id: [] for node_id in plan.order}
    submits_total, usd_total = 0, 0.0
    for job in plan.jobs:
        summary = nodes.get(job.node_id)
        if not summary:
            summary = nodes[job.node_id] = [job, 0, 0, 0.0]
        summary[1] += 1
        if job.cached_take is None and job.in_flight is None:
            summary[2] += 1
            summary[3] += job.estimate_usd
            submits_total += 1
            usd_total += job.estimate_usd
    for node_id, summary in nodes.items():
        if not summary:  # every take of it is in flight or waits for a decision
            continue
        first, takes, submits, price = summary
        route = first.backend if first.keyed else f"{first.backend} (no key; list price)"
        rows.append((node_id, first.model_label, route, str(takes), str(submits), usd(price)))
    rows.append(("total", "", "", str(len(plan.jobs)), str(submits_total), usd(usd_total)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    if plan.blocked:
        table += "\nnodes no route can run:\n" + "\n".join(f"  {reason}" for reason in plan.blocked.values())
    if plan.missing_keys:
        table += "\nkeys a run needs (by backend):\n" + "\n".join(f"  {m.line()}" for m in plan.missing_keys)
    return table


def estimate(canvas_path: Path, *, draft: bool, out: Path | None) -> int:
    """Price a canvas: no key needed; exits 0 and names every key a run would still need."""
    canvas = load_valid_canvas(_read_json(canvas_path), canvas_path.parent, str(canvas_path))
    with tempfile.TemporaryDirectory() as scratch:
        session = Session(out or Path(scratch), keys=keys_from_environment(load_catalog()))
        try:
            plan = session.plan(canvas, canvas_path.parent, draft=draft)
        except PlanError as error:
            raise RunRefused(str(error)) from error
        finally:
            session.ledger.close()
    print(estimate_table(plan))
    if plan.blocked:  # priced what can run; a run of this canvas would be refused
        raise RunRefused(f"{len(plan.blocked)} node(s) cannot run: {', '.join(plan.blocked)} (see above)")
    return EXIT_OK


def _read_json(path: Path) -> Any:
    try:
        return read_json_file(path)
    except CanvasFileError as error:
        raise RunRefused(str(error)) from error


class Progress:
    """A one-line progress bar on a terminal, plain lines otherwise. It counts the takes it was given, each once:
    what this run plans plus what it resumes, so the total is what is really pending."""

    def __init__(self, expected: Collection[tuple[str, int]], stream: TextIO = sys.stderr) -> None:
        self.pending = set(expected)
        self.total = max(len(self.pending), 1)
        self.stream = stream
        self.done = Counter[str]()
        self.tty = stream.isatty()
        self.last_line = ""

    def update(self, events: list[Event]) -> None:
        for event in events:
            if event.kind in ("failed", "unknown", "held"):
                print(f"\n  {event.node_id}: {event.message}" if self.tty else f"  {event.node_id}: "
                      f"{event.message}", file=self.stream)
            if event.kind in ("landed", "cached", "failed", "cancelled", "unknown", "held"):
                where = (event.node_id, event.take_index)
                if where in self.pending:
                    self.pending.discard(where)
                    self.done["decide" if event.kind in ("unknown", "held") else event.kind] += 1
        finished = sum(self.done.values())
        width = 30
        filled = round(width * finished / self.total)
        decide = f", {self.done['decide']} need a decision" if self.done["decide"] else ""
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{self.total} takes "
                f"({self.done['landed']} new, {self.done['cached']} cached, {self.done['failed']} failed{decide})")
        if line != self.last_line:
            print("\r" + line if self.tty else line, end="" if self.tty else "\n", file=self.stream, flush=True)
            self.last_line = line

    def close(self) -> None:
        if self.tty:
            print(file=self.stream)


def run(canvas_path: Path | None, out: Path, *, data: Any = None, online: bool = False, draft: bool = False,
        budget_usd: float | None = None, only: Collection[str] | None = None, new_take: bool = False,
        limits: dict[str, int] | None = None, judge: Callable[[Canvas, Ledger], int] | None = None,
        resubmit_unknown: bool = False) -> int:
    """Render a canvas into `out`: takes, ledger, manifest.json and canvas.blend. Returns the exit status
    (``EXIT_*``). ``resubmit_unknown`` is the user's decision to send again every job cut off mid-submit (of the
    ``only`` nodes, if named): the vendor may bill the first one too, and the run says so."""
    # the canvas, then the folder: refusals come before anything is made, and before Blender is even loaded
    base_dir = canvas_path.parent.absolute() if canvas_path else out.absolute()
    source = str(canvas_path) if canvas_path else "the demo canvas"
    canvas = load_valid_canvas(data if data is not None else _read_json(canvas_path), base_dir, source)  # type: ignore[arg-type]
    out = prepare_project(out)
    claim_project(out, canvas_path.stem if canvas_path else "demo", canvas)

    import bpy

    from .blender_registration import ensure_registered
    from .nodes.convert import canvas_to_tree, new_canvas_tree
    from .operators import bridge
    from .operators.bridge import sync_trays

    ensure_registered()
    if online:
        preferences: Any = bpy.context.preferences
        preferences.system.use_online_access = True  # like Blender's own --online-mode
    blend = out / "canvas.blend"
    if blend.exists():
        with quiet_stdout():
            bpy.ops.wm.open_mainfile(filepath=str(blend))
    else:
        bpy.ops.wm.read_homefile(use_empty=True)
        save_blend(blend)
    tree = bpy.data.node_groups.get("canvas") or new_canvas_tree("canvas")
    canvas_to_tree(canvas, tree, base_dir)
    tree.project_dir = "//"
    try:
        session = Session(out, keys=keys_from_environment(load_catalog()), limits=limits)
    except LedgerError as error:
        raise RunRefused(str(error)) from error
    started = time.monotonic()
    try:
        resumed = session.resume()
        if session.cleaned:
            print(session.cleaned.describe(), file=sys.stderr)
        if resumed:
            print(f"resuming {len(resumed)} job(s) left unfinished by an earlier run (not resubmitted)",
                  file=sys.stderr)
        if resubmit_unknown:
            for job in session.resubmit_unknown(only):
                print(f"resubmitting {job.node_id} take {job.take_index + 1} at your request: the first submit to "
                      f"{job.backend} ({_when(job.created_at)}) may still be billed by {job.backend}", file=sys.stderr)
        plan = session.plan(canvas, base_dir, selection=only, draft=draft, new_take=new_take)
        print(estimate_table(plan), file=sys.stderr)
        if plan.added_upstream:
            print(f"also rendering {', '.join(plan.added_upstream)}: a selected node needs their takes",
                  file=sys.stderr)
        session.check(plan, online=online or bpy.app.online_access,
                      budget=Budget(run_usd=budget_usd, project_usd=canvas.budget_usd))
        session.start(plan, canvas, base_dir)
        expected = {(j.node_id, j.take_index) for j in plan.jobs}
        expected |= {(r.node_id, r.take_index) for r in (session.ledger.job(i) for i in resumed) if r is not None}
        progress = Progress(expected)
        bridge.open_drain(session)
        while True:
            busy = session.runner.busy  # read before the drain: a runner idle now has put its last event already
            drained = bridge.drain_session(tree, session, bridge.DRAIN_BUDGET_S)  # the budget the timer has
            progress.update(drained.applied)
            if not busy and bridge.finished(session):
                break
            if not drained.left:
                time.sleep(0.05)
        progress.close()
        if judge is not None:  # the demo's sample verdicts, before the report is written
            judge(canvas, session.ledger)
        sync_trays(tree, session)
        finished = finish_cuts(canvas, session, base_dir, out, progress.done["failed"] == 0)
        finished += finish_bakeoff(canvas, session, base_dir, out, tree)
        save_blend(blend)
        manifest = session.manifest()
        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    except (PlanError, BudgetExceeded) as error:
        raise RunRefused(str(error)) from error
    finally:
        bridge.release(session)
        session.close()
    failed, undecided = summary(manifest, plan, time.monotonic() - started, expected)
    for line in finished:
        print(line)
    return EXIT_FAILED_TAKES if failed else EXIT_DECIDE if undecided else EXIT_OK


def prepare_project(out: Path) -> Path:
    """`out` absolute and made, or RunRefused in one line (a file, a path no one can create, a read-only folder)."""
    from .engine.project import ProjectFolderError, prepare_out

    try:
        return prepare_out(out)
    except ProjectFolderError as error:
        raise RunRefused(str(error)) from error


def claim_project(out: Path, name: str, canvas: Canvas) -> None:
    """Refuse an `out` that holds another canvas's project (RunRefused); mark it as this canvas's otherwise."""
    from .engine.project import ProjectFolderError, claim

    try:
        claim(out, name, canvas.title or "", frozenset(n.id for n in canvas.nodes))
    except ProjectFolderError as error:
        raise RunRefused(str(error)) from error


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Blender's own `Info: Saved as` and `Read blend` lines go to file descriptor 1; a run's stdout is its
    summary alone."""
    from .vse.render import quiet_stdout as quiet

    with quiet(True):
        yield


def save_blend(path: Path) -> None:
    """Save the .blend without Blender's numbered backup (`canvas.blend1`): the project's history is the ledger."""
    import bpy

    preferences: Any = bpy.context.preferences
    versions = preferences.filepaths.save_version
    preferences.filepaths.save_version = 0
    try:
        with quiet_stdout():
            bpy.ops.wm.save_as_mainfile(filepath=str(path))
    finally:
        preferences.filepaths.save_version = versions


def finish_cuts(canvas: Canvas, session: Session, base_dir: Path, out: Path, complete: bool) -> list[str]:
    """Every sequence node: its cut in the VSE, `final.mp4` (the first; others `final-<id>.mp4`), and the cut for
    other editors (`cut.otio`, `cut.xml`, `cut.edl`), all from one timeline."""
    import bpy

    from .engine.document import SequenceNode
    from .engine.interchange import write_exports
    from .engine.timeline import TimelineError, bring_into_project, build_timeline
    from .vse.build import send_to_vse, sequencer_scene
    from .vse.render import render_cut, render_frame

    lines = []
    sequences = [n for n in canvas.nodes if isinstance(n, SequenceNode)]
    for index, sequence in enumerate(sequences):
        suffix = "" if index == 0 else f"-{sequence.id}"
        try:
            timeline = bring_into_project(build_timeline(canvas, sequence, session.ledger, base_dir), out)
        except TimelineError as error:
            lines.append(f"{sequence.id}: no cut ({error})")
            continue
        scene = sequencer_scene() if index == 0 else bpy.data.scenes.new(f"cut-{sequence.id}")
        send_to_vse(scene, timeline)
        render_cut(scene, out / f"final{suffix}.mp4")
        card = None
        if timeline.end_card is not None:
            card = render_frame(scene, timeline.end_card.start, out / "media" / f"end-card{suffix}.png")
        exports = write_exports(timeline, out, f"cut{suffix}", sequence.id, card)
        names = ", ".join(p.name for p in (exports.otio, exports.fcp_xml, exports.edl))
        lines.append(f"{sequence.id}: final{suffix}.mp4 ({timeline.seconds:.2f} s, {timeline.width}x{timeline.height} "
                     f"at {timeline.fps} fps) and {names} (the EDL: {exports.edl_note})"
                     + ("" if complete else " (some takes failed)"))
    return lines


def finish_bakeoff(canvas: Canvas, session: Session, base_dir: Path, out: Path, tree: Any = None) -> list[str]:
    """For a canvas with a bake-off: its verdicts into the ledger, and report.html with its JSON and text twins."""
    if canvas.bakeoff is None:
        return []
    from .engine.bakeoff import import_verdicts
    from .engine.report import bakeoff_report, write_report

    imported = import_verdicts(canvas, session.ledger)
    if tree is not None:
        from .operators.bridge import refresh_verdicts

        refresh_verdicts(tree, session)
    report = bakeoff_report(canvas, session.catalog, session.ledger, base_dir)
    files = write_report(report, out)
    scored = sum(1 for e in report.entrants for t in e.takes if t.scores)
    takes = sum(len(e.takes) for e in report.entrants)
    note = f", {imported} verdict(s) read from the canvas" if imported else ""
    return [f"bake-off: {Path(files.html).name} and {Path(files.json_path).name} ({len(report.entrants)} entrants, "
            f"{takes} take(s), {scored} scored{note}; spend ${report.total_spend_usd:.2f})"]


def summary(manifest: dict[str, Any], plan: Plan, seconds: float,
            requested: Collection[tuple[str, int]] = ()) -> tuple[int, int]:
    """The per-node table and what needs a decision; returns (failed takes, jobs needing a decision).

    A take failed when it was requested in this run and neither landed nor waits for a decision; a job needs a
    decision when it was cut off mid-submit (``unknown``) or is still journalled (waiting for a key or the vendor).
    """
    undecided_states = ("unknown", *PENDING_STATES)
    landed = {(t["node"], t["take_index"]) for t in manifest["takes"] if t["status"] == "landed"}
    waiting = [j for j in manifest["jobs_without_take"] if j["status"] in undecided_states]
    held = {(j["node"], j["take_index"]) for j in waiting}
    latest: dict[tuple[str, int], str] = {}
    for job in manifest["jobs_without_take"]:  # oldest first: the last one seen for a take is its latest
        latest[(job["node"], job["take_index"])] = job["status"]
    failed_takes = {where for where in requested if where not in landed and where not in held
                    and latest.get(where) not in ("cancelled", "superseded")}
    nodes = [n for n in plan.order] + sorted({j["node"] for j in waiting} - set(plan.order))
    rows = [("node", "model", "takes", "failed", "decide", "seconds", "cost")]
    for node_id in nodes:
        takes = [t for t in manifest["takes"] if t["node"] == node_id and t["status"] == "landed"]
        durations = ", ".join(f"{t['duration_s']:.1f}" for t in takes if t["duration_s"])
        cost = sum(t["actual_usd"] if t["actual_usd"] is not None else t["estimated_usd"] for t in takes)
        model = next((j.model_label for j in plan.jobs if j.node_id == node_id),
                     next((t["model"] for t in takes), next((j["model"] for j in waiting if j["node"] == node_id), "")))
        rows.append((node_id, model, str(len(takes)), str(sum(1 for f in failed_takes if f[0] == node_id)),
                     str(sum(1 for j in waiting if j["node"] == node_id)), durations or "-", f"${cost:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows))
    print(f"{len(nodes)} node(s), {sum(int(r[2]) for r in rows[1:])} take(s) in {seconds:.1f} s; "
          f"project spend ${manifest['spent_usd']:.2f}")
    if waiting:
        print(f"needs a decision ({len(waiting)} job(s)):")
        for job in waiting:
            print("  " + decision_line(job))
    return len(failed_takes), len(waiting)


def decision_line(job: dict[str, Any]) -> str:
    """One job that needs the user: which, where, since when, and what to check or do."""
    where = f"{job['node']} take {job['take_index'] + 1}: {job['backend']}, journalled {_when(job['created_at'])}"
    if job["status"] == "unknown":
        return (f"{where}: cut off while it was being submitted; {job['backend']} may have it and bill it. Check "
                f"{job['backend']}'s dashboard for a job made then; if there is none, run again with "
                "--resubmit-unknown (the vendor may bill both if the first did arrive)")
    remote = f" as {job['remote_job_id']}" if job["remote_job_id"] else ""
    return (f"{where}{remote}: not finished in this run ({job['error'] or job['status']}); it resumes on the next "
            "start without a resubmit")


def _when(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else "at an unknown time"
