"""The one place that maps a backend id to its adapter (and its key). Adding a vendor adds one line here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from pathlib import Path

from .backend import Backend, BackendError, ErrorKind
from .catalog import load_catalog


def _preview(keys: Mapping[str, str], work_dir: Path) -> Backend:
    from .preview import PreviewBackend

    return PreviewBackend(work_dir)


def _fal(keys: Mapping[str, str], work_dir: Path) -> Backend:
    from .fal import FalBackend

    return FalBackend(keys.get("FAL_KEY", ""))  # a missing key is a BackendError naming FAL_KEY


def _adapter(module: str, name: str) -> Callable[[Mapping[str, str], Path], Backend]:
    """A vendor adapter built as `Class(keys, work_dir)`, imported only when first used."""

    def factory(keys: Mapping[str, str], work_dir: Path) -> Backend:
        backend: Backend = getattr(import_module(f".{module}", __package__), name)(keys, work_dir)
        return backend

    return factory


FACTORIES: dict[str, Callable[[Mapping[str, str], Path], Backend]] = {
    "preview": _preview,
    "fal": _fal,
    "openai": _adapter("openai_api", "OpenAIBackend"),
    "gemini": _adapter("gemini", "GeminiBackend"),
    "vertex": _adapter("vertex", "VertexBackend"),
    "kling": _adapter("kling", "KlingBackend"),
    "byteplus": _adapter("byteplus", "BytePlusBackend"),
    "runway": _adapter("runway", "RunwayBackend"),
    "bfl": _adapter("bfl", "BflBackend"),
    "elevenlabs": _adapter("elevenlabs", "ElevenLabsBackend"),
    "fishaudio": _adapter("fishaudio", "FishAudioBackend"),
    "replicate": _adapter("replicate", "ReplicateBackend"),
}
IMPLEMENTED: tuple[str, ...] = tuple(FACTORIES)


def build_backend(backend_id: str, keys: Mapping[str, str], work_dir: Path) -> Backend:
    factory = FACTORIES.get(backend_id)
    if factory is None:
        raise BackendError(ErrorKind.INVALID_REQUEST, f"no adapter for backend '{backend_id}' in this release")
    backend = load_catalog().backend(backend_id)
    missing = [name for name in (backend.env_keys if backend else ()) if not keys.get(name)]
    if missing:
        raise BackendError(ErrorKind.AUTH, f"{backend_id} needs {' and '.join(missing)} (add-on preferences or "
                                           "environment)")
    return factory(keys, work_dir)
