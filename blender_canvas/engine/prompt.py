"""The shot-list prompt: subject + action + camera move + lens + lighting + atmosphere, in that order.

A shot node gives every model wired to it the same clauses; a model node's own prompt fills or overrides them.
"""

from __future__ import annotations

from .document import PROMPT_FIELDS, Prompt, ShotNode


def merged_prompt(shot: ShotNode | None, own: Prompt | None) -> Prompt:
    """The shot's clauses, with every clause the node sets itself taking precedence."""
    base = shot.prompt() if shot is not None else Prompt()
    if own is None:
        return base
    return Prompt(**{f: getattr(own, f) or getattr(base, f) for f in PROMPT_FIELDS})


def compose(prompt: Prompt) -> str:
    """One sentence per clause group, in shot-list order; empty clauses are left out."""
    parts: list[str] = []
    lead = ", ".join(p for p in (prompt.subject.strip(), prompt.action.strip()) if p)
    if lead:
        parts.append(lead[0].upper() + lead[1:])
    camera = ", ".join(p for p in (prompt.camera.strip(), prompt.lens.strip()) if p)
    if camera:
        parts.append(f"Camera: {camera}")
    if prompt.lighting.strip():
        parts.append(f"Lighting: {prompt.lighting.strip()}")
    if prompt.atmosphere.strip():
        parts.append(f"Atmosphere: {prompt.atmosphere.strip()}")
    return ". ".join(p.rstrip(".") for p in parts) + ("." if parts else "")
