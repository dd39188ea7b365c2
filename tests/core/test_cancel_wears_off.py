"""A cancel reaches the jobs started before it and wears off: the next render of that node (or, after Cancel All,
of any node) lands. The flags used to stay set until the file was reopened."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from blender_canvas.engine.document import Canvas
from blender_canvas.engine.session import Session
from blender_canvas.providers.backend import JobState
from tests.core.test_engine import ScriptedBackend, canvas, make_session, render


def _start_and_cancel(session: Session, doc: Canvas, tmp_path: Path, backend: ScriptedBackend,
                      node_id: str | None) -> None:
    plan = session.plan(doc, tmp_path, selection=["a"], new_take=True)
    session.start(plan, doc, tmp_path)
    deadline = time.monotonic() + 10
    while len(backend.submits) < 2 and time.monotonic() < deadline:  # the still, then a's take is at the vendor
        time.sleep(0.01)
    session.runner.cancel(node_id=node_id)
    assert session.runner.wait(timeout=10)
    session.runner.drain()


def _one_node(doc: Canvas) -> Canvas:
    return Canvas.model_validate({"version": 1, "nodes": [doc.nodes[0]]})


def test_after_cancel_on_a_node_its_next_new_take_lands(tmp_path: Path) -> None:
    hold = threading.Event()
    backend = ScriptedBackend(hold=hold)
    session = make_session(tmp_path, backend)
    doc = canvas(takes=1)
    hold.set()
    render(session, _one_node(doc), tmp_path)
    hold.clear()
    _start_and_cancel(session, doc, tmp_path, backend, node_id="a")
    assert session.ledger.takes("a") == []
    assert {j.state for j in session.ledger.jobs("node_id = 'a'")} == {JobState.CANCELLED.value}
    hold.set()
    events = render(session, doc, tmp_path, selection=["a"], new_take=True)
    assert [e.kind for e in events if e.kind in ("landed", "cancelled")] == ["landed"]
    assert len(session.ledger.takes("a")) == 1


def test_after_cancel_all_every_later_render_lands(tmp_path: Path) -> None:
    hold = threading.Event()
    backend = ScriptedBackend(hold=hold)
    session = make_session(tmp_path, backend)
    doc = canvas(takes=1)
    hold.set()
    render(session, _one_node(doc), tmp_path)
    hold.clear()
    _start_and_cancel(session, doc, tmp_path, backend, node_id=None)
    assert session.ledger.takes("a") == []
    hold.set()
    events = render(session, doc, tmp_path, selection=["a", "b"], new_take=True)
    landed = sorted(e.node_id for e in events if e.kind == "landed")
    assert landed == ["a", "b"], [(e.kind, e.node_id, e.message) for e in events]
    assert not any(e.kind == "cancelled" for e in events)
