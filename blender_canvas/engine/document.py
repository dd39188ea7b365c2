"""The canvas document: the JSON a person reads and diffs, and what a node tree exports to and imports from.

Field names follow design.md's sketch. Everything a model node may set that the catalog constrains (duration,
aspect ratio, resolution, seed) is optional here and falls back to the shot node, then to ``defaults``.

Every field carries a description (``python -m blender_canvas schema`` prints them), and every value has a bound: no
NaN or infinity, numbers within what a real canvas uses, strings within a length a person writes (a prompt clause
4,000 characters, a label or a name 200), so a document someone sends cannot make the reader or a run misbehave.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_serializer

# Limits of the reader (engine/canvas_json.py): a canvas nests 6 levels deep; no field takes a 30-digit integer.
MAX_DEPTH = 64
MAX_INT_DIGITS = 30
MAX_CLAUSE = 4_000  # a prompt clause: a paragraph; vendors cap whole prompts at 2,500-5,000 characters
MAX_NAME = 200  # labels, voices, end-card text: a line
MAX_SCRIPT = 40_000  # a voice node's words: ElevenLabs' longest request
MAX_SECONDS_IN_CUT = 86_400.0  # a day: no trim or placement in a cut is later than that
MAX_COORD = 1_000_000.0  # the node editor's space; real layouts stay within a few thousand

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$",
                              description="a node's id: letters, digits, '_', '-', '.'; up to 63 characters")]
AspectRatio = Annotated[str, Field(pattern=r"^[1-9][0-9]?:[1-9][0-9]?$",
                                   description="width:height, such as 16:9, 9:16, 1:1 (the model's list decides)")]
# Blender's IntProperty is a signed 32-bit int, so seeds stop at 2^31 - 1 (every vendor accepts that range).
Seed = Annotated[int, Field(ge=0, le=2_147_483_647,
                            description="0 to 2147483647; take k of a node asks for seed + k")]
Seconds = Annotated[int, Field(ge=1, le=600, description="whole seconds, 1 to 600 (the model's list decides)")]
Clause = Annotated[str, Field(max_length=MAX_CLAUSE)]
Resolution = Annotated[str, Field(max_length=20, description="a size the model offers: 720p, 1080p for video; 1K, "
                                                              "2K, 4K for stills (python -m blender_canvas models)")]
CutSeconds = Annotated[float, Field(ge=0, le=MAX_SECONDS_IN_CUT)]
Coord = Annotated[float, Field(ge=-MAX_COORD, le=MAX_COORD)]
Channel = Annotated[float, Field(ge=0, le=4)]
RGB = tuple[Channel, Channel, Channel]
Colour = tuple[Annotated[float, Field(ge=0, le=1)], Annotated[float, Field(ge=0, le=1)],
               Annotated[float, Field(ge=0, le=1)]]

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".exr", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"})
AUDIO_SUFFIXES = frozenset({".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class Prompt(_Strict):
    """The shot-list clauses. A model node's prompt adds to (and overrides) the shot node wired into it."""

    subject: Clause = Field(default="", description="who or what the shot is about ('the spokesperson')")
    action: Clause = Field(default="", description="what happens ('jogs left to right')")
    camera: Clause = Field(default="", description="the camera's move ('slow pan', 'static', 'dolly in')")
    lens: Clause = Field(default="", description="the lens or framing ('24mm', 'close-up')")
    lighting: Clause = Field(default="", description="the light ('golden hour')")
    atmosphere: Clause = Field(default="", description="air and texture ('dust in the light')")
    # emotional direction; each model's grammar decides where it goes
    mood: Clause = Field(default="", description="emotional direction ('quietly confident')")


PROMPT_FIELDS: tuple[str, ...] = tuple(Prompt.model_fields)


class Defaults(_Strict):
    """What every model node inherits unless it (or its wired shot node) says otherwise."""

    aspect_ratio: AspectRatio = Field(default="16:9", description="width:height for every still and clip, such as "
                                                                  "16:9, 9:16 or 1:1")
    duration_s: Seconds | None = Field(default=None, description="clip length in seconds for every video node; "
                                                                 "unset: each model's default")
    seed: Seed | None = Field(default=None, description="seed for every model that takes one (0 to 2147483647); "
                                                        "unset: the vendor picks")
    resolution: Resolution | None = Field(default=None, description="size for every node whose model offers it: "
                                                                    "720p / 1080p for video, 1K / 2K / 4K for stills")
    fps: Annotated[int, Field(ge=1, le=120)] = Field(
        default=24, description="frames per second of the cut and of draft (preview) takes, 1 to 120; paid models "
                                "are not sent it, so changing it never re-bills a take")


class Inputs(_Strict):
    """Wires into a model node, by node id. Which of them a model takes is the catalog's business."""

    image: NodeId | None = Field(default=None, description="id of an image or reference-still node: the first "
                                                           "frame of a video, or the face of an avatar")
    images: list[NodeId] = Field(default_factory=list, max_length=32,
                                 description="ids of reference stills (composites, character sheets), up to 32")
    last_frame: NodeId | None = Field(default=None, description="id of an image node: the clip's last frame")
    audio: NodeId | None = Field(default=None, description="id of an audio node or sound file: the voice an avatar "
                                                           "speaks or lip-syncs to")
    video: NodeId | None = Field(default=None, description="id of a video node or clip: the take to lip-sync or "
                                                           "restyle")
    shot: NodeId | None = Field(default=None, description="id of a shot node: the shared prompt clauses (and its "
                                                          "seed, aspect ratio and duration)")

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
    id: NodeId = Field(description="the node's id, unique in the canvas: letters, digits, '_', '-', '.'; up to 63 "
                                   "characters")
    label: str = Field(default="", max_length=MAX_NAME, description="a name shown on the node (never sent to a "
                                                                     "vendor), up to 200 characters")
    position: tuple[Coord, Coord] | None = Field(default=None, description="where the node sits in the node editor: "
                                                                           "[x, y], each within ±1,000,000")


class ReferenceNode(_Node):
    """A still, clip or sound file on disk; paths are relative to the canvas file."""

    kind: Literal["reference"] = Field(default="reference", description="a still, clip or sound file on disk")
    path: str = Field(min_length=1, max_length=1024, description="the file, relative to the canvas file: a still "
                                                                 "(.png, .jpg, .webp, .tif, .exr, .bmp), a clip "
                                                                 "(.mp4, .mov, .mkv, .webm, .avi, .m4v) or a sound "
                                                                 "(.wav, .mp3, .flac, .ogg, .m4a, .aac, .opus); its "
                                                                 "content must be of that kind")

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

    kind: Literal["shot"] = Field(default="shot", description="the shared shot-list prompt")
    subject: Clause = Field(default="", description="who or what the shot is about, up to 4,000 characters")
    action: Clause = Field(default="", description="what happens")
    camera: Clause = Field(default="", description="the camera's move ('slow pan', 'static')")
    lens: Clause = Field(default="", description="the lens or framing ('24mm')")
    lighting: Clause = Field(default="", description="the light ('golden hour')")
    atmosphere: Clause = Field(default="", description="air and texture ('dust in the light')")
    mood: Clause = Field(default="", description="emotional direction")
    seed: Seed | None = Field(default=None, description="seed for every node this shot is wired into (a "
                                                        "controlled bake-off), 0 to 2147483647")
    aspect_ratio: AspectRatio | None = Field(default=None, description="width:height for every node this shot is "
                                                                       "wired into")
    duration_s: Seconds | None = Field(default=None, description="clip length in seconds for every video node this "
                                                                 "shot is wired into")

    def prompt(self) -> Prompt:
        return Prompt(**{name: getattr(self, name) for name in PROMPT_FIELDS})


class _ModelNode(_Node):
    model: str = Field(min_length=1, max_length=100, description="a catalog model id, such as nano-banana-2, "
                                                                 "kling-3, veo-3.1, elevenlabs (python -m "
                                                                 "blender_canvas models lists them)")
    variant: str | None = Field(default=None, max_length=100, description="the model's variant id (kling-3: 3.0, "
                                                                          "3.0-pro, o3, o3-pro); unset: its default")
    # a backend id; without it the node takes the best route the user has a key for
    route: str | None = Field(default=None, max_length=100,
                              description="the backend to render on (fal, kling, openai, gemini, vertex, byteplus, "
                                          "runway, bfl, replicate, elevenlabs, fishaudio); unset: the first one "
                                          "with a key")
    takes: Annotated[int, Field(ge=1, le=10)] = Field(default=1, description="how many takes to make, 1 to 10; "
                                                                             "each is billed")
    seed: Seed | None = Field(default=None, description="seed where the model takes one, 0 to 2147483647; unset: "
                                                        "the shot's, then the canvas default")
    inputs: Inputs = Field(default_factory=Inputs, description="wires from other nodes, by node id")


class ImageNode(_ModelNode):
    """A still from an image model (Nano Banana 2, GPT Image 2, FLUX, Imagen 4)."""

    kind: Literal["image"] = Field(default="image", description="a still from an image model")
    prompt: Prompt = Field(default_factory=Prompt, description="prompt clauses; they add to (and override) the "
                                                               "wired shot's")
    aspect_ratio: AspectRatio | None = Field(default=None, description="width:height of the still; the model's "
                                                                       "list decides (python -m blender_canvas models)")
    resolution: Resolution | None = Field(default=None, description="the still's size where the model offers one: "
                                                                    "1K, 2K or 4K")


class VideoNode(_ModelNode):
    """A clip from a video model (Kling, Seedance, Veo, Runway, ...)."""

    kind: Literal["video"] = Field(default="video", description="a clip from a video model")
    prompt: Prompt = Field(default_factory=Prompt, description="prompt clauses; they add to (and override) the "
                                                               "wired shot's")
    aspect_ratio: AspectRatio | None = Field(default=None, description="width:height of the clip; with a first "
                                                                       "frame some models follow the image instead")
    resolution: Resolution | None = Field(default=None, description="the clip's size where the model offers one: "
                                                                    "480p, 720p or 1080p")
    duration_s: Seconds | None = Field(default=None, description="clip length in whole seconds from the model's list "
                                                                 "(Kling 3-15, Veo 4/6/8); ignored by models whose "
                                                                 "length follows an input")
    # ask for generated sound where the model can make it (priced separately)
    audio: bool = Field(default=False, description="true: ask the model for sound with the picture (Kling 3.0, "
                                                   "Seedance 2, Veo 3.1 make it, at a higher price); false: silent")


class AudioNode(_ModelNode):
    """A voice from a speech model (ElevenLabs, Fish Audio)."""

    kind: Literal["audio"] = Field(default="audio", description="a voice from a speech model")
    text: str = Field(default="", max_length=MAX_SCRIPT, description="the words to speak, up to 40,000 characters "
                                                                     "(billed per character)")
    voice: str | None = Field(default=None, max_length=MAX_NAME, description="the vendor's voice id or name; unset: "
                                                                             "the model's default voice")


class SequenceShot(_Strict):
    """One shot in the cut: a video node's chosen take, trimmed, joined to the previous shot."""

    node: NodeId = Field(description="id of the video node whose chosen take plays here")
    trim_in_s: CutSeconds = Field(default=0.0, description="seconds cut from the take's start, 0 to 86,400")
    trim_out_s: CutSeconds = Field(default=0.0, description="seconds cut from the take's end, 0 to 86,400")
    crossfade_frames: Annotated[int, Field(ge=0, le=240)] = Field(
        default=0, description="frames of crossfade from the previous shot, 0 (a straight cut) to 240")
    gain: RGB | None = Field(default=None, description="a per-shot colour trim [r, g, b], each 0 to 4 (1 = "
                                                       "unchanged), on top of the shared grade")


class AudioPlacement(_Strict):
    """A voice or music take laid under a shot (from its start) or at a time in the cut."""

    node: NodeId = Field(description="id of the audio node (or sound reference) whose chosen take plays")
    under: NodeId | None = Field(default=None, description="id of a shot of this sequence: the sound starts with it")
    at_s: CutSeconds | None = Field(default=None, description="seconds from the cut's start where the sound starts, "
                                                              "0 to 86,400 (used when 'under' is unset)")
    volume: Annotated[float, Field(ge=0, le=4)] = Field(default=1.0, description="gain, 0 (silent) to 4; 1 = as "
                                                                                 "recorded")


class EndCard(_Strict):
    """The card at the end of the cut: a line of text and / or a logo on a plain background."""

    text: str = Field(default="", max_length=MAX_NAME, description="the card's text, up to 200 characters")
    image: str | None = Field(default=None, max_length=1024, description="a logo image (.png, .jpg, ...), relative "
                                                                         "to the canvas file; its content must be an "
                                                                         "image")
    seconds: Annotated[float, Field(gt=0, le=30)] = Field(default=2.0, description="how long the card holds, in "
                                                                                   "seconds (up to 30)")
    background: Colour = Field(default=(0.0, 0.0, 0.0), description="background colour [r, g, b], each 0 to 1")


class Grade(_Strict):
    """One look for the whole cut: lift / gamma / gain per channel, then saturation, contrast, white balance."""

    lift: RGB = Field(default=(1.0, 1.0, 1.0), description="shadows [r, g, b], each 0 to 4; 1 = unchanged")
    gamma: RGB = Field(default=(1.0, 1.0, 1.0), description="midtones [r, g, b], each 0 to 4; 1 = unchanged")
    gain: RGB = Field(default=(1.0, 1.0, 1.0), description="highlights [r, g, b], each 0 to 4; 1 = unchanged")
    saturation: Annotated[float, Field(ge=0, le=4)] = Field(default=1.0, description="0 (grey) to 4; 1 = unchanged")
    contrast: Annotated[float, Field(ge=0, le=4)] = Field(default=1.0, description="0 to 4; 1 = unchanged")
    white_balance: RGB | None = Field(default=None, description="the colour that should read as white [r, g, b], "
                                                                "each 0 to 4")
    curves: Literal["none", "soft", "punchy", "filmic"] = Field(default="none", description="a tone curve: none, "
                                                                                           "soft, punchy or filmic")


class SequenceNode(_Node):
    """A cut: video takes in order in the VSE, with trims, crossfades, sound, one grade and an end card."""

    kind: Literal["sequence"] = Field(default="sequence", description="a cut of video takes in the VSE")
    shots: list[NodeId | SequenceShot] = Field(
        default_factory=list, max_length=200,
        description="the shots in order, up to 200: a video node's id, or an object with trims and a crossfade")
    audio: list[AudioPlacement] = Field(default_factory=list, max_length=200,
                                        description="voices and music laid under the cut, up to 200")
    end_card: EndCard | None = Field(default=None, description="a closing card with text and / or a logo")
    grade: Grade | None = Field(default=None, description="one colour grade over the whole cut")
    fps: Annotated[int, Field(ge=1, le=120)] | None = Field(default=None, description="the cut's frames per "
                                                                                      "second, 1 to 120; unset: the "
                                                                                      "canvas default")

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
TakeId = Annotated[str, Field(min_length=1, max_length=100, description="a take's id in the project's ledger")]


class Verdict(_Strict):
    """A person's (or, marked ``sample``, a script's) judgement of one take, axis by axis, 1 (poor) to 5 (best)."""

    take_id: TakeId = Field(description="the judged take's id in the project's ledger")
    node: NodeId = Field(description="id of the node the take belongs to")
    # the take's number in its node, as people say it ("take 2")
    take: Annotated[int, Field(ge=1, le=10_000)] = Field(description="the take's number in its node (take 2), 1 up")
    scores: dict[AxisName, Score] = Field(default_factory=dict, max_length=16,
                                          description="axis name -> score, 1 (poor) to 5 (best)")
    note: str = Field(default="", max_length=2000, description="a free note, up to 2,000 characters")
    sample: bool = Field(default=False, description="true: made by a script (the demo), not a person")
    # when it was last changed: the newer of two verdicts wins on import
    updated_at: datetime | None = Field(default=None, description="when it was last changed (ISO 8601); the newer of "
                                                                  "two verdicts wins on import")


class BakeOff(_Strict):
    """A controlled comparison: one image, one shot skeleton, one aspect ratio and seed, several models.

    The controlled settings live on the shot node (aspect ratio, seed, duration); entrants inherit them. Verdicts
    and pins are the ledger's; the copy here is what an exported canvas carries to another machine.
    """

    brief: str = Field(default="", max_length=4000, description="what the comparison is for, up to 4,000 characters")
    image: NodeId = Field(description="id of the one still every entrant starts from")
    shot: NodeId = Field(description="id of the one shot node every entrant is wired to")
    entrants: list[NodeId] = Field(min_length=2, max_length=24, description="ids of the video nodes compared, 2 to "
                                                                            "24")
    takes: Annotated[int, Field(ge=1, le=10)] = Field(default=3, description="takes per entrant, 1 to 10")
    axes: list[AxisName] = Field(default_factory=lambda: list(DEFAULT_AXES), min_length=1, max_length=16,
                                 description="what each take is scored on, 1 to 16 names of up to 60 characters")
    verdicts: list[Verdict] = Field(default_factory=list, max_length=2000, description="the scores given so far")
    # node -> the take pinned as its best
    best: dict[NodeId, TakeId] = Field(default_factory=dict, max_length=24,
                                       description="entrant node id -> the take pinned as its best")
    best_per_axis: dict[AxisName, TakeId] = Field(default_factory=dict, max_length=16,
                                                  description="axis -> the take pinned as best on it")


class Canvas(_Strict):
    """A Blender Canvas document: nodes wired by id, defaults they inherit, and an optional bake-off."""

    version: Literal[1] = Field(default=1, description="the document format's version: 1")
    title: str = Field(default="", max_length=500, description="the canvas's title, up to 500 characters")
    # send every node to the offline preview backend
    draft: bool = Field(default=False, description="true: every node renders on the free offline preview (no key, "
                                                   "no network)")
    draft_resolution: Literal["360p", "720p"] = Field(
        default="360p", description="short side of draft (preview) video takes: 360p (the default, quick) or 720p "
                                    "for a draft cut to show a client; paid renders ignore it")
    budget_usd: Annotated[float, Field(ge=0, le=1_000_000)] | None = Field(
        default=None, description="the project's spending cap in US dollars (0 to 1,000,000): a run whose estimate "
                                  "would pass it is refused before any submit")
    defaults: Defaults = Field(default_factory=Defaults, description="what every model node inherits")
    nodes: list[Node] = Field(default_factory=list, max_length=2000,
                              description="the nodes, up to 2,000: reference, shot, image, video, audio, sequence")
    bakeoff: BakeOff | None = Field(default=None, description="a controlled comparison of video models")

    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _indexed: tuple[int, int] = PrivateAttr(default=(0, -1))  # (id, length) of the node list the index was made from

    def node(self, node_id: str) -> Node | None:
        """The node with this id: one dict lookup (validation and planning ask once per wire), checked against the
        list so a replaced list or a renamed node is never answered from a stale index."""
        nodes = self.nodes
        private = self.__pydantic_private__  # read directly: pydantic's __getattr__ cost more than the lookup
        assert private is not None
        if private["_indexed"] != (id(nodes), len(nodes)):
            index: dict[str, int] = {}
            for at, candidate in enumerate(nodes):
                index.setdefault(candidate.id, at)
            private["_index"], private["_indexed"] = index, (id(nodes), len(nodes))
        position = private["_index"].get(node_id)
        if position is not None and nodes[position].id == node_id:
            return nodes[position]
        return next((n for n in nodes if n.id == node_id), None)

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
