"""The main-thread bridge: engine sessions per canvas, and the drain that applies engine events to Blender data.

Interactive Blender calls :func:`drain_all` from a ``bpy.app.timers`` timer; headless runs and tests call
:func:`apply_events` in a loop (timers never fire when Blender runs as a Python module).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import bpy

from ..engine.ledger import LedgerError, TakeRecord
from ..engine.runner import Event
from ..engine.session import LEDGER_NAME, Session
from ..keys import current_keys
from ..nodes.base import TREE_ID
from .wording import CanvasActionError, blender_words, write_error

TIMER_INTERVAL_S = 0.1
MODEL_NODE_TYPES = ("CanvasImageNode", "CanvasVideoNode", "CanvasAudioNode")

_sessions: dict[str, Session] = {}  # project folder -> session
_trees: dict[str, str] = {}  # project folder -> name of the canvas tree it serves
_outstanding: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # folder -> node -> open jobs


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
        session.resume()
    else:
        _sessions[key].set_keys(fresh)
    _trees[key] = tree.name
    return _sessions[key]


def running_trees() -> set[str]:
    """Names of the canvases whose runner has jobs in flight (or events not yet applied)."""
    return {_trees.get(folder, "") for folder, session in _sessions.items()
            if session.runner.busy or not session.runner.events.empty()}


def close_sessions() -> None:
    for session in _sessions.values():
        session.close()
    _sessions.clear()
    _trees.clear()
    _outstanding.clear()


def file_path(session: Session, relative: str) -> str:
    absolute = str(session.project_dir / relative)
    if bpy.data.filepath:
        try:
            return str(bpy.path.relpath(absolute))
        except ValueError:
            return absolute
    return absolute


def add_take_to_tray(node: Any, session: Session, take: TakeRecord) -> None:
    if any(entry.take_id == take.take_id for entry in node.tray):
        return
    entry = node.tray.add()
    entry.take_id = take.take_id
    entry.file = file_path(session, take.file)
    thumbnail = Path(take.file).with_suffix(".thumb.png")
    if (session.project_dir / thumbnail).is_file():
        entry.thumbnail = file_path(session, thumbnail.as_posix())
    entry.media = take.media
    entry.model, entry.variant, entry.backend = take.model, take.variant, take.backend
    entry.has_seed = take.seed is not None
    entry.seed = take.seed or 0
    entry.duration_s = take.duration_s or 0.0
    entry.cost_usd = take.actual_usd if take.actual_usd is not None else take.estimated_usd
    entry.prompt = take.prompt
    entry.created = take.created_at
    entry.number = session.ledger.take_number(take.take_id)
    _keep_in_take_order(node, len(node.tray) - 1)


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


def apply_events(tree: Any, session: Session, events: Iterable[Event]) -> int:
    """Apply engine events to the tree's nodes; returns how many were applied. Main thread only."""
    open_jobs = _outstanding[str(session.project_dir)]
    count = 0
    for event in events:
        count += 1
        node = tree.nodes.get(event.node_id)
        if event.kind == "queued":
            open_jobs[event.node_id] += 1
        elif event.kind in ("landed", "cached", "failed", "cancelled", "unknown"):
            open_jobs[event.node_id] = max(0, open_jobs[event.node_id] - 1)
        if node is None or node.bl_idname not in MODEL_NODE_TYPES:
            continue
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
            add_take_to_tray(node, session, event.take)
            if event.kind == "landed" or not node.chosen_take:
                node.chosen_take = event.take.take_id
                session.ledger.choose(node.name, event.take.take_id)  # the ledger agrees (and an undo keeps it)
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
    return count


def sync_trays(tree: Any, session: Session) -> None:
    """Make every model node's tray say what the ledger says (after a reopen, an undo, or a headless run): the
    ledger's takes in take order, none it removed, and its chosen take. The ledger is the truth for takes, picks,
    scores and removals; Blender's undo restores only Blender data, so this runs after every undo and redo."""
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
    """The timer body: drain every session into its tree; keep ticking while any runner is busy."""
    busy = False
    for folder, session in list(_sessions.items()):
        tree = bpy.data.node_groups.get(_trees.get(folder, ""))
        events = session.runner.drain()
        if tree is not None and events:
            apply_events(tree, session, events)
        busy = busy or session.runner.busy or bool(events)
    if busy:
        _redraw_node_editors()
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
