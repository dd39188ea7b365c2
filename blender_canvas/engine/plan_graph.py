"""The canvas as a graph for planning: sources, order, what lies downstream, and the files (with content hashes)
a take's inputs resolve to."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path

from .document import AudioNode, Canvas, ImageNode, Node, ReferenceNode, VideoNode
from .ledger import Ledger

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


def resolve_sources(inputs: Mapping[str, list[str]], canvas: Canvas, ledger: Ledger, base_dir: Path,
                    memo: dict[str, tuple[Path, str] | None] | None = None,
                    ) -> tuple[dict[str, list[Path]], dict[str, list[str]]] | None:
    """The files and content hashes of ``inputs``, or None while one is missing. ``memo`` (source id -> file and
    hash) lets one planning pass resolve, stat and hash each source once, however many nodes and takes it feeds."""
    files: dict[str, list[Path]] = {}
    hashes: dict[str, list[str]] = {}
    for name, sources in inputs.items():
        if name == "shot":
            continue  # a shot feeds words, already in the prompt
        for source_id in sources:
            if memo is not None and source_id in memo:
                found = memo[source_id]
            else:
                found = _resolve_source(source_id, canvas, ledger, base_dir)
                if memo is not None:
                    memo[source_id] = found
            if found is None:
                return None
            files.setdefault(name, []).append(found[0])
            hashes.setdefault(name, []).append(found[1])
    return files, hashes


def _resolve_source(source_id: str, canvas: Canvas, ledger: Ledger, base_dir: Path) -> tuple[Path, str] | None:
    source = canvas.node(source_id)
    if isinstance(source, ReferenceNode):
        path = (base_dir / source.path).resolve()
        return (path, sha256_file(path)) if path.is_file() else None
    take = ledger.chosen(source_id)
    return (ledger_path(ledger, take.file), take.sha256) if take is not None else None


def ledger_path(ledger: Ledger, relative: str) -> Path:
    return ledger.path.parent / relative
