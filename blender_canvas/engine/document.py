"""The canvas document: the JSON a person reads and diffs, and what a node tree exports to and imports from.

Field names follow design.md's sketch. Everything a model node may set that the catalog constrains (duration,
aspect ratio, resolution, seed) is optional here and falls back to the shot node, then to ``defaults``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")]
AspectRatio = Annotated[str, Field(pattern=r"^[1-9][0-9]?:[1-9][0-9]?$")]
# Blender's IntProperty is a signed 32-bit int, so seeds stop at 2^31 - 1 (every vendor accepts that range).
Seed = Annotated[int, Field(ge=0, le=2_147_483_647)]
Seconds = Annotated[int, Field(ge=1, le=600)]
Channel = Annotated[float, Field(ge=0, le=4)]
RGB = tuple[Channel, Channel, Channel]
Colour = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)],
               Annotated[float, Field(ge=0, le=1)]]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".exr", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Prompt(_Strict):
    """The shot-list clauses. A model node's prompt adds to (and overrides) the shot node wired into it."""

    subject: str = ""
    action: str = ""
    camera: str = ""
    lens: str = ""
    lighting: str = ""
    atmosphere: str = ""
    mood: str = ""  # emotional direction; each model's grammar decides where it goes


PROMPT_FIELDS: tuple[str, ...] = tuple(Prompt.model_fields)


class Defaults(_Strict):
    aspect_ratio: AspectRatio = "16:9"
    duration_s: Seconds | None = None
    seed: Seed | None = None
    resolution: str | None = None
    fps: Annotated[int, Field(ge=1, le=120)] = 24


class Inputs(_Strict):
    """Wires into a model node, by node id. Which of them a model takes is the catalog's business."""

    image: NodeId | None = None
    images: list[NodeId] = Field(default_factory=list, max_length=32)
    last_frame: NodeId | None = None
    audio: NodeId | None = None
    video: NodeId | None = None
    shot: NodeId | None = None

    def wired(self) -> list[tuple[str, str]]:
        """(input name, source node id) for every wire, in a stable order."""
        pairs: list[tuple[str, str]] = []
        for name in ("image", "last_frame", "audio", "video", "shot"):
            source = getattr(self, name)
            if source:
                pairs.append((name, source))
        pairs.extend(("images", source) for source in self.images)
        return pairs

    def counts(self) -> dict[str, int]:
        """How many sources are wired into each input."""
        counts: dict[str, int] = {}
        for name, _source in self.wired():
            counts[name] = counts.get(name, 0) + 1
        return counts


class _Node(_Strict):
    id: NodeId
    label: str = Field(default="", max_length=200)
    position: tuple[float, float] | None = None  # where the node sits in the editor


class ReferenceNode(_Node):
    """A still, clip or sound file on disk; paths are relative to the canvas file."""

    kind: Literal["reference"] = "reference"
    path: str = Field(min_length=1, max_length=1024)

    @property
    def media(self) -> Literal["image", "video", "audio"] | None:
        suffix = PurePosixPath(self.path.replace("\\", "/")).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return "image"
        if suffix in VIDEO_SUFFIXES:
            return "video"
        if suffix in AUDIO_SUFFIXES:
            return "audio"
        return None


class ShotNode(_Node):
    """The shared shot-list prompt, wired into any number of model nodes so they get identical inputs."""

    kind: Literal["shot"] = "shot"
    subject: str = ""
    action: str = ""
    camera: str = ""
    lens: str = ""
    lighting: str = ""
    atmosphere: str = ""
    mood: str = ""
    seed: Seed | None = None
    aspect_ratio: AspectRatio | None = None
    duration_s: Seconds | None = None

    def prompt(self) -> Prompt:
        return Prompt(**{name: getattr(self, name) for name in PROMPT_FIELDS})


class _ModelNode(_Node):
    model: str = Field(min_length=1, max_length=100)
    variant: str | None = None
    route: str | None = None  # a backend id; without it the node takes the best route the user has a key for
    takes: Annotated[int, Field(ge=1, le=10)] = 1
    seed: Seed | None = None
    inputs: Inputs = Field(default_factory=Inputs)


class ImageNode(_ModelNode):
    kind: Literal["image"] = "image"
    prompt: Prompt = Field(default_factory=Prompt)
    aspect_ratio: AspectRatio | None = None
    resolution: str | None = None


class VideoNode(_ModelNode):
    kind: Literal["video"] = "video"
    prompt: Prompt = Field(default_factory=Prompt)
    aspect_ratio: AspectRatio | None = None
    resolution: str | None = None
    duration_s: Seconds | None = None
    audio: bool = False  # ask for generated sound where the model can make it (priced separately)


class AudioNode(_ModelNode):
    kind: Literal["audio"] = "audio"
    text: str = Field(default="", max_length=40_000)
    voice: str | None = Field(default=None, max_length=200)


class SequenceShot(_Strict):
    """One shot in the cut: a video node's chosen take, trimmed, joined to the previous shot."""

    node: NodeId
    trim_in_s: Annotated[float, Field(ge=0)] = 0.0
    trim_out_s: Annotated[float, Field(ge=0)] = 0.0
    crossfade_frames: Annotated[int, Field(ge=0, le=240)] = 0  # 0 = straight cut into this shot
    gain: RGB | None = None  # a per-shot colour trim on top of the shared grade


class AudioPlacement(_Strict):
    """A voice or music take laid under a shot (from its start) or at a time in the cut."""

    node: NodeId
    under: NodeId | None = None
    at_s: Annotated[float, Field(ge=0)] | None = None
    volume: Annotated[float, Field(ge=0, le=4)] = 1.0


class EndCard(_Strict):
    text: str = Field(default="", max_length=200)
    image: str | None = None  # a logo, relative to the canvas file
    seconds: Annotated[float, Field(gt=0, le=30)] = 2.0
    background: Colour = (0.0, 0.0, 0.0)


class Grade(_Strict):
    """One look for the whole cut: lift / gamma / gain per channel, then saturation, contrast, white balance."""

    lift: RGB = (1.0, 1.0, 1.0)
    gamma: RGB = (1.0, 1.0, 1.0)
    gain: RGB = (1.0, 1.0, 1.0)
    saturation: Annotated[float, Field(ge=0, le=4)] = 1.0
    contrast: Annotated[float, Field(ge=0, le=4)] = 1.0
    white_balance: RGB | None = None
    curves: Literal["none", "soft", "punchy", "filmic"] = "none"


class SequenceNode(_Node):
    kind: Literal["sequence"] = "sequence"
    shots: list[NodeId | SequenceShot] = Field(default_factory=list, max_length=200)
    audio: list[AudioPlacement] = Field(default_factory=list, max_length=200)
    end_card: EndCard | None = None
    grade: Grade | None = None
    fps: Annotated[int, Field(ge=1, le=120)] | None = None

    @field_serializer("shots")
    def _plain_shots(self, shots: list[str | SequenceShot]) -> list[Any]:
        # A shot with no trims and a straight cut is written as its bare node id, as in design.md's sketch.
        out: list[Any] = []
        for shot in shots:
            if isinstance(shot, SequenceShot) and shot == SequenceShot(node=shot.node):
                out.append(shot.node)
            elif isinstance(shot, SequenceShot):
                out.append(shot.model_dump(exclude_defaults=True))
            else:
                out.append(shot)
        return out

    def shot_list(self) -> list[SequenceShot]:
        return [s if isinstance(s, SequenceShot) else SequenceShot(node=s) for s in self.shots]


Node = Annotated[
    ReferenceNode | ShotNode | ImageNode | VideoNode | AudioNode | SequenceNode,
    Field(discriminator="kind"),
]
ModelNode = ImageNode | VideoNode | AudioNode
NODE_TYPES: dict[str, type[BaseModel]] = {
    "reference": ReferenceNode,
    "shot": ShotNode,
    "image": ImageNode,
    "video": VideoNode,
    "audio": AudioNode,
    "sequence": SequenceNode,
}
NODE_KINDS: tuple[str, ...] = tuple(NODE_TYPES)


DEFAULT_AXES: tuple[str, ...] = (
    "motion realism on faces",
    "hand articulation",
    "environmental coherence over the take",
    "response to camera-move language",
    "identity hold",
    "prompt adherence",
)
AxisName = Annotated[str, Field(min_length=1, max_length=60)]
Score = Annotated[int, Field(ge=1, le=5)]
TakeId = Annotated[str, Field(min_length=1, max_length=100)]


class Verdict(_Strict):
    """A person's (or, marked ``sample``, a script's) judgement of one take, axis by axis, 1 (poor) to 5 (best)."""

    take_id: TakeId
    node: NodeId
    take: Annotated[int, Field(ge=1)]  # the take's number in its node, as people say it ("take 2")
    scores: dict[AxisName, Score] = Field(default_factory=dict)
    note: str = Field(default="", max_length=2000)
    sample: bool = False
    updated_at: datetime | None = None  # when it was last changed: the newer of two verdicts wins on import


class BakeOff(_Strict):
    """A controlled comparison: one image, one shot skeleton, one aspect ratio and seed, several models.

    The controlled settings live on the shot node (aspect ratio, seed, duration); entrants inherit them. Verdicts
    and pins are the ledger's; the copy here is what an exported canvas carries to another machine.
    """

    brief: str = Field(default="", max_length=4000)
    image: NodeId
    shot: NodeId
    entrants: list[NodeId] = Field(min_length=2, max_length=24)
    takes: Annotated[int, Field(ge=1, le=10)] = 3
    axes: list[AxisName] = Field(default_factory=lambda: list(DEFAULT_AXES), min_length=1, max_length=16)
    verdicts: list[Verdict] = Field(default_factory=list, max_length=2000)
    best: dict[NodeId, TakeId] = Field(default_factory=dict)  # node -> the take pinned as its best
    best_per_axis: dict[AxisName, TakeId] = Field(default_factory=dict)


class Canvas(_Strict):
    version: Literal[1] = 1
    title: str = Field(default="", max_length=500)
    draft: bool = False  # send every node to the offline preview backend
    budget_usd: Annotated[float, Field(ge=0)] | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    nodes: list[Node] = Field(default_factory=list, max_length=2000)
    bakeoff: BakeOff | None = None

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def to_json_data(self) -> dict[str, Any]:
        """The canonical form: defaults left out, so files stay short and diff cleanly."""
        data: dict[str, Any] = {"version": self.version}
        data.update(self.model_dump(mode="json", exclude_defaults=True))
        # every node keeps its kind, even where it equals the class default
        data["nodes"] = [
            {"id": n.id, "kind": n.kind, **n.model_dump(mode="json", exclude_defaults=True)} for n in self.nodes
        ]
        return data


def output_kind(node: Node) -> Literal["image", "video", "audio", "shot"] | None:
    """What a node feeds into the nodes wired after it; None for a sequence or an unreadable reference."""
    if isinstance(node, ReferenceNode):
        return node.media
    if isinstance(node, ShotNode):
        return "shot"
    if isinstance(node, SequenceNode):
        return None
    return node.kind
