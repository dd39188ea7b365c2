"""User actions on the canvas."""

from __future__ import annotations


def register() -> None:
    pass


def unregister() -> None:
    pass
