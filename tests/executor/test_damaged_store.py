"""A damaged state database (issue 10, point 6): one clear paragraph, the file left as it is,
never silently recreated over; an older layout migrated only after a backup.

Before, 30 of 51 such probes ended in a raw SQLite traceback and a 0-byte file or a dropped
table was silently recreated empty.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from executor.state import SCHEMA_VERSION, Phase, RunStore, StoreDamagedError
from tui.cli import cli

# The layout tailor wrote before store version 1 (no launcher / trained columns, user_version 0).
V0_SCHEMA = """
CREATE TABLE runs (id TEXT PRIMARY KEY, plan_hash TEXT NOT NULL, backend TEXT NOT NULL,
    plan_json TEXT NOT NULL, goal_name TEXT NOT NULL, phase TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, spend_usd REAL NOT NULL DEFAULT 0,
    cost_ceiling_usd REAL NOT NULL, endpoint TEXT);
CREATE INDEX runs_by_plan ON runs(plan_hash, backend);
CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL
    REFERENCES runs(id), at REAL NOT NULL, phase TEXT NOT NULL, message TEXT NOT NULL,
    spend_usd REAL NOT NULL);
CREATE TABLE resources (run_id TEXT NOT NULL REFERENCES runs(id), kind TEXT NOT NULL,
    name TEXT NOT NULL, created_at REAL NOT NULL, deleted_at REAL,
    PRIMARY KEY (run_id, kind, name));
INSERT INTO runs VALUES ('old-run', 'h', 'local', '{"plan": {}}', 'g', 'ready', 1, 2, 0.5, 3, NULL);
INSERT INTO events (run_id, at, phase, message, spend_usd) VALUES ('old-run', 1, 'pending', 'x', 0);
"""


PLAN = json.loads((Path(__file__).parents[1] / "data" / "plans" / "financial-p1.json").read_text())


def _store_with_a_run(path: Path) -> None:
    store = RunStore(path)
    store.create_run("r1", plan_json=PLAN, backend="local", goal_name="g", cost_ceiling_usd=1)
    store.transition("r1", Phase.TRAINING, "training")
    for n in range(200):  # enough pages that truncation cuts into the tables
        store.add_resource("r1", "process", f"train:{10_000_000 + n}:{'x' * 200}")  # no such pid
    store.close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _sql(*statements: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        _store_with_a_run(path)
        with closing(sqlite3.connect(path)) as db:
            for statement in statements:
                db.execute(statement)
            db.commit()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    return damage


def _truncated(path: Path) -> None:
    _store_with_a_run(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_bytes(path: Path) -> None:
    path.write_bytes(hashlib.sha256(b"tailor").digest() * 500)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _folder(path: Path) -> None:
    path.mkdir()


def _other_schema(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
        db.execute("INSERT INTO notes VALUES ('mine')")
        db.commit()


DAMAGES = {
    "truncated": _truncated,
    "random bytes": _random_bytes,
    "0-byte file": _empty,
    "a folder": _folder,
    "another schema": _other_schema,
    "dropped table": _sql("DROP TABLE events"),
    "missing column": _sql("ALTER TABLE runs DROP COLUMN endpoint"),
    "bad phase": _sql("UPDATE runs SET phase='exploded'"),
    "text in a number column": _sql("UPDATE events SET spend_usd='lots'"),
    "bad plan JSON": _sql("UPDATE runs SET plan_json='{not json'"),
    "newer store version": _sql(f"PRAGMA user_version={SCHEMA_VERSION + 1}"),
}


def _fingerprint(path: Path) -> str:
    if path.is_dir():
        return "dir:" + ",".join(sorted(p.name for p in path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


EVERY_COMMAND = (("status",), ("status", "r1"), ("logs", "r1"), ("down", "r1"))
ROW_DAMAGES = {  # damage in one row: the commands that read that row
    "text in a number column": (("status", "r1"),),
    "bad plan JSON": (("status", "r1"),),
}
CASES = [
    (damage, command) for damage in DAMAGES for command in ROW_DAMAGES.get(damage, EVERY_COMMAND)
]


@pytest.mark.parametrize(("damage", "command"), CASES, ids=[f"{d}-{' '.join(c)}" for d, c in CASES])
def test_a_damaged_store_is_one_paragraph_and_left_as_it_is(
    tmp_path: Path, damage: str, command: tuple[str, ...]
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    db = state / "state.db"
    DAMAGES[damage](db)
    before = _fingerprint(db)
    outcome = CliRunner().invoke(cli, [*command, "--state-dir", str(state)])
    assert outcome.exit_code == 2, outcome.output
    message = outcome.output.strip()
    assert message.startswith("Error: ") and message.count("To fix:") == 1
    assert "Traceback" not in message and not isinstance(outcome.exception, sqlite3.Error)
    if damage != "newer store version":
        assert "is damaged or is not tailor's run state" in message, message
    assert _fingerprint(db) == before  # nothing recreated, nothing written over it


def test_a_new_store_is_created_whole(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "state.db")
    store.close()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".state-")]
    assert leftovers == []  # the build file was linked into place and removed
    with pytest.raises(StoreDamagedError):  # and from now on an emptied file is refused
        (tmp_path / "state.db").write_bytes(b"")
        RunStore(tmp_path / "state.db")


def test_an_older_store_is_migrated_after_a_backup(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with closing(sqlite3.connect(path)) as db:
        db.executescript(V0_SCHEMA)
    store = RunStore(path)
    try:
        run = store.get("old-run")
        assert run.phase is Phase.READY and run.launcher is None and not run.trained
        assert store.events("old-run")[0].message == "x"
    finally:
        store.close()
    backup = Path(f"{path}.bak-v0")
    with closing(sqlite3.connect(backup)) as db:  # the old layout and rows, as they were
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("SELECT id, phase FROM runs").fetchall() == [("old-run", "ready")]
        assert "launcher" not in {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    before = backup.read_bytes()
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    RunStore(path).close()  # opening again migrates nothing and keeps the first backup
    assert backup.read_bytes() == before
