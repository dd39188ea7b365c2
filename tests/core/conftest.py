"""The bpy-free core: catalog, canvas document, validation and the command line, on plain Python."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the package is used from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from blender_canvas.providers.catalog import Catalog, load_catalog  # noqa: E402

# the production-workflow canvases, vendored from shared/canvases (fall back to the shared copy)
CANVASES = next((d for d in (ROOT / "tests" / "canvases", Path("/work/shared/canvases")) if d.is_dir()),
                ROOT / "tests" / "canvases")


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def canvas_dir() -> Path:
    return CANVASES


class Sleeps(list[float]):
    """Stands in for the retry policy's sleep: records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()
