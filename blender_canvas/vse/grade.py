"""The shared grade as strip modifiers on one adjustment strip, and per-shot colour trims on a shot's strip."""

from __future__ import annotations

from typing import Any

from ..engine.document import RGB, Grade

PREFIX = "canvas "
# Curve looks on the combined curve: (input, output) points.
LOOKS: dict[str, tuple[tuple[float, float], ...]] = {
    "soft": ((0.0, 0.06), (0.5, 0.5), (1.0, 0.94)),
    "punchy": ((0.0, 0.0), (0.25, 0.18), (0.75, 0.84), (1.0, 1.0)),
    "filmic": ((0.0, 0.03), (0.2, 0.16), (0.8, 0.86), (1.0, 0.97)),
}


def _clear(strip: Any) -> None:
    for modifier in [m for m in strip.modifiers if m.name.startswith(PREFIX)]:
        strip.modifiers.remove(modifier)


def _color_balance(strip: Any, name: str, lift: RGB, gamma: RGB, gain: RGB) -> None:
    modifier = strip.modifiers.new(name=PREFIX + name, type="COLOR_BALANCE")
    balance = modifier.color_balance
    balance.correction_method = "LIFT_GAMMA_GAIN"
    balance.lift, balance.gamma, balance.gain = lift, gamma, gain


def apply_grade(strip: Any, grade: Grade | None) -> None:
    """Replace the add-on's modifiers on the adjustment strip with the node's grade (none: a neutral strip)."""
    _clear(strip)
    if grade is None:
        strip.color_saturation = 1.0
        return
    _color_balance(strip, "lift gamma gain", grade.lift, grade.gamma, grade.gain)
    if grade.contrast != 1.0:
        contrast = strip.modifiers.new(name=PREFIX + "contrast", type="BRIGHT_CONTRAST")
        contrast.contrast = max(-100.0, min(100.0, (grade.contrast - 1.0) * 100.0))
    if grade.white_balance is not None:
        balance = strip.modifiers.new(name=PREFIX + "white balance", type="WHITE_BALANCE")
        balance.white_value = grade.white_balance
    if grade.curves in LOOKS:
        curves = strip.modifiers.new(name=PREFIX + f"curves {grade.curves}", type="CURVES")
        combined = curves.curve_mapping.curves[3]
        points = LOOKS[grade.curves]
        while len(combined.points) < len(points):
            combined.points.new(0.5, 0.5)
        for point, (x, y) in zip(combined.points, points, strict=False):
            point.location = (x, y)
        curves.curve_mapping.update()
    strip.color_saturation = grade.saturation


def apply_shot_trim(strip: Any, gain: RGB | None) -> None:
    _clear(strip)
    if gain is not None:
        _color_balance(strip, "shot trim", (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), gain)
