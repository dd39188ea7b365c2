"""The budgeted drain (real bpy): the same trays and node states as applying everything at once, leftovers picked
up in order on the next call, the ledger agreeing without a main-thread write, and a headless run that ends only
when every event is applied. Nothing here is timed: a budget of 0 s applies exactly one event per call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bpy
import pytest

from blender_canvas import headless
from blender_canvas.engine.ledger import TakeRecord
from blender_canvas.engine.runner import Event
from blender_canvas.engine.session import Session
from blender_canvas.nodes.convert import new_canvas_tree
from blender_canvas.operators import bridge


@pytest.fixture(autouse=True)
def fresh_bridge() -> Any:
    bridge.close_sessions()
    yield
    bridge.close_sessions()


def take(node_id: str, index: int, *, thumbnail: str | bool | None = True) -> TakeRecord:
    """A take as the runner lands it; `thumbnail` False leaves the record silent about it (an older release)."""
    take_id = f"{node_id}{index}".ljust(16, "0")
    file = f"takes/{node_id}/{take_id}.mp4"
    timings: dict[str, Any] = {"total_s": 1.0}
    if thumbnail is not False:
        timings["thumbnail"] = f"{take_id}.thumb.png" if thumbnail else None
    return TakeRecord(take_id=take_id, node_id=node_id, cache_key=f"key-{take_id}", file=file, sha256="0" * 64,
                      media="video", duration_s=5.0, size_bytes=10, model="kling-3", variant="3.0", backend="fal",
                      seed=index, prompt=f"take {index} of {node_id}", estimated_usd=0.1, input_hashes="{}",
                      timings_json=json.dumps(timings), created_at=1000.0 + index)


def script(session: Session) -> list[Event]:
    """Two nodes' runs interleaved as workers would put them: takes landing out of order, a failure, a cache hit.
    The takes are in the ledger first, as each worker's add_take puts its take there before its event, and in
    another order than their events: the last take committed is not the last event (the ledger chose it)."""
    a = [take("a", 0), take("a", 1, thumbnail=None), take("a", 2, thumbnail=False)]
    b = [take("b", 0), take("b", 1)]
    for record in (*a, *b):
        session.ledger.add_take(record)
    (session.project_dir / a[2].file).parent.mkdir(parents=True, exist_ok=True)
    (session.project_dir / Path(a[2].file).with_suffix(".thumb.png")).write_bytes(b"png")  # found by looking
    events = [Event(kind="queued", node_id="a", take_index=i) for i in range(3)]
    events += [Event(kind="queued", node_id="b", take_index=i) for i in range(3)]
    events += [Event(kind="submitted", node_id="a", take_index=0, message="fitted"),
               Event(kind="progress", node_id="b", take_index=0, state="running", progress=0.4, queue_position=2),
               Event(kind="landed", node_id="a", job_id=a[2].take_id, take_index=2, take=a[2]),
               Event(kind="progress", node_id="a", take_index=0, state="running", progress=0.5),
               Event(kind="landed", node_id="b", job_id=b[1].take_id, take_index=1, take=b[1]),
               Event(kind="landed", node_id="a", job_id=a[0].take_id, take_index=0, take=a[0]),
               Event(kind="failed", node_id="b", take_index=2, message="the vendor refused it"),
               Event(kind="cached", node_id="b", job_id=b[0].take_id, take_index=0, take=b[0]),
               Event(kind="landed", node_id="a", job_id=a[1].take_id, take_index=1, take=a[1])]
    return events


def canvas(name: str) -> Any:
    tree = new_canvas_tree(name)
    for node_id in ("a", "b"):
        tree.nodes.new("CanvasVideoNode").name = node_id
    return tree


def state(tree: Any, session: Session) -> dict[str, Any]:
    """What a person sees of each node, and what the ledger says it chose (once the drain's writes are in)."""
    bridge.flush_writes(session)
    seen: dict[str, Any] = {}
    for node in tree.nodes:
        chosen = session.ledger.chosen(node.name)
        seen[node.name] = {
            "state": (node.render_state, round(node.progress, 3), node.status_message, node.chosen_take),
            "ledger_choice": chosen.take_id if chosen else "",
            "tray": [(e.take_id, e.number, Path(e.thumbnail).name if e.thumbnail else "", Path(e.file).name)
                     for e in node.tray],
        }
    return seen


def test_a_budgeted_drain_leaves_the_same_trays_and_states_as_one_that_applies_everything(tmp_path: Path) -> None:
    whole_session, split_session = Session(tmp_path / "whole", keys={}), Session(tmp_path / "split", keys={})
    try:
        whole_tree, split_tree = canvas("whole"), canvas("split")
        events = script(whole_session)
        assert bridge.apply_events(whole_tree, whole_session, events) == len(events)
        for event in script(split_session):
            split_session.runner.events.put(event)
        calls = 0
        while not split_session.runner.events.empty() or bridge.backlog(split_session):
            done = bridge.drain_session(split_tree, split_session, 0.0)
            assert len(done.applied) == 1  # a spent budget still applies one event, so a backlog always shrinks
            calls += 1
        assert calls == len(events)
        bridge.flush_writes(split_session)
        assert bridge.finished(split_session)  # finished once the choices the drain queued are written
        expected = state(whole_tree, whole_session)
        assert state(split_tree, split_session) == expected
        # the states are the ones the events say, not merely equal: take order, thumbnails, choice, failure
        assert expected["a"]["tray"] == [
            (take("a", 0).take_id, 1, f"{take('a', 0).take_id}.thumb.png", f"{take('a', 0).take_id}.mp4"),
            (take("a", 1).take_id, 2, "", f"{take('a', 1).take_id}.mp4"),
            (take("a", 2).take_id, 3, f"{take('a', 2).take_id}.thumb.png", f"{take('a', 2).take_id}.mp4")]
        assert expected["a"]["state"] == ("done", 1.0, "", take("a", 1).take_id)
        assert expected["a"]["ledger_choice"] == take("a", 1).take_id  # the last event's, though a2 was committed last
        assert expected["b"]["state"] == ("done", 1.0, "", take("b", 1).take_id)  # its last open job was the cache hit
        assert expected["b"]["ledger_choice"] == take("b", 1).take_id
    finally:
        for opened in (whole_session, split_session):
            bridge.release(opened)
            opened.close()


def test_leftover_events_wait_in_order_for_the_next_call(tmp_path: Path) -> None:
    session = Session(tmp_path / "project", keys={})
    try:
        tree = canvas("left")
        events = script(session)
        for event in events[:8]:
            session.runner.events.put(event)
        first = bridge.drain_session(tree, session, 0.0)
        assert first.applied == events[:1] and first.left == 7 and bridge.backlog(session) == 7
        assert not bridge.finished(session)  # the run is not over while a backlog waits
        for event in events[8:]:  # more arrive while the backlog waits: they queue behind it
            session.runner.events.put(event)
        second = bridge.drain_session(tree, session, 0.0)
        assert second.applied == events[1:2] and second.left == len(events) - 2
        rest = bridge.drain_session(tree, session, None)
        assert rest.applied == events[2:] and rest.left == 0
        bridge.flush_writes(session)
        assert bridge.finished(session)
        assert tree.nodes["a"].render_state == "done" and len(tree.nodes["a"].tray) == 3
    finally:
        bridge.release(session)
        session.close()


def test_the_ledger_ends_on_the_choice_of_the_last_event_and_a_pick_goes_after_the_drains(tmp_path: Path) -> None:
    session = Session(tmp_path / "project", keys={})
    try:
        tree = canvas("pick")
        first, second = take("a", 0), take("a", 1)
        session.ledger.add_take(second)  # two workers: take 2 commits first, take 1 after it (the ledger's choice) ...
        session.ledger.add_take(first)
        assert session.ledger.chosen("a").take_id == first.take_id  # type: ignore[union-attr]
        bridge.apply_events(tree, session, [Event(kind="queued", node_id="a", take_index=i) for i in range(2)]
                            + [Event(kind="landed", node_id="a", job_id=first.take_id, take=first),
                               Event(kind="landed", node_id="a", job_id=second.take_id, take_index=1, take=second)])
        bridge.flush_writes(session)  # ... but take 1's event came first: the node and the ledger say take 2
        assert tree.nodes["a"].chosen_take == second.take_id
        assert session.ledger.chosen("a").take_id == second.take_id  # type: ignore[union-attr]
        bridge.apply_events(tree, session, [Event(kind="landed", node_id="a", job_id=second.take_id,
                                                  take_index=1, take=second)])  # queues a write of take 2 ...
        bridge.pick_take(session, "a", first.take_id)  # ... and the user's pick, made after it, wins
        assert session.ledger.chosen("a").take_id == first.take_id  # type: ignore[union-attr]
        assert bridge.finished(session)
    finally:
        bridge.release(session)
        session.close()


def test_the_timer_comes_back_soon_while_events_are_left_and_stops_when_all_are_applied(tmp_path: Path,
                                                                                      monkeypatch: Any) -> None:
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp_path / "timer.blend"))
    tree = canvas("timer")
    session = bridge.session_for(tree, keys={})
    events = script(session)
    for event in events:
        session.runner.events.put(event)
    monkeypatch.setattr(bridge, "DRAIN_BUDGET_S", 0.0)
    intervals = [bridge.drain_all() for _ in range(len(events))]
    assert intervals[:-1] == [bridge.BACKLOG_INTERVAL_S] * (len(events) - 1)
    assert intervals[-1] in (None, bridge.TIMER_INTERVAL_S)  # the last choice may still be on its way to disk
    bridge.flush_writes(session)
    assert bridge.drain_all() is None and bridge.finished(session)  # nothing in flight, nothing left: it ends
    assert [len(tree.nodes[n].tray) for n in ("a", "b")] == [3, 2]


def test_a_headless_run_ends_only_when_every_event_is_applied(tmp_path: Path, monkeypatch: Any) -> None:
    drained: list[tuple[int, int]] = []
    real = bridge.drain_session

    def one_at_a_time(tree: Any, session: Session, budget_s: float | None = None) -> bridge.Drained:
        assert budget_s == 0.0  # the run drains with the add-on's budget, as the timer does
        done = real(tree, session, budget_s)
        drained.append((len(done.applied), done.left))
        return done

    monkeypatch.setattr(bridge, "DRAIN_BUDGET_S", 0.0)
    monkeypatch.setattr(bridge, "drain_session", one_at_a_time)
    data = {"version": 1, "nodes": [
        {"id": "still", "kind": "image", "model": "gpt-image-2", "takes": 3, "prompt": {"subject": "a red kettle"}},
        {"id": "other", "kind": "image", "model": "gpt-image-2", "takes": 2, "prompt": {"subject": "a blue cup"}}]}
    out = tmp_path / "run"
    assert headless.run(None, out, data=data, draft=True) == headless.EXIT_OK
    assert any(left for _applied, left in drained)  # events did wait for a later call
    assert drained[-1][1] == 0 and sum(applied for applied, _left in drained) >= 2 * 5  # queued + landed each
    tree = bpy.data.node_groups["canvas"]
    assert {n.name: (n.render_state, len(n.tray)) for n in tree.nodes if hasattr(n, "tray")} == {
        "still": ("done", 3), "other": ("done", 2)}
