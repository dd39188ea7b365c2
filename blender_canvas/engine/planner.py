"""Planning: which takes a render makes, on which route, at what price, and which are already in the cache.

A take's cache key is what its route puts on the wire (engine/cache_keys.py): endpoint, fixed fields, prompt, the
parameters the catalog says the route sends, the content hashes of its inputs (the files of upstream takes) and the
take's index. An unchanged node is a cache hit and submits nothing; "new take" always submits; a node whose inputs
changed since its chosen take is stale.

One plan serves both ``estimate`` and ``run``: a node whose key is missing is still planned and priced at its
route's list price (``TakeJob.keyed`` is False), and ``Plan.require_runnable`` refuses to start it, naming
every missing key at once; so is a node no route can run (``Plan.blocked``). A node fed by a node of this run
whose takes are all cached is looked up at plan time too, so "to submit" is exactly what the run submits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..providers.backend import JobRequest, Media
from ..providers.catalog import WIRE_FIELDS, Catalog, Model, Route, Variant, describe_choices
from .cache_keys import KeyMaker, cache_key, legacy_cache_key, wire_params, wire_prompt
from .cost import estimate_usd, spoken_seconds
from .document import AudioNode, Canvas, ImageNode, ModelNode, ReferenceNode, VideoNode
from .ledger import UNKNOWN, JobRecord, Ledger, TakeRecord, dumps
from .media_check import media_problem
from .plan_graph import downstream_of, resolve_sources, sha256_file, sources_of, topological
from .plan_graph import ledger_path as ledger_path
from .prompt import Prompt, compose, merged_prompt
from .routing import MissingKey, MissingKeys, PlanError, describe_missing, fitting_routes, missing_keys, pick_route
from .routing import usable_backends as usable_backends
from .settings import Settings, resolve_settings, wired_shot

PREVIEW = "preview"
__all__ = ["PREVIEW", "MissingKeys", "Plan", "PlanError", "TakeJob", "plan_run", "sha256_file", "stale_nodes"]


class TakeJob(BaseModel):
    """One take to make: everything but the upstream files, which are resolved when the inputs have landed."""

    node_id: str
    take_index: int
    model: str
    variant: str
    model_label: str
    backend: str
    backend_model_id: str
    media: Media
    prompt: str  # as sent: empty where the route sends no prompt
    params: dict[str, Any]  # only the fields the route sends (the catalog's ``wire_fields``)
    fixed: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, list[str]]  # input name -> source node ids
    estimate_usd: float
    cached_take: str | None = None  # a landed take with this job's cache key, known at plan time
    in_flight: str | None = None  # a job of an earlier run with this key, still running: followed, not submitted
    keyed: bool = True  # False: no key decides the route; priced at its list price, cannot start until a key is set
    legacy: dict[str, Any] = Field(default_factory=dict)  # what keys of earlier releases hashed (finds their takes)

    def cache_key(self, input_hashes: Mapping[str, list[str]]) -> str:
        return cache_key(backend=self.backend, backend_model_id=self.backend_model_id, fixed=self.fixed,
                         prompt=self.prompt, params=self.params, input_hashes=input_hashes,
                         take_index=self.take_index)

    def legacy_key(self, input_hashes: Mapping[str, list[str]]) -> str | None:
        return legacy_cache_key(self.legacy, input_hashes, self.take_index) if self.legacy else None

    def request(self, job_id: str, input_files: Mapping[str, list[Path]]) -> JobRequest:
        return JobRequest(job_id=job_id, node_id=self.node_id, model=self.model, variant=self.variant,
                          backend=self.backend, backend_model_id=self.backend_model_id, media=self.media,
                          prompt=self.prompt, params=self.params, inputs=dict(input_files), fixed=self.fixed,
                          take_index=self.take_index, model_label=self.model_label)


class Plan(BaseModel):
    jobs: list[TakeJob]
    order: list[str]  # node ids, sources before the nodes they feed
    added_upstream: list[str] = Field(default_factory=list)  # nodes rendered because a selected node needs them
    stale: list[str] = Field(default_factory=list)  # nodes downstream of this run, left as they are
    missing_keys: list[MissingKey] = Field(default_factory=list)  # backends whose key a take to submit needs
    blocked: dict[str, str] = Field(default_factory=dict)  # node -> why no route can run it (retired, inputs)

    @property
    def estimate_usd(self) -> float:
        return sum(j.estimate_usd for j in self.submits)

    def node_estimate(self, node_id: str) -> float:
        return sum(j.estimate_usd for j in self.submits if j.node_id == node_id)

    @property
    def submits(self) -> list[TakeJob]:
        """The takes this run sends to a vendor: neither cached nor already in flight from an earlier run."""
        return [j for j in self.jobs if j.cached_take is None and j.in_flight is None]

    def by_node(self) -> dict[str, list[TakeJob]]:
        grouped: dict[str, list[TakeJob]] = {node_id: [] for node_id in self.order}
        for job in self.jobs:
            grouped.setdefault(job.node_id, []).append(job)
        return grouped

    def require_runnable(self) -> None:
        """Refuse to start while a node has no route that can run it, or a take to submit has no key for its route
        (every missing key named at once)."""
        if self.blocked:
            raise PlanError("; ".join(self.blocked.values()))
        if self.missing_keys:
            raise MissingKeys(describe_missing(self.missing_keys, {j.node_id: j.model_label for j in self.jobs}))


def _params(canvas: Canvas, node: ModelNode, model: Model, variant: Variant, backend: str,
            settings: Settings | None = None, merged: Prompt | None = None) -> dict[str, Any]:
    """Every field the planner knows for a take (what earlier releases hashed); the route sends a subset.
    ``settings`` and ``merged`` (the node's resolved settings and merged prompt) spare resolving them again."""
    settings = settings or resolve_settings(canvas, node, model, variant)
    params: dict[str, Any] = {}
    if isinstance(node, (ImageNode, VideoNode)):
        params["aspect_ratio"] = settings.aspect_ratio.value
        params["resolution"] = settings.resolution.value
    if isinstance(node, VideoNode):
        params["duration_s"] = None if variant.duration_from else settings.duration_s.value
        params["fps"] = canvas.defaults.fps
        params["audio"] = node.audio
    if isinstance(node, AudioNode):
        params["text"] = node.text
        params["voice"] = node.voice
    seed = settings.seed.value
    # a draft take records a seed only where the real model takes one, so the tray and report never claim a
    # seed the paid render could not honour
    if seed is not None and (variant.seed if backend == PREVIEW else variant.seed_on(backend)):
        params["seed"] = seed
    if isinstance(node, VideoNode):
        params["camera"] = (merged or merged_prompt(wired_shot(canvas, node), node.prompt)).camera
        if backend == PREVIEW and canvas.draft_resolution != "360p":  # 360p drafts keep the keys they always had
            params["preview_resolution"] = canvas.draft_resolution
    return params


def _estimate(canvas: Canvas, node: ModelNode, variant: Variant, route: Route, params: dict[str, Any],
              ledger: Ledger) -> float | None:
    """The route's list price for one take (None where the catalog has no price)."""
    if route.backend == PREVIEW:
        return 0.0
    if route.price is None:
        return None
    seconds: float | None = params.get("duration_s")
    if isinstance(node, VideoNode) and variant.duration_from:
        source_id = getattr(node.inputs, variant.duration_from, None)
        taken = ledger.chosen(source_id) if source_id else None
        source = canvas.node(source_id) if source_id else None
        if taken is not None and taken.duration_s:
            seconds = taken.duration_s
        elif isinstance(source, AudioNode):
            seconds = spoken_seconds(source.text)
        else:
            seconds = 5.0
    return estimate_usd(route.price, seconds=seconds, text=params.get("text", ""),
                        resolution=params.get("resolution"), audio=bool(params.get("audio")))


@dataclass
class _Planning:
    """What planning one run shares across its nodes."""

    canvas: Canvas
    catalog: Catalog
    ledger: Ledger
    base_dir: Path
    usable: set[str]
    implemented: Collection[str]
    new_take: bool
    submitting: set[str] = field(default_factory=set)  # nodes of this run with at least one take to make
    needs: dict[str, list[str]] = field(default_factory=dict)  # backend -> nodes planned there without a key
    alternatives: dict[str, list[str]] = field(default_factory=dict)  # node -> backends that could serve it
    sources: dict[str, tuple[Path, str] | None] = field(default_factory=dict)  # source id -> file, hash (once)
    prompts: dict[str, str] = field(default_factory=dict)  # node id -> its composed prompt
    resolved: dict[str, tuple[dict[str, list[Path]], dict[str, list[str]]] | None] = field(default_factory=dict)
    settings: dict[str, Settings] = field(default_factory=dict)  # node id -> its resolved settings
    merged: dict[str, Prompt] = field(default_factory=dict)  # node id -> its shot's clauses under its own
    params: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (node, backend) -> _params
    media_checked: dict[str, str | None] = field(default_factory=dict)  # reference id -> why it is no media
    _takes: dict[str, TakeRecord] | None = None  # cache key -> newest live take: the ledger read once per plan
    _held: dict[str, JobRecord] | None = None  # cache key -> oldest job holding it (in flight, journalled, unknown)

    def take_for_key(self, key: str) -> TakeRecord | None:
        return self._all_takes().get(key)

    def _all_takes(self) -> dict[str, TakeRecord]:
        if self._takes is None:
            self._takes = {take.cache_key: take for take in self.ledger.takes()}  # oldest first: newest wins
        return self._takes

    def any_takes(self) -> bool:
        """Whether the ledger holds a live take at all: without one no key can be a cache hit."""
        return bool(self._all_takes())

    def node_settings(self, node: ModelNode, model: Model, variant: Variant) -> Settings:
        if node.id not in self.settings:
            self.settings[node.id] = resolve_settings(self.canvas, node, model, variant)
        return self.settings[node.id]

    def node_merged(self, node: ImageNode | VideoNode) -> Prompt:
        if node.id not in self.merged:
            self.merged[node.id] = merged_prompt(wired_shot(self.canvas, node), node.prompt)
        return self.merged[node.id]

    def node_params(self, node: ModelNode, model: Model, variant: Variant, backend: str) -> dict[str, Any]:
        """``_params`` of the node on ``backend``, once per plan (pricing and planning a route both read it)."""
        if (node.id, backend) not in self.params:
            merged = self.node_merged(node) if isinstance(node, VideoNode) else None
            self.params[node.id, backend] = _params(self.canvas, node, model, variant, backend,
                                                    self.node_settings(node, model, variant), merged)
        return self.params[node.id, backend]

    def held_for_key(self, key: str) -> JobRecord | None:
        if self._held is None:
            self._held = {}
            for job in self.ledger.unresolved_jobs():  # oldest first, as the per-key query read them
                self._held.setdefault(job.cache_key, job)
        return self._held.get(key)

    def rekeyed(self, take_id: str, key: str) -> None:
        if self._takes is not None:
            moved = next((t for t in self._takes.values() if t.take_id == take_id), None)
            if moved is not None:
                self._takes[key] = moved.model_copy(update={"cache_key": key})


def _node_jobs(ctx: _Planning, node: ModelNode, model: Model, variant: Variant, route: Route | None,
               keyed: bool) -> tuple[list[TakeJob], list[tuple[str, str]]]:
    """The node's takes on ``route`` (None: the offline preview), each looked up in the cache, and the takes found
    under an earlier release's key, to move to their new key if this route is chosen."""
    if route is None:
        backend, backend_model_id, fixed = PREVIEW, f"{model.id}/{variant.id}", {}
        preview = ctx.catalog.backend(PREVIEW)
        fields: frozenset[str] = frozenset(preview.sends if preview else WIRE_FIELDS)
    else:
        with_image = bool(getattr(node.inputs, "image", None))
        backend = route.backend
        backend_model_id = route.image_model_id if with_image and route.image_model_id else route.model_id
        fixed = dict(route.fixed)
        served_by = ctx.catalog.backend(backend)
        fields = variant.wire_fields(route, served_by, with_image=with_image) if served_by else frozenset()
    params = ctx.node_params(node, model, variant, backend)
    if node.id not in ctx.prompts:  # the same words on every route a node is priced on
        ctx.prompts[node.id] = "" if isinstance(node, AudioNode) else compose(ctx.node_merged(node),
                                                                               model.prompt_style)
    prompt = ctx.prompts[node.id]
    price = 0.0 if route is None else _estimate(ctx.canvas, node, variant, route, params, ctx.ledger)
    inputs: dict[str, list[str]] = {}
    for name, source in sources_of(node):
        inputs.setdefault(name, []).append(source)
    jobs, rekeys = [], []
    legacy_shared = {"model": model.id, "variant": variant.id, "backend": backend,
                     "backend_model_id": backend_model_id, "prompt": prompt, "fixed": fixed}
    keys: KeyMaker | None = None
    sent_prompt = wire_prompt(prompt, fields)
    for index in _take_indexes(ctx, node):
        planned = take_params(params, index)
        # every field is already of its type (the catalog and the validated canvas made them): constructed without
        # validating again, each job with containers of its own
        job = TakeJob.model_construct(
            node_id=node.id, take_index=index, model=model.id, variant=variant.id, model_label=variant.label,
            backend=backend, backend_model_id=backend_model_id, media=model.kind.value, prompt=sent_prompt,
            params=wire_params(planned, fields), fixed=dict(fixed),
            inputs={name: list(sources) for name, sources in inputs.items()}, estimate_usd=float(price or 0.0),
            keyed=keyed, legacy={**legacy_shared, "params": planned}, cached_take=None, in_flight=None)
        hashes = _lookup_hashes(ctx, job)
        if hashes is not None and keys is None:  # every take of the node on this route shares these parts
            keys = KeyMaker(backend=backend, backend_model_id=backend_model_id, fixed=fixed, input_hashes=hashes,
                            legacy=legacy_shared)
        cached, rekey, held = _cached(ctx, job, keys)
        if held is not None and held.state == UNKNOWN:
            continue  # waits for the user's decision: planning it again could pay twice
        job.cached_take = cached.take_id if cached else None
        job.in_flight = held.job_id if held else None
        if rekey:
            rekeys.append(rekey)
        jobs.append(job)
    return jobs, rekeys


def _take_indexes(ctx: _Planning, node: ModelNode) -> list[int]:
    """Which take indexes of the node this run plans: the next one for a new take, else 0 .. takes-1."""
    return [_next_take_index(ctx.ledger, node.id)] if ctx.new_take else list(range(node.takes))


def _lookup_hashes(ctx: _Planning, job: TakeJob) -> dict[str, list[str]] | None:
    """The input hashes the job's cache key is looked up with, if it can be known now: never for a new take, nor
    while an input is a node of this run that makes a new take, nor while an input has no file."""
    if ctx.new_take or set(_upstream(job)) & ctx.submitting:
        return None
    if job.node_id not in ctx.resolved:  # every take (and route) of a node has the same inputs: resolved once
        ctx.resolved[job.node_id] = resolve_sources(job.inputs, ctx.canvas, ctx.ledger, ctx.base_dir, ctx.sources)
    resolved = ctx.resolved[job.node_id]
    return None if resolved is None else resolved[1]


def _cached(ctx: _Planning, job: TakeJob,
            keys: KeyMaker | None) -> tuple[TakeRecord | None, tuple[str, str] | None, JobRecord | None]:
    """The landed take the run would reuse for this job (``keys``: None where it cannot be known now, see
    ``_lookup_hashes``). A take under its earlier key comes with (take id, new key); without a take, the job of an
    earlier run that holds this key (in flight, journalled or unknown)."""
    if keys is None:
        return None, None, None
    key = keys.key(job.prompt, job.params, job.take_index)
    take = ctx.take_for_key(key)
    if take is not None:
        return take, None, None
    # an earlier release's key can only match a take in the ledger: with none, it is not worth serialising
    old = keys.legacy_key(job.legacy["params"], job.take_index) if ctx.any_takes() else None
    take = ctx.take_for_key(old) if old else None
    if take is not None:
        return take, (take.take_id, key), None
    # a job of an earlier run with this key still in flight, journalled or unknown holds the take: the run follows
    # it (or reports it as needing a decision) and never plans it again, which could pay twice; an unknown job is
    # released only by the user's Resubmit, which marks it superseded
    return None, None, ctx.held_for_key(key)


def _move_old_keys(ctx: _Planning, rekeys: list[tuple[str, str]]) -> None:
    """Takes found under an earlier release's key move to today's, so the runner finds them too."""
    for take_id, key in rekeys:
        ctx.ledger.rekey_take(take_id, key)
        ctx.rekeyed(take_id, key)


def _plan_node(ctx: _Planning, node: ModelNode, model: Model, variant: Variant, draft: bool) -> list[TakeJob]:
    if draft:
        jobs, rekeys = _node_jobs(ctx, node, model, variant, None, True)
        _move_old_keys(ctx, rekeys)
        return jobs
    aspect = ctx.node_settings(node, model, variant).aspect_ratio.value
    routes = fitting_routes(node, variant, ctx.catalog, ctx.implemented, str(aspect) if aspect is not None else None)
    planned: dict[str, tuple[list[TakeJob], list[tuple[str, str]]]] = {}

    def jobs_on(route: Route, keyed: bool) -> tuple[list[TakeJob], list[tuple[str, str]]]:
        if route.backend not in planned:
            planned[route.backend] = _node_jobs(ctx, node, model, variant, route, keyed)
        return planned[route.backend]

    def price(route: Route) -> float | None:
        return _estimate(ctx.canvas, node, variant, route, ctx.node_params(node, model, variant, route.backend),
                         ctx.ledger)

    def cached(route: Route) -> bool:  # with no take in the ledger none is cached: no jobs built to find that out
        return ctx.any_takes() and all(j.cached_take for j in jobs_on(route, False)[0])

    route, keyed = pick_route(routes, ctx.usable, price=price, cached=cached)
    jobs, rekeys = jobs_on(route, keyed)
    for job in jobs:
        job.keyed = keyed
    _move_old_keys(ctx, rekeys)  # once the route is settled
    if not keyed and any(j.cached_take is None and j.in_flight is None for j in jobs):
        ctx.needs.setdefault(route.backend, []).append(node.id)
        ctx.alternatives[node.id] = [r.backend for r in routes]
    return jobs


def plan_run(canvas: Canvas, catalog: Catalog, ledger: Ledger, *, base_dir: Path,
             selection: Collection[str] | None = None, draft: bool = False, keys: Mapping[str, str] | None = None,
             implemented: Collection[str] = (PREVIEW,), new_take: bool = False) -> Plan:
    """The plan of a run: every take of the selected nodes (and of upstream nodes they need), on its route, priced,
    and looked up in the cache. Missing keys do not stop planning: they are listed in ``Plan.missing_keys``."""
    model_nodes = {n.id: n for n in canvas.nodes if isinstance(n, (ImageNode, VideoNode, AudioNode))}
    selected = set(model_nodes) if selection is None else set(selection)
    unknown = selected - set(model_nodes)
    if unknown:
        raise PlanError(f"no model node named {describe_choices(tuple(sorted(unknown)))}; model nodes: "
                        f"{describe_choices(tuple(model_nodes)) if model_nodes else 'none'}")
    # a selected node whose upstream model node has no take yet cannot run without it
    added: list[str] = []
    frontier = list(selected)
    while frontier:
        node = model_nodes[frontier.pop()]
        for _, source in sources_of(node):
            if source in model_nodes and source not in selected and ledger.chosen(source) is None:
                selected.add(source)
                added.append(source)
                frontier.append(source)
    order = topological(canvas, selected)
    ctx = _Planning(canvas=canvas, catalog=catalog, ledger=ledger, base_dir=base_dir, new_take=new_take,
                    usable=usable_backends(catalog, keys or {}, implemented) | {PREVIEW}, implemented=implemented)
    jobs: list[TakeJob] = []
    blocked: dict[str, str] = {}
    for node_id in order:
        node = model_nodes[node_id]
        model = catalog.model(node.model)
        variant = model.variant(node.variant) if model else None
        if model is None or variant is None:
            raise PlanError(f"node '{node_id}': unknown model or variant; validate the canvas first")
        _refuse_non_media(canvas, node, base_dir, ctx.media_checked)
        try:
            node_jobs = _plan_node(ctx, node, model, variant, draft or canvas.draft or model.preview_only)
        except PlanError as error:  # priced and listed with the rest; the run refuses it (Plan.require_runnable)
            blocked[node_id] = str(error)
            ctx.submitting.add(node_id)
            continue
        if any(j.cached_take is None for j in node_jobs):  # a take in flight lands new content too
            ctx.submitting.add(node_id)
        jobs.extend(node_jobs)
    stale = sorted(downstream_of(canvas, ctx.submitting) - selected)
    return Plan(jobs=jobs, order=order, added_upstream=sorted(added), stale=stale,
                missing_keys=missing_keys(catalog, ctx.needs, ctx.alternatives), blocked=blocked)


def _refuse_non_media(canvas: Canvas, node: ModelNode, base_dir: Path,
                      checked: dict[str, str | None] | None = None) -> None:
    """A file wired in is uploaded (or rendered from): it must be media of its kind by content, whether or not the
    canvas went through validation with its folder (validation says the same, earlier). ``checked`` (reference
    id -> problem) reads each reference once per plan, however many nodes it feeds."""
    for name, source_id in sources_of(node):
        source = canvas.node(source_id)
        if not isinstance(source, ReferenceNode) or source.media is None:
            continue
        if checked is not None and source_id in checked:
            problem = checked[source_id]
        else:
            path = base_dir / source.path
            problem = media_problem(path, source.media) if path.is_file() else None
            if checked is not None:
                checked[source_id] = problem
        if problem:
            raise PlanError(f"node '{node.id}', inputs.{name}: reference '{source_id}': {problem}; nothing was sent")


MAX_SEED = 2_147_483_647


def take_params(params: dict[str, Any], take_index: int) -> dict[str, Any]:
    """Take k of a node asks for seed + k: the same seed on take 1 of every node keeps a bake-off controlled,
    while the takes of one node differ (one seed for all would pay for the same clip again)."""
    if "seed" not in params or not take_index:
        return params
    return {**params, "seed": (params["seed"] + take_index) % (MAX_SEED + 1)}


def _upstream(job: TakeJob) -> list[str]:
    return [source for sources in job.inputs.values() for source in sources]


def _next_take_index(ledger: Ledger, node_id: str) -> int:
    indexes = [j.take_index for j in ledger.jobs("node_id = ?", (node_id,))]
    return max(indexes, default=-1) + 1


def resolve_inputs(job: TakeJob, canvas: Canvas, ledger: Ledger,
                   base_dir: Path) -> tuple[dict[str, list[Path]], dict[str, list[str]]] | None:
    """The files (and their content hashes) of the job's inputs, or None while an upstream take is missing."""
    return resolve_sources(job.inputs, canvas, ledger, base_dir)


def stale_nodes(canvas: Canvas, ledger: Ledger, base_dir: Path) -> set[str]:
    """Model nodes whose chosen take was made from inputs other than their inputs' chosen takes now."""
    stale = set()
    for node in canvas.nodes:
        chosen = ledger.chosen(node.id) if isinstance(node, (ImageNode, VideoNode, AudioNode)) else None
        if chosen is None:
            continue
        sources: dict[str, list[str]] = {}
        for name, source in sources_of(node):
            sources.setdefault(name, []).append(source)
        resolved = resolve_sources(sources, canvas, ledger, base_dir)
        if resolved is None or dumps(resolved[1]) != chosen.input_hashes:
            stale.add(node.id)
    return stale
