"""The Canvas nodes on real Blender: catalog-driven choices, sockets, wiring, and what their draw code shows.

The bpy module has no window manager, so draw code runs against a recording stand-in for UILayout.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import bpy
import pytest

from blender_canvas.engine.settings import resolve_settings, wired_shot
from blender_canvas.engine.validation import load_canvas
from blender_canvas.nodes import model_nodes
from blender_canvas.nodes.convert import new_canvas_tree, tree_to_data
from blender_canvas.nodes.menus import draw_add_menu
from blender_canvas.operators.canvas_io import import_canvas_file
from blender_canvas.providers.catalog import load_catalog
from tests.blender.helpers import CANVASES, run_blender_script


class RecordingLayout:
    """Stands in for bpy.types.UILayout: records every call, returns itself for rows and columns."""

    def __init__(self, calls: list[tuple[str, Any, dict[str, Any]]] | None = None) -> None:
        self.calls = calls if calls is not None else []
        self.active = True
        self.enabled = True

    def _record(self, kind: str, arg: Any = None, **kwargs: Any) -> Any:
        self.calls.append((kind, arg, kwargs))
        return self

    def row(self, **kwargs: Any) -> RecordingLayout:
        return RecordingLayout(self.calls)

    column = row
    box = row

    def prop(self, data: Any, name: str, **kwargs: Any) -> None:
        self._record("prop", name, **kwargs)

    def label(self, text: str = "", **kwargs: Any) -> None:
        self._record("label", text, **kwargs)

    def operator(self, idname: str, **kwargs: Any) -> Any:
        op = SimpleNamespace(settings=_Settings(), idname=idname, **kwargs)
        self.calls.append(("operator", idname, {"op": op, **kwargs}))
        return op

    def template_list(self, list_type: str, list_id: str, data: Any, prop: str, *args: Any, **kwargs: Any) -> None:
        self._record("template_list", list_type, data=data, prop=prop)

    def menu(self, idname: str, **kwargs: Any) -> None:
        self._record("menu", idname, **kwargs)

    def separator(self, **kwargs: Any) -> None:
        self._record("separator")

    def progress(self, **kwargs: Any) -> None:
        self._record("progress", kwargs.get("text", ""), **kwargs)

    def of(self, kind: str) -> list[Any]:
        return [arg for k, arg, _ in self.calls if k == kind]


class _Settings(list[Any]):
    def add(self) -> SimpleNamespace:
        item = SimpleNamespace(name="", value="")
        self.append(item)
        return item


def new_tree() -> Any:
    return new_canvas_tree("test")


def offered(items_fn: Any, node: Any) -> set[str]:
    return {value or "INHERIT" for value, _name, _desc in items_fn(node)}


def test_model_choices_come_from_the_catalog() -> None:
    video = new_tree().nodes.new("CanvasVideoNode")
    catalog_videos = {m.id for m in load_catalog().models if m.kind.value == "video"}
    assert offered(model_nodes._model_items, video) == catalog_videos
    video.model = "veo-3.1"
    assert video.model_id == "veo-3.1" and video.variant == "standard"
    assert offered(model_nodes._duration_items, video) == {"INHERIT", "4", "6", "8"}
    assert offered(model_nodes._aspect_items, video) == {"INHERIT", "16:9", "9:16"}
    with pytest.raises(TypeError):  # Blender's own enum refuses what the model does not allow
        video.duration = "5"
    video.duration = "6"
    assert video.duration_s == 6
    video.model = "kling-3"
    assert offered(model_nodes._duration_items, video) == {"INHERIT", *(str(s) for s in range(3, 16))}
    video.model = "kling-avatar"
    assert [name for _v, name, _d in model_nodes._duration_items(video)] == ["Follows audio"]
    assert offered(model_nodes._route_items, video) == {"INHERIT", "kling", "fal"}


def test_changing_model_drops_choices_it_does_not_allow() -> None:
    video = new_tree().nodes.new("CanvasVideoNode")
    video.model = "kling-3"
    video.duration = "12"
    video.aspect = "1:1"
    assert (video.duration_s, video.aspect_ratio) == (12, "1:1")
    video.model = "veo-3.1"  # allows 4 / 6 / 8 s and 16:9 / 9:16 only
    assert (video.duration_s, video.aspect_ratio) == (0, "")
    assert video.duration == "INHERIT"


def test_sockets_follow_the_variant_and_keep_links() -> None:
    tree = new_tree()
    video = tree.nodes.new("CanvasVideoNode")
    voice = tree.nodes.new("CanvasAudioNode")
    enabled = {s.identifier for s in video.inputs if s.enabled}
    assert enabled == {"image", "last_frame", "shot"}  # Kling 3.0
    video.model = "kling-avatar"
    assert {s.identifier for s in video.inputs if s.enabled} == {"image", "audio", "shot"}
    tree.links.new(voice.outputs[0], video.inputs["Audio"])
    video.model = "kling-3"  # takes no audio, but the wire the user made stays visible
    audio = next(s for s in video.inputs if s.identifier == "audio")
    assert audio.is_linked and audio.enabled


def test_wrong_kind_wire_is_drawn_invalid() -> None:
    tree = new_tree()
    voice = tree.nodes.new("CanvasAudioNode")
    video = tree.nodes.new("CanvasVideoNode")
    image = tree.nodes.new("CanvasImageNode")
    bad = tree.links.new(voice.outputs[0], video.inputs["First Frame"])
    good = tree.links.new(image.outputs[0], video.inputs["Last Frame"])
    tree.update()
    assert bad.is_valid is False
    assert good.is_valid is True


def test_one_shot_node_gives_every_wired_model_identical_inputs(tmp_path: Path) -> None:
    tree, _ = import_canvas_file(CANVASES / "bakeoff-four-models.json")
    data = tree_to_data(tree, CANVASES)
    report = load_canvas(data, load_catalog())
    assert report.canvas is not None and not report.errors
    canvas = report.canvas
    videos = [n for n in canvas.nodes if n.kind == "video"]
    assert len(videos) == 4
    shots = {wired_shot(canvas, n).model_dump_json() for n in videos}  # type: ignore[union-attr]
    assert len(shots) == 1
    images = {n.inputs.image for n in videos}
    assert images == {"ref"}
    catalog = load_catalog()
    aspects = set()
    for node in videos:
        model = catalog.model(node.model)
        assert model is not None
        variant = model.variant(node.variant)
        assert variant is not None
        aspects.add(resolve_settings(canvas, node, model, variant).aspect_ratio.value)
    assert aspects == {"16:9"}


def test_draw_buttons_show_the_model_and_its_status() -> None:
    tree = new_tree()
    video = tree.nodes.new("CanvasVideoNode")
    video.model = "sora-2"
    video.use_seed = True
    body = RecordingLayout()
    video.draw_buttons(bpy.context, body)
    assert body.of("prop") == ["model", "variant", "takes"]  # the body: what you change while wiring
    assert "Retired 2026-09-24: draft only" in body.of("label")
    layout = RecordingLayout()
    video.draw_buttons_ext(bpy.context, layout)  # the sidebar's Node tab: everything
    props = layout.of("prop")
    assert {"model", "variant", "route", "takes", "seed", "duration", "aspect", "subject", "camera"} <= set(props)
    labels = layout.of("label")
    assert "Retired 2026-09-24: draft only" in labels
    assert "This model ignores the seed" in labels
    assert "Allowed: 4, 8 or 12 s" in labels
    assert video.draw_label() == "Sora 2"


def test_every_node_draws_without_error() -> None:
    tree = new_tree()
    for node_type in ("CanvasReferenceNode", "CanvasShotNode", "CanvasImageNode", "CanvasVideoNode",
                      "CanvasAudioNode", "CanvasSequenceNode"):
        node = tree.nodes.new(node_type)
        if node_type == "CanvasSequenceNode":
            node.use_grade = node.use_end_card = True
        layout = RecordingLayout()
        node.draw_buttons(bpy.context, layout)
        assert layout.calls, node_type
        for socket in node.inputs:
            socket.draw(bpy.context, RecordingLayout(), node, socket.name)
    sequence = tree.nodes["Sequence"]
    layout = RecordingLayout()
    sequence.draw_buttons_ext(bpy.context, layout)
    assert {"lift", "gamma", "gain", "saturation", "contrast", "end_card_text", "end_card_image"} <= set(
        layout.of("prop"))


def test_shift_a_menu_groups_by_kind_and_vendor() -> None:
    layout = RecordingLayout()
    menu = SimpleNamespace(layout=layout)
    draw_add_menu(menu, SimpleNamespace(space_data=SimpleNamespace(tree_type="ShaderNodeTree")))
    assert layout.calls == []  # other node editors are left alone
    draw_add_menu(menu, SimpleNamespace(space_data=SimpleNamespace(tree_type="BlenderCanvasTree")))
    assert layout.of("menu") == ["NODE_MT_canvas_image", "NODE_MT_canvas_video", "NODE_MT_canvas_audio"]
    video_menu = RecordingLayout()
    bpy.types.NODE_MT_canvas_video.draw(SimpleNamespace(layout=video_menu), bpy.context)
    vendors = video_menu.of("label")
    assert {"OpenAI", "Kuaishou", "ByteDance", "Google", "Runway"} <= set(vendors)
    added = [kwargs["op"].settings[0].value for kind, _, kwargs in video_menu.calls if kind == "operator"]
    assert {eval(v) for v in added} == {m.id for m in load_catalog().models if m.kind.value == "video"}


def test_added_node_from_menu_setting_takes_the_model() -> None:
    video = new_tree().nodes.new("CanvasVideoNode")
    video.model_id = "seedance-2"  # what the menu's add_node setting does
    assert video.draw_label() == "Seedance 2.0 (full)"


SAVE_SCRIPT = """
import json, sys
import bpy
import blender_canvas
blender_canvas.register()
tree = bpy.data.node_groups.new("made in the editor", "BlenderCanvasTree")  # no fake user, as the UI makes it
tree.nodes.new("CanvasShotNode").subject = "kept"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
bpy.ops.wm.read_homefile(use_empty=True)
bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
tree = bpy.data.node_groups.get("made in the editor")
print("RESULT " + json.dumps({"kept": tree is not None and tree.nodes["Shot"].subject == "kept"}))
blender_canvas.unregister()
"""


def test_a_canvas_made_in_the_editor_survives_save(tmp_path: Path) -> None:
    assert run_blender_script(SAVE_SCRIPT, str(tmp_path / "saved.blend")) == {"kept": True}


def test_preferences_hold_every_vendor_key_as_a_password_field() -> None:
    from blender_canvas.operators.preferences import CanvasPreferences

    names = {name.lower() for b in load_catalog().backends for name in b.env_keys}
    properties = CanvasPreferences.bl_rna.properties
    assert names <= {p.identifier for p in properties}
    secrets = names - {"google_cloud_project"}  # a project id is a setting, not a secret: the user reads it back
    assert {properties[name].subtype for name in secrets} == {"PASSWORD"}
    assert properties["google_cloud_project"].subtype == "NONE"
    layout = RecordingLayout()
    layout.box = lambda: layout  # type: ignore[attr-defined]
    CanvasPreferences.draw(SimpleNamespace(layout=layout), bpy.context)  # type: ignore[arg-type]
    assert names <= set(layout.of("prop"))
