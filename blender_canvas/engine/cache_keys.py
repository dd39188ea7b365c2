"""A take's cache key: what the route puts on the wire, plus the content of its inputs and the take's index.

The route's fields come from the catalog (``Variant.wire_fields``): the planner hands the adapter only those, and the
key hashes only those, so a field the vendor never sees (the canvas frame rate, a resolution an endpoint ignores, a
label) never makes a new paid take. The offline preview renders at the canvas frame rate, so a draft take does
change with it.

Keys made before this rule (``legacy_cache_key``) hashed every planner field; the planner finds a take under its
old key and moves it to the new one (``Ledger.rekey_take``), so an existing project keeps its cached takes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from .ledger import dumps

KEY_VERSION = 2


def wire_params(params: Mapping[str, Any], fields: Collection[str]) -> dict[str, Any]:
    """The planner's parameters the route sends (a seed only where the planner set one)."""
    return {name: value for name, value in params.items() if name in fields}


def wire_prompt(prompt: str, fields: Collection[str]) -> str:
    return prompt if "prompt" in fields else ""


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
