"""Which route a model node takes, and which keys a plan still needs.

A node's own ``route`` wins; otherwise the first live route the user has a key for that can take the node's inputs.
When no key decides it, the plan still prices the node, at the list price of the route it would most likely take
(one whose takes are already cached here, else the cheapest), and names the missing key; only starting the run
needs the key (``Plan.require_runnable``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from pydantic import BaseModel

from ..providers.catalog import Catalog, Route, Variant, describe_choices
from .document import ModelNode


class PlanError(Exception):
    """The run cannot start (a missing key, a retired model); nothing was submitted."""


class MissingKeys(PlanError):
    """Paid takes to make on backends whose keys are not set."""


class MissingKey(BaseModel):
    """One backend whose key the plan needs: for which nodes, and which other backends could serve them."""

    backend: str
    label: str
    env_keys: list[str]
    nodes: list[str]
    alternatives: list[str]  # the keys of other backends with a fitting live route for these nodes ("FAL_KEY (fal)")

    def line(self) -> str:
        also = f" (or {describe_choices(tuple(self.alternatives))})" if self.alternatives else ""
        return f"{' + '.join(self.env_keys)} ({self.label}) for {', '.join(self.nodes)}{also}"


def usable_backends(catalog: Catalog, keys: Mapping[str, str], implemented: Collection[str]) -> set[str]:
    return {b.id for b in catalog.backends if b.id in implemented and all(keys.get(k) for k in b.env_keys)}


def fitting_routes(node: ModelNode, variant: Variant, catalog: Catalog, implemented: Collection[str],
                   aspect_ratio: str | None) -> list[Route]:
    """The routes that could run this node, in the catalog's order of preference. Raises PlanError where none can
    (a route the variant lacks, a retired route, inputs no route takes, backends not built yet)."""
    wanted = [r for r in variant.routes if r.backend == node.route] if node.route else list(variant.live_routes)
    if node.route and not wanted:
        raise PlanError(f"node '{node.id}': {variant.label} is not served by '{node.route}'")
    if not wanted:
        raise PlanError(f"node '{node.id}': {variant.label} has no live route ({variant.status.note}); it can only "
                        "run in draft mode (--draft)")
    refusals = {r.backend: r.refusal(node.inputs.counts(), aspect_ratio) for r in wanted}
    fitting = [r for r in wanted if not refusals[r.backend]]
    if not fitting:
        raise PlanError(f"node '{node.id}': {variant.label}: " + "; ".join(refusals.values()))
    for route in fitting:
        if not route.lifecycle.usable:
            raise PlanError(f"node '{node.id}': route '{route.backend}' for {variant.label} was retired "
                            f"({route.lifecycle.note})")
    built = [r for r in fitting if r.backend in implemented]
    if not built:
        labels = tuple(f"{b.label} (coming in a later release)" for r in fitting if (b := catalog.backend(r.backend)))
        raise PlanError(f"node '{node.id}': no backend can run {variant.label} yet: {describe_choices(labels)}")
    return built


def pick_route(routes: list[Route], usable: Collection[str], *, cached: Callable[[Route], bool],
               price: Callable[[Route], float | None]) -> tuple[Route, bool]:
    """The route to take and whether a key decided it. Without a key: a route whose takes are cached here (a run
    with that key would submit nothing), else the cheapest at list price (an unpriced route last)."""
    for route in routes:
        if route.backend in usable:
            return route, True
    for route in routes:
        if cached(route):
            return route, False
    priced = [(price(route), index, route) for index, route in enumerate(routes)]
    return min(priced, key=lambda p: (p[0] is None, p[0] or 0.0, p[1]))[2], False


def missing_keys(catalog: Catalog, needs: Mapping[str, list[str]],
                 alternatives: Mapping[str, list[str]]) -> list[MissingKey]:
    """``needs``: backend id -> nodes that take it without a key; ``alternatives``: node -> other fitting backends."""
    out = []
    for backend_id, nodes in needs.items():
        backend = catalog.backend(backend_id)
        if backend is None:
            continue
        others = sorted({other for n in nodes for other in alternatives.get(n, []) if other != backend_id})
        labels = [f"{' + '.join(b.env_keys)} ({b.label})" for other in others if (b := catalog.backend(other))]
        out.append(MissingKey(backend=backend_id, label=backend.label, env_keys=list(backend.env_keys),
                              nodes=sorted(nodes), alternatives=labels))
    return sorted(out, key=lambda m: m.backend)


def describe_missing(missing: list[MissingKey], labels: Mapping[str, str]) -> str:
    """One line naming every missing key, grouped by backend (led by the node where there is one)."""
    nodes = [n for m in missing for n in m.nodes]
    keys = "; ".join(m.line() for m in missing)
    lead = (f"node '{nodes[0]}': no key for {labels.get(nodes[0], 'its model')}" if len(nodes) == 1
            else f"no key for {len(nodes)} nodes")
    return f"{lead}: set {keys} in the add-on preferences or the environment, or run in draft mode (--draft)"
