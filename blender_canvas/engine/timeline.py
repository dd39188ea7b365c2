"""The cut as plain data: where each chosen take sits, trimmed, in frames; the VSE and OTIO exports both read it.

Shots alternate between an A and a B track so a crossfade can overlap them; the shot that fades in starts
``crossfade_frames`` before the previous shot ends. Length = trimmed shots - crossfade overlaps + end card.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from .document import RGB, Canvas, EndCard, Grade, SequenceNode
from .ledger import Ledger, TakeRecord
from .planner import ledger_path

FIRST_FRAME = 1
SHORT_SIDES = (360, 480, 720, 1080, 1440, 2160)


class TimelineError(Exception):
    """The cut cannot be laid out (a shot without a take, trims longer than the take); the message says which."""


class ShotPlacement(BaseModel):
    index: int
    node_id: str
    take_id: str
    file: Path
    has_audio: bool
    track: int  # 0 = A, 1 = B
    source_frames: int  # the take's whole length in cut frames
    trim_in: int
    trim_out: int
    start: int  # timeline frame where the trimmed shot starts
    length: int
    crossfade: int  # frames of crossfade into this shot
    gain: RGB | None = None

    @property
    def end(self) -> int:
        return self.start + self.length


class SoundPlacement(BaseModel):
    node_id: str
    take_id: str
    file: Path
    start: int
    length: int
    volume: float


class CardPlacement(BaseModel):
    start: int
    length: int
    card: EndCard
    image: Path | None = None


class Timeline(BaseModel):
    sequence_id: str
    fps: int
    width: int
    height: int
    shots: list[ShotPlacement]
    sounds: list[SoundPlacement] = Field(default_factory=list)
    end_card: CardPlacement | None = None
    grade: Grade | None = None

    @property
    def end(self) -> int:
        """One past the last frame."""
        ends = [s.end for s in self.shots]
        if self.end_card:
            ends.append(self.end_card.start + self.end_card.length)
        return max(ends, default=FIRST_FRAME)

    @property
    def frames(self) -> int:
        return self.end - FIRST_FRAME

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def output_size(aspect_ratio: str, takes: list[TakeRecord]) -> tuple[int, int]:
    """The canvas aspect ratio at the sharpest shot's short side (even numbers, as H.264 wants)."""
    w_ratio, h_ratio = (int(x) for x in aspect_ratio.split(":"))
    short = max((min(t.width or 0, t.height or 0) for t in takes), default=0) or 720
    short = min(SHORT_SIDES, key=lambda s: abs(s - short))
    if w_ratio >= h_ratio:
        height, width = float(short), short * w_ratio / h_ratio
    else:
        width, height = float(short), short * h_ratio / w_ratio
    return int(round(width / 2) * 2), int(round(height / 2) * 2)


def build_timeline(canvas: Canvas, sequence: SequenceNode, ledger: Ledger, base_dir: Path) -> Timeline:
    fps = sequence.fps or canvas.defaults.fps
    shots: list[ShotPlacement] = []
    cursor = FIRST_FRAME
    takes: list[TakeRecord] = []
    for index, shot in enumerate(sequence.shot_list()):
        take = _take(canvas, ledger, base_dir, shot.node, "shot")
        takes.append(take)
        source = max(1, round((take.duration_s or 0) * fps))
        trim_in, trim_out = round(shot.trim_in_s * fps), round(shot.trim_out_s * fps)
        length = source - trim_in - trim_out
        if length < 1:
            raise TimelineError(f"sequence '{sequence.id}', shot {index + 1} ('{shot.node}'): trims of "
                                f"{shot.trim_in_s} s + {shot.trim_out_s} s leave nothing of a "
                                f"{take.duration_s or 0:.2f} s take")
        crossfade = min(shot.crossfade_frames, length - 1, shots[-1].length - 1) if shots else 0
        start = cursor - crossfade
        file = ledger_path(ledger, take.file)
        shots.append(ShotPlacement(index=index, node_id=shot.node, take_id=take.take_id, file=file,
                                   has_audio=_has_audio(file),
                                   track=index % 2, source_frames=source, trim_in=trim_in, trim_out=trim_out,
                                   start=start, length=length, crossfade=crossfade, gain=shot.gain))
        cursor = start + length
    sounds = []
    starts = {s.node_id: s.start for s in shots}
    for placement in sequence.audio:
        take = _take(canvas, ledger, base_dir, placement.node, "sound")
        if placement.under is not None:
            start = starts[placement.under]
        elif placement.at_s is not None:
            start = FIRST_FRAME + round(placement.at_s * fps)
        else:
            start = FIRST_FRAME
        sounds.append(SoundPlacement(node_id=placement.node, take_id=take.take_id,
                                     file=ledger_path(ledger, take.file), start=start,
                                     length=max(1, round((take.duration_s or 0) * fps)), volume=placement.volume))
    card = None
    if sequence.end_card is not None:
        image = (base_dir / sequence.end_card.image) if sequence.end_card.image else None
        card = CardPlacement(start=cursor, length=max(1, round(sequence.end_card.seconds * fps)),
                             card=sequence.end_card, image=image)
    width, height = output_size(canvas.defaults.aspect_ratio, takes)
    return Timeline(sequence_id=sequence.id, fps=fps, width=width, height=height, shots=shots, sounds=sounds,
                    end_card=card, grade=sequence.grade)


def _take(canvas: Canvas, ledger: Ledger, base_dir: Path, node_id: str, role: str) -> TakeRecord:
    take = ledger.chosen(node_id)
    if take is None:
        from .document import ReferenceNode

        node = canvas.node(node_id)
        if isinstance(node, ReferenceNode):
            return _reference_take(node_id, base_dir / node.path)
        raise TimelineError(f"{role} '{node_id}' has no take yet: render it first")
    return take


def _reference_take(node_id: str, path: Path) -> TakeRecord:
    """A reference clip used directly as a shot: described like a take, made from the file on disk."""
    from ..providers.media_probe import probe
    from .planner import sha256_file

    info = probe(path)
    return TakeRecord(take_id=f"ref-{node_id}", node_id=node_id, cache_key="", file=str(path),
                      sha256=sha256_file(path), media=info.kind, duration_s=info.duration_s, width=info.width,
                      height=info.height,
                      size_bytes=path.stat().st_size, model="reference", variant="", backend="file", prompt="",
                      estimated_usd=0.0, input_hashes="{}", timings_json="{}", created_at=path.stat().st_mtime)


def _has_audio(path: Path) -> bool:
    from ..providers.media_probe import probe

    try:
        return bool(probe(path).has_audio)
    except (OSError, ValueError):  # a probe failure only means no sound strip
        return False


def bring_into_project(timeline: Timeline, project_dir: Path) -> Timeline:
    """The timeline with every file it uses inside `project_dir`: a reference clip or an end-card logo that lives
    beside the canvas file is copied (hard-linked where the volume allows) into `media/`, so the cut, its .blend and
    its interchange files travel with the project folder."""
    project = project_dir.absolute()

    def inside(file: Path) -> Path:
        absolute = file.absolute()
        if absolute.is_relative_to(project) or not absolute.is_file():
            return absolute
        return _copy_in(absolute, project / "media")

    shots = [s.model_copy(update={"file": inside(s.file)}) for s in timeline.shots]
    sounds = [s.model_copy(update={"file": inside(s.file)}) for s in timeline.sounds]
    card = timeline.end_card
    if card is not None and card.image is not None:
        card = card.model_copy(update={"image": inside(card.image)})
    return timeline.model_copy(update={"shots": shots, "sounds": sounds, "end_card": card})


def _copy_in(file: Path, folder: Path) -> Path:
    import os
    import shutil

    from .planner import sha256_file

    target = folder / f"{sha256_file(file)[:12]}-{file.name}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        os.link(file, partial)
    except OSError:  # another volume, or links not allowed
        shutil.copy2(file, partial)
    os.replace(partial, target)
    return target
