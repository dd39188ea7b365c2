"""Planning: which takes a render makes, on which route, at what price, and which are already in the cache.

A take's cache key hashes everything that decides its pixels: model, variant, route, the normalised request and
the content hashes of its inputs (the files of upstream takes). An unchanged node is a cache hit and submits
nothing; "new take" always submits; a node whose inputs changed since its chosen take is stale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..providers.backend import JobRequest, Media
from ..providers.catalog import Catalog, Model, Route, Variant, describe_choices
from .cost import estimate_usd, spoken_seconds
from .document import AudioNode, Canvas, ImageNode, ModelNode, Node, ReferenceNode, VideoNode
from .ledger import Ledger, dumps
from .prompt import compose, merged_prompt
from .settings import resolve_settings, wired_shot

PREVIEW = "preview"


class PlanError(Exception):
    """The run cannot start (a missing key, a retired model); nothing was submitted."""


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
    prompt: str
    params: dict[str, Any]
    fixed: dict[str, str] = Field(default_factory=dict)
    inputs: dict[str, list[str]]  # input name -> source node ids
    estimate_usd: float
    cached_take: str | None = None  # a landed take with this job's cache key, known at plan time

    def cache_key(self, input_hashes: Mapping[str, list[str]]) -> str:
        material = {
            "model": self.model, "variant": self.variant, "backend": self.backend,
            "backend_model_id": self.backend_model_id, "prompt": self.prompt, "params": self.params,
            "fixed": self.fixed, "inputs": dict(input_hashes), "take": self.take_index,
        }
        return hashlib.sha256(dumps(material).encode()).hexdigest()

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

    @property
    def estimate_usd(self) -> float:
        return sum(j.estimate_usd for j in self.jobs if j.cached_take is None)

    def node_estimate(self, node_id: str) -> float:
        return sum(j.estimate_usd for j in self.jobs if j.node_id == node_id and j.cached_take is None)

    @property
    def submits(self) -> list[TakeJob]:
        return [j for j in self.jobs if j.cached_take is None]


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """Content hash, remembered per (path, size, mtime): planning runs on Blender's main thread and re-hashing a
    large reference clip on every render or pick would stall the UI."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def sources_of(node: Node) -> list[tuple[str, str]]:
    return node.inputs.wired() if isinstance(node, (ImageNode, VideoNode, AudioNode)) else []


def topological(canvas: Canvas, ids: Collection[str]) -> list[str]:
    by_id = {n.id: n for n in canvas.nodes}
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str, trail: frozenset[str]) -> None:
        if node_id in seen or node_id in trail or node_id not in by_id:
            return
        for _, source in sources_of(by_id[node_id]):
            visit(source, trail | {node_id})
        seen.add(node_id)
        if node_id in ids:
            order.append(node_id)

    for node in canvas.nodes:
        visit(node.id, frozenset())
    return order


def downstream_of(canvas: Canvas, roots: Collection[str]) -> set[str]:
    result: set[str] = set()
    frontier = set(roots)
    while frontier:
        fed = {n.id for n in canvas.nodes if any(s in frontier for _, s in sources_of(n))} - result - set(roots)
        result |= fed
        frontier = fed
    return result


def usable_backends(catalog: Catalog, keys: Mapping[str, str], implemented: Collection[str]) -> set[str]:
    return {b.id for b in catalog.backends if b.id in implemented and all(keys.get(k) for k in b.env_keys)}


def choose_route(node: ModelNode, model: Model, variant: Variant, catalog: Catalog, usable: set[str],
                 implemented: Collection[str], aspect_ratio: str | None = None) -> Route:
    """The node's own route if it names one, else the first live route the user has a key for that can take the
    node's inputs."""
    wanted = [r for r in variant.routes if r.backend == node.route] if node.route else list(variant.live_routes)
    if node.route and not wanted:
        raise PlanError(f"node '{node.id}': {variant.label} is not served by '{node.route}'")
    if not wanted:
        status = variant.status
        raise PlanError(f"node '{node.id}': {variant.label} has no live route ({status.note}); it can only run "
                        "in draft mode (--draft)")
    refusals = {r.backend: r.refusal(node.inputs.counts(), aspect_ratio) for r in wanted}
    fitting = [r for r in wanted if not refusals[r.backend]]
    if not fitting:
        raise PlanError(f"node '{node.id}': {variant.label}: " + "; ".join(refusals.values()))
    wanted = fitting
    for route in wanted:
        if not route.lifecycle.usable:
            raise PlanError(f"node '{node.id}': route '{route.backend}' for {variant.label} was retired "
                            f"({route.lifecycle.note})")
        if route.backend in usable:
            return route
    needs = []
    for route in wanted:
        backend = catalog.backend(route.backend)
        if backend is None:
            continue
        if route.backend not in implemented:
            needs.append(f"{backend.label} (coming in a later release)")
        else:
            needs.append(" + ".join(backend.env_keys) + f" ({backend.label})")
    raise PlanError(f"node '{node.id}': no key for {variant.label}: set {describe_choices(tuple(needs))}"
                    " in the add-on preferences or the environment, or run in draft mode (--draft)")


def _params(canvas: Canvas, node: ModelNode, model: Model, variant: Variant, backend: str) -> dict[str, Any]:
    settings = resolve_settings(canvas, node, model, variant)
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
    return params


def _estimate(canvas: Canvas, node: ModelNode, variant: Variant, route: Route, params: dict[str, Any],
              ledger: Ledger) -> float:
    if route.backend == PREVIEW:
        return 0.0
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


def plan_run(canvas: Canvas, catalog: Catalog, ledger: Ledger, *, base_dir: Path,
             selection: Collection[str] | None = None, draft: bool = False, keys: Mapping[str, str] | None = None,
             implemented: Collection[str] = (PREVIEW,), new_take: bool = False) -> Plan:
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
    usable = usable_backends(catalog, keys or {}, implemented) | {PREVIEW}
    jobs: list[TakeJob] = []
    for node_id in order:
        node = model_nodes[node_id]
        model = catalog.model(node.model)
        variant = model.variant(node.variant) if model else None
        if model is None or variant is None:
            raise PlanError(f"node '{node_id}': unknown model or variant; validate the canvas first")
        if draft or canvas.draft or model.preview_only:
            backend, backend_model_id, fixed = PREVIEW, f"{model.id}/{variant.id}", {}
            price = None
        else:
            aspect = resolve_settings(canvas, node, model, variant).aspect_ratio.value
            route = choose_route(node, model, variant, catalog, usable, implemented,
                                 str(aspect) if aspect is not None else None)
            with_image = bool(getattr(node.inputs, "image", None))
            backend = route.backend
            backend_model_id = route.image_model_id if with_image and route.image_model_id else route.model_id
            fixed, price = dict(route.fixed), route
        params = _params(canvas, node, model, variant, backend)
        prompt = "" if isinstance(node, AudioNode) else compose(merged_prompt(wired_shot(canvas, node), node.prompt),
                                                                    model.prompt_style)
        if isinstance(node, VideoNode):
            params["camera"] = merged_prompt(wired_shot(canvas, node), node.prompt).camera
        estimate = _estimate(canvas, node, variant, price, params, ledger) if price is not None else 0.0
        inputs: dict[str, list[str]] = {}
        for name, source in sources_of(node):
            inputs.setdefault(name, []).append(source)
        indexes = [_next_take_index(ledger, node_id)] if new_take else list(range(node.takes))
        # a take whose job is in flight, journalled or unknown is never planned again: that could pay twice (an
        # unknown job is released only by the user's Resubmit, which marks it superseded)
        held = {(j.take_index, j.cache_key) for j in ledger.unresolved_jobs(node_id)}
        for index in indexes:
            job = TakeJob(node_id=node_id, take_index=index, model=model.id, variant=variant.id,
                          model_label=variant.label, backend=backend, backend_model_id=backend_model_id,
                          media=model.kind.value, prompt=prompt, params=take_params(params, index), fixed=fixed,
                          inputs=inputs, estimate_usd=estimate)
            if not new_take and not (set(_upstream(job)) & selected):
                resolved = resolve_inputs(job, canvas, ledger, base_dir)
                if resolved is not None:
                    key = job.cache_key(resolved[1])
                    if (index, key) in held:
                        continue
                    cached = ledger.take_for_key(key)
                    job.cached_take = cached.take_id if cached else None
            jobs.append(job)
    stale = sorted(downstream_of(canvas, {j.node_id for j in jobs if j.cached_take is None}) - selected)
    return Plan(jobs=jobs, order=order, added_upstream=sorted(added), stale=stale)


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


def resolve_sources(inputs: Mapping[str, list[str]], canvas: Canvas, ledger: Ledger,
                    base_dir: Path) -> tuple[dict[str, list[Path]], dict[str, list[str]]] | None:
    files: dict[str, list[Path]] = {}
    hashes: dict[str, list[str]] = {}
    for name, sources in inputs.items():
        if name == "shot":
            continue  # a shot feeds words, already in the prompt
        for source_id in sources:
            source = canvas.node(source_id)
            if isinstance(source, ReferenceNode):
                path = (base_dir / source.path).resolve()
                if not path.is_file():
                    return None
                digest = sha256_file(path)
            else:
                take = ledger.chosen(source_id)
                if take is None:
                    return None
                path, digest = ledger_path(ledger, take.file), take.sha256
            files.setdefault(name, []).append(path)
            hashes.setdefault(name, []).append(digest)
    return files, hashes


def ledger_path(ledger: Ledger, relative: str) -> Path:
    return ledger.path.parent / relative
