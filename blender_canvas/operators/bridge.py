"""The main-thread bridge: engine sessions per canvas, and the drain that applies engine events to Blender data.

Interactive Blender calls :func:`drain_all` from a ``bpy.app.timers`` timer; headless runs and tests call
:func:`drain_session` in a loop (timers never fire when Blender runs as a Python module).

A drain call never hitches the UI: it applies events until its time budget (:data:`DRAIN_BUDGET_S`) is spent and
keeps the rest, in order, for the next call (the timer comes back after :data:`BACKLOG_INTERVAL_S`). Applying a landed
take does no ledger I/O on the main thread: the event carries its take number, and the write that makes it the node's
choice goes to an ordered writer thread (:mod:`.ledger_writes`), so the main thread never waits on the ledger's lock
while workers commit to disk.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sqlite3
import time
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import bpy

from ..engine.ledger import LedgerError, TakeRecord
from ..engine.runner import Event
from ..engine.session import LEDGER_NAME, Session
from ..keys import current_keys
from ..nodes.base import TREE_ID
from .ledger_writes import ChoiceWriter
from .wording import CanvasActionError, blender_words, write_error

TIMER_INTERVAL_S = 0.1
DRAIN_BUDGET_S = 0.002  # per drain call: half the 4 ms (a quarter of a 60 fps frame) the longest call may take
BACKLOG_INTERVAL_S = 0.01  # the timer's next tick when events are left over
MODEL_NODE_TYPES = ("CanvasImageNode", "CanvasVideoNode", "CanvasAudioNode")

_sessions: dict[str, Session] = {}  # project folder -> session
_trees: dict[str, str] = {}  # project folder -> name of the canvas tree it serves
_outstanding: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # folder -> node -> open jobs
_backlog: dict[str, deque[Event]] = defaultdict(deque)  # folder -> events drained from the runner, not yet applied
_writers: dict[str, ChoiceWriter] = {}  # folder -> the writer of the choices its drains made


@dataclass
class Drained:
    """What one drain call did: the events it applied (in order) and how many it left for the next call."""

    applied: list[Event] = dataclass_field(default_factory=list)
    left: int = 0


def unsaved_root() -> Path:
    """Projects of never-saved files live in Blender's user data folder, which survives a crash (unlike /tmp)."""
    return Path(bpy.utils.user_resource("DATAFILES", path="blender_canvas", create=True)) / "unsaved"


def project_dir_for(tree: Any) -> Path:
    """The tree's project folder, fixed at its first render so later renames don't strand its takes."""
    if not tree.project_dir:
        if bpy.data.filepath:
            stem = Path(bpy.data.filepath).stem
            tree.project_dir = f"//{stem}_canvas/{_safe(tree.name)}"
        else:
            tree.project_dir = str(unsaved_root() / f"{_safe(tree.name)}-{int(time.time())}")
    return Path(os.path.normpath(bpy.path.abspath(tree.project_dir)))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "canvas"


def session_for(tree: Any, keys: dict[str, str] | None = None) -> Session:
    """The engine session of the tree's project, with the keys as they are now (read on every call, so a key typed
    into the preferences works at the next render, not after the file is reopened)."""
    folder = project_dir_for(tree)
    key = str(folder)
    fresh = keys if keys is not None else current_keys()
    if key not in _sessions:
        try:
            session = Session(folder, keys=fresh)
        except (OSError, sqlite3.Error) as error:  # the project folder cannot be made or written
            reason = error if isinstance(error, OSError) else OSError(errno.EACCES, str(error))
            raise CanvasActionError(write_error(folder / LEDGER_NAME, reason, "the project's ledger")
                                    + " (Canvas panel ▸ Project Folder)") from error
        _sessions[key] = session
        open_drain(session)
        session.resume()
    else:
        _sessions[key].set_keys(fresh)
    _trees[key] = tree.name
    try:
        flush_writes(_sessions[key])  # an operator reads or writes choices: the drain's queued ones go in first
    except sqlite3.Error as error:
        raise CanvasActionError(f"the take a render chose could not be written to the project's ledger ({error}); "
                                "if another Blender or run has this project open, close it first") from error
    return _sessions[key]


def running_trees() -> set[str]:
    """Names of the canvases whose runner has jobs in flight (or events not yet applied)."""
    return {_trees.get(folder, "") for folder, session in _sessions.items() if _rendering(session)}


def _rendering(session: Session) -> bool:
    """Jobs in flight, or events not applied yet (in the runner's queue or left over by a drain)."""
    return bool(session.runner.busy or session.runner.events.queue or backlog(session))


def finished(session: Session) -> bool:
    """No job in flight, every event applied, and every choice the drain queued written to the ledger (a loop that
    ends here can read the ledger; a choice still on its way does not count as rendering in the UI)."""
    writer = _writers.get(str(session.project_dir))
    return not _rendering(session) and not (writer is not None and writer.pending)


def _take_events(session: Session) -> list[Event]:
    """Everything the workers have put on the runner's queue, oldest first, without its mutex: a worker preempted
    while holding it would make the main thread give the GIL away and wait for it. ``deque.popleft`` is atomic
    (the deque is thread-safe for appends and pops at either end), and this queue is unbounded and never joined."""
    pending = session.runner.events.queue
    out: list[Event] = []
    while True:
        try:
            out.append(pending.popleft())
        except IndexError:
            return out


def backlog(session: Session) -> int:
    """How many events a budgeted drain has taken from the runner and not applied yet."""
    queue = _backlog.get(str(session.project_dir))
    return len(queue) if queue else 0


def close_sessions() -> None:
    for writer in _writers.values():  # their writes go in before any ledger closes
        writer.close()
    _writers.clear()
    for session in _sessions.values():
        session.close()
    _sessions.clear()
    _trees.clear()
    _outstanding.clear()
    _backlog.clear()


def release(session: Session) -> None:
    """Done with a session the bridge did not open (a headless run): its drain's writes go in, its state goes."""
    folder = str(session.project_dir)
    writer = _writers.pop(folder, None)
    if writer is not None:
        writer.close()
    _backlog.pop(folder, None)
    _outstanding.pop(folder, None)


def _writer(session: Session) -> ChoiceWriter:
    """The session's writer of choices; made when the session opens (:func:`open_drain`), or here as a last resort."""
    folder = str(session.project_dir)
    if folder not in _writers:
        _writers[folder] = ChoiceWriter(session.ledger)
    return _writers[folder]


def open_drain(session: Session) -> None:
    """Ready the session for drains before the first one: its writer's thread starts here, outside any drain call."""
    _writer(session)


def flush_writes(session: Session) -> None:
    """Wait for the choices the drain queued for this session's ledger (before reading or writing choices)."""
    writer = _writers.get(str(session.project_dir))
    if writer is not None:
        writer.flush()


def file_path(session: Session, relative: str) -> str:
    absolute = str(session.project_dir / relative)
    if bpy.data.filepath:
        try:
            return str(bpy.path.relpath(absolute))
        except ValueError:
            return absolute
    return absolute


def add_take_to_tray(node: Any, session: Session, take: TakeRecord, number: int | None = None) -> None:
    """Add the take to the node's tray in take order; `number` (its take index + 1) spares the ledger a read."""
    if any(entry.take_id == take.take_id for entry in node.tray):
        return
    entry = node.tray.add()
    entry.take_id = take.take_id
    entry.file = file_path(session, take.file)
    thumbnail = _thumbnail_of(session, take)
    if thumbnail:
        entry.thumbnail = file_path(session, thumbnail)
    entry.media = take.media
    entry.model, entry.variant, entry.backend = take.model, take.variant, take.backend
    entry.has_seed = take.seed is not None
    entry.seed = take.seed or 0
    entry.duration_s = take.duration_s or 0.0
    entry.cost_usd = take.actual_usd if take.actual_usd is not None else take.estimated_usd
    entry.prompt = take.prompt
    entry.created = take.created_at
    entry.number = number if number is not None else session.ledger.take_number(take.take_id)
    _keep_in_take_order(node, len(node.tray) - 1)


def _thumbnail_of(session: Session, take: TakeRecord) -> str:
    """The take's thumbnail (relative to the project), or "" if it has none. The runner records at landing whether
    it wrote one, so a drain needs no stat: a system call gives the GIL away, and with many workers busy the main
    thread waits milliseconds to get it back. Takes of older releases don't say; for them the file is looked at."""
    thumbnail = Path(take.file).with_suffix(".thumb.png")
    try:
        timings = json.loads(getattr(take, "timings_json", "") or "{}")  # a record made field by field may lack it
    except ValueError:
        timings = {}
    if isinstance(timings, dict) and "thumbnail" in timings:
        return thumbnail.as_posix() if timings["thumbnail"] == thumbnail.name else ""
    return thumbnail.as_posix() if (session.project_dir / thumbnail).is_file() else ""


def _keep_in_take_order(node: Any, index: int) -> None:
    """Move the entry at `index` to its place by take number (#1, #2, #3), whatever order the takes landed in."""
    number = node.tray[index].number
    target = next((i for i, other in enumerate(node.tray) if i != index and other.number > number), None)
    if target is not None and target < index:
        node.tray.move(index, target)
        if node.tray_index >= target and node.tray_index < index:
            node.tray_index += 1


def refresh_verdicts(tree: Any, session: Session) -> None:
    """Copy the ledger's verdicts and pins onto the tray entries the panel draws."""
    axes = [a.name for a in tree.canvas_bakeoff.axes] if hasattr(tree, "canvas_bakeoff") else []
    verdicts = {v.take_id: v for v in session.ledger.verdicts()}
    best = set(session.ledger.pins("node").values())
    per_axis: dict[str, list[str]] = {}
    for axis, take_id in session.ledger.pins("axis").items():
        per_axis.setdefault(take_id, []).append(axis)
    for node in tree.nodes:
        if node.bl_idname not in MODEL_NODE_TYPES:
            continue
        for entry in node.tray:
            verdict = verdicts.get(entry.take_id)
            entry.scored = verdict is not None
            scores = verdict.scores if verdict else {}
            ordered = [a for a in axes if a in scores] + sorted(set(scores) - set(axes))
            entry.score_mean = sum(scores.values()) / len(scores) if scores else 0.0
            entry.verdict_text = "\n".join(f"{axis}: {scores[axis]}" for axis in ordered)[:2000]
            entry.verdict_note = verdict.note[:2000] if verdict else ""
            entry.sample_scores = bool(verdict and verdict.sample)
            entry.best = entry.take_id in best
            entry.best_axes = ", ".join(per_axis.get(entry.take_id, []))


def pick_take(session: Session, node_id: str, take_id: str) -> None:
    """The user's pick of a take (main thread), written after every choice a drain queued before it."""
    flush_writes(session)
    session.ledger.choose(node_id, take_id)


def apply_events(tree: Any, session: Session, events: Iterable[Event]) -> int:
    """Apply engine events to the tree's nodes, all of them; returns how many were applied. Main thread only."""
    count = 0
    for event in events:
        apply_event(tree, session, event)
        count += 1
    return count


def drain_session(tree: Any, session: Session, budget_s: float | None = DRAIN_BUDGET_S) -> Drained:
    """One drain call: take what the runner has, apply events oldest first until `budget_s` is spent (None: all of
    them), and keep the rest in order for the next call. At least one event is applied per call, so a backlog always
    shrinks. `tree` None (the canvas was deleted) still drains, so the session can finish."""
    queue = _backlog[str(session.project_dir)]
    queue.extend(_take_events(session))
    done = Drained()
    started = time.perf_counter()
    while queue:
        event = queue.popleft()
        if tree is not None:
            apply_event(tree, session, event)
        done.applied.append(event)
        if budget_s is not None and time.perf_counter() - started >= budget_s:
            break
    done.left = len(queue)
    return done


def apply_event(tree: Any, session: Session, event: Event) -> None:
    """Apply one engine event to its node. Main thread only."""
    folder = str(session.project_dir)
    open_jobs = _outstanding[folder]
    node = tree.nodes.get(event.node_id)
    if event.kind == "queued":
        open_jobs[event.node_id] += 1
    elif event.kind in ("landed", "cached", "failed", "cancelled", "unknown"):
        open_jobs[event.node_id] = max(0, open_jobs[event.node_id] - 1)
    if node is None or node.bl_idname not in MODEL_NODE_TYPES:
        return
    if event.kind == "queued":
        node.render_state, node.progress, node.status_message = "queued", 0.0, ""
    elif event.kind == "submitted":
        node.render_state, node.progress = "queued", 0.0
        node.status_message = blender_words(event.message)  # the adapter's notes on inputs it had to fit
    elif event.kind == "progress":
        node.render_state = "running" if event.state == "running" else "queued"
        node.progress = event.progress or 0.0
        if event.queue_position:
            node.status_message = f"In queue, position {event.queue_position}"
    elif event.kind in ("landed", "cached") and event.take is not None:
        # a landed take's number is its job's take index (take id = job id); a cached take's is its own job's
        landed = event.kind == "landed"
        add_take_to_tray(node, session, event.take, event.take_index + 1 if landed else None)
        if landed or not node.chosen_take:
            node.chosen_take = event.take.take_id
            # the ledger agrees (and an undo keeps it), written off the main thread in the order of the events:
            # two workers of one node may commit their takes in one order and put their events in the other
            _writer(session).choose(node.name, event.take.take_id)
        if open_jobs[event.node_id] == 0:
            node.render_state, node.progress, node.status_message = "done", 1.0, ""
    elif event.kind == "unknown":  # cut off mid-submit: the vendor may have it; the user decides
        node.render_state, node.status_message = "needs_decision", blender_words(event.message)
    elif event.kind == "failed" and node.render_state != "needs_decision":
        node.render_state, node.status_message = "failed", blender_words(event.message)
    elif event.kind == "cancelled" and open_jobs[event.node_id] == 0:
        node.render_state, node.status_message = "cancelled", blender_words(event.message)
    elif event.kind == "stale":
        node.render_state, node.status_message = "stale", blender_words(event.message)


def sync_trays(tree: Any, session: Session) -> None:
    """Make every model node's tray say what the ledger says (after a reopen, an undo, or a headless run): the
    ledger's takes in take order, none it removed, and its chosen take. The ledger is the truth for takes, picks,
    scores and removals; Blender's undo restores only Blender data, so this runs after every undo and redo."""
    flush_writes(session)
    for node in tree.nodes:
        if node.bl_idname not in MODEL_NODE_TYPES:
            continue
        takes = session.ledger.takes(node.name)
        live = {t.take_id for t in takes}
        for index in reversed(range(len(node.tray))):
            if node.tray[index].take_id not in live:  # removed (or never landed) in the ledger
                node.tray.remove(index)
        for take in takes:
            add_take_to_tray(node, session, take)
        node.tray_index = min(node.tray_index, max(0, len(node.tray) - 1))
        chosen = session.ledger.chosen(node.name)
        node.chosen_take = chosen.take_id if chosen is not None else ""
        if chosen is not None and node.render_state == "idle":
            node.render_state = "done"
    sync_axes(tree, session)
    refresh_verdicts(tree, session)


def sync_axes(tree: Any, session: Session) -> None:
    """An axis the ledger scores on but the tree no longer lists (an undone rename) comes back, taking the place
    of a listed axis nothing is scored on, so no score is orphaned."""
    settings = getattr(tree, "canvas_bakeoff", None)
    if settings is None:
        return
    scored = {axis for verdict in session.ledger.verdicts() for axis in verdict.scores}
    scored |= set(session.ledger.pins("axis"))
    listed = [a.name for a in settings.axes]
    orphans = sorted(scored - set(listed))
    unscored = [a for a in settings.axes if a.name not in scored]
    for axis in orphans:
        if unscored:
            unscored.pop(0).name = axis
        else:
            settings.axes.add().name = axis


def resync_open_trees(*_args: Any) -> None:
    """After an undo or redo: every canvas with an open session shows the ledger's takes, picks and scores."""
    for folder, session in list(_sessions.items()):
        tree = bpy.data.node_groups.get(_trees.get(folder, ""))
        if tree is not None and getattr(tree, "bl_idname", "") == TREE_ID:
            sync_trays(tree, session)  # the session is open: its folder was readable a moment ago


def canvas_trees() -> list[Any]:
    return [tree for tree in bpy.data.node_groups if tree.bl_idname == TREE_ID]


def resume_saved_jobs(*_args: Any) -> None:
    """After a file opens: canvases whose ledger has unfinished jobs resume polling them (never resubmit)."""
    close_sessions()
    for tree in canvas_trees():
        if not tree.project_dir:
            continue
        folder = Path(os.path.normpath(bpy.path.abspath(tree.project_dir)))
        if (folder / LEDGER_NAME).is_file():
            try:
                session = session_for(tree)
            except LedgerError as error:  # a ledger from a newer release, or held by another process: say so
                print(f"Blender Canvas: '{tree.name}': {blender_words(str(error))}")
                continue
            except CanvasActionError as error:  # a handler has no report: say it on the console, in words
                print(f"Blender Canvas: '{tree.name}': {error}")
                continue
            sync_trays(tree, session)  # the ledger may hold takes the file never saw (Blender died after they landed)
            if session.runner.busy:
                ensure_timer()


def adopt_unsaved_projects(blend_path: str) -> None:
    """Before the first save: move each canvas's project from the unsaved area to beside the new .blend.

    Runs in save_pre with the path being written, so the moved folder and the new '//' paths go into that file.
    """
    if not blend_path:
        return
    root = unsaved_root()
    blend = Path(blend_path)
    for tree in canvas_trees():
        if not tree.project_dir or tree.project_dir.startswith("//"):
            continue
        old = Path(os.path.normpath(tree.project_dir))
        if root not in old.parents:
            continue
        session = _sessions.get(str(old))
        if session is not None and session.runner.busy:
            continue  # jobs in flight still write there; the move happens on a later save
        relative = f"{blend.stem}_canvas/{_safe(tree.name)}"
        new = blend.parent / relative
        if new.exists():
            continue
        if session is not None:
            release(session)
            session.close()
            del _sessions[str(old)]
        new.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(old), str(new))
        tree.project_dir = f"//{relative}"
        for node in tree.nodes:
            for entry in getattr(node, "tray", ()):
                for field in ("file", "thumbnail"):
                    value = getattr(entry, field)
                    if value and old in Path(value).parents:
                        setattr(entry, field, f"//{relative}/{Path(value).relative_to(old).as_posix()}")


def drain_all() -> float | None:
    """The timer body: drain every session into its tree within one budget; come back soon while events are left
    over, at the usual interval while a runner is busy, never once everything is applied."""
    started = time.perf_counter()
    busy = applied = left = False
    for folder, session in list(_sessions.items()):
        tree = bpy.data.node_groups.get(_trees.get(folder, ""))
        # a session past the shared budget still applies one event, so none starves behind another
        done = drain_session(tree, session, max(0.0, DRAIN_BUDGET_S - (time.perf_counter() - started)))
        applied = applied or bool(done.applied)
        left = left or done.left > 0
        busy = busy or not finished(session)
    if applied:
        _redraw_node_editors()  # only when something changed: a tag per tick would redraw an idle editor
    if left:
        return BACKLOG_INTERVAL_S
    return TIMER_INTERVAL_S if busy else None


def ensure_timer() -> None:
    # As a Python module Blender has no event loop: timers never fire (the caller drains), and a timer left across
    # a file load makes bpy 4.5 hang at exit.
    if getattr(bpy.app, "module", False):
        return
    if not bpy.app.timers.is_registered(drain_all):
        bpy.app.timers.register(drain_all, first_interval=TIMER_INTERVAL_S)


def stop_timer() -> None:
    if bpy.app.timers.is_registered(drain_all):
        bpy.app.timers.unregister(drain_all)


def _redraw_node_editors() -> None:
    window_manager = getattr(bpy.context, "window_manager", None)
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "NODE_EDITOR":
                area.tag_redraw()
