"""A take's cache key: what the route puts on the wire, plus the content of its inputs and the take's index.

The route's fields come from the catalog (``Variant.wire_fields``): the planner hands the adapter only those, and the
key hashes only those, so a field the vendor never sees (the canvas frame rate, a resolution an endpoint ignores, a
label) never makes a new paid take. The offline preview renders at the canvas frame rate, so a draft take does
change with it.

Keys made before this rule (``legacy_cache_key``) hashed every planner field; the planner finds a take under its
old key and moves it to the new one (``Ledger.rekey_take``), so an existing project keeps its cached takes. A job
still in flight under an old key is moved when its project opens (``migrate_unfinished_jobs``), before it is
resumed, so a plan made after an upgrade follows it instead of submitting it again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..providers.backend import JobRequest
from ..providers.catalog import Catalog
from .ledger import PENDING_STATES, UNKNOWN, Ledger, dumps
from .plan_graph import sha256_file

KEY_VERSION = 2


def wire_params(params: Mapping[str, Any], fields: Collection[str]) -> dict[str, Any]:
    """The planner's parameters the route sends (a seed only where the planner set one)."""
    return {name: value for name, value in params.items() if name in fields}


def wire_prompt(prompt: str, fields: Collection[str]) -> str:
    return prompt if "prompt" in fields else ""


def sorted_dumps(parts: Mapping[str, str]) -> str:
    """``dumps`` of a dict whose values are already ``dumps``-ed: the same text (sorted keys, no spaces), so parts
    shared by every take of a node are serialised once."""
    return "{" + ",".join(f"{dumps(name)}:{parts[name]}" for name in sorted(parts)) + "}"


@dataclass(frozen=True)
class KeyMaker:
    """The cache keys (today's and the earlier release's) of the takes of one node on one route: everything but
    the planned parameters and the take's index is serialised once, the rest per take. ``key`` and ``legacy_key``
    equal ``cache_key`` and ``legacy_cache_key`` of the same fields."""

    backend: str
    backend_model_id: str
    fixed: Mapping[str, str]
    input_hashes: Mapping[str, list[str]]
    legacy: Mapping[str, Any] | None = None  # model, variant, backend, backend_model_id, prompt and fixed; no params

    @cached_property
    def _shared(self) -> dict[str, str]:
        return {"key": dumps(KEY_VERSION), "backend": dumps(self.backend),
                "backend_model_id": dumps(self.backend_model_id), "fixed": dumps(dict(self.fixed)),
                "inputs": dumps(dict(self.input_hashes))}

    @cached_property
    def _legacy_shared(self) -> dict[str, str]:
        shared = {name: dumps(value) for name, value in (self.legacy or {}).items() if name != "params"}
        shared["inputs"] = self._shared["inputs"]
        return shared

    def key(self, prompt: str, params: Mapping[str, Any], take_index: int) -> str:
        parts = {**self._shared, "prompt": dumps(prompt), "params": dumps(dict(params)), "take": dumps(take_index)}
        return hashlib.sha256(sorted_dumps(parts).encode()).hexdigest()

    def legacy_key(self, params: Mapping[str, Any], take_index: int) -> str:
        parts = {**self._legacy_shared, "params": dumps(params), "take": dumps(take_index)}
        return hashlib.sha256(sorted_dumps(parts).encode()).hexdigest()


def cache_key(*, backend: str, backend_model_id: str, fixed: Mapping[str, str], prompt: str,
              params: Mapping[str, Any], input_hashes: Mapping[str, list[str]], take_index: int) -> str:
    """The key of a request as it goes on the wire: endpoint, fixed fields, prompt, sent parameters, the content
    hashes of the input files, and the take's index (take k is a new take even where the route takes no seed)."""
    material = {
        "key": KEY_VERSION, "backend": backend, "backend_model_id": backend_model_id, "fixed": dict(fixed),
        "prompt": prompt, "params": dict(params), "inputs": dict(input_hashes), "take": take_index,
    }
    return hashlib.sha256(dumps(material).encode()).hexdigest()


def legacy_cache_key(legacy: Mapping[str, Any], input_hashes: Mapping[str, list[str]], take_index: int) -> str:
    """The key earlier releases gave the same take: every planner field (``legacy`` holds model, variant, backend,
    backend_model_id, prompt, params and fixed as they were planned)."""
    material = {**legacy, "inputs": dict(input_hashes), "take": take_index}
    return hashlib.sha256(dumps(material).encode()).hexdigest()


def request_key(request: JobRequest, catalog: Catalog, input_hashes: Mapping[str, list[str]]) -> str | None:
    """The key of a journalled request under today's rule (None when its model or route left the catalog)."""
    model = catalog.model(request.model)
    variant = model.variant(request.variant) if model else None
    backend = catalog.backend(request.backend)
    if variant is None or backend is None:
        return None
    if backend.paid:
        route = variant.route(request.backend)
        if route is None:
            return None
        fields = variant.wire_fields(route, backend, with_image=bool(request.inputs.get("image")))
    else:
        fields = frozenset(backend.sends)
    return cache_key(backend=request.backend, backend_model_id=request.backend_model_id, fixed=request.fixed,
                     prompt=wire_prompt(request.prompt, fields), params=wire_params(request.params, fields),
                     input_hashes=input_hashes, take_index=request.take_index)


def migrate_unfinished_jobs(ledger: Ledger, catalog: Catalog) -> int:
    """Give every job still in flight (or awaiting a decision) that carries an earlier release's key its key under
    today's rule. A key is rewritten only when it is recomputed exactly from the journalled request and its input
    files, so nothing is guessed. Returns how many jobs moved."""
    marks = ", ".join("?" * (len(PENDING_STATES) + 1))
    moved = 0
    for record in ledger.jobs(f"state IN ({marks})", (*PENDING_STATES, UNKNOWN)):
        try:
            request = JobRequest.model_validate_json(record.request_json)
            hashes = {name: [sha256_file(path) for path in paths] for name, paths in request.inputs.items()}
        except (ValueError, OSError):
            continue  # an unreadable request or a vanished input: leave the job as it is
        legacy = {"model": request.model, "variant": request.variant, "backend": request.backend,
                  "backend_model_id": request.backend_model_id, "prompt": request.prompt,
                  "params": request.params, "fixed": request.fixed}
        if legacy_cache_key(legacy, hashes, request.take_index) != record.cache_key:
            continue  # already today's key (or not one we can recompute)
        key = request_key(request, catalog, hashes)
        if key is not None and key != record.cache_key:
            ledger.rekey_job(record.job_id, key)
            moved += 1
    return moved
