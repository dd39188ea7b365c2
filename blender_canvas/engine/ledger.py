"""The ledger: a SQLite file (WAL on a local disk; a rollback journal with exclusive locking on a network file
system, see :mod:`.storage`) beside the take media, the single source of truth for jobs, takes and spend. Its schema
is versioned (:mod:`.ledger_schema`).

Write order is what makes a crash harmless: a job row exists before its submit, the vendor's job id is written
the moment submit returns (before the first poll), and a take row is written only after its file is complete on
disk. On restart, jobs with a remote id and no take are polled again, never resubmitted; a job that crashed
between "submitting" and "submitted" is looked up at the vendor by our own id where the vendor allows it, and
otherwise flagged ``unknown`` for the user (it may have been billed): it is sent again only when the user says so.

Only the writes that protect money wait for the disk (``synchronous=FULL``): a job journalled before its submit,
its remote id, its take. Progress notes commit with ``synchronous=NORMAL``: a process killed at any moment loses
none of them (the OS holds them), a power cut may lose the last few, which costs nothing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from ..providers.backend import JobState, RemoteJob
from .ledger_schema import SchemaError, migrate
from .storage import JournalMode, journal_mode

# "submitting": the job row exists and the submit call is in flight. A crash here leaves a job we cannot poll.
SUBMITTING = "submitting"
SUBMITTED = "submitted"
UNKNOWN = "unknown"
LANDED = "landed"
# an unknown job the user chose to send again: it stays in the ledger (it may be billed) but no longer holds its take
SUPERSEDED = "superseded"
PENDING_STATES = (SUBMITTING, SUBMITTED, JobState.QUEUED.value, JobState.RUNNING.value)
UNRESOLVED_STATES = (*PENDING_STATES, UNKNOWN)  # jobs that hold their take index: planning it again could pay twice


class JobRecord(BaseModel):
    job_id: str
    node_id: str
    take_index: int
    cache_key: str
    model: str
    variant: str
    backend: str
    backend_model_id: str
    prompt: str
    request_json: str
    state: str
    remote_json: str | None = None
    remote_id: str | None = None
    error_kind: str | None = None
    error_message: str | None = None
    estimated_usd: float = 0.0
    actual_usd: float | None = None
    created_at: float
    submitted_at: float | None = None
    finished_at: float | None = None
    resolution: str | None = None  # "lookup" / "resubmitted": how a cut-off submit was resolved

    @property
    def remote(self) -> RemoteJob | None:
        return RemoteJob.model_validate_json(self.remote_json) if self.remote_json else None


class TakeRecord(BaseModel):
    take_id: str
    node_id: str
    cache_key: str
    file: str  # relative to the project folder
    sha256: str
    media: str
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int
    model: str
    variant: str
    backend: str
    remote_id: str | None = None
    seed: int | None = None
    prompt: str
    estimated_usd: float
    actual_usd: float | None = None
    input_hashes: str  # JSON: input name -> sha256 of the take or file it was made from
    timings_json: str
    created_at: float
    removed: int = 0


class VerdictRecord(BaseModel):
    """Scores 1..5 per axis of the bake-off's brief, and a note; ``sample`` marks scores a script filled in."""

    take_id: str
    node_id: str
    scores: dict[str, int]
    note: str = ""
    sample: bool = False
    updated_at: float


PinScope = Literal["node", "axis"]


class _RemoteWrite:
    __slots__ = ("done", "error", "job_id", "remote", "resolution")

    def __init__(self, job_id: str, remote: RemoteJob, resolution: str | None) -> None:
        self.job_id, self.remote, self.resolution = job_id, remote, resolution
        self.done = False
        self.error: BaseException | None = None


class LedgerError(ValueError):
    """A request the ledger refuses (an unknown take, a score out of range); the message says which."""


class Ledger:
    """Thread-safe: one connection, one lock. Every write commits before it returns.

    Raises :class:`LedgerError` when the file cannot be opened as this release's ledger (from a newer release, not a
    ledger, or held by another process on a network folder)."""

    def __init__(self, path: Path, *, mode: JournalMode | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.mode = mode or journal_mode(path.parent)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._durable = True
        # remote ids waiting to be written: they go first and together (see record_remote)
        self._remote_queue: list[_RemoteWrite] = []
        self._queue_cond = threading.Condition()
        try:
            if self.mode.exclusive:
                self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute(f"PRAGMA journal_mode={self.mode.journal}")
            self._db.execute("PRAGMA synchronous=FULL")
            self.found_version = migrate(self._db, str(path))
        except (SchemaError, sqlite3.DatabaseError) as error:
            self._db.close()
            if isinstance(error, SchemaError):
                raise LedgerError(str(error)) from None
            raise LedgerError(f"{path} cannot be opened as a ledger ({error}); if another Blender or run has this "
                              "project open, close it first") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _lock_is_mine(self) -> bool:
        return self._lock._is_owned()  # type: ignore[attr-defined]  # RLock: re-entered by the batch writer

    @contextmanager
    def _tx(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``durable`` ones wait for the disk (see the module docstring)."""
        with self._queue_cond:  # a queued remote id goes first (a thread writing it holds the lock already)
            self._queue_cond.wait_for(lambda: not self._remote_queue or self._lock_is_mine())
        with self._lock:
            if durable != self._durable:
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _event(self, db: sqlite3.Connection, job_id: str, state: str, detail: str = "") -> None:
        db.execute("INSERT INTO events(job_id, at, state, detail) VALUES (?, ?, ?, ?)",
                   (job_id, time.time(), state, detail))

    # --- jobs ---------------------------------------------------------------------------------------------
    @staticmethod
    def _insert(db: sqlite3.Connection, table: str, row: BaseModel) -> None:
        data = row.model_dump()
        db.execute(f"INSERT INTO {table}({', '.join(data)}) VALUES ({', '.join('?' * len(data))})",
                   tuple(data.values()))

    def add_job(self, record: JobRecord) -> None:
        with self._tx() as db:
            self._insert(db, "jobs", record)
            self._event(db, record.job_id, record.state)

    def set_state(self, job_id: str, state: str, detail: str = "", *, durable: bool = True, **fields: Any) -> None:
        fields["state"] = state
        if state in (JobState.SUCCEEDED, JobState.FAILED, JobState.MODERATED, JobState.CANCELLED,
                     JobState.EXPIRED, LANDED, UNKNOWN, SUPERSEDED) and "finished_at" not in fields:
            fields["finished_at"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self._tx(durable=durable) as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*fields.values(), job_id))
            self._event(db, job_id, state, detail)

    def record_remote(self, job_id: str, remote: RemoteJob, *, resolution: str | None = None) -> None:
        """Called the moment submit returns: the vendor's id is durable before anything polls it.

        This write closes a job's "submitting" window, so it never queues behind other writes: remote ids go before
        any other writer (which waits while one is queued), and every id queued while one commit runs is written in
        the next single commit (group commit: one disk wait for a whole submit burst)."""
        item = _RemoteWrite(job_id, remote, resolution)
        with self._queue_cond:
            self._remote_queue.append(item)
        with self._lock:
            if not item.done:
                with self._queue_cond:
                    batch, self._remote_queue = self._remote_queue, []
                try:
                    with self._tx() as db:
                        for queued in batch:
                            self._write_remote(db, queued)
                except BaseException as error:
                    for queued in batch:
                        queued.error = error
                    raise
                finally:
                    for queued in batch:
                        queued.done = True
                    with self._queue_cond:
                        self._queue_cond.notify_all()
        if item.error is not None:  # written by another thread's commit, which failed
            raise LedgerError(f"the remote id of job {job_id} could not be written: {item.error}")

    def _write_remote(self, db: sqlite3.Connection, item: _RemoteWrite) -> None:
        now = time.time()
        db.execute("UPDATE jobs SET state = ?, remote_json = ?, remote_id = ?, submitted_at = ?, "
                   "resolution = COALESCE(?, resolution) WHERE job_id = ?",
                   (SUBMITTED, item.remote.model_dump_json(), item.remote.remote_id, now, item.resolution,
                    item.job_id))
        self._event(db, item.job_id, SUBMITTED, item.remote.remote_id)

    def job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return JobRecord(**dict(row)) if row else None

    def jobs(self, where: str = "1", params: tuple[Any, ...] = ()) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY created_at", params).fetchall()
        return [JobRecord(**dict(r)) for r in rows]

    def unresolved_jobs(self, node_id: str | None = None) -> list[JobRecord]:
        """Jobs that hold their take index (in flight, journalled, or ``unknown``), oldest first."""
        marks = ", ".join("?" * len(UNRESOLVED_STATES))
        if node_id is None:
            return self.jobs(f"state IN ({marks})", UNRESOLVED_STATES)
        return self.jobs(f"node_id = ? AND state IN ({marks})", (node_id, *UNRESOLVED_STATES))

    def unresolved_for_key(self, cache_key: str) -> JobRecord | None:
        marks = ", ".join("?" * len(UNRESOLVED_STATES))
        found = self.jobs(f"cache_key = ? AND state IN ({marks})", (cache_key, *UNRESOLVED_STATES))
        return found[0] if found else None

    def supersede_unknown(self, job_ids: Collection[str], detail: str) -> list[JobRecord]:
        """The user's decision to send these ``unknown`` jobs again: each stays (it may be billed) but gives up its
        take index. Returns the jobs changed (those still ``unknown``)."""
        changed = []
        with self._tx() as db:
            for job_id in job_ids:
                row = db.execute("SELECT * FROM jobs WHERE job_id = ? AND state = ?", (job_id, UNKNOWN)).fetchone()
                if row is None:
                    continue
                db.execute("UPDATE jobs SET state = ?, resolution = 'resubmitted' WHERE job_id = ?",
                           (SUPERSEDED, job_id))
                self._event(db, job_id, SUPERSEDED, detail)
                changed.append(JobRecord(**dict(row)))
        return changed

    def unfinished_jobs(self) -> list[JobRecord]:
        marks = ", ".join("?" * len(PENDING_STATES))
        return self.jobs(f"state IN ({marks})", PENDING_STATES)

    def job_count(self, node_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM jobs WHERE node_id = ?", (node_id,)).fetchone()
        return int(row[0])

    def events(self, job_id: str) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT state, detail FROM events WHERE job_id = ? ORDER BY id",
                                    (job_id,)).fetchall()
        return [(r[0], r[1]) for r in rows]

    # --- takes --------------------------------------------------------------------------------------------
    def add_take(self, take: TakeRecord) -> None:
        with self._tx() as db:
            self._insert(db, "takes", take)
            db.execute("UPDATE jobs SET state = ?, finished_at = ? WHERE job_id = ?",
                       (LANDED, time.time(), take.take_id))
            self._event(db, take.take_id, LANDED, take.file)
            # the newest take of a node is its choice until the user picks another
            db.execute("INSERT INTO choices(node_id, take_id) VALUES (?, ?) "
                       "ON CONFLICT(node_id) DO UPDATE SET take_id = excluded.take_id", (take.node_id, take.take_id))

    def takes(self, node_id: str | None = None, include_removed: bool = False) -> list[TakeRecord]:
        clauses, params = [], []
        if node_id is not None:
            clauses.append("node_id = ?")
            params.append(node_id)
        if not include_removed:
            clauses.append("removed = 0")
        where = " AND ".join(clauses) or "1"
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM takes WHERE {where} ORDER BY created_at, take_id",
                                    tuple(params)).fetchall()
        return [TakeRecord(**dict(r)) for r in rows]

    def take(self, take_id: str) -> TakeRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM takes WHERE take_id = ?", (take_id,)).fetchone()
        return TakeRecord(**dict(row)) if row else None

    def take_for_key(self, cache_key: str) -> TakeRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM takes WHERE cache_key = ? AND removed = 0 ORDER BY created_at "
                                   "DESC LIMIT 1", (cache_key,)).fetchone()
        return TakeRecord(**dict(row)) if row else None

    def rekey_job(self, job_id: str, cache_key: str) -> None:
        """Move a job to a new cache key (the migration of an unfinished job keyed by an earlier release)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET cache_key = ? WHERE job_id = ?", (cache_key, job_id))

    def rekey_take(self, take_id: str, cache_key: str) -> None:
        """Move a take to a new cache key (the planner's migration of keys made by an earlier release)."""
        with self._tx() as db:
            db.execute("UPDATE takes SET cache_key = ? WHERE take_id = ?", (cache_key, take_id))

    def choose(self, node_id: str, take_id: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO choices(node_id, take_id) VALUES (?, ?) "
                       "ON CONFLICT(node_id) DO UPDATE SET take_id = excluded.take_id", (node_id, take_id))

    def chosen(self, node_id: str) -> TakeRecord | None:
        with self._lock:
            row = self._db.execute("SELECT take_id FROM choices WHERE node_id = ?", (node_id,)).fetchone()
        take = self.take(row[0]) if row else None
        if take is not None and not take.removed:
            return take
        remaining = self.takes(node_id)
        return remaining[-1] if remaining else None

    def mark_removed(self, take_id: str, new_file: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE takes SET removed = 1, file = ? WHERE take_id = ?", (new_file, take_id))
            self._event(db, take_id, "removed", new_file)

    def take_number(self, take_id: str) -> int:
        """The take's number as people say it ("take 2"): its index among its node's takes, from 1."""
        job = self.job(take_id)
        return job.take_index + 1 if job else 1

    # --- verdicts -----------------------------------------------------------------------------------------
    def set_verdict(self, take_id: str, scores: dict[str, int], note: str = "", *, sample: bool = False,
                    updated_at: float | None = None) -> VerdictRecord:
        """Replace the take's verdict. Scores outside 1..5 are refused; an empty verdict removes it."""
        take = self.take(take_id)
        if take is None:
            raise LedgerError(f"no take '{take_id}' in this project")
        bad = {axis: score for axis, score in scores.items() if not 1 <= int(score) <= 5}
        if bad:
            raise LedgerError(f"take '{take_id}': scores must be 1 (poor) to 5 (best), got {bad}")
        record = VerdictRecord(take_id=take_id, node_id=take.node_id, scores={k: int(v) for k, v in scores.items()},
                               note=note.strip(), sample=sample, updated_at=updated_at or time.time())
        with self._tx() as db:
            if not record.scores and not record.note:
                db.execute("DELETE FROM verdicts WHERE take_id = ?", (take_id,))
            else:
                db.execute("INSERT INTO verdicts(take_id, node_id, scores_json, note, sample, updated_at) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(take_id) DO UPDATE SET scores_json = "
                           "excluded.scores_json, note = excluded.note, sample = excluded.sample, "
                           "updated_at = excluded.updated_at",
                           (take_id, take.node_id, dumps(record.scores), record.note, int(sample),
                            record.updated_at))
            self._event(db, take_id, "verdict", dumps(record.scores))
        return record

    def verdict(self, take_id: str) -> VerdictRecord | None:
        found = self.verdicts(take_ids=[take_id])
        return found[0] if found else None

    def verdicts(self, node_ids: Collection[str] | None = None,
                 take_ids: Collection[str] | None = None) -> list[VerdictRecord]:
        clauses, params = [], []
        for column, values in (("node_id", node_ids), ("take_id", take_ids)):
            if values is not None:
                values = list(values)
                clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        where = " AND ".join(clauses) or "1"
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM verdicts WHERE {where} ORDER BY node_id, updated_at",
                                    tuple(params)).fetchall()
        return [VerdictRecord(take_id=r["take_id"], node_id=r["node_id"], scores=json.loads(r["scores_json"]),
                              note=r["note"], sample=bool(r["sample"]), updated_at=r["updated_at"]) for r in rows]

    def pin(self, scope: PinScope, key: str, take_id: str | None) -> None:
        """Pin a take as the best of a node (scope "node") or on an axis (scope "axis"); None unpins."""
        if take_id is not None and self.take(take_id) is None:
            raise LedgerError(f"no take '{take_id}' in this project")
        with self._tx() as db:
            if take_id is None:
                db.execute("DELETE FROM pins WHERE scope = ? AND key = ?", (scope, key))
            else:
                db.execute("INSERT INTO pins(scope, key, take_id) VALUES (?, ?, ?) ON CONFLICT(scope, key) "
                           "DO UPDATE SET take_id = excluded.take_id", (scope, key, take_id))

    def rename_axis(self, old: str, new: str) -> int:
        """Carry every score and pin on axis ``old`` over to ``new``; returns how many verdicts changed."""
        changed = 0
        with self._tx() as db:
            rows = db.execute("SELECT take_id, scores_json FROM verdicts").fetchall()
            for take_id, scores_json in rows:
                scores = json.loads(scores_json)
                if old in scores:
                    scores[new] = scores.pop(old)
                    db.execute("UPDATE verdicts SET scores_json = ? WHERE take_id = ?", (dumps(scores), take_id))
                    changed += 1
            db.execute("DELETE FROM pins WHERE scope = 'axis' AND key = ? AND EXISTS "
                       "(SELECT 1 FROM pins WHERE scope = 'axis' AND key = ?)", (new, old))
            db.execute("UPDATE pins SET key = ? WHERE scope = 'axis' AND key = ?", (new, old))
        return changed

    def pins(self, scope: PinScope) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT key, take_id FROM pins WHERE scope = ? ORDER BY key",
                                    (scope,)).fetchall()
        return {r[0]: r[1] for r in rows}

    # --- money --------------------------------------------------------------------------------------------
    def spent_usd(self, node_ids: Collection[str] | None = None) -> float:
        """Committed spend: actual where known, else the estimate, for every job that reached a vendor (of the
        given nodes only, when named)."""
        where, params = "(remote_id IS NOT NULL OR state IN (?, ?))", [SUBMITTING, UNKNOWN]
        if node_ids is not None:
            ids = list(node_ids)
            where += f" AND node_id IN ({', '.join('?' * len(ids))})"
            params.extend(ids)
        with self._lock:
            row = self._db.execute(
                f"SELECT COALESCE(SUM(COALESCE(actual_usd, estimated_usd)), 0) FROM jobs WHERE {where}",
                tuple(params)).fetchone()
        return float(row[0])


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
