"""The add-on's preferences: one password field per vendor key, and a "Test connection" button per backend.

Blender keeps the keys in userpref.blend, never in a project's .blend; an empty field falls back to the environment
variable of the same name. The button makes one cheap authenticated call that bills nothing
(:func:`blender_canvas.providers.connection.check_backend`) on a worker thread, which never touches bpy: the keys
are read on the main thread first, and the main thread collects the report through a window timer of the modal
operator. Without an event loop (background runs, bpy as a module, scripts) the check runs synchronously.
"""

from __future__ import annotations

import textwrap
import threading
from typing import Any

import bpy

from ..providers.backend import ConnectionReport
from ..providers.catalog import load_catalog
from ..providers.connection import check_backend
from . import bridge

ADDON_ID = (__package__ or "blender_canvas").rsplit(".", 1)[0]
POLL_S = 0.1
WRAP = 90  # characters per line of a result drawn under its button

_running: set[str] = set()  # backends being tested
_finished: dict[str, ConnectionReport] = {}  # reports the workers left for the main thread
_lock = threading.Lock()


SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASSWORD")
PLAIN_WORDS = frozenset({"KEY", "SECRET", "TOKEN", "PASSWORD", "PROJECT", "ACCESS", "CLOUD", "GOOGLE"})


def _key_property(env_name: str, backend_label: str) -> Any:
    """A field per environment variable: a password field for a secret, a plain one for a setting such as
    GOOGLE_CLOUD_PROJECT (a project id is not a secret, and the user needs to read it back)."""
    secret = any(word in env_name.split("_") for word in SECRET_WORDS)
    label = " ".join(word.capitalize() if word in PLAIN_WORDS else word for word in env_name.split("_"))
    what = "key" if secret else "setting"
    return bpy.props.StringProperty(name=label, subtype="PASSWORD" if secret else "NONE",
                                    description=f"{backend_label} {what} (blank = the {env_name} environment "
                                                "variable)")


def _label(backend_id: str) -> str:
    backend = load_catalog().backend(backend_id)
    return backend.label if backend else backend_id


class CanvasPreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.label(text="Keys are stored in Blender's preferences, never in your .blend files.", icon="LOCKED")
        for backend in load_catalog().backends:
            if not backend.env_keys:
                continue
            box = layout.box()
            box.label(text=backend.label)
            for name in backend.env_keys:
                box.prop(self, name.lower())
            row = box.row()
            testing = backend.id in _running
            button: Any = row.operator(CANVAS_OT_test_connection.bl_idname,
                                       text="Testing…" if testing else "Test Connection",
                                       icon="SORTTIME" if testing else "URL")
            button.backend = backend.id
            result = str(getattr(self, f"check_{backend.id}", "") or "")
            icon: Any = "CHECKMARK" if getattr(self, f"check_{backend.id}_ok", False) else "ERROR"
            for i, line in enumerate(textwrap.wrap(result, WRAP)):
                box.label(text=line, icon=icon if i == 0 else "BLANK1")


def addon_preferences(context: Any) -> Any:
    """The add-on's preferences, or None when the add-on is registered without being enabled (bpy as a module)."""
    preferences = getattr(context, "preferences", None)
    addon = preferences.addons.get(ADDON_ID) if preferences is not None else None
    return getattr(addon, "preferences", None)


def _work(backend_id: str, keys: dict[str, str]) -> None:
    """The worker thread: plain data in, a report out; never bpy."""
    try:
        report = check_backend(backend_id, keys)
    except Exception as exc:  # a bug must still end the test with a message, not a stuck "Testing…"
        report = ConnectionReport(backend=backend_id, ok=False, message=f"{_label(backend_id)}: the test failed "
                                  f"({type(exc).__name__})")
    with _lock:
        _finished[backend_id] = report


class CANVAS_OT_test_connection(bpy.types.Operator):
    """Make one cheap authenticated call to this backend (nothing is billed) and report what it said"""

    bl_idname = "canvas.test_connection"
    bl_label = "Test Connection"
    bl_options = {"INTERNAL"}

    backend: bpy.props.StringProperty(name="Backend", description="The service to test, such as runway")

    _timer: Any = None

    @classmethod
    def poll(cls, context: Any) -> bool:
        # with online access off it still runs, to say so beside the key (the preferences are where it is fixed)
        if getattr(context, "preferences", None) is not None:
            return True
        cls.poll_message_set("No preferences to test from")
        return False

    def _refused(self, context: Any) -> bool:
        if bpy.app.online_access:
            return False
        self._finish(context, ConnectionReport(
            backend=self.backend, ok=False, message=f"{_label(self.backend)}: not tested, online access is off; turn "
                                                    "on Allow Online Access in Preferences ▸ System"))
        return True

    def execute(self, context: Any) -> set[str]:
        """Synchronous: for background runs, bpy as a module and scripts, where no timer would ever fire."""
        if self._refused(context):
            return {"CANCELLED"}
        self._finish(context, check_backend(self.backend, bridge.current_keys()))
        return {"FINISHED"}

    def invoke(self, context: Any, event: Any) -> set[str]:
        if bpy.app.background or getattr(bpy.app, "module", False) or context.window is None:
            return self.execute(context)
        if self._refused(context):
            return {"CANCELLED"}
        with _lock:
            if self.backend in _running:
                self.report({"INFO"}, f"{_label(self.backend)}: a test is already running")
                return {"CANCELLED"}
            _running.add(self.backend)
            _finished.pop(self.backend, None)
        keys = bridge.current_keys()  # read on the main thread; the worker gets plain strings
        threading.Thread(target=_work, args=(self.backend, keys), name=f"canvas-check-{self.backend}",
                         daemon=True).start()
        window_manager = context.window_manager
        self._timer = window_manager.event_timer_add(POLL_S, window=context.window)
        window_manager.modal_handler_add(self)
        _redraw_preferences(context)
        return {"RUNNING_MODAL"}

    def modal(self, context: Any, event: Any) -> set[str]:
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        with _lock:
            report = _finished.pop(self.backend, None)
        if report is None:
            return {"PASS_THROUGH"}
        self._stop(context)
        self._finish(context, report)
        return {"FINISHED"}

    def cancel(self, context: Any) -> None:
        self._stop(context)

    def _stop(self, context: Any) -> None:
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
            self._timer = None
        with _lock:
            _running.discard(self.backend)

    def _finish(self, context: Any, report: ConnectionReport) -> None:
        prefs = addon_preferences(context)
        if prefs is not None and hasattr(prefs, f"check_{report.backend}"):
            setattr(prefs, f"check_{report.backend}", report.message)
            setattr(prefs, f"check_{report.backend}_ok", report.ok)
        self.report({"INFO"} if report.ok else {"WARNING"}, report.message)
        _redraw_preferences(context)


def _redraw_preferences(context: Any) -> None:
    window_manager = getattr(context, "window_manager", None)
    for window in getattr(window_manager, "windows", ()):
        for area in window.screen.areas:
            if area.type == "PREFERENCES":
                area.tag_redraw()


# one password field per environment variable the catalog's backends use (FAL_KEY -> fal_key, ...), and the last
# connection test of each backend that has keys (check_fal, check_fal_ok, ...)
CanvasPreferences.__annotations__ = {
    **{name.lower(): _key_property(name, backend.label)
       for backend in load_catalog().backends for name in backend.env_keys},
    **{f"check_{backend.id}": bpy.props.StringProperty(name=f"{backend.label} connection",
                                                       description="What the last Test Connection found")
       for backend in load_catalog().backends if backend.env_keys},
    **{f"check_{backend.id}_ok": bpy.props.BoolProperty(name=f"{backend.label} connected")
       for backend in load_catalog().backends if backend.env_keys},
}

CLASSES: tuple[type, ...] = (CanvasPreferences, CANVAS_OT_test_connection)
