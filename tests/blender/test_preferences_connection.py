"""The preferences' "Test Connection" button on real bpy, against the fake Runway API on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import bpy
import pytest

from blender_canvas.operators import preferences
from blender_canvas.operators.preferences import CanvasPreferences
from blender_canvas.providers.catalog import load_catalog
from tests.blender.test_nodes import RecordingLayout
from tests.fakes.runway_server import DEFAULT_KEY, FakeRunway

WRONG_KEY = "key_wrong0000111122223333"


@pytest.fixture
def prefs() -> Iterator[Any]:
    """The add-on's preferences (bpy as a module registers the add-on without enabling it: enable it here)."""
    addons = bpy.context.preferences.addons
    added = addons.get(preferences.ADDON_ID) is None
    if added:
        addons.new().module = preferences.ADDON_ID
    addon_prefs = addons[preferences.ADDON_ID].preferences
    assert isinstance(addon_prefs, CanvasPreferences)
    system = bpy.context.preferences.system
    online = system.use_online_access
    system.use_online_access = True
    yield addon_prefs
    addon_prefs.runwayml_api_secret = ""
    addon_prefs.check_runway, addon_prefs.check_runway_ok = "", False
    system.use_online_access = online
    if added:
        addons.remove(addons[preferences.ADDON_ID])


@pytest.fixture
def runway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunway]:
    monkeypatch.delenv("RUNWAYML_API_SECRET", raising=False)
    with FakeRunway() as fake:
        monkeypatch.setenv("BLENDER_CANVAS_RUNWAY_URL", fake.base_url)
        yield fake


def checks(fake: FakeRunway) -> list[Any]:
    return fake.requests_to("api", "GET", "/v1/organization")


def test_the_button_reports_a_key_from_the_preferences(prefs: Any, runway: FakeRunway) -> None:
    prefs.runwayml_api_secret = DEFAULT_KEY
    assert bpy.ops.canvas.test_connection(backend="runway") == {"FINISHED"}
    assert prefs.check_runway_ok is True
    assert prefs.check_runway.startswith("Runway: connected, key accepted; 1250 credits ($12.50)")
    calls = checks(runway)
    assert len(calls) == 1 and calls[0].headers["authorization"] == f"Bearer {DEFAULT_KEY}"


def test_the_button_reports_a_wrong_key_without_showing_it(prefs: Any, runway: FakeRunway) -> None:
    prefs.runwayml_api_secret = WRONG_KEY
    assert bpy.ops.canvas.test_connection(backend="runway") == {"FINISHED"}
    assert prefs.check_runway_ok is False
    assert "key rejected by Runway (HTTP 401): check RUNWAYML_API_SECRET" in prefs.check_runway
    assert WRONG_KEY not in prefs.check_runway
    assert len(checks(runway)) == 1


def test_a_blank_field_falls_back_to_the_environment(prefs: Any, runway: FakeRunway,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNWAYML_API_SECRET", DEFAULT_KEY)
    assert bpy.ops.canvas.test_connection("INVOKE_DEFAULT", backend="runway") == {"FINISHED"}  # no window: in line
    assert prefs.check_runway_ok is True and "1250 credits" in prefs.check_runway


def test_no_request_while_online_access_is_off(prefs: Any, runway: FakeRunway) -> None:
    prefs.runwayml_api_secret = DEFAULT_KEY
    bpy.context.preferences.system.use_online_access = False
    assert bpy.ops.canvas.test_connection(backend="runway") == {"CANCELLED"}
    assert prefs.check_runway_ok is False and "online access is off" in prefs.check_runway
    assert checks(runway) == []


def test_the_worker_thread_leaves_its_report_for_the_main_thread(runway: FakeRunway) -> None:
    worker = threading.Thread(target=preferences._work, args=("runway", {"RUNWAYML_API_SECRET": DEFAULT_KEY}))
    worker.start()
    worker.join(timeout=30)
    with preferences._lock:
        report = preferences._finished.pop("runway")
    assert report.ok and report.endpoint == "GET /v1/organization"


def test_every_backend_box_has_a_button_and_shows_its_last_result(prefs: Any, runway: FakeRunway) -> None:
    prefs.runwayml_api_secret = WRONG_KEY
    bpy.ops.canvas.test_connection(backend="runway")
    layout = RecordingLayout()
    layout.box = lambda: layout  # type: ignore[attr-defined]
    shown = SimpleNamespace(layout=layout, check_runway=prefs.check_runway, check_runway_ok=prefs.check_runway_ok)
    CanvasPreferences.draw(shown, bpy.context)  # type: ignore[arg-type]
    buttons = [kw["op"].backend for kind, name, kw in layout.calls if kind == "operator"]
    assert buttons == [b.id for b in load_catalog().backends if b.env_keys]
    labels = [(text, kw.get("icon")) for kind, text, kw in layout.calls if kind == "label"]
    first_line, icon = labels[labels.index(("Runway", None)) + 1]
    assert first_line.startswith("key rejected by Runway") and icon == "ERROR"
