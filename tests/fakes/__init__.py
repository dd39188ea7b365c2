"""Local fake vendor servers (real HTTP on 127.0.0.1) that follow each vendor's documented contract."""

from .fal_server import FakeFal, Fault, Recorded

__all__ = ["FakeFal", "Fault", "Recorded"]
