"""A strict stand-in for bpy.types.UILayout, to draw panels, menus, lists and nodes without a window.

Every call is checked against the real UILayout's RNA (the function exists, every keyword is one of its parameters,
every icon is one of Blender's icons, every property exists on its data, every operator is registered and every
property set on its button is one of the operator's), then recorded. A UIList drawn by ``template_list`` has its
``draw_item`` called for every item, as Blender would. What a person reads (labels, and the text of props and
buttons) is kept in ``texts`` for the wording checks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import bpy

from blender_canvas.providers.catalog import load_catalog

WIDGETS = frozenset({"label", "prop", "operator", "prop_search", "template_list", "menu", "progress", "prop_enum",
                     "prop_menu_enum", "operator_menu_enum", "template_ID"})
CONTAINERS = frozenset({"row", "column", "box", "split", "column_flow", "grid_flow"})
_FUNCTIONS = {f.identifier: f for f in bpy.types.UILayout.bl_rna.functions}
_ATTRIBUTES = {p.identifier for p in bpy.types.UILayout.bl_rna.properties}
ICONS = frozenset(i.identifier for i in _FUNCTIONS["label"].parameters["icon"].enum_items)
_POSITIONAL = {  # the leading parameters a call may pass by position
    "prop": ("data", "property"), "operator": ("operator",), "label": ("text",), "menu": ("menu",),
    "template_list": ("listtype_name", "list_id", "dataptr", "propname", "active_dataptr", "active_propname"),
    "prop_search": ("data", "property", "search_data", "search_property"), "split": ("factor",),
    "prop_enum": ("data", "property", "value"),
}


class LayoutError(AssertionError):
    """A draw function asked the layout for something the real UILayout would refuse."""


@dataclass
class Drawing:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def widgets(self) -> int:
        return sum(1 for kind, _ in self.calls if kind in WIDGETS)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [kwargs for k, kwargs in self.calls if k == kind]

    def labels(self) -> list[str]:
        return [str(kwargs.get("text", "")) for kwargs in self.of("label")]


class OperatorButton:
    """What ``layout.operator`` returns: setting a property the operator lacks is an error, as in Blender."""

    def __init__(self, idname: str) -> None:
        module, name = idname.split(".", 1)
        try:
            rna = getattr(getattr(bpy.ops, module), name).get_rna_type()
        except (AttributeError, KeyError) as error:
            raise LayoutError(f"no operator {idname}") from error
        object.__setattr__(self, "_idname", idname)
        object.__setattr__(self, "_names", {p.identifier for p in rna.properties})
        object.__setattr__(self, "values", {p.identifier: _Collection() for p in rna.properties
                                            if p.type == "COLLECTION"})

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._names:
            raise LayoutError(f"{self._idname} has no property '{name}'")
        self.values[name] = value

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(name)


class _Collection(list[Any]):
    """An operator's collection property (node.add_node's `settings`): items take any attribute."""

    def add(self) -> SimpleNamespace:
        item = SimpleNamespace(name="", value="")
        self.append(item)
        return item


class RecordingLayout:
    def __init__(self, drawing: Drawing | None = None, context: Any = None) -> None:
        object.__setattr__(self, "drawing", drawing or Drawing())
        object.__setattr__(self, "context", context if context is not None else bpy.context)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _ATTRIBUTES:
            raise LayoutError(f"UILayout has no attribute '{name}'")
        object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        if name in _ATTRIBUTES:
            return None
        if name not in _FUNCTIONS:
            raise LayoutError(f"UILayout has no function '{name}'")
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        positional = _POSITIONAL.get(name, ())
        if len(args) > len(positional):
            raise LayoutError(f"{name}() takes {len(positional)} positional argument(s), got {len(args)}")
        kwargs = {**dict(zip(positional, args, strict=False)), **kwargs}
        parameters = {p.identifier for p in _FUNCTIONS[name].parameters}
        unknown = set(kwargs) - parameters
        if unknown:
            raise LayoutError(f"UILayout.{name}() has no parameter(s) {sorted(unknown)}")
        icon = kwargs.get("icon")
        if icon is not None and icon not in ICONS:
            raise LayoutError(f"{name}(): no icon '{icon}'")
        if name in CONTAINERS:
            self.drawing.calls.append((name, kwargs))
            if kwargs.get("heading"):
                self.drawing.texts.append(str(kwargs["heading"]))
            return RecordingLayout(self.drawing, self.context)
        handler = getattr(type(self), f"_{name}", None)
        result = handler(self, kwargs) if handler is not None else None
        self.drawing.calls.append((name, kwargs))
        return result

    # --- the widgets that need more than a record ------------------------------------------------------------
    def _label(self, kwargs: dict[str, Any]) -> None:
        self.drawing.texts.append(str(kwargs.get("text", "")))

    def _prop(self, kwargs: dict[str, Any]) -> None:
        data, name = kwargs["data"], kwargs["property"]
        prop = _rna_property(data, name)
        text = kwargs.get("text")
        self.drawing.texts.append(prop.name if text is None else str(text))
        if kwargs.get("placeholder"):
            self.drawing.texts.append(str(kwargs["placeholder"]))
        kwargs["value"] = getattr(data, name)

    def _prop_search(self, kwargs: dict[str, Any]) -> None:
        self._prop({"data": kwargs["data"], "property": kwargs["property"], "text": kwargs.get("text")})
        _rna_property(kwargs["search_data"], kwargs["search_property"])

    def _operator(self, kwargs: dict[str, Any]) -> OperatorButton:
        button = OperatorButton(kwargs["operator"])
        kwargs["button"] = button
        text = kwargs.get("text")
        self.drawing.texts.append(_operator_label(kwargs["operator"]) if text is None else str(text))
        return button

    def _menu(self, kwargs: dict[str, Any]) -> None:
        menu = getattr(bpy.types, kwargs["menu"], None)
        if menu is None:
            raise LayoutError(f"no menu {kwargs['menu']}")
        self.drawing.texts.append(str(kwargs.get("text") or menu.bl_label))

    def _progress(self, kwargs: dict[str, Any]) -> None:
        factor = kwargs.get("factor", 0.0)
        if not 0.0 <= factor <= 1.0:
            raise LayoutError(f"progress factor {factor} outside 0..1")
        self.drawing.texts.append(str(kwargs.get("text", "")))

    def _template_list(self, kwargs: dict[str, Any]) -> None:
        ui_list = getattr(bpy.types, kwargs["listtype_name"], None)
        if ui_list is None:
            raise LayoutError(f"no UIList {kwargs['listtype_name']}")
        data, active = kwargs["dataptr"], kwargs["active_dataptr"]
        _rna_property(active, kwargs["active_propname"])
        for index, item in enumerate(getattr(data, kwargs["propname"])):
            row = RecordingLayout(self.drawing, self.context)
            ui_list.draw_item(SimpleNamespace(), self.context, row, data, item, 0, active,
                              kwargs["active_propname"], index)


def _rna_property(data: Any, name: str) -> Any:
    rna = getattr(data, "bl_rna", None)
    prop = rna.properties.get(name) if rna is not None else None
    if prop is None:
        raise LayoutError(f"{type(data).__name__} has no property '{name}'")
    return prop


def _operator_label(idname: str) -> str:
    module, name = idname.split(".", 1)
    return str(getattr(getattr(bpy.ops, module), name).get_rna_type().name)


def draw(function: Any, *args: Any, context: Any = None) -> Drawing:
    """Call ``function(*args, layout)`` (or with a panel-like ``self``) and return what it drew."""
    layout = RecordingLayout(context=context)
    function(*args, layout)
    return layout.drawing


# --- wording ---------------------------------------------------------------------------------------------------
_HEX_ID = re.compile(r"\b[0-9a-f]{12,}\b")
_SNAKE = re.compile(r"\b[A-Za-z0-9]+_[A-Za-z0-9_]+\b")
_CLI = re.compile(r"--[a-z]")
_EXCEPTION = re.compile(r"\b\w*(Error|Exception)\b|Traceback|Errno")


def raw_ids() -> set[str]:
    """Catalog ids a person should never read (where the catalog has a different label for them)."""
    catalog = load_catalog()
    ids: set[str] = set()
    for model in catalog.models:
        if model.id not in model.label and "-" in model.id:
            ids.add(model.id)
        for variant in model.variants:
            if variant.id not in variant.label and "-" in variant.id:
                ids.add(variant.id)
    return ids


def wording_problems(texts: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """Texts that show a raw id, None, a field name with underscores, a command-line flag or an exception."""
    ids = raw_ids()
    allowed_texts = set(allowed)
    problems = []
    for text in texts:
        if text in allowed_texts:
            continue
        if "None" in text.split() or text == "None":
            problems.append(f"None in {text!r}")
        if _HEX_ID.search(text):
            problems.append(f"a raw take id in {text!r}")
        if _SNAKE.search(text):
            problems.append(f"a field name in {text!r}")
        if _CLI.search(text):
            problems.append(f"a command-line flag in {text!r}")
        if _EXCEPTION.search(text):
            problems.append(f"an exception in {text!r}")
        problems.extend(f"the raw id {raw!r} in {text!r}" for raw in ids if re.search(rf"\b{re.escape(raw)}\b", text))
    return problems
