"""One project's engine: its ledger, its runner and its backends, behind the few calls the UI and CLI make."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from ..providers.backend import Backend
from ..providers.catalog import Catalog, load_catalog
from ..providers.registry import IMPLEMENTED, build_backend
from .cache_keys import migrate_unfinished_jobs
from .cost import Budget
from .document import Canvas
from .housekeeping import Cleaned, ProjectLock, clean_project
from .ledger import UNKNOWN, JobRecord, Ledger
from .planner import PREVIEW, Plan, PlanError, plan_run
from .runner import Runner

LEDGER_NAME = "ledger.sqlite"


def keys_from_environment(catalog: Catalog, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    source = os.environ if environ is None else environ
    names = {name for backend in catalog.backends for name in backend.env_keys}
    return {name: source[name] for name in names if source.get(name)}


class OfflineError(PlanError):
    """A paid node would reach the network while online access is off."""


class Session:
    """Not thread-safe itself: the main thread (or the CLI) calls it; its runner does the threaded work."""

    def __init__(self, project_dir: Path, *, keys: Mapping[str, str] | None = None,
                 limits: Mapping[str, int] | None = None, catalog: Catalog | None = None) -> None:
        self.project_dir = project_dir
        self.catalog = catalog or load_catalog()
        self.keys = dict(keys or {})
        self.ledger = Ledger(project_dir / LEDGER_NAME)
        migrate_unfinished_jobs(self.ledger, self.catalog)  # keys of an earlier release, before anything resumes
        self._lock_file = ProjectLock(project_dir)  # held while open: another process never cleans under us
        self.cleaned = Cleaned()
        self._backends: dict[str, Backend] = {}
        self._limits = {b.id: b.default_concurrency for b in self.catalog.backends}
        self._limits.update(limits or {})
        self._lock = threading.Lock()
        self._lazy_backends = _LazyBackends(self)
        self.runner = Runner(self.ledger, self._lazy_backends, limits=self._limits)

    def set_keys(self, keys: Mapping[str, str]) -> bool:
        """Use the keys as they are now (a key typed into the preferences since the last render counts at once);
        backends built with other keys are rebuilt on their next use. True if anything changed."""
        fresh = dict(keys)
        with self._lock:
            if fresh == self.keys:
                return False
            self.keys = fresh
            self._backends.clear()
        self._lazy_backends.clear()
        return True

    def backend(self, backend_id: str) -> Backend:
        with self._lock:
            if backend_id not in self._backends:
                self._backends[backend_id] = build_backend(backend_id, self.keys, self.project_dir / "work")
            return self._backends[backend_id]

    def resume(self) -> list[str]:
        """At start: clean what a crash left in the folder, then follow every job a previous process left (job ids
        of those resumed). Never raises for a job; see :meth:`Runner.resume`."""
        self.cleaned = self._lock_file.exclusively(lambda: clean_project(self.ledger))
        return self.runner.resume()

    def undecided(self, node_ids: Collection[str] | None = None) -> list[JobRecord]:
        """Jobs cut off mid-submit that only the user can resolve (``unknown``), oldest first."""
        found = self.ledger.jobs("state = ?", (UNKNOWN,))
        return [j for j in found if node_ids is None or j.node_id in node_ids]

    def resubmit_unknown(self, node_ids: Collection[str] | None = None,
                         job_ids: Collection[str] | None = None) -> list[JobRecord]:
        """The user's explicit decision (the node's *Resubmit*, ``run --resubmit-unknown``): release these
        ``unknown`` jobs (all of them, or of the given nodes / ids) so their takes are planned, and so submitted,
        once more. The vendor may already have, and bill, the first submit: the caller must say so. The released jobs
        stay in the ledger (state ``superseded``) and their estimate stays in the spend. Returns the jobs released."""
        chosen = [j.job_id for j in self.undecided(node_ids) if job_ids is None or j.job_id in job_ids]
        return self.ledger.supersede_unknown(chosen, "the user chose to submit it again; the first submit may "
                                                     "still be billed by the vendor")

    def plan(self, canvas: Canvas, base_dir: Path, *, selection: Collection[str] | None = None,
             draft: bool = False, new_take: bool = False) -> Plan:
        return plan_run(canvas, self.catalog, self.ledger, base_dir=base_dir, selection=selection, draft=draft,
                        keys=self.keys, implemented=IMPLEMENTED, new_take=new_take)

    def check(self, plan: Plan, *, online: bool, budget: Budget) -> None:
        """Everything that must hold before the first submit: a key for every route, network permission, budget."""
        plan.require_runnable()
        paid = sorted({j.node_id for j in plan.submits if j.backend != PREVIEW})
        if paid and not online:
            raise OfflineError(f"{len(paid)} node(s) would call paid services ({', '.join(paid)}) but online access "
                               "is off: run with --online (or allow online access in Blender), or use --draft")
        budget.check(plan.estimate_usd, self.ledger.spent_usd())

    def start(self, plan: Plan, canvas: Canvas, base_dir: Path) -> None:
        plan.require_runnable()  # a plan priced without a key never starts, whoever forgot to check it
        self.runner.start(plan, canvas, base_dir)

    def close(self) -> None:
        self.runner.cancel()
        self.runner.wait(timeout=5)
        with self._lock:
            backends, self._backends = list(self._backends.values()), {}
        for backend in backends:  # every backend's HTTP client
            closer = getattr(backend, "close", None)
            if callable(closer):
                with contextlib.suppress(Exception):  # one client failing to close must not keep the others open
                    closer()
        self.ledger.close()
        self._lock_file.close()

    def manifest(self) -> dict[str, Any]:
        """Every take and job of the project, as design.md's manifest.json describes."""
        takes = []
        jobs = {j.job_id: j for j in self.ledger.jobs()}
        for take in self.ledger.takes(include_removed=True):
            job = jobs.get(take.take_id)
            takes.append({
                "id": take.take_id, "node": take.node_id, "model": take.model, "variant": take.variant,
                "backend": take.backend, "remote_job_id": take.remote_id, "file": take.file, "sha256": take.sha256,
                "media": take.media, "duration_s": take.duration_s, "width": take.width, "height": take.height,
                "size_bytes": take.size_bytes, "seed": take.seed, "prompt": take.prompt,
                "estimated_usd": round(take.estimated_usd, 4),
                "actual_usd": None if take.actual_usd is None else round(take.actual_usd, 4),
                "status": "removed" if take.removed else "landed", "take_index": job.take_index if job else None,
                "timings": json.loads(take.timings_json),
            })
        landed = {t["id"] for t in takes}
        failed = [{"id": j.job_id, "node": j.node_id, "model": j.model, "variant": j.variant, "backend": j.backend,
                   "remote_job_id": j.remote_id, "status": j.state, "error": j.error_message,
                   "estimated_usd": round(j.estimated_usd, 4), "take_index": j.take_index,
                   "created_at": j.created_at}
                  for j in jobs.values() if j.job_id not in landed]
        # paths relative to the manifest, which lives in the project folder: "." is that folder, wherever it went
        return {"project": ".", "takes": takes, "jobs_without_take": failed,
                "spent_usd": round(self.ledger.spent_usd(), 4)}


class _LazyBackends(dict[str, Backend]):
    """Backends are built on first use, so a draft run never needs a key or a network client."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self._session = session

    def __missing__(self, key: str) -> Backend:
        backend = self._session.backend(key)
        self[key] = backend
        return backend

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except (KeyError, PlanError):
            return default
