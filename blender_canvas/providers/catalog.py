"""The model catalog: what each model accepts, what it costs, and which backends serve it.

Every fact carries its source. A fact that rests on a secondary or unconfirmed source says so
(``confirmed=False``), so the UI and the docs can show the difference between a vendor's own SDK and a
third-party pricing page.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator


class Kind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"


class InputName(StrEnum):
    """Names of a model node's input sockets, as they appear in a canvas document's ``inputs``."""

    IMAGE = "image"  # one still: the first frame of a video, or the face of an avatar
    IMAGES = "images"  # reference stills (composites, character sheets)
    LAST_FRAME = "last_frame"
    AUDIO = "audio"
    VIDEO = "video"
    SHOT = "shot"  # the shared shot-list prompt


# Which node kinds may feed each input. A `reference` node is a file on disk whose kind follows its extension.
INPUT_ACCEPTS: dict[InputName, Kind | Literal["shot"]] = {
    InputName.IMAGE: Kind.IMAGE,
    InputName.IMAGES: Kind.IMAGE,
    InputName.LAST_FRAME: Kind.IMAGE,
    InputName.AUDIO: Kind.AUDIO,
    InputName.VIDEO: Kind.VIDEO,
    InputName.SHOT: "shot",
}

LIST_INPUTS = frozenset({InputName.IMAGES})

# The request fields the planner builds for a take. A route declares which of them it puts on the wire (``sends``);
# the planner hands the adapter only those, and a take's cache key hashes only those, so a field the vendor never
# sees (the canvas frame rate, a resolution the endpoint ignores) never makes a new paid take.
WireField = Literal["prompt", "aspect_ratio", "resolution", "duration_s", "seed", "audio", "text", "voice", "fps",
                    "camera", "preview_resolution"]
WIRE_FIELDS: tuple[WireField, ...] = ("prompt", "aspect_ratio", "resolution", "duration_s", "seed", "audio", "text",
                                      "voice", "fps", "camera", "preview_resolution")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Frozen):
    """Where a fact comes from. ``confirmed`` is False for secondary pages and unconfirmed claims."""

    ref: str
    confirmed: bool = True


class Lifecycle(_Frozen):
    status: Literal["active", "deprecated", "retired"] = "active"
    since: date | None = None
    note: str = ""
    source: Source | None = None

    @property
    def usable(self) -> bool:
        return self.status != "retired"


ACTIVE = Lifecycle()


class Price(_Frozen):
    """A list price in US dollars per unit; per-resolution or with-audio rates override the base rate."""

    usd: float = Field(ge=0)
    per: Literal["second", "image", "1k_characters", "1m_bytes", "run"]
    by_resolution: dict[str, float] = Field(default_factory=dict)
    with_audio_usd: float | None = None
    source: Source

    def rate(self, resolution: str | None = None, audio: bool = False) -> float:
        if audio and self.with_audio_usd is not None:
            return self.with_audio_usd
        if resolution is not None and resolution in self.by_resolution:
            return self.by_resolution[resolution]
        return self.usd


class Route(_Frozen):
    """One backend that serves a model variant, under that backend's own model id."""

    backend: str
    model_id: str  # the backend's id for a text-only job
    image_model_id: str | None = None  # where the backend uses another endpoint when a first frame is given
    price: Price | None = None
    lifecycle: Lifecycle = ACTIVE
    seed: bool | None = None  # overrides the variant's seed support on this route
    fixed: dict[str, str] = Field(default_factory=dict)  # fields this route always sends (Kling's "mode")
    source: Source | None = None
    # where this route takes fewer of an input than the variant (0 = none), e.g. Replicate's one Kontext image
    max_inputs: dict[str, int] = Field(default_factory=dict)
    # where the route's text-only endpoint offers fewer aspect ratios than its image endpoint (Runway Gen-4.5)
    text_only_aspect_ratios: tuple[str, ...] = ()
    # inputs the vendor takes only as a public URL or its own id, never as an uploaded file (Kling's lip-sync video)
    no_upload: tuple[str, ...] = ()
    # the request fields this route puts on the wire; None: its backend's ``sends``
    sends: tuple[WireField, ...] | None = None
    # with a first frame wired the image decides the framing, and the route sends no aspect ratio (Kling)
    aspect_from_image: bool = False

    def refusal(self, counts: Mapping[str, int], aspect_ratio: str | None) -> str:
        """Why this route cannot run a job with these inputs (wired counts by input name), or "" when it can."""
        for name, limit in self.max_inputs.items():
            given = counts.get(name, 0)
            if given > limit:
                amount = "no" if limit == 0 else f"at most {limit}"
                return f"{self.backend} takes {amount} '{name}' input{'s' if limit != 1 else ''} here, {given} wired"
        for name in self.no_upload:
            if counts.get(name):
                return (f"{self.backend} cannot send the wired {name} from a file (its API takes a public URL or the "
                        f"id of a {name} it made itself)")
        if (self.text_only_aspect_ratios and not counts.get("image") and aspect_ratio
                and aspect_ratio not in self.text_only_aspect_ratios):
            return (f"{self.backend} makes {aspect_ratio} only from a first frame; from text alone it offers "
                    f"{describe_choices(self.text_only_aspect_ratios)}")
        return ""


class InputSpec(_Frozen):
    name: InputName
    required: bool = False
    max_items: int = 1


class Variant(_Frozen):
    id: str
    label: str
    inputs: tuple[InputSpec, ...] = ()
    text_prompt: bool = True
    durations: tuple[int, ...] = ()  # allowed seconds; empty for stills and for clips whose length follows an input
    duration_from: Literal["audio", "video", "text"] | None = None
    default_duration: int | None = None
    aspect_ratios: tuple[str, ...] = ()
    default_aspect_ratio: str | None = None
    resolutions: tuple[str, ...] = ()
    default_resolution: str | None = None
    seed: bool = False
    sound: bool = False  # the model can make sound with the picture (a video node's ``audio`` asks for it)
    routes: tuple[Route, ...]
    lifecycle: Lifecycle = ACTIVE
    notes: str = ""
    facts: Source | None = None  # where the durations / ratios / sizes come from

    @model_validator(mode="after")
    def _defaults_are_allowed(self) -> Variant:
        if self.default_duration is not None and self.durations and self.default_duration not in self.durations:
            raise ValueError(f"{self.id}: default duration {self.default_duration} not in {self.durations}")
        if self.default_aspect_ratio and self.default_aspect_ratio not in self.aspect_ratios:
            raise ValueError(f"{self.id}: default aspect ratio not allowed")
        if self.default_resolution and self.default_resolution not in self.resolutions:
            raise ValueError(f"{self.id}: default resolution not allowed")
        if not self.routes:
            raise ValueError(f"{self.id}: a variant needs at least one route")
        return self

    def wire_fields(self, route: Route, backend: Backend, *, with_image: bool) -> frozenset[str]:
        """The request fields a take of this variant puts on the wire through ``route``: what the route (or its
        backend) declares, less what this variant never offers (no aspect ratios, a length that follows an input, no
        seed on this route, no sound, no text prompt), less the aspect ratio where a first frame decides the
        framing. The offline preview renders everything it is given (the canvas frame rate included)."""
        declared = set(route.sends if route.sends is not None else backend.sends)
        if not backend.paid:
            return frozenset(declared)
        offered = {"prompt": self.text_prompt, "aspect_ratio": bool(self.aspect_ratios),
                   "resolution": bool(self.resolutions), "duration_s": bool(self.durations) and not self.duration_from,
                   "seed": self.seed_on(route.backend), "audio": self.sound}
        fields = {name for name in declared if offered.get(name, True)}
        if with_image and route.aspect_from_image:
            fields.discard("aspect_ratio")
        return frozenset(fields)

    def input(self, name: InputName) -> InputSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def seed_on(self, backend: str) -> bool:
        route = self.route(backend)
        if route is not None and route.seed is not None:
            return route.seed
        return self.seed

    def route(self, backend: str) -> Route | None:
        return next((r for r in self.routes if r.backend == backend), None)

    @property
    def live_routes(self) -> tuple[Route, ...]:
        return tuple(r for r in self.routes if r.lifecycle.usable)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Lifecycle:
        """The variant's own lifecycle, or retired when every route it had is retired."""
        if self.lifecycle.status != "active":
            return self.lifecycle
        if not self.live_routes:
            newest = max(self.routes, key=lambda r: r.lifecycle.since or date.min)
            return newest.lifecycle
        return ACTIVE


class Model(_Frozen):
    id: str
    label: str
    vendor: str
    kind: Kind
    variants: tuple[Variant, ...]
    default_variant: str
    aliases: tuple[str, ...] = ()
    preview_only: bool = False  # the offline preview models
    # how the shot-list clauses are ordered and phrased for this model (engine/prompt.py); see each vendor's guide
    prompt_style: Literal["plain", "sora", "kling", "veo", "seedance", "runway"] = "plain"

    @model_validator(mode="after")
    def _default_variant_exists(self) -> Model:
        ids = [v.id for v in self.variants]
        if self.default_variant not in ids:
            raise ValueError(f"{self.id}: default variant {self.default_variant!r} not in {ids}")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.id}: duplicate variant ids")
        return self

    def variant(self, variant_id: str | None) -> Variant | None:
        wanted = variant_id or self.default_variant
        return next((v for v in self.variants if v.id == wanted), None)


class Backend(_Frozen):
    """A service that runs jobs: a vendor's own API, an aggregator, or the offline preview."""

    id: str
    label: str
    env_keys: tuple[str, ...]  # all must be set for the backend to be usable
    base_url: str
    default_concurrency: int = Field(ge=1)
    paid: bool = True
    docs: str = ""
    sends: tuple[WireField, ...] = ()  # the request fields its adapter puts on the wire, unless a route says otherwise


class Catalog(_Frozen):
    backends: tuple[Backend, ...]
    models: tuple[Model, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Catalog:
        backend_ids = {b.id for b in self.backends}
        names: dict[str, str] = {}
        for model in self.models:
            for name in (model.id, *model.aliases):
                if name in names:
                    raise ValueError(f"model name {name!r} used by {names[name]} and {model.id}")
                names[name] = model.id
            for variant in model.variants:
                for route in variant.routes:
                    if route.backend not in backend_ids:
                        raise ValueError(f"{model.id}/{variant.id}: unknown backend {route.backend!r}")
        return self

    def model(self, name: str) -> Model | None:
        for model in self.models:
            if name == model.id or name in model.aliases:
                return model
        return None

    def backend(self, backend_id: str) -> Backend | None:
        return next((b for b in self.backends if b.id == backend_id), None)

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.models]


@cache
def load_catalog() -> Catalog:
    from .catalog_data import CATALOG

    return CATALOG


def describe_seconds(values: tuple[int, ...]) -> str:
    """'4, 8 or 12 s' for a short list, '3–15 s' for a run of consecutive seconds."""
    if not values:
        return "any"
    if len(values) > 3 and list(values) == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}–{values[-1]} s"
    *head, last = (str(v) for v in values)
    return (", ".join(head) + " or " + last if head else last) + " s"


def describe_choices(values: tuple[str, ...]) -> str:
    if not values:
        return "none"
    *head, last = values
    return ", ".join(head) + " or " + last if head else last
