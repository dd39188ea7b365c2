"""The built-in demo, on the offline preview backend (no key, no network): one brief, Daybreak Coffee's launch, and
both halves of the work on it: a four-model bake-off of its café moment (the barista's push-in), and its launch
film (environmental opener, product hero, spoken hook, finale, logo end card, one grade)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

BASE_CANVAS: dict[str, Any] = {
    "version": 1,
    "title": "Demo: Daybreak Coffee's launch, a four-model bake-off and the film",
    "draft": True,
    "defaults": {"aspect_ratio": "16:9", "duration_s": 4, "seed": 7, "fps": 24},
    "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2",
         "prompt": {"subject": "a barista in a sunlit cafe holding a ceramic cup, hands visible", "lens": "50mm",
                    "lighting": "morning sun through the window", "atmosphere": "steam rising from the cup"}},
        {"id": "shot", "kind": "shot", "subject": "the barista",
         "action": "lifts the cup, smiles and turns her head toward the window", "camera": "slow push in",
         "lens": "50mm", "lighting": "morning sun through the window", "atmosphere": "steam rising",
         "mood": "quietly content, unhurried"},
        # the product-launch film
        {"id": "product", "kind": "image", "model": "gpt-image-2",
         "prompt": {"subject": "a Daybreak Coffee bag and a ceramic cup of coffee on a sunlit cafe counter",
                    "lighting": "morning sun through the window", "atmosphere": "steam rising from the cup"}},
        {"id": "spokes", "kind": "image", "model": "nano-banana-2",
         "prompt": {"subject": "the Daybreak Coffee barista in a linen apron behind the cafe counter, chest-up",
                    "lighting": "morning sun through the window"}},
        {"id": "opener", "kind": "video", "model": "veo-3.1", "variant": "fast",
         "prompt": {"subject": "a quiet street with the Daybreak Coffee cafe at dawn",
                    "action": "the cafe's lights come on as first light reaches the window",
                    "camera": "wide drift, pan right", "atmosphere": "morning haze"}},
        {"id": "hero", "kind": "video", "model": "seedance-2", "variant": "pro", "inputs": {"image": "product"},
         "prompt": {"subject": "the coffee bag and the cup, label locked", "camera": "slow 360-degree orbit"}},
        {"id": "line", "kind": "audio", "model": "elevenlabs",
         "text": "Roasted at dawn, poured by hand. Daybreak Coffee: your morning, done right."},
        {"id": "hook", "kind": "video", "model": "kling-avatar", "inputs": {"image": "spokes", "audio": "line"},
         "prompt": {"action": "looks into camera, slight smile, gentle nod on the last word"}},
        {"id": "finale", "kind": "video", "model": "kling-3", "variant": "3.0-pro", "inputs": {"image": "product"},
         "prompt": {"subject": "the cup of coffee on the cafe counter, steam rising", "camera": "slow pull out"}},
        {"id": "film", "kind": "sequence",
         "shots": ["opener", {"node": "hero", "crossfade_frames": 12}, "hook",
                   {"node": "finale", "crossfade_frames": 12, "trim_out_s": 0.5}],
         "grade": {"lift": [0.98, 0.98, 1.0], "gain": [1.06, 1.0, 0.94], "saturation": 1.08, "contrast": 1.05},
         "end_card": {"text": "DAYBREAK COFFEE", "image": "assets/logo.png", "seconds": 2,
                      "background": [0.05, 0.05, 0.06]}},
    ],
}


DEMO_BRIEF = ("Daybreak Coffee launch: a warm, believable morning-cafe moment for the launch film. The face and the "
              "hands around the cup must hold up in close-up; the push-in must read; the steam and window light "
              "must stay consistent.")
DEMO_ENTRANTS = (("kling-3", "3.0"), ("kling-3", "o3"), ("seedance-2", "pro"), ("veo-3.1", "standard"))
SAMPLE_NOTE = "SAMPLE SCORE filled in by the demo script, not a person's judgement"


def demo_canvas() -> dict[str, Any]:
    """The demo canvas, its bake-off wired by the same builder the Bake-off panel uses."""
    from .engine.bakeoff import Entrant, build_bakeoff
    from .engine.document import Canvas
    from .providers.catalog import load_catalog

    built = build_bakeoff(Canvas.model_validate(BASE_CANVAS), load_catalog(), image="still", shot="shot",
                          entrants=[Entrant(model=m, variant=v) for m, v in DEMO_ENTRANTS], takes=3, duration_s=4,
                          seed=7, brief=DEMO_BRIEF)
    return built.canvas.to_json_data()


def fill_sample_verdicts(canvas: Any, ledger: Any) -> int:
    """Sample scores for every bake-off take not judged yet, derived from the take id so reruns agree; marked
    ``sample`` so the tray and the report label them as such. Returns how many were written."""
    import hashlib

    bakeoff = canvas.bakeoff
    if bakeoff is None:
        return 0
    written = 0
    for node_id in bakeoff.entrants:
        for take in ledger.takes(node_id):
            if ledger.verdict(take.take_id) is not None:
                continue
            digest = hashlib.sha256(take.take_id.encode()).digest()
            scores = {axis: 2 + digest[index] % 4 for index, axis in enumerate(bakeoff.axes)}  # 2..5
            ledger.set_verdict(take.take_id, scores, SAMPLE_NOTE, sample=True)
            written += 1
    return written


def write_logo(path: Path) -> Path:
    """Daybreak Coffee's mark, a sun rising over the horizon, drawn here so the demo needs no asset on disk."""
    import math

    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGBA", (512, 256), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    light, centre, radius = (240, 240, 240, 255), (256, 196), 84
    draw.pieslice((centre[0] - radius, centre[1] - radius, centre[0] + radius, centre[1] + radius), 180, 360,
                  fill=(244, 196, 120, 255))
    for index in range(7):  # the rays
        angle = math.pi * (index + 1) / 8
        inner, outer = radius + 18, radius + 48
        draw.line([(centre[0] - inner * math.cos(angle), centre[1] - inner * math.sin(angle)),
                   (centre[0] - outer * math.cos(angle), centre[1] - outer * math.sin(angle))], fill=light, width=12)
    draw.rounded_rectangle((48, 200, 464, 216), radius=8, fill=light)  # the horizon
    image.save(path, format="PNG")
    return path
