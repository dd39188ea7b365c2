"""Every panel, menu, list and node draw function of the add-on, drawn without a window (tests/blender/ui_harness.py).

Each node kind is drawn in every render state with 0, 1 and 10 takes, with a missing take file, with a retired and
an unknown model, with online access on and off. Nothing may raise; nothing a person reads may show a raw id,
`None`, a field name, a command-line flag or an exception; a node's body keeps to its widget budget:

    model node (image, video, voice)   6  (model, variant, takes, a model warning, the state line, progress)
    Shot node                          7  (the seven labelled prompt fields)
    Sequence node                      3  (Add Shot, Add Sound, Send to VSE) + 1 per socket row
    Reference node                     2  (the file, and a warning when it is not media)

Before this harness the image node drew 16 widgets, the video node 17-19 and a Sequence node with grade and end card
21 plus 5 per shot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bpy
import pytest
from PIL import Image

from blender_canvas.engine.runner import Event
from blender_canvas.engine.session import Session
from blender_canvas.nodes import menus, panel
from blender_canvas.nodes.base import TREE_ID, input_socket, mark_link_validity
from blender_canvas.nodes.convert import new_canvas_tree
from blender_canvas.nodes.model_nodes import BODY_BUDGET
from blender_canvas.operators import bridge, canvas_io, preferences
from blender_canvas.providers.catalog import load_catalog
from blender_canvas.vse import review_ops
from tests.blender.ui_harness import Drawing, RecordingLayout, wording_problems

STATES = ("idle", "queued", "running", "done", "failed", "stale", "needs_decision", "cancelled")
TAKE_COUNTS = (0, 1, 10)
MODELS = {  # node type -> (a live model, its media)
    "CanvasImageNode": ("nano-banana-2", "image"),
    "CanvasVideoNode": ("kling-3", "video"),
    "CanvasAudioNode": ("elevenlabs", "audio"),
}
BUDGETS = {"CanvasShotNode": 7, "CanvasSequenceNode": 3, "CanvasReferenceNode": 2,
           **dict.fromkeys(MODELS, BODY_BUDGET)}
UNKNOWN_MESSAGE = ("the app stopped while this job was being submitted: the vendor may have it (and may bill it); "
                   "check its dashboard. It was not resubmitted.")
FAILED_MESSAGE = "network: fal: network error (ConnectError): [Errno 111] Connection refused"


@pytest.fixture
def media(tmp_path: Path) -> Path:
    """A project folder with a still, its thumbnail, a clip and a sound (the bytes need only exist)."""
    Image.new("RGB", (64, 36), (200, 40, 40)).save(tmp_path / "still.png")
    Image.new("RGB", (32, 18), (200, 40, 40)).save(tmp_path / "still.thumb.png")
    (tmp_path / "clip.mp4").write_bytes(b"\0" * 64)
    (tmp_path / "line.wav").write_bytes(b"\0" * 64)
    return tmp_path


@pytest.fixture(params=[True, False], ids=["online", "offline"])
def online(request: pytest.FixtureRequest) -> Iterator[bool]:
    system = bpy.context.preferences.system
    before = system.use_online_access
    system.use_online_access = request.param
    yield bool(request.param)
    system.use_online_access = before


def editor_context(tree: Any) -> Any:
    """What a panel in the node editor's sidebar sees."""
    return SimpleNamespace(space_data=SimpleNamespace(type="NODE_EDITOR", tree_type=TREE_ID, edit_tree=tree,
                                                      node_tree=tree),
                           preferences=bpy.context.preferences, window_manager=bpy.context.window_manager,
                           scene=bpy.context.scene, window=None, area=None, region=None)


def fill_tray(node: Any, count: int, media_dir: Path, kind: str, missing: bool = False) -> None:
    files = {"image": "still.png", "video": "clip.mp4", "audio": "line.wav"}
    for number in range(1, count + 1):
        take = node.tray.add()
        take.take_id = f"{number:016x}"
        take.number = number
        take.media = kind
        take.file = str(media_dir / ("gone.png" if missing and number == 1 else files[kind]))
        if kind == "image":
            take.thumbnail = str(media_dir / "still.thumb.png")
        take.model = node.model_id
        take.variant = node.variant_id
        take.backend = "fal"
        take.duration_s = 0.0 if kind == "image" else 5.0
        take.cost_usd = 0.04 * number
        take.prompt = "a runner on a rooftop at golden hour, " * (3 if number == 2 else 1)
        take.has_seed = number % 2 == 0
        take.seed = number
    if count:
        node.chosen_take = node.tray[0].take_id
        node.tray_index = min(1, count - 1)


def set_state(tree: Any, node: Any, state: str, session: Session) -> None:
    """Put the node in `state` the way the engine does (events through the drain), or directly for the rest."""
    if state == "needs_decision":
        bridge.apply_events(tree, session, [Event(kind="unknown", node_id=node.name, message=UNKNOWN_MESSAGE)])
    elif state == "failed":
        bridge.apply_events(tree, session, [Event(kind="queued", node_id=node.name),
                                            Event(kind="failed", node_id=node.name, message=FAILED_MESSAGE)])
    elif state == "running":
        bridge.apply_events(tree, session, [Event(kind="queued", node_id=node.name),
                                            Event(kind="progress", node_id=node.name, state="running",
                                                  progress=0.4)])
    else:
        node.render_state = state
        node.status_message = {"queued": "Queued", "stale": "its inputs changed; render it to update",
                               "cancelled": "cancelled at the vendor"}.get(state, "")
    if state != "idle":
        node.estimate_usd = 0.42
    assert node.render_state == state


def draw_node(node: Any, context: Any) -> tuple[Drawing, Drawing]:
    """(the body with its socket rows, the sidebar's Node tab)."""
    body = RecordingLayout(context=context)
    node.draw_buttons(context, body)
    sockets = RecordingLayout(context=context)
    for socket in [*node.inputs, *node.outputs]:
        if socket.enabled:
            before = sockets.drawing.widgets()
            socket.draw(context, sockets, node, socket.name)
            assert sockets.drawing.widgets() - before == 1, (node.name, socket.name)
    body.drawing.calls.extend(sockets.drawing.calls)
    body.drawing.texts.extend(sockets.drawing.texts)
    ext = RecordingLayout(context=context)
    node.draw_buttons_ext(context, ext)
    body.drawing.texts.append(node.draw_label() if hasattr(node, "draw_label") else node.bl_label)
    return body.drawing, ext.drawing


def draw_panels(tree: Any, context: Any) -> Drawing:
    drawing = Drawing()
    for cls in (*panel.CLASSES, review_ops.NODE_PT_canvas_review):
        if not issubclass(cls, bpy.types.Panel) or not cls.poll(context):
            continue
        for method in ("draw_header", "draw"):
            if hasattr(cls, method):
                getattr(cls, method)(SimpleNamespace(layout=RecordingLayout(drawing, context)), context)
    return drawing


def check(drawing: Drawing, where: str, allowed: tuple[str, ...] = ()) -> None:
    problems = wording_problems(drawing.texts, allowed)
    assert not problems, f"{where}: {problems}"


def body_widgets(node: Any, body: Drawing) -> int:
    """The body's widgets, socket rows apart (each socket row is held to one widget: draw_node checks)."""
    sockets = sum(1 for s in [*node.inputs, *node.outputs] if s.enabled)
    return body.widgets() - sockets


@pytest.mark.parametrize("node_type", sorted(MODELS))
def test_model_nodes_draw_in_every_state_and_tray_size(node_type: str, media: Path, online: bool) -> None:
    model_id, kind = MODELS[node_type]
    session = Session(media / "project")
    try:
        for state in STATES:
            for count in TAKE_COUNTS:
                tree = new_canvas_tree(f"{state} {count}")
                node = tree.nodes.new(node_type)
                node.name = "hero"
                node.model_id = model_id
                fill_tray(node, count, media, kind)
                set_state(tree, node, state, session)
                context = editor_context(tree)
                tree.nodes.active = node
                where = f"{node_type} {state} {count} takes online={online}"
                body, ext = draw_node(node, context)
                check(body, where)
                check(ext, where)
                assert body_widgets(node, body) <= BODY_BUDGET, (where, body.calls)
                panels = draw_panels(tree, context)
                check(panels, where)
                if count:  # every row of the tray drew (its thumbnail too: it used to raise after the first)
                    rows = [t for t in panels.labels() if t.startswith("#")]
                    assert len(rows) == count, (where, rows)
                    assert [int(r.split()[0][1:]) for r in rows] == list(range(1, count + 1))
                if state == "needs_decision":  # the whole advice, in the sidebar and in the tray panel
                    for drawing in (ext, panels):
                        assert "It was not resubmitted." in " ".join(drawing.texts), where
                    assert "Needs a decision: see the sidebar" in body.labels()
                    assert [c["operator"] for c in ext.of("operator")].count("canvas.resubmit") == 1, where
                if state == "failed":
                    assert "could not reach the service (connection refused)" in " ".join(ext.texts)
                if state == "running":
                    assert [c["text"] for c in body.of("progress")] == ["40 %"]
                if not online and count == 0 and state == "idle":
                    assert "Paid nodes need Allow Online Access (Preferences ▸ System)" in panels.labels()
                bpy.data.node_groups.remove(tree)
    finally:
        session.close()


@pytest.mark.parametrize(("model_id", "expected"), [("sora-2", "Retired 2026-09-24: draft only"),
                                                     ("gone-model", "Not in the catalog: gone-model")])
def test_a_retired_and_an_unknown_model_draw_and_say_so(model_id: str, expected: str, media: Path) -> None:
    tree = new_canvas_tree("models")
    node = tree.nodes.new("CanvasVideoNode")
    node.name = "plate"
    node.model_id = model_id
    fill_tray(node, 10, media, "video", missing=True)
    tree.nodes.active = node
    review = tree.canvas_review.takes.add()  # one take in the review: the panel says what the layout needs
    review.node_name, review.take_id = node.name, node.tray[2].take_id
    context = editor_context(tree)
    body, ext = draw_node(node, context)
    assert expected in body.labels() and expected in ext.labels()
    assert body_widgets(node, body) <= BODY_BUDGET
    panels = draw_panels(tree, context)
    check(body, model_id, allowed=(expected,))
    check(ext, model_id, allowed=(expected,))
    assert "Side by Side shows 2 to 4 takes; 1 picked" in panels.labels()
    missing = [t for t in panels.labels() if "file missing" in t]
    assert len(missing) == 1 and missing[0].startswith("#1 ")  # the row whose file is gone says so


def test_canvas_nodes_draw_within_budget_with_every_option_on(media: Path) -> None:
    tree = new_canvas_tree("cut")
    still = tree.nodes.new("CanvasReferenceNode")
    still.filepath = str(media / "still.png")
    shot = tree.nodes.new("CanvasShotNode")
    videos = []
    for index in range(5):
        video = tree.nodes.new("CanvasVideoNode")
        video.name = f"shot{index}"
        tree.links.new(still.outputs[0], video.inputs["image"])
        tree.links.new(shot.outputs[0], video.inputs["shot"])
        videos.append(video)
    cut = tree.nodes.new("CanvasSequenceNode")
    cut.use_grade = cut.use_end_card = cut.use_white_balance = cut.use_fps = True
    for _ in range(2):
        bpy.ops.canvas.add_input_slot(tree_name=tree.name, node_name=cut.name, prefix="shots")
    for video, socket in zip(videos, [s for s in cut.inputs if s.identifier.startswith("shots_")], strict=True):
        tree.links.new(video.outputs[0], socket)
        socket.use_gain, socket.crossfade_frames, socket.trim_in_s = True, 12, 0.5
    context = editor_context(tree)
    widgets = {}
    for node in (still, shot, cut, videos[0]):
        tree.nodes.active = node
        body, ext = draw_node(node, context)
        check(body, node.bl_idname)
        check(ext, node.bl_idname)
        widgets[node.bl_idname] = body_widgets(node, body)
        assert widgets[node.bl_idname] <= BUDGETS[node.bl_idname], (node.bl_idname, body.calls)
        check(draw_panels(tree, context), node.bl_idname)
    assert widgets == {"CanvasReferenceNode": 1, "CanvasShotNode": 7, "CanvasSequenceNode": 3,
                       "CanvasVideoNode": 4}
    body, ext = draw_node(shot, context)
    assert [c["property"] for c in body.of("prop")] == ["subject", "action", "camera", "lens", "lighting",
                                                        "atmosphere", "mood"]
    assert all(c.get("text") is None for c in body.of("prop"))  # labelled with the property's own name
    assert {"Subject", "Camera", "Mood"} <= set(body.texts)
    _body, ext = draw_node(cut, context)
    trims = [c["property"] for c in ext.of("prop") if c["data"].bl_rna.identifier == "CanvasVideoSocket"]
    assert trims.count("crossfade_frames") == 5  # every shot's trims, in the sidebar
    for node in tree.nodes:  # every socket has a tooltip, and every class a one-line one
        for socket in [*node.inputs, *node.outputs]:
            assert socket.description and "_" not in socket.description, (node.name, socket.identifier)


def test_every_class_has_a_one_line_tooltip() -> None:
    from blender_canvas import nodes, operators, vse

    for cls in (*nodes._CLASSES, *operators._CLASSES, *vse._CLASSES):
        if issubclass(cls, (bpy.types.Operator, bpy.types.Node, bpy.types.NodeSocket, bpy.types.UIList)):
            doc = (cls.__doc__ or "").strip()
            assert doc and "\n" not in doc and "_" not in doc, cls.__name__


def test_a_reference_file_wire_is_checked_by_kind(media: Path) -> None:
    tree = new_canvas_tree("kinds")
    ref = tree.nodes.new("CanvasReferenceNode")
    ref.filepath = str(media / "line.wav")
    video = tree.nodes.new("CanvasVideoNode")
    link = tree.links.new(ref.outputs[0], video.inputs["image"])
    mark_link_validity(tree)  # what the tree's update() does once Blender updates it (not at once headless)
    assert link.is_valid is False  # a sound into First Frame draws red, as validation refuses it
    ref.filepath = str(media / "still.png")
    assert tree.links[0].is_valid is True
    voice = tree.links.new(ref.outputs[0], input_socket(video, "audio"))
    mark_link_validity(tree)
    assert voice.is_valid is False and tree.links[0].is_valid is True


def test_menus_and_preferences_draw_in_blender_words() -> None:
    tree = new_canvas_tree("menus")
    context = editor_context(tree)
    drawing = Drawing()
    menus.draw_add_menu(SimpleNamespace(layout=RecordingLayout(drawing, context)), context)
    for cls in [c for c in menus.CLASSES if issubclass(c, bpy.types.Menu)]:
        cls.draw(SimpleNamespace(layout=RecordingLayout(drawing, context)), context)
    for draw_menu in (canvas_io.draw_import_menu, canvas_io.draw_export_menu):
        draw_menu(SimpleNamespace(layout=RecordingLayout(drawing, context)), context)
    check(drawing, "menus")
    assert "Reference" in drawing.texts and "Reference File" not in drawing.texts
    assert any("(retired)" in t for t in drawing.texts)  # Sora 2 says so in Shift+A too
    tooltips = {menus.CANVAS_OT_add_model_node.description(context, SimpleNamespace(settings=c["button"].settings))
                for c in drawing.of("operator") if c["operator"] == "canvas.add_model_node"}
    assert len(tooltips) == len(load_catalog().models)  # one tooltip per model, not one for them all
    assert any(t.endswith("Retired: runs as a draft only.") for t in tooltips)
    addons = bpy.context.preferences.addons
    added = addons.get(preferences.ADDON_ID) is None
    if added:
        addons.new().module = preferences.ADDON_ID
    try:
        prefs = addons[preferences.ADDON_ID].preferences
        layout = RecordingLayout(context=context)
        names = [p.identifier for p in prefs.bl_rna.properties if p.identifier != "rna_type"]
        proxy = SimpleNamespace(layout=layout, **{name: getattr(prefs, name) for name in names})
        proxy.bl_rna = prefs.bl_rna
        preferences.CanvasPreferences.draw(proxy, context)
        check(layout.drawing, "preferences")
        project = prefs.bl_rna.properties["google_cloud_project"]
        assert project.subtype != "PASSWORD" and project.name == "Google Cloud Project"
        assert prefs.bl_rna.properties["fal_key"].subtype == "PASSWORD"
    finally:
        if added:
            addons.remove(addons[preferences.ADDON_ID])


def test_a_tray_lists_takes_in_take_order_whatever_order_they_land_in(tmp_path: Path) -> None:
    from blender_canvas.engine.ledger import TakeRecord

    numbers = {"c" * 16: 1, "a" * 16: 3, "b" * 16: 2, "d" * 16: 4}
    session = SimpleNamespace(project_dir=tmp_path, ledger=SimpleNamespace(take_number=numbers.__getitem__))
    tree = new_canvas_tree("order")
    node = tree.nodes.new("CanvasVideoNode")
    node.tray_index = 0
    for take_id in ("a" * 16, "c" * 16, "d" * 16, "b" * 16):  # landed #3, #1, #4, #2
        take = TakeRecord.model_construct(take_id=take_id, file=f"takes/{take_id}.mp4", media="video",
                                          model="kling-3", variant="3.0", backend="fal", seed=None,
                                          duration_s=5.0, actual_usd=None, estimated_usd=0.1, prompt="",
                                          created_at=0.0)
        bridge.add_take_to_tray(node, session, take)  # type: ignore[arg-type]
    assert [t.number for t in node.tray] == [1, 2, 3, 4]
    assert node.tray[node.tray_index].take_id == "a" * 16  # the selected row follows its take


def test_the_canvas_panel_says_once_what_works_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no key or online access off, one note in the Canvas panel (not one per node) says that everything but
    paid nodes works, and what paid nodes need; online with a key, no note."""
    tree = new_canvas_tree("offline note")
    context = editor_context(tree)
    system = bpy.context.preferences.system
    before = system.use_online_access
    for backend in load_catalog().backends:
        for name in backend.env_keys:
            monkeypatch.delenv(name, raising=False)

    def notes() -> list[str]:
        return [t for t in draw_panels(tree, context).labels() if t.startswith("Offline:") or "Paid nodes" in t]

    try:
        system.use_online_access = True
        assert notes() == ["Offline: Draft renders, the VSE cut, exports and review all work",
                           "Paid nodes need an API key (the add-on's preferences)"]
        system.use_online_access = False
        assert notes()[1:] == ["Paid nodes need Allow Online Access (Preferences ▸ System)",
                               "Paid nodes need an API key (the add-on's preferences)"]
        monkeypatch.setenv("FAL_KEY", "a-key")
        assert notes()[1:] == ["Paid nodes need Allow Online Access (Preferences ▸ System)"]
        system.use_online_access = True
        assert notes() == []
    finally:
        system.use_online_access = before
