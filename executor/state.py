"""Run state in SQLite (WAL): runs, every phase transition, and what each run created.

Each state change is one transaction, so a crash between writes leaves either the whole change
or none of it. A run is keyed by the plan's content hash and the backend: launching the same
plan again finds the live run instead of provisioning twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from executor.errors import ExecutorError

__all__ = ["Event", "Phase", "Resource", "Run", "RunStore", "plan_hash"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    plan_hash TEXT NOT NULL,
    backend TEXT NOT NULL,
    plan_json TEXT NOT NULL,
    goal_name TEXT NOT NULL,
    phase TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    spend_usd REAL NOT NULL DEFAULT 0,
    cost_ceiling_usd REAL NOT NULL,
    endpoint TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs(plan_hash, backend);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    at REAL NOT NULL,
    phase TEXT NOT NULL,
    message TEXT NOT NULL,
    spend_usd REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL,
    PRIMARY KEY (run_id, kind, name)
);
"""


class Phase(StrEnum):
    """Where a run is."""

    PENDING = "pending"
    TRAINING = "training"
    SERVING = "serving"
    READY = "ready"
    FAILED = "failed"
    STOPPING = "stopping"
    DOWN = "down"

    @property
    def live(self) -> bool:
        """The run may still hold resources."""
        return self not in (Phase.DOWN,)


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Run(_Row):
    """One launch of one plan on one backend."""

    id: str = Field(description="Run id, e.g. support-assistant-p1-3f2a.")
    plan_hash: str = Field(description="sha256 of the plan file's canonical JSON.")
    backend: str = Field(description="sky or local.")
    goal_name: str = Field(description="Goal name.")
    phase: Phase = Field(description="Current phase.")
    created_at: float = Field(description="Unix time created.")
    updated_at: float = Field(description="Unix time of the last transition.")
    spend_usd: float = Field(description="Spend so far, $.")
    cost_ceiling_usd: float = Field(description="Cost the launch was approved for, $.")
    endpoint: str | None = Field(description="Serving endpoint URL once ready.")


class Event(_Row):
    """One phase transition."""

    at: float = Field(description="Unix time.")
    phase: Phase = Field(description="Phase entered (or kept).")
    message: str = Field(description="What happened.")
    spend_usd: float = Field(description="Spend so far at that moment, $.")


class Resource(_Row):
    """Something a run created: a cluster, a managed job, a service, a process, a bucket."""

    kind: str = Field(description="cluster, job, service, process, bucket.")
    name: str = Field(description="Backend name or id (a PID for processes).")
    created_at: float = Field(description="Unix time created.")
    deleted_at: float | None = Field(description="Unix time torn down, None while it exists.")


def plan_hash(plan_json: dict) -> str:
    """Content hash of a plan file: same plan → same hash, whatever the key order."""
    canonical = json.dumps(plan_json, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class RunStore:
    """The SQLite run store at ``path`` (created on first use)."""

    def __init__(self, path: Path, *, clock=time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.connection.row_factory = sqlite3.Row
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA foreign_keys=ON")
        self.connection.executescript(_SCHEMA)
        self._clock = clock

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def find_live(self, digest: str, backend: str) -> Run | None:
        """The run of this plan on this backend that is not torn down, if any."""
        row = self.connection.execute(
            "SELECT * FROM runs WHERE plan_hash=? AND backend=? AND phase!=? "
            "ORDER BY created_at DESC LIMIT 1",
            (digest, backend, Phase.DOWN.value),
        ).fetchone()
        return _run(row) if row else None

    def create_run(
        self, run_id: str, *, plan_json: dict, backend: str, goal_name: str, cost_ceiling_usd: float
    ) -> Run:
        """Record a new run in phase pending (with its first event)."""
        now = self._clock()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    plan_hash(plan_json),
                    backend,
                    json.dumps(plan_json),
                    goal_name,
                    Phase.PENDING.value,
                    now,
                    now,
                    0.0,
                    cost_ceiling_usd,
                    None,
                ),
            )
            db.execute(
                "INSERT INTO events (run_id, at, phase, message, spend_usd) VALUES (?,?,?,?,?)",
                (
                    run_id,
                    now,
                    Phase.PENDING.value,
                    f"launch approved up to ${cost_ceiling_usd:,.2f}",
                    0.0,
                ),
            )
        return self.get(run_id)

    def transition(
        self,
        run_id: str,
        phase: Phase,
        message: str,
        *,
        spend_usd: float | None = None,
        endpoint: str | None = None,
    ) -> Run:
        """Enter ``phase``: the event and the run's new state are written together."""
        run, now = self.get(run_id), self._clock()
        spend = run.spend_usd if spend_usd is None else spend_usd
        with self._transaction() as db:
            db.execute(
                "INSERT INTO events (run_id, at, phase, message, spend_usd) VALUES (?,?,?,?,?)",
                (run_id, now, phase.value, message, spend),
            )
            db.execute(
                "UPDATE runs SET phase=?, updated_at=?, spend_usd=?, "
                "endpoint=COALESCE(?, endpoint) WHERE id=?",
                (phase.value, now, spend, endpoint, run_id),
            )
        return self.get(run_id)

    def add_resource(self, run_id: str, kind: str, name: str) -> None:
        """Record something the run created (before it is created: teardown must know it)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO resources VALUES (?,?,?,?,NULL)",
                (run_id, kind, name, self._clock()),
            )

    def mark_deleted(self, run_id: str, kind: str, name: str) -> None:
        """Record that a resource was torn down."""
        with self._transaction() as db:
            db.execute(
                "UPDATE resources SET deleted_at=? WHERE run_id=? AND kind=? AND name=?",
                (self._clock(), run_id, kind, name),
            )

    def get(self, run_id: str) -> Run:
        """The run with this id; ExecutorError listing known ids otherwise."""
        row = self.connection.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        if row is None:
            known = [r.id for r in self.list_runs()][:10]
            raise ExecutorError(
                f"no run {run_id!r} in {self.path}.",
                fix=f"use one of {known or 'the ids `tailor status` lists'}.",
            )
        return _run(row)

    def plan_json(self, run_id: str) -> dict:
        """The plan file the run was launched from."""
        row = self.connection.execute("SELECT plan_json FROM runs WHERE id=?", (run_id,)).fetchone()
        return json.loads(row["plan_json"])

    def list_runs(self) -> list[Run]:
        """Every run, newest first."""
        rows = self.connection.execute("SELECT * FROM runs ORDER BY created_at DESC").fetchall()
        return [_run(r) for r in rows]

    def events(self, run_id: str) -> list[Event]:
        """The run's transitions, oldest first."""
        rows = self.connection.execute(
            "SELECT at, phase, message, spend_usd FROM events WHERE run_id=? ORDER BY id", (run_id,)
        ).fetchall()
        return [
            Event(
                at=r["at"], phase=Phase(r["phase"]), message=r["message"], spend_usd=r["spend_usd"]
            )
            for r in rows
        ]

    def resources(self, run_id: str, *, live_only: bool = False) -> list[Resource]:
        """What the run created (only what still exists with ``live_only``)."""
        query = "SELECT kind, name, created_at, deleted_at FROM resources WHERE run_id=?"
        if live_only:
            query += " AND deleted_at IS NULL"
        rows = self.connection.execute(query + " ORDER BY created_at", (run_id,)).fetchall()
        return [
            Resource(
                kind=r["kind"],
                name=r["name"],
                created_at=r["created_at"],
                deleted_at=r["deleted_at"],
            )
            for r in rows
        ]


def _run(row: sqlite3.Row) -> Run:
    return Run(
        id=row["id"],
        plan_hash=row["plan_hash"],
        backend=row["backend"],
        goal_name=row["goal_name"],
        phase=Phase(row["phase"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        spend_usd=row["spend_usd"],
        cost_ceiling_usd=row["cost_ceiling_usd"],
        endpoint=row["endpoint"],
    )
