"""What a model node will actually ask for, once node, shot and canvas defaults are layered."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from ..providers.catalog import Model, Variant
from .document import AudioNode, Canvas, ImageNode, ModelNode, ShotNode, VideoNode

Origin = Literal["node", "shot", "defaults", "model"]


class Setting(BaseModel):
    value: int | str | None
    origin: Origin


class Settings(BaseModel):
    duration_s: Setting
    aspect_ratio: Setting
    resolution: Setting
    seed: Setting


def wired_shot(canvas: Canvas, node: ModelNode) -> ShotNode | None:
    source = canvas.node(node.inputs.shot) if node.inputs.shot else None
    return source if isinstance(source, ShotNode) else None


def resolve_settings(canvas: Canvas, node: ModelNode, model: Model, variant: Variant) -> Settings:
    """Node beats shot beats canvas defaults beats the model's own default."""
    shot = wired_shot(canvas, node)
    defaults = canvas.defaults

    def layered(node_value: int | str | None, shot_value: int | str | None, default_value: int | str | None,
                model_value: int | str | None) -> Setting:
        if node_value is not None:
            return Setting(value=node_value, origin="node")
        if shot_value is not None:
            return Setting(value=shot_value, origin="shot")
        if default_value is not None:
            return Setting(value=default_value, origin="defaults")
        return Setting(value=model_value, origin="model")

    is_video = isinstance(node, VideoNode)
    duration = layered(
        node.duration_s if is_video else None,  # type: ignore[union-attr]
        shot.duration_s if shot and is_video else None,
        defaults.duration_s if is_video else None,
        variant.default_duration,
    )
    if isinstance(node, (ImageNode, VideoNode)):
        aspect = layered(node.aspect_ratio, shot.aspect_ratio if shot else None, defaults.aspect_ratio,
                         variant.default_aspect_ratio)
        resolution = layered(node.resolution, None, defaults.resolution, variant.default_resolution)
    else:
        aspect = Setting(value=None, origin="model")
        resolution = Setting(value=None, origin="model")
    seed = layered(node.seed, shot.seed if shot else None, defaults.seed, None)
    if isinstance(node, AudioNode):
        duration = Setting(value=None, origin="model")
    return Settings(duration_s=duration, aspect_ratio=aspect, resolution=resolution, seed=seed)
