"""The offline ``preview`` backend: free, keyless, network-free stand-ins for every model in the catalog.

In draft mode every model node is sent here, whatever its catalog model, so the mapping below goes by the request's
media and inputs, never by the model id. A job is rendered synchronously by ``submit`` into the work folder; the
handle keeps the request, so a restart that finds the file gone simply renders it again (the output is
deterministic, and preview is free).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import av
from PIL import Image

from .backend import (
    Artifact,
    BackendError,
    ConnectionReport,
    ErrorKind,
    JobRequest,
    JobState,
    JobStatus,
    RemoteJob,
)
from .media_probe import probe
from .preview_frames import frame_size, nearest_aspect_ratio
from .preview_motion import make_animatic, model_family, read_first_frame
from .preview_sound import make_voice
from .preview_stills import make_still, render_plate

PREVIEW_VIDEO_RESOLUTION = "360p"  # previews of video are rendered at 360p unless params["preview_resolution"] says
DEFAULT_DURATION_S = 5.0
DEFAULT_FPS = 24.0
_SUFFIX = {"image": ".png", "video": ".mp4", "audio": ".wav"}
_MIME = {"image": "image/png", "video": "video/mp4", "audio": "audio/wav"}


def label_lines(request: JobRequest) -> list[str]:
    """The lines stamped on every preview: PREVIEW, the model and variant, the take number."""
    return ["PREVIEW", f"{request.model_label or request.model} · {request.variant}", f"take {request.take_index + 1}"]


def request_seed(request: JobRequest) -> int:
    """The request's seed, or one derived from the node and model (stable across restarts)."""
    seed = request.params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    digest = hashlib.sha256(f"{request.node_id}\x1f{request.model}\x1f{request.variant}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _first(request: JobRequest, name: str) -> Path | None:
    paths = request.inputs.get(name) or []
    return Path(paths[0]) if paths else None


def _number(value: Any, default: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


def _aspect_from(path: Path, is_video: bool) -> str:
    if is_video:
        info = probe(path)
        width, height = info.width or 16, info.height or 9
    else:
        with Image.open(path) as img:
            width, height = img.size
    return nearest_aspect_ratio(width, height)


def render(request: JobRequest, out_path: Path) -> Path:
    """Render one preview take for ``request`` into ``out_path`` (overwritten)."""
    seed = request_seed(request)
    labels = label_lines(request)
    params = request.params
    if request.media == "image":
        references = [Path(p) for p in (*request.inputs.get("images", []), *request.inputs.get("image", []))]
        size = frame_size(params.get("aspect_ratio"), params.get("resolution"), "image")
        take_seed = seed if request.take_index == 0 else seed + 7919 * request.take_index
        return make_still(request.prompt, take_seed, size, labels, out_path, reference_images=references)
    if request.media == "audio":
        text = str(params.get("text") or request.prompt or "")
        return make_voice(text, seed + request.take_index, out_path)
    return _render_video(request, seed, labels, out_path)


def _render_video(request: JobRequest, seed: int, labels: list[str], out_path: Path) -> Path:
    params = request.params
    image = _first(request, "image")
    video = _first(request, "video")
    audio = _first(request, "audio")
    references = [Path(p) for p in request.inputs.get("images", [])]
    aspect = params.get("aspect_ratio")
    if not aspect and video is not None:  # no ratio given: the framing follows the input clip or picture
        aspect = _aspect_from(video, is_video=True)
    elif not aspect and image is not None:
        aspect = _aspect_from(image, is_video=False)
    resolution = str(params.get("preview_resolution") or PREVIEW_VIDEO_RESOLUTION)
    size = frame_size(aspect, resolution, "video")
    first: Path | Image.Image | None = image
    if video is not None:  # video to video or lip-sync: start from the input clip's first frame
        first = read_first_frame(video)
    elif first is None and references:  # reference stills only: the first frame is a collage of them
        first = render_plate(request.prompt, seed, size, references)
    duration = params.get("duration_s")
    if duration is None and video is not None and audio is None:
        duration = probe(video).duration_s  # video to video: as long as the input clip
    camera = str(params.get("camera") or "") or _camera_from_prompt(request.prompt)
    return make_animatic(first, request.prompt, camera, _number(duration, DEFAULT_DURATION_S),
                         _number(params.get("fps"), DEFAULT_FPS), size, seed, request.take_index, labels,
                         out_path, audio=audio, family=model_family(request.model))


def _camera_from_prompt(prompt: str) -> str:
    """The camera clause of a composed prompt ("Camera: slow push in."), else the whole prompt to scan."""
    match = re.search(r"\bcamera\s*[:\-–]\s*([^.;\n]+)", prompt, re.IGNORECASE)
    return match.group(1) if match else prompt


class PreviewBackend:
    """Implements ``backend.Backend`` on this machine: jobs finish inside ``submit``."""

    id = "preview"
    poll_interval_s = 0.05
    submit_recovery = "free"  # rendered here, billed nowhere: a render cut off by a crash is simply made again

    def __init__(self, work_dir: Path) -> None:
        self.work_dir = Path(work_dir)

    def check_connection(self) -> ConnectionReport:
        return ConnectionReport(backend=self.id, ok=True, latency_ms=0.0,
                                message="preview: ready; the offline preview renders on this machine, with no key and "
                                        "no network")

    def _out_path(self, request: JobRequest) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", request.job_id).strip("._") or "job"
        return self.work_dir / f"{safe}{_SUFFIX[request.media]}"

    def _render_atomically(self, request: JobRequest, out_path: Path) -> Path:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out_path.stem}.", suffix=out_path.suffix, dir=out_path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            render(request, tmp)
            os.replace(tmp, out_path)
        except FileNotFoundError as exc:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"preview: an input file is missing: {exc.filename}") from exc
        except (OSError, ValueError, av.FFmpegError) as exc:
            raise BackendError(ErrorKind.INVALID_REQUEST, f"preview: could not render {request.media}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return out_path

    def submit(self, request: JobRequest) -> RemoteJob:
        out_path = self._render_atomically(request, self._out_path(request))
        return RemoteJob(backend=self.id, remote_id=f"preview-{request.job_id}",
                         data={"path": str(out_path), "media": request.media,
                               "request": request.model_dump(mode="json")})

    def _ensure(self, job: RemoteJob) -> Path:
        """The job's file, rendered again from the stored request when it has gone missing."""
        path = Path(job.data.get("path", ""))
        if path.is_file():
            return path
        stored = job.data.get("request")
        if not stored:
            raise BackendError(ErrorKind.RESULT_EXPIRED, "preview: the take file is gone and the job has no request")
        request = JobRequest.model_validate(stored)
        return self._render_atomically(request, path if str(path) else self._out_path(request))

    def poll(self, job: RemoteJob) -> JobStatus:
        path = self._ensure(job)
        kind = job.data.get("media") or JobRequest.model_validate(job.data["request"]).media
        return JobStatus(state=JobState.SUCCEEDED, progress=1.0, message="preview rendered",
                         artifacts=[Artifact(media=kind, path=path, mime_type=_MIME[kind])])

    def fetch(self, job: RemoteJob, artifact: Artifact, dest: Path) -> Path:
        source = artifact.path if artifact.path is not None and artifact.path.is_file() else self._ensure(job)
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:  # a hard link: the take in takes/ and the scratch file share one copy on disk until the runner drops it
            tmp = dest.with_name(f".{dest.name}.link.part")
            tmp.unlink(missing_ok=True)
            os.link(source, tmp)
            os.replace(tmp, dest)
            return dest
        except OSError:
            pass  # another volume, or a file system without hard links: copy
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            shutil.copyfile(source, tmp)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def cancel(self, job: RemoteJob) -> bool:
        return False  # a preview job is already finished when submit returns
