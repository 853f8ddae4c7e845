"""Run state in SQLite (WAL): runs, every phase transition, and what each run created.

Guarantees (README "Reliability" says how each is tested):

- Each state change is one transaction: a crash between writes leaves the whole change or none.
- One live run per plan and backend. ``create_or_find`` decides inside one write transaction,
  so two launches of one plan at once keep exactly one run; the other gets that run back.
  A plan whose runs are all down gets a new run (``-2``, ``-3``, … after the first id).
- Nothing is lost: a new database is built beside its final path and linked into place whole,
  so an existing file is never recreated. A file that is not tailor's state (damaged, truncated,
  another schema, a folder) is refused with one paragraph, left as it is. Before a migration the
  old file is copied to ``state.db.bak-v<N>``.
- The state folder is created 0700 and the database 0600: they hold plans and logs of private
  data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from catalog import catalog_home
from executor.errors import ExecutorError
from executor.processes import identity, is_same_process
from planner.plan import PlanFile

__all__ = [
    "SCHEMA_VERSION",
    "Event",
    "Phase",
    "Resource",
    "Run",
    "RunStore",
    "StoreAccessError",
    "StoreBusyError",
    "StoreDamagedError",
    "current_launcher",
    "default_store_path",
    "launcher_alive",
    "open_store",
    "plan_hash",
]

SCHEMA_VERSION = 1  # PRAGMA user_version of the layout below; 0 = before launcher/trained
BUSY_TIMEOUT_S = 30.0  # how long a write waits for another tailor's write lock
_RUN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")

_SCHEMA = f"""
CREATE TABLE runs (
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
    endpoint TEXT,
    launcher TEXT,
    trained INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_plan ON runs(plan_hash, backend);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    at REAL NOT NULL,
    phase TEXT NOT NULL,
    message TEXT NOT NULL,
    spend_usd REAL NOT NULL
);
CREATE TABLE resources (
    run_id TEXT NOT NULL REFERENCES runs(id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at REAL NOT NULL,
    deleted_at REAL,
    PRIMARY KEY (run_id, kind, name)
);
PRAGMA user_version = {SCHEMA_VERSION};
"""
_COLUMNS = {
    "runs": {
        "id",
        "plan_hash",
        "backend",
        "plan_json",
        "goal_name",
        "phase",
        "created_at",
        "updated_at",
        "spend_usd",
        "cost_ceiling_usd",
        "endpoint",
    },
    "events": {"id", "run_id", "at", "phase", "message", "spend_usd"},
    "resources": {"run_id", "kind", "name", "created_at", "deleted_at"},
}
_ADDED_IN_V1 = {"runs": {"launcher", "trained"}}
_MIGRATE_TO_V1 = (
    "ALTER TABLE runs ADD COLUMN launcher TEXT",
    "ALTER TABLE runs ADD COLUMN trained INTEGER NOT NULL DEFAULT 0",
    "PRAGMA user_version = 1",
)


class StoreDamagedError(ExecutorError):
    """The state database is not a tailor run store any more (or cannot be opened)."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"{path} is damaged or is not tailor's run state ({detail}); tailor left it as it "
            "is and did nothing.",
            fix=f"move it aside (`mv {path} {path}.damaged`) and tailor starts an empty one — "
            "the runs it recorded are then no longer tracked, so check `sky status` / your "
            f"cloud console for anything they left running — or restore a backup "
            f"({path}.bak-*) if there is one.",
        )
        self.path = path


class StoreAccessError(ExecutorError):
    """The state database is intact as far as tailor knows but cannot be used here."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            f"cannot use the run state at {path} ({detail}); nothing was changed.",
            fix="check that this user may read and write the folder and its state.db* files "
            "(a `sudo tailor` may have left root-owned -wal/-shm files) and that the disk has "
            "room; or pass --state-dir DIR. Do not delete state.db: it records what runs hold.",
        )


# SQLite primary result codes (https://sqlite.org/rescode.html)
_BUSY_CODES = {5, 6}  # SQLITE_BUSY, SQLITE_LOCKED
_DAMAGED_CODES = {
    1,
    11,
    17,
    20,
    26,
}  # ERROR (schema changed under us), CORRUPT, SCHEMA, MISMATCH, NOTADB


def _store_error(path: Path, exc: sqlite3.DatabaseError) -> ExecutorError:
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code in _BUSY_CODES:
        return StoreBusyError(path)
    if code in _DAMAGED_CODES or code == 0:
        return StoreDamagedError(path, f"SQLite: {exc}")
    name = getattr(exc, "sqlite_errorname", "SQLite error")
    return StoreAccessError(path, f"{name}: {exc}")


class StoreBusyError(ExecutorError):
    """Another tailor held the database's write lock for longer than BUSY_TIMEOUT_S."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"{path} stayed locked by another tailor process for {BUSY_TIMEOUT_S:.0f} s.",
            fix="wait for the other `tailor launch` / `tailor down` to finish, then retry.",
        )


class Phase(StrEnum):
    """Where a run is."""

    PENDING = "pending"
    TRAINING = "training"
    SERVING = "serving"
    BATCH = "batch"  # a batch job runs; ready once its results are written
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


_R = TypeVar("_R", bound=_Row)


class Run(_Row):
    """One launch of one plan on one backend."""

    id: str = Field(description="Run id, e.g. support-assistant-p1-local-3f2a9c (then -2, -3).")
    plan_hash: str = Field(description="sha256 of the plan file's canonical JSON.")
    backend: str = Field(description="sky or local.")
    goal_name: str = Field(description="Goal name.")
    phase: Phase = Field(description="Current phase.")
    created_at: float = Field(description="Unix time created.")
    updated_at: float = Field(description="Unix time of the last transition.")
    spend_usd: float = Field(description="Spend so far, $.")
    cost_ceiling_usd: float = Field(description="Cost the launch was approved for, $.")
    endpoint: str | None = Field(description="Serving endpoint URL once ready.")
    launcher: str | None = Field(
        default=None,
        description="host:pid:start of the `tailor` process starting the run (see "
        "current_launcher); a pending run whose launcher is gone never started.",
    )
    trained: bool = Field(
        default=False, description="Training finished: a relaunch resumes at serving."
    )


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


def current_launcher() -> str:
    """This process as a launcher: ``host:pid:start``."""
    return f"{socket.gethostname()}:{identity(os.getpid())}"


def launcher_alive(launcher: str | None) -> bool:
    """Whether the launcher process still runs. A launcher on another host cannot be checked
    from here and counts as alive; a record without one (older tailor) counts as gone."""
    if not launcher:
        return False
    host, _, rest = launcher.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname():
        return True
    return pid_text.isdigit() and is_same_process(int(pid_text), start)


def default_store_path(state_dir: Path | None = None) -> Path:
    """The run store's database: ``state_dir/state.db``, by default under $TAILOR_HOME/runs."""
    return (state_dir or catalog_home() / "runs") / "state.db"


def open_store(state_dir: Path | None = None) -> RunStore:
    """The run store of ``state_dir`` (default: $TAILOR_HOME/runs)."""
    return RunStore(default_store_path(state_dir))


class RunStore:
    """The SQLite run store at ``path`` (created on first use, 0600 in a 0700 folder)."""

    def __init__(self, path: Path, *, clock=time.time) -> None:
        self.path = path
        self._clock = clock
        try:
            _make_private_dir(path.parent)
            if not os.path.lexists(path):
                _create_database(path)
        except sqlite3.DatabaseError as exc:
            raise _store_error(path, exc) from None
        except OSError as exc:
            raise StoreAccessError(path, exc.strerror or str(exc)) from None
        self.connection = self._connect()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise StoreDamagedError(self.path, "it is not a regular file")
        _tighten(self.path)
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from None
        connection.row_factory = sqlite3.Row
        try:
            with self._guard():
                connection.execute("PRAGMA foreign_keys=ON")
                _check_database(self.path, connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """SQLite's errors as the store's, by SQLite's result code: busy past the timeout, a
        file that cannot be used (permissions, read-only, disk full, I/O), or a damaged one."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.IntegrityError):
            raise  # tailor misused SQLite: a bug, not the file's fault
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc) from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def _rows(self, query: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._guard():
            return self.connection.execute(query, args).fetchall()

    def find_live(self, digest: str, backend: str) -> Run | None:
        """The run of this plan on this backend that is not torn down, if any."""
        rows = self._rows(
            "SELECT * FROM runs WHERE plan_hash=? AND backend=? AND phase!=? "
            "ORDER BY created_at DESC LIMIT 1",
            (digest, backend, Phase.DOWN.value),
        )
        return self._run(rows[0]) if rows else None

    def create_or_find(
        self,
        base_id: str,
        *,
        plan_json: dict,
        backend: str,
        goal_name: str,
        cost_ceiling_usd: float,
        launcher: str | None = None,
    ) -> tuple[Run, bool]:
        """The plan's live run on this backend, or a new pending one: (run, created).

        Decided in one write transaction, so concurrent launches of one plan get one run. A new
        run's id is ``base_id``, or ``base_id-N`` (the next free N ≥ 2) when earlier runs of
        the plan were torn down.
        """
        _check_run_id(base_id)
        digest = plan_hash(plan_json)
        with self._transaction() as db:
            live = db.execute(
                "SELECT * FROM runs WHERE plan_hash=? AND backend=? AND phase!=? "
                "ORDER BY created_at DESC LIMIT 1",
                (digest, backend, Phase.DOWN.value),
            ).fetchone()
            if live is not None:
                return self._run(live), False
            run_id = _free_id(db, base_id)
            self._insert(db, run_id, digest, plan_json, backend, goal_name, cost_ceiling_usd)
            db.execute("UPDATE runs SET launcher=? WHERE id=?", (launcher, run_id))
        return self.get(run_id), True

    def create_run(
        self, run_id: str, *, plan_json: dict, backend: str, goal_name: str, cost_ceiling_usd: float
    ) -> Run:
        """Record a new run in phase pending (with its first event); ``run_id`` must be new."""
        _check_run_id(run_id)
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM runs WHERE id=?", (run_id,)).fetchone():
                raise ExecutorError(
                    f"run {run_id!r} already exists in {self.path}.",
                    fix="launch with `tailor launch` (it picks a free id), or pick another id.",
                )
            self._insert(
                db, run_id, plan_hash(plan_json), plan_json, backend, goal_name, cost_ceiling_usd
            )
        return self.get(run_id)

    def _insert(
        self,
        db: sqlite3.Connection,
        run_id: str,
        digest: str,
        plan_json: dict,
        backend: str,
        goal_name: str,
        cost_ceiling_usd: float,
    ) -> None:
        now = self._clock()
        db.execute(
            "INSERT INTO runs (id, plan_hash, backend, plan_json, goal_name, phase, created_at, "
            "updated_at, spend_usd, cost_ceiling_usd) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                digest,
                backend,
                json.dumps(plan_json),
                goal_name,
                Phase.PENDING.value,
                now,
                now,
                0.0,
                cost_ceiling_usd,
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

    def transition(
        self,
        run_id: str,
        phase: Phase,
        message: str,
        *,
        spend_usd: float | None = None,
        endpoint: str | None = None,
    ) -> Run:
        """Enter ``phase``: the event and the run's new state are written together.

        Teardown wins: once a run is stopping or down, only ``stopping`` / ``down`` are written
        (a poller that saw the run before ``tailor down`` cannot bring it back); the run is
        returned as it is.
        """
        now = self._clock()
        with self._transaction() as db:
            row = db.execute("SELECT phase, spend_usd FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                raise ExecutorError(f"no run {run_id!r} in {self.path}.", fix="`tailor status`.")
            ending = (Phase.STOPPING.value, Phase.DOWN.value)
            if row["phase"] in ending and phase.value not in ending:
                return self._locked_get(db, run_id)
            spend = row["spend_usd"] if spend_usd is None else spend_usd
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

    def _locked_get(self, db: sqlite3.Connection, run_id: str) -> Run:
        return self._run(db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone())

    def fail_if(self, run_id: str, expected: Phase, launcher: str | None, message: str) -> Run:
        """Mark the run failed only if it is still in ``expected`` with this ``launcher``
        (a stale pending run: another process may have claimed it meanwhile)."""
        now = self._clock()
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE runs SET phase=?, updated_at=? WHERE id=? AND phase=? AND launcher IS ?",
                (Phase.FAILED.value, now, run_id, expected.value, launcher),
            ).rowcount
            if changed:
                db.execute(
                    "INSERT INTO events (run_id, at, phase, message, spend_usd) "
                    "SELECT id, ?, ?, ?, spend_usd FROM runs WHERE id=?",
                    (now, Phase.FAILED.value, message, run_id),
                )
        return self.get(run_id)

    def claim(
        self, run_id: str, expected: Phase, phase: Phase, message: str, *, launcher: str | None
    ) -> Run | None:
        """Move the run from ``expected`` to ``phase`` and make ``launcher`` its launcher — only
        if it is still in ``expected`` (compare and set): the run, or None when another process
        moved it first."""
        now = self._clock()
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE runs SET phase=?, updated_at=?, launcher=? WHERE id=? AND phase=?",
                (phase.value, now, launcher, run_id, expected.value),
            ).rowcount
            if changed:
                db.execute(
                    "INSERT INTO events (run_id, at, phase, message, spend_usd) "
                    "SELECT id, ?, ?, ?, spend_usd FROM runs WHERE id=?",
                    (now, phase.value, message, run_id),
                )
        return self.get(run_id) if changed else None

    def mark_trained(self, run_id: str) -> bool:
        """Record that the run's training finished (its outputs are saved). True only for the
        one caller that recorded it: that one starts serving (pollers race at this hand-over)."""
        with self._transaction() as db:
            return bool(
                db.execute("UPDATE runs SET trained=1 WHERE id=? AND trained=0", (run_id,)).rowcount
            )

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
        rows = self._rows("SELECT * FROM runs WHERE id=?", (run_id,))
        if not rows:
            known = [r.id for r in self.list_runs()][:10]
            raise ExecutorError(
                f"no run {run_id!r} in {self.path}.",
                fix=f"use one of {known or 'the ids `tailor status` lists'}.",
            )
        return self._run(rows[0])

    def plan_json(self, run_id: str) -> dict:
        """The plan file the run was launched from."""
        rows = self._rows("SELECT plan_json FROM runs WHERE id=?", (run_id,))
        if not rows:
            self.get(run_id)  # raises: no such run
        try:
            plan = json.loads(rows[0]["plan_json"])
        except (TypeError, ValueError, RecursionError) as exc:
            detail = f"run {run_id}: plan_json is not JSON ({exc})"
            raise StoreDamagedError(self.path, detail) from None
        if not isinstance(plan, dict):
            raise StoreDamagedError(self.path, f"run {run_id}: plan_json is not an object")
        return plan

    def plan_file(self, run_id: str) -> PlanFile:
        """The plan file the run was launched from, validated as `tailor launch` validates one."""
        try:
            return PlanFile.model_validate(self.plan_json(run_id))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "plan"
            raise ExecutorError(
                f"run {run_id}: the plan it was launched from no longer loads ({where}: "
                f"{first['msg']}); it was recorded by another tailor version, or edited in "
                f"{self.path}.",
                fix=f"`tailor down {run_id}` (teardown does not need the plan), then re-plan "
                "and launch again.",
            ) from None

    def list_runs(self) -> list[Run]:
        """Every run, newest first."""
        return [self._run(r) for r in self._rows("SELECT * FROM runs ORDER BY created_at DESC")]

    def events(self, run_id: str) -> list[Event]:
        """The run's transitions, oldest first."""
        rows = self._rows(
            "SELECT at, phase, message, spend_usd FROM events WHERE run_id=? ORDER BY id",
            (run_id,),
        )
        return [self._record(Event, run_id, dict(r)) for r in rows]

    def resources(self, run_id: str, *, live_only: bool = False) -> list[Resource]:
        """What the run created (only what still exists with ``live_only``)."""
        query = "SELECT kind, name, created_at, deleted_at FROM resources WHERE run_id=?"
        if live_only:
            query += " AND deleted_at IS NULL"
        rows = self._rows(query + " ORDER BY created_at", (run_id,))
        return [self._record(Resource, run_id, dict(r)) for r in rows]

    def _run(self, row: sqlite3.Row) -> Run:
        data = dict(row)
        data.pop("plan_json", None)
        data["trained"] = bool(data.get("trained"))
        return self._record(Run, str(data.get("id")), data)

    def _record(self, model: type[_R], run_id: str, data: dict) -> _R:
        """A row as its model; a value the model refuses (a phase no tailor writes, a NULL in
        a required column) means the file was changed behind tailor's back."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            detail = f"run {run_id}: {model.__name__.lower()} {where}: {first['msg']}"
            raise StoreDamagedError(self.path, detail) from None


def _check_run_id(run_id: str) -> None:
    if not _RUN_ID.fullmatch(run_id):
        raise ExecutorError(
            f"run id {run_id!r} is not a safe name (it names a folder under the state dir).",
            fix="use lower-case letters, digits, '.', '_' and '-' only (goal names and plan "
            "ids are checked the same way when the plan is made).",
        )


def _free_id(db: sqlite3.Connection, base_id: str) -> str:
    taken = {
        r[0]
        for r in db.execute(
            "SELECT id FROM runs WHERE id=? OR id LIKE ? ESCAPE '\\'",
            (base_id, base_id.replace("_", "\\_") + "-%"),
        )
    }
    if base_id not in taken:
        return base_id
    n = 2
    while f"{base_id}-{n}" in taken:
        n += 1
    return f"{base_id}-{n}"


def _make_private_dir(folder: Path) -> None:
    """Create the state folder 0700 (parents as the umask makes them); an existing one of this
    user's is made 0700 too (an older tailor made it by the umask)."""
    if folder.is_dir():
        _tighten_folder(folder)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        if not folder.is_dir():
            raise ExecutorError(
                f"{folder} is a file; the run state needs a folder there.",
                fix="remove or rename it, or pass --state-dir DIR.",
            ) from None
    else:
        os.chmod(folder, 0o700)  # mkdir's mode is masked by the umask


def _tighten_folder(folder: Path) -> None:
    info = folder.stat()
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(folder, stat.S_IMODE(info.st_mode) & 0o700)


def _tighten(path: Path) -> None:
    """Make the database (and SQLite's -wal / -shm beside it) 0600 when this user owns it."""
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            info = candidate.stat()
            if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
                os.chmod(candidate, stat.S_IMODE(info.st_mode) & 0o700)
        except OSError:
            continue


def _create_database(path: Path) -> None:
    """Build an empty store beside ``path`` and link it into place whole (0600, WAL).

    Linking fails if the path appeared meanwhile (another tailor made it first): theirs is kept.
    Nothing is ever created over an existing file, so history is never silently replaced.
    """
    fd, temp = tempfile.mkstemp(prefix=".state-", suffix=".db", dir=path.parent)
    os.close(fd)  # mkstemp made it 0600
    try:
        with closing(sqlite3.connect(temp, isolation_level=None)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        with suppress(FileExistsError):  # another tailor linked its store first: keep it
            os.link(temp, path)
    finally:
        for leftover in (temp, f"{temp}-wal", f"{temp}-shm"):
            if os.path.lexists(leftover):
                os.unlink(leftover)


def _check_database(path: Path, db: sqlite3.Connection) -> None:
    """Refuse a file that is not an intact tailor store; migrate an older layout (backup first)."""
    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise StoreDamagedError(path, f"SQLite's integrity check says: {check}")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise ExecutorError(
            f"{path} was written by a newer tailor (store version {version}; this tailor reads "
            f"up to {SCHEMA_VERSION}).",
            fix="upgrade tailor (pip install -U llm-tailor), or use another --state-dir.",
        )
    _check_tables(path, db, version)
    if version < SCHEMA_VERSION:
        _migrate(path, db)
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode=WAL")


def _check_tables(path: Path, db: sqlite3.Connection, version: int) -> None:
    for table, columns in _COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not have:
            raise StoreDamagedError(path, f"it has no {table} table")
        wanted = columns | (_ADDED_IN_V1.get(table, set()) if version >= 1 else set())
        if missing := sorted(wanted - have):
            raise StoreDamagedError(path, f"table {table} lacks columns {', '.join(missing)}")


def _migrate(path: Path, db: sqlite3.Connection) -> None:
    """Store version 0 → 1 (launcher, trained), after a checked copy of the database is at
    ``.bak-v0``. The write lock is held throughout, so a second tailor waits, then finds the
    store migrated; the copy is made by SQLite (VACUUM INTO, WAL content included) into a
    temporary file and moved into place only once it reads back as the old store."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            _backup(path, Path(f"{path}.bak-v0"))
            for statement in _MIGRATE_TO_V1:  # else another tailor migrated it meanwhile
                db.execute(statement)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _backup(path: Path, backup: Path) -> None:
    if _is_v0_store(backup):
        return  # kept from an earlier attempt that did not finish the migration
    temp = Path(f"{backup}.tmp-{os.getpid()}")
    temp.unlink(missing_ok=True)
    os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        with closing(sqlite3.connect(path)) as reader:  # reads past our write lock (WAL)
            reader.execute("VACUUM INTO ?", (str(temp),))
        if not _is_v0_store(temp):
            raise StoreAccessError(path, f"the backup {temp} did not read back; not migrated")
        os.replace(temp, backup)
    finally:
        temp.unlink(missing_ok=True)


def _is_v0_store(candidate: Path) -> bool:
    if not candidate.is_file() or candidate.stat().st_size == 0:
        return False
    try:
        with closing(sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            return (
                db.execute("PRAGMA user_version").fetchone()[0] == 0
                and {
                    "runs",
                    "events",
                    "resources",
                }
                <= tables
            )
    except sqlite3.DatabaseError:
        return False
