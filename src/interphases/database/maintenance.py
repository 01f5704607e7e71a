"""``interphases db check / repair / migrate``: integrity, rebuilding the summary, montydb -> sqlite.

- :func:`check`: every store of the configured database answers (embedded sqlite: each
  file passes ``PRAGMA quick_check``); returns one line per store.
- :func:`repair`: a corrupt summary or run-log file is moved aside
  (``<name>.sqlite.corrupt-<time>``) and the summary is rebuilt from the JobStore
  (:func:`.summary.ingest`; completed results are then known from their rows). The job
  outputs and blobs are the primary data: if their file is corrupt it is not touched,
  and the message says to restore it from a backup.
- :func:`migrate`: copy a montydb folder written by an older version into indexed sqlite
  stores in the same folder (idempotent, keys enforced; the montydb files stay).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from interphases.database.config import DatabaseConfig, load_config
from interphases.database.sqlite_store import SQLiteStore
from interphases.database.store import montydb_stores, open_database, sqlite_stores
from interphases.errors import DatabaseError

#: stores rebuilt by ``repair`` (derived data); the others are primary
DERIVED = ("summary", "results")


@dataclass
class StoreState:
    name: str
    location: str
    ok: bool
    count: int | None = None
    problem: str | None = None

    def line(self) -> str:
        if self.ok:
            count = f", {self.count} document(s)" if self.count is not None else ""
            return f"{self.name}: ok{count} ({self.location})"
        return f"{self.name}: BROKEN ({self.location}): {self.problem}"


def _embedded_files(config: DatabaseConfig) -> dict[str, Path]:
    path = config.embedded_path()
    stores = sqlite_stores(path, config.summary_collection, config.results_collection)
    return {name: store.file for name, store in stores.items()}


def _check_file(path: Path) -> str | None:
    """None if the sqlite file is sound (or absent), else the problem in one line."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
            conn.execute("SELECT COUNT(*) FROM docs").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None if rows == ["ok"] else "; ".join(rows[:3])


def check(config: DatabaseConfig | None = None) -> list[StoreState]:
    """State of every store (see the module docstring)."""
    config = config or load_config()
    states: list[StoreState] = []
    if config.embedded and config.embedded_storage() == "sqlite":
        for name, path in _embedded_files(config).items():
            problem = _check_file(path)
            states.append(StoreState(name, str(path), problem is None, problem=problem))
        if not all(s.ok for s in states):
            return states
        states = []
    try:
        db = open_database(config)
        with db:
            for name, n in db.counts().items():
                location = db.location if name == "outputs" else name
                states.append(StoreState(name, location, True, count=n))
    except DatabaseError as exc:
        states.append(StoreState("database", str(config.source), False, problem=str(exc)))
    return states


@dataclass
class RepairReport:
    moved: list[str] = field(default_factory=list)
    rows_written: int = 0
    outputs_checked: int = 0


def repair(config: DatabaseConfig | None = None) -> RepairReport:
    """Move corrupt summary/run-log files aside and rebuild the summary from the JobStore."""
    from interphases.database.summary import ingest

    config = config or load_config()
    report = RepairReport()
    if config.embedded and config.embedded_storage() == "sqlite":
        files = _embedded_files(config)
        broken = {name: p for name, p in files.items() if _check_file(p) is not None}
        primary = sorted(set(broken) - set(DERIVED))
        if primary:
            raise DatabaseError(
                f"{', '.join(str(broken[n]) for n in primary)} is corrupt: job outputs cannot be "
                "rebuilt, restore the file from a backup (the summary is rebuilt from it afterwards)"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        for name in DERIVED:
            if name in broken:
                path = broken[name]
                for extra in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                    if extra.exists():
                        target = extra.with_name(f"{extra.name}.corrupt-{stamp}")
                        extra.replace(target)
                        if extra == path:
                            report.moved.append(str(target))
    db = open_database(config)
    with db:
        result = ingest(database=db)
    report.rows_written = result.written
    report.outputs_checked = result.outputs_checked
    return report


@dataclass
class MigrateReport:
    copied: dict[str, int] = field(default_factory=dict)
    path: str = ""


def migrate(config: DatabaseConfig | None = None, batch: int = 500) -> MigrateReport:
    """Copy the montydb stores of an embedded folder into sqlite stores (idempotent)."""
    config = config or load_config()
    if not config.embedded:
        raise DatabaseError("db migrate converts an embedded montydb folder; this database is not embedded")
    path = config.embedded_path()
    if not (path / ".monty.storage").is_file():
        raise DatabaseError(f"{path} holds no montydb database: nothing to migrate")
    old = montydb_stores(path, config.summary_collection, config.results_collection)
    new = sqlite_stores(path, config.summary_collection, config.results_collection)
    report = MigrateReport(path=str(path))
    for name, source in old.items():
        target: SQLiteStore = new[name]
        source.connect()
        target.connect()
        copied, chunk = 0, []
        for doc in source._collection.find({}):
            doc.pop("_id", None)
            if name == "results" and "run_id" not in doc:
                continue
            chunk.append(doc)
            if len(chunk) >= batch:
                target.update(chunk, key=target.unique_key)
                copied += len(chunk)
                chunk = []
        if chunk:
            target.update(chunk, key=target.unique_key)
            copied += len(chunk)
        report.copied[name] = copied
        source.close()
        target.close()
    return report
