"""The shot-list prompt: subject + action + camera move + lens + lighting + atmosphere (+ mood), and the grammar
each model family reads best.

A shot node gives every model wired to it the same clauses; a model node's own prompt fills or overrides them.
The clauses are the controlled skeleton of a bake-off; only their order and phrasing change per model, following
each vendor's own prompting guide:

- ``plain``: clause by clause, in shot-list order.
- ``sora``: OpenAI's Sora guide reads a prompt like a cinematographer's shot description, action first and the
  world around it last: the environmental tail (lighting, atmosphere) closes the prompt.
- ``kling``: Kling's formula puts the emotional direction inside the action (subject + motion + emotion), then
  scene, camera language, lighting.
- ``veo``: Google's Veo guide leads with camera position and motion, then subject and action, then ambiance.
- ``seedance``: short plain sentences, scene before camera, camera move spelled out last.
- ``runway``: Runway's guide favours the camera move first, then the subject's motion, then the scene.
"""

from __future__ import annotations

from collections.abc import Callable

from .document import PROMPT_FIELDS, Prompt, ShotNode


def merged_prompt(shot: ShotNode | None, own: Prompt | None) -> Prompt:
    """The shot's clauses, with every clause the node sets itself taking precedence."""
    base = shot.prompt() if shot is not None else Prompt()
    if own is None:
        return base
    return Prompt(**{f: getattr(own, f) or getattr(base, f) for f in PROMPT_FIELDS})


def _join(*parts: str, sep: str = ", ") -> str:
    return sep.join(p.strip().rstrip(".") for p in parts if p and p.strip())


def _sentences(*parts: str) -> str:
    kept = [p.strip().rstrip(".") for p in parts if p and p.strip()]
    kept = [p[0].upper() + p[1:] for p in kept]
    return ". ".join(kept) + ("." if kept else "")


def _labelled(label: str, text: str) -> str:
    return f"{label}: {text}" if text else ""


# words that end in "s" but do not start a verb phrase ("his", "this"): after these the action is not a verb
_NOT_VERBS = frozenset({"his", "its", "this", "hers", "theirs", "ours", "yours", "across", "towards", "as", "us"})


def _lead(subject: str, action: str) -> str:
    """Subject and action as one clause: "the barista lifts the cup" when the action starts with a verb ("lifts",
    "turns"), else joined by a comma ("a rooftop at dawn, first light spreads")."""
    subject, action = subject.strip().rstrip("."), action.strip().rstrip(".")
    if not subject or not action:
        return subject or action
    first = action.split()[0]
    verb_like = first.islower() and first.endswith("s") and not first.endswith("ss") and first not in _NOT_VERBS
    return f"{subject} {action}" if verb_like else f"{subject}, {action}"


def _plain(p: Prompt) -> str:
    return _sentences(_lead(p.subject, p.action), _labelled("Camera", _join(p.camera, p.lens)),
                      _labelled("Lighting", p.lighting.strip()), _labelled("Atmosphere", p.atmosphere.strip()),
                      _labelled("Mood", p.mood.strip()))


def _sora(p: Prompt) -> str:
    lens = f"{p.lens.strip()} lens" if p.lens.strip() and "lens" not in p.lens.lower() else p.lens
    return _sentences(_lead(p.subject, p.action), _labelled("Cinematography", _join(p.camera, lens)),
                      _labelled("Mood", p.mood.strip()),
                      _labelled("Environment", _join(p.lighting, p.atmosphere, sep="; ")))


def _kling(p: Prompt) -> str:
    # Kling's formula: the emotion rides in the action ("lifts the cup, quietly content"), then scene and camera
    return _sentences(_join(_lead(p.subject, p.action), p.mood), p.atmosphere, _join(p.camera, p.lens), p.lighting)


def _veo(p: Prompt) -> str:
    return _sentences(_join(p.camera, p.lens), _lead(p.subject, p.action),
                      _labelled("Ambiance", _join(p.lighting, p.atmosphere, p.mood)))


def _seedance(p: Prompt) -> str:
    return _sentences(_lead(p.subject, p.action), p.atmosphere, p.lighting, _labelled("Mood", p.mood.strip()),
                      _labelled("Camera", _join(p.camera, p.lens)))


def _runway(p: Prompt) -> str:
    return _sentences(_join(p.camera, p.lens), _lead(p.subject, p.action), _join(p.lighting, p.atmosphere),
                      _labelled("Mood", p.mood.strip()))


GRAMMARS: dict[str, Callable[[Prompt], str]] = {
    "plain": _plain, "sora": _sora, "kling": _kling, "veo": _veo, "seedance": _seedance, "runway": _runway,
}


def compose(prompt: Prompt, style: str = "plain") -> str:
    """The prompt a model receives: the same clauses, in the order and phrasing its vendor's guide asks for."""
    return GRAMMARS.get(style, _plain)(prompt)
