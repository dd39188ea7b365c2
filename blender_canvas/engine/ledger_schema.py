"""The ledger's tables, its schema version (``PRAGMA user_version``) and the forward migrations between versions.

Version 1 is the schema of every ledger written before versioning existed (its ``user_version`` reads 0); each later
version is reached from the one before by one migration, in one transaction. A ledger from a newer release (a
version above :data:`SCHEMA_VERSION`) is refused untouched, with a message saying so: opening it here could drop what
that release records.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL,
    take_index INTEGER NOT NULL,
    cache_key TEXT NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    backend TEXT NOT NULL,
    backend_model_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    request_json TEXT NOT NULL,
    state TEXT NOT NULL,
    remote_json TEXT,
    remote_id TEXT,
    error_kind TEXT,
    error_message TEXT,
    estimated_usd REAL NOT NULL DEFAULT 0,
    actual_usd REAL,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_node ON jobs(node_id);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(cache_key);
CREATE TABLE IF NOT EXISTS takes (
    take_id TEXT PRIMARY KEY REFERENCES jobs(job_id),
    node_id TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    media TEXT NOT NULL,
    duration_s REAL,
    width INTEGER,
    height INTEGER,
    size_bytes INTEGER NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    backend TEXT NOT NULL,
    remote_id TEXT,
    seed INTEGER,
    prompt TEXT NOT NULL,
    estimated_usd REAL NOT NULL,
    actual_usd REAL,
    input_hashes TEXT NOT NULL,
    timings_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS takes_node ON takes(node_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    at REAL NOT NULL,
    state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS choices (
    node_id TEXT PRIMARY KEY,
    take_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
    take_id TEXT PRIMARY KEY REFERENCES takes(take_id),
    node_id TEXT NOT NULL,
    scores_json TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    sample INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    take_id TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
"""


def _v2(db: sqlite3.Connection) -> None:
    """Version 2: how a job whose submit was cut off got resolved (``resolution``: "lookup" when the vendor found
    it by our id, "resubmitted" when the user chose to send it again), and an index for the planner's per-take
    look-ups."""
    db.execute("ALTER TABLE jobs ADD COLUMN resolution TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS jobs_node_take ON jobs(node_id, take_index)")


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {2: _v2}  # version reached -> how
SCHEMA_VERSION = max(MIGRATIONS)


class SchemaError(Exception):
    """The ledger file is from a newer release (or not a ledger); the message says what to do."""


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone()[0] > 0


def migrate(db: sqlite3.Connection, label: str) -> int:
    """Bring the ledger on ``db`` (autocommit connection) to :data:`SCHEMA_VERSION`; returns the version found."""
    found = int(db.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaError(f"{label} was written by a newer Blender Canvas (ledger schema {found}; this release reads "
                          f"up to {SCHEMA_VERSION}): update the add-on to open this project. The file was not changed.")
    if found == SCHEMA_VERSION:
        return found
    db.execute("BEGIN IMMEDIATE")
    try:
        version = found or (1 if _has_tables(db) else 0)
        if version == 0:  # a new ledger: executescript would commit, so one statement at a time
            for statement in SCHEMA_V1.split(";"):
                if statement.strip():
                    db.execute(statement)
            version = 1
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](db)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return found
