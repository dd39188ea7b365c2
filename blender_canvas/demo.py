"""The built-in demo: a bake-off on the offline preview backend, no key and no network needed."""

from __future__ import annotations

from typing import Any

DEMO_CANVAS: dict[str, Any] = {
    "version": 1,
    "title": "Demo bake-off: one still, one shot-list prompt, four video models, three takes each",
    "draft": True,
    "defaults": {"aspect_ratio": "16:9", "duration_s": 4, "seed": 7, "fps": 24},
    "nodes": [
        {"id": "still", "kind": "image", "model": "nano-banana-2",
         "prompt": {"subject": "a barista in a sunlit cafe holding a ceramic cup, hands visible", "lens": "50mm",
                    "lighting": "morning sun through the window", "atmosphere": "steam rising from the cup"}},
        {"id": "shot", "kind": "shot", "subject": "the barista",
         "action": "lifts the cup, smiles and turns her head toward the window", "camera": "slow push in",
         "lens": "50mm", "lighting": "morning sun through the window", "atmosphere": "steam rising"},
        {"id": "kling", "kind": "video", "model": "kling-3", "variant": "3.0", "takes": 3,
         "inputs": {"image": "still", "shot": "shot"}},
        {"id": "kling_o3", "kind": "video", "model": "kling-3", "variant": "o3", "takes": 3,
         "inputs": {"image": "still", "shot": "shot"}, "prompt": {"camera": "slow pan right"}},
        {"id": "seedance", "kind": "video", "model": "seedance-2", "variant": "pro", "takes": 3,
         "inputs": {"image": "still", "shot": "shot"}, "prompt": {"camera": "orbit around her"}},
        {"id": "veo", "kind": "video", "model": "veo-3.1", "variant": "standard", "takes": 3,
         "inputs": {"image": "still", "shot": "shot"}, "prompt": {"camera": "slow pull out"}},
    ],
}
