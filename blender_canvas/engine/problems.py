"""Problems, and pydantic's structure errors translated into them: one shape for the node editor and the command
line, each naming the node, the field, the bad value and what is allowed."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from ..providers.catalog import describe_choices
from .document import NODE_KINDS


class Problem(BaseModel):
    severity: Literal["error", "warning"]
    node: str | None  # None for canvas-level problems
    field: str
    value: Any = None
    message: str
    allowed: str = ""

    def __str__(self) -> str:
        where = f"node '{self.node}'" if self.node else "canvas"
        allowed = f"; allowed: {self.allowed}" if self.allowed else ""
        return f"{self.severity}: {where}, {self.field}: {self.message}{allowed}"




def short_value(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def _is_union_label(part: str | int) -> bool:
    """Pydantic names the branch of a union in the location ('constrained-str', 'SequenceShot'): not a field."""
    return isinstance(part, str) and (part[:1].isupper() or "-" in part or "[" in part)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def _field_path(parts: list[str | int]) -> str:
    """('inputs', 'images', 0) -> 'inputs.images[0]', the same shape the catalog checks use."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _PLAIN_NAME.match(part) else repr(part)  # a user's odd key (' ', '') stays visible
            text += f".{name}" if text else name
    return text


def pydantic_problems(error: ValidationError, node_id: str | None) -> list[Problem]:
    problems: list[Problem] = []
    from_union: set[tuple[str, str]] = set()  # (field, message) pairs that came from one branch of a union
    for item in error.errors(include_url=False):
        loc: list[str | int] = list(item["loc"])
        kind = item["type"]
        # a node's discriminated union puts the kind tag in the location: drop it, it is not a field the user wrote
        if node_id is not None and loc and loc[0] in NODE_KINDS:
            loc = loc[1:]
        # the last part of an unknown field is the user's own key; anything before it may name a union branch
        keep_last = kind == "extra_forbidden" and loc
        kept = [p for p in (loc[:-1] if keep_last else loc) if not _is_union_label(p)] + (loc[-1:] if keep_last else [])
        branch = len(kept) != len(loc)
        field = _field_path(kept) or ("(node)" if node_id is not None else "(document)")
        ctx = item.get("ctx") or {}
        allowed = ""
        message = item["msg"]
        if kind == "extra_forbidden":
            message = "is not a known field"
        elif kind == "missing":
            message = "is required"
        elif kind == "model_attributes_type" and not kept:
            message = "is not a JSON object"
            allowed = "an object with an id and a kind"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            field = "kind"
            message = "is missing" if kind == "union_tag_not_found" else "is not a node kind"
            allowed = describe_choices(NODE_KINDS)
        elif kind == "literal_error":
            allowed = str(ctx.get("expected", ""))
        elif kind == "string_pattern_mismatch":
            message = "has characters or a shape that is not allowed"
            last = kept[-1] if kept else ""
            allowed = {
                "id": "letters, digits, '_', '-', '.', starting with a letter or digit, up to 63 characters",
                "aspect_ratio": "W:H, for example 16:9",
            }.get(last if isinstance(last, str) else "", str(ctx.get("pattern", "")))
        problem = Problem(severity="error", node=node_id, field=field, value=short_value(item.get("input")),
                          message=message, allowed=allowed)
        previous = problems[-1] if problems else None
        if branch and previous is not None and (previous.field, previous.message) in from_union \
                and previous.field == field:
            # one mistake, several union branches refused it: one problem that names every branch's wish
            merged = previous.message + "; or " + message[:1].lower() + message[1:]
            problems[-1] = previous.model_copy(update={"message": merged})
            from_union.add((field, merged))
            continue
        if branch:
            from_union.add((field, message))
        problems.append(problem)
    return problems
