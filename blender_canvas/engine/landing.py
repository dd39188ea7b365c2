"""Where a landed take's file goes and what the vendor said it cost: the runner's landing, as plain functions."""

from __future__ import annotations

from pathlib import Path

from ..providers.backend import Artifact, RemoteJob

EXTENSIONS = {"image": ".png", "video": ".mp4", "audio": ".wav"}
KNOWN_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".mov", ".webm", ".wav", ".mp3", ".m4a", ".ogg")


def take_path(node_id: str, job_id: str, artifact: Artifact) -> Path:
    """The take's file relative to the project folder: ``takes/<node>/<job id><suffix>``, the suffix the vendor's
    file (or URL) carries, else the media's usual one."""
    return Path("takes") / node_id / f"{job_id}{_suffix(artifact)}"


def _suffix(artifact: Artifact) -> str:
    for source in (artifact.path.name if artifact.path else "", (artifact.url or "").split("?")[0]):
        suffix = Path(source).suffix.lower()
        if suffix in KNOWN_SUFFIXES:
            return suffix
    return EXTENSIONS[artifact.media]


def drop_scratch(project_dir: Path, artifact: Artifact) -> None:
    """A backend that made the file here (the preview, synchronous APIs) left it in ``work/``: the take now lives
    in ``takes/`` alone, so the scratch copy goes."""
    work = (project_dir / "work").resolve()
    if artifact.path is not None and artifact.path.resolve().is_relative_to(work):
        artifact.path.unlink(missing_ok=True)


def reported_cost(remote: RemoteJob) -> float | None:
    """What the vendor said the job cost, in US dollars, where an adapter recorded it (``cost_usd``); None means
    only the estimate is known, and reports say "estimate"."""
    value = remote.data.get("cost_usd")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
