"""``SQLiteStore``: a maggma ``Store`` on stdlib ``sqlite3`` with real indexes (no server).

Why it exists: maggma has no SQL store, and montydb (maggma's ``MontyStore``, the
previous embedded default) has no indexes, so every ``replace_one``/``find`` scans the
whole collection and a campaign's writes cost O(N^2) (see
``docs/cluster-and-database.md`` and ``benchmarks/bench_database.py``). None of the
embedded document databases on PyPI is both multi-process safe and indexed
(TinyDB/JSON/mongomock-persistence lose documents with two writers; montydb/lightning
scans), so this module is ours. It is deliberately small:

- one sqlite file per collection (``<folder>/<collection>.sqlite``), WAL journal,
  busy timeout, every write in a ``BEGIN IMMEDIATE`` transaction: many writer processes
  on one node are serialised by sqlite itself; a corrupt file names itself and the
  others stay usable (the summary can be rebuilt from the JobStore);
- table ``docs(id, _key UNIQUE, doc, <index columns>)``: ``doc`` is the document as JSON
  (``monty.json.MontyEncoder``: datetimes and MSONables round-trip as jobflow expects),
  ``_key`` the JSON of the values of ``unique_key`` (jobflow outputs: ``uuid`` +
  ``index``; blobs: ``blob_uuid``; summary rows: ``row_id``). Writes are
  ``INSERT ... ON CONFLICT(_key) DO UPDATE`` (upsert) or ``INSERT OR IGNORE``
  (:meth:`insert_new`), never check-then-insert;
- each indexed field (dotted paths allowed, e.g. ``metadata.cache_key``) has two
  columns: its scalar value (``str``/``int``/``float``, SQL-indexed) and, when the
  value is a list, the JSON of that list (matched with ``json_each``, MongoDB's
  "array contains" semantics; a partial index on it keeps ``field = x`` two index
  searches, not a table scan). Dotted paths do not traverse arrays of documents.

Queries are MongoDB filters. The parts on indexed fields (equality, ``$in``,
``$gt/$gte/$lt/$lte``, nested in ``$and``/``$or``) are turned into SQL that selects a
superset of the matches; the full filter is then evaluated in Python on those rows by
mongomock's ``filter_applies`` (every operator MongoDB has: ``$ne``, ``$exists``,
``$regex``, ``$elemMatch`` ...). When the SQL is exact (equality/``$in`` on strings
only) the Python pass is skipped and ``count``/``skip``/``limit`` run in SQL.
Sorting is done in Python (MongoDB's cross-type order: null < numbers < strings <
objects < arrays < booleans < dates). Known corner: ``{f: true}`` also matches an array
``f`` holding ``1`` (mongomock compares ``True == 1``; MongoDB does not).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from itertools import groupby as _groupby
from pathlib import Path
from typing import Any

from maggma.core import Sort, Store, StoreError
from monty.json import MontyEncoder, jsanitize

from interphases.errors import DatabaseError

try:  # 3-5x faster parsing of large documents; stdlib json is the fallback (NaN, datetimes)
    import orjson

    def _fast_loads(text: str) -> Any:
        return orjson.loads(text)

except ImportError:  # pragma: no cover
    _fast_loads = json.loads

_SQL_SCALAR = (str, int, float)
_DATETIME_TAG = '"@module": "datetime"'
#: a document value that is not stored in the scalar column of an indexed field
_MISSING = object()

_BRACKET = {type(None): 0, int: 1, float: 1, str: 2, dict: 3, list: 4, bool: 5, datetime: 6}


def _encode(doc: dict[str, Any]) -> str:
    return json.dumps(doc, cls=MontyEncoder, allow_nan=True, separators=(",", ":"))


class _PlainEncoder(json.JSONEncoder):
    """JSON types and datetimes only (what jobflow/maggma hand over after ``jsanitize``)."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return {"@module": "datetime", "@class": "datetime", "string": str(o)}
        raise TypeError(type(o).__name__)


_PLAIN = _PlainEncoder(allow_nan=True, separators=(",", ":"))


def _datetime_hook(obj: dict[str, Any]) -> Any:
    if obj.get("@module") == "datetime" and obj.get("@class") == "datetime" and "string" in obj:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(obj["string"])
    return obj


def _decode(text: str) -> dict[str, Any]:
    if '"@module":"datetime"' in text or _DATETIME_TAG in text:
        return json.loads(text, object_hook=_datetime_hook)
    try:
        return _fast_loads(text)
    except ValueError:  # NaN / Infinity
        return json.loads(text)


def _get_path(doc: Any, path: str) -> Any:
    """Value at a dotted path (no array traversal), or ``_MISSING``."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return _MISSING
    return cur


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    cur = doc
    for part in parts[:-1]:
        cur = cur.setdefault(part, {})
        if not isinstance(cur, dict):
            return
    cur[parts[-1]] = value


def _column_values(value: Any) -> tuple[Any, str | None]:
    """(scalar column, array column) of one indexed value."""
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None, None
    if isinstance(value, _SQL_SCALAR):
        return value, None
    if isinstance(value, list | tuple):
        items = [v for v in value if isinstance(v, _SQL_SCALAR) and not isinstance(v, bool)]
        return None, json.dumps(items)
    return None, None


def _column_name(field: str) -> str:
    slug = re.sub(r"\W", "_", field)[:40]
    return f"ix_{slug}_{hashlib.sha1(field.encode()).hexdigest()[:6]}"


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is _MISSING:
        return (0, 0)
    bracket = _BRACKET.get(type(value), 3)
    if bracket in (3, 4):
        return (bracket, json.dumps(value, sort_keys=True, default=str))
    return (bracket, value)


def _identity(value: Any) -> Any:
    """Hashable identity of a value for ``distinct`` (``True`` is not ``1``; ``1`` is ``1.0``)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("num", value)
    if isinstance(value, str):
        return ("str", value)
    return ("other", json.dumps(value, sort_keys=True, default=str))


def _is_operator_dict(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k).startswith("$") for k in value)


class _Pushdown:
    """SQL for the indexed part of a MongoDB filter: (where, params, exact)."""

    def __init__(self, columns: dict[str, str]):
        self.columns = columns

    def build(self, criteria: dict[str, Any]) -> tuple[str, list[Any], bool]:
        clauses, params, exact = [], [], True
        for key, value in criteria.items():
            if key == "$and":
                parts = [self.build(c) for c in value]
                for sql, p, e in parts:
                    if sql:
                        clauses.append(sql)
                        params += p
                    exact &= e
            elif key == "$or":
                parts = [self.build(c) for c in value]
                if parts and all(sql for sql, _, _ in parts):
                    clauses.append("(" + " OR ".join(sql for sql, _, _ in parts) + ")")
                    for _, p, _ in parts:
                        params += p
                    exact &= all(e for _, _, e in parts)
                else:
                    exact = False
            elif key.startswith("$"):
                exact = False
            elif key in self.columns:
                sql, p, e = self._field(self.columns[key], value)
                if sql:
                    clauses.append(sql)
                    params += p
                exact &= e
            else:
                exact = False
        return " AND ".join(clauses), params, exact

    def _field(self, col: str, value: Any) -> tuple[str, list[Any], bool]:
        arr = f"{col}_a"
        if not _is_operator_dict(value):
            if isinstance(value, str) or (
                isinstance(value, int | float) and not isinstance(value, bool)
            ):
                sql = f"({col} = ? OR ({arr} IS NOT NULL AND EXISTS (SELECT 1 FROM json_each({arr}) WHERE value = ?)))"
                return sql, [value, value], isinstance(value, str)
            if value is None or isinstance(value, bool):
                return f"{col} IS NULL", [], False
            return "", [], False
        clauses, params, exact = [], [], True
        for op, operand in value.items():
            if op == "$in" and isinstance(operand, list | tuple):
                scalars = [
                    v
                    for v in operand
                    if isinstance(v, _SQL_SCALAR) and not isinstance(v, bool)
                ]
                others = [v for v in operand if v not in scalars]
                if any(not (v is None or isinstance(v, bool)) for v in others):
                    exact = False  # regexes, documents: not pushed
                    continue
                marks = ",".join("?" * len(scalars)) or "NULL"
                sql = f"{col} IN ({marks}) OR ({arr} IS NOT NULL AND EXISTS (SELECT 1 FROM json_each({arr}) WHERE value IN ({marks})))"
                if others:
                    sql += f" OR {col} IS NULL"
                clauses.append(f"({sql})")
                params += scalars + scalars
                exact &= not others and all(isinstance(v, str) for v in scalars)
            elif op in ("$gt", "$gte", "$lt", "$lte") and (
                isinstance(operand, _SQL_SCALAR) and not isinstance(operand, bool)
            ):
                sym = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}[op]
                clauses.append(
                    f"({col} {sym} ? OR ({arr} IS NOT NULL AND EXISTS (SELECT 1 FROM json_each({arr}) WHERE value {sym} ?)))"
                )
                params += [operand, operand]
                exact = False  # sqlite orders numbers below strings; MongoDB does not compare them
            elif op == "$eq":
                sql, p, e = self._field(col, operand)
                if sql:
                    clauses.append(sql)
                    params += p
                exact &= e
            else:
                exact = False
        return " AND ".join(clauses), params, exact


def _matcher():
    from mongomock_ng.filtering import filter_applies

    return filter_applies


class SQLiteStore(Store):
    """maggma ``Store`` on one sqlite file per collection, indexed, multi-process safe.

    Args:
        database_path: folder of the files (created on connect).
        collection_name: the collection; its file is ``<database_path>/<name>.sqlite``.
        key: maggma's key field (what ``update`` matches on by default).
        unique_key: fields whose values identify a document (default: ``[key]``); the
            store enforces their uniqueness (UNIQUE constraint).
        indexes: further fields (dotted paths) kept in indexed columns.
        timeout_s: how long a writer waits for the file's write lock.
    """

    def __init__(
        self,
        database_path: str,
        collection_name: str,
        key: str = "task_id",
        unique_key: list[str] | None = None,
        indexes: list[str] | None = None,
        timeout_s: float = 300.0,
        **kwargs: Any,
    ):
        self.database_path = str(database_path)
        self.collection_name = collection_name
        self.unique_key = list(unique_key) if unique_key else [key]
        self.indexes = list(indexes or [])
        self.timeout_s = float(timeout_s)
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.RLock()
        self._columns: dict[str, str] = {}
        self._schema_version: int | None = None
        self.kwargs = kwargs
        super().__init__(key=key, **kwargs)

    # --- connection ----------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return Path(self.database_path) / f"{self.collection_name}.sqlite"

    @property
    def name(self) -> str:
        return f"sqlite://{self.file}"

    def _fail(self, exc: Exception, doing: str) -> DatabaseError:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.OperationalError
        ):
            return DatabaseError(
                f"database file {self.file} is corrupt ({text}) while {doing}: "
                "run `interphases db check`, then `interphases db repair` (rebuilds the summary from the JobStore)"
            )
        return DatabaseError(f"database file {self.file}: {text} while {doing}")

    def connect(self, force_reset: bool = False) -> None:
        with self._lock:
            if self._conn is not None and not force_reset and self._pid == os.getpid():
                return
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None
            folder = Path(self.database_path)
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create the database folder {folder}: {exc.strerror or exc}; "
                    "set INTERPHASES_PROJECT to a writable folder"
                ) from exc
            try:
                conn = sqlite3.connect(
                    str(self.file),
                    timeout=self.timeout_s,
                    isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
                mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                self._conn, self._pid = conn, os.getpid()
                self._setup()
            except sqlite3.Error as exc:
                self._conn = None
                raise self._fail(exc, "opening it") from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.connect()
        assert self._conn is not None
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction (the file's write lock, waits up to timeout)."""
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._refresh_columns(conn)
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _setup(self) -> None:
        conn = self._conn
        assert conn is not None
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS docs (id INTEGER PRIMARY KEY, _key TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta_indexes (field TEXT PRIMARY KEY, col TEXT NOT NULL, unique_idx INTEGER DEFAULT 0)"
            )
            conn.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            stored = conn.execute("SELECT value FROM meta WHERE name='unique_key'").fetchone()
            if stored is None:
                conn.execute(
                    "INSERT INTO meta VALUES ('unique_key', ?)", (json.dumps(self.unique_key),)
                )
            elif json.loads(stored[0]) != self.unique_key:
                raise DatabaseError(
                    f"{self.file} is keyed on {json.loads(stored[0])}, not {self.unique_key}: "
                    "open it with the same unique_key"
                )
            self._refresh_columns(conn, force=True)
            for field in [*self.unique_key, *self.indexes]:
                if field not in self._columns:
                    self._add_index(conn, field)
            existing = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
            for col in self._columns.values():
                if f"{col}_a_idx" not in existing:
                    self._array_index(conn, col)
            self._refresh_columns(conn, force=True)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _array_index(conn: sqlite3.Connection, col: str) -> None:
        """Partial index of the array column: with it sqlite answers ``col = ? OR <array
        contains ?>`` with two index searches (MULTI-INDEX OR) instead of a table scan."""
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {col}_a_idx ON docs({col}_a) WHERE {col}_a IS NOT NULL"
        )

    def _refresh_columns(self, conn: sqlite3.Connection, force: bool = False) -> None:
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if force or version != self._schema_version:
            self._columns = dict(conn.execute("SELECT field, col FROM meta_indexes").fetchall())
            self._schema_version = version

    def _add_index(self, conn: sqlite3.Connection, field: str, unique: bool = False) -> None:
        """Add the columns of ``field``, fill them from the stored documents, index them."""
        col = _column_name(field)
        conn.execute(f"ALTER TABLE docs ADD COLUMN {col}")
        conn.execute(f"ALTER TABLE docs ADD COLUMN {col}_a")
        rows = conn.execute("SELECT id, doc FROM docs").fetchall()
        for rowid, text in rows:
            s, a = _column_values(_get_path(_decode(text), field))
            conn.execute(f"UPDATE docs SET {col} = ?, {col}_a = ? WHERE id = ?", (s, a, rowid))
        conn.execute(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {col}_idx ON docs({col})"
        )
        self._array_index(conn, col)
        conn.execute(
            "INSERT INTO meta_indexes (field, col, unique_idx) VALUES (?, ?, ?)",
            (field, col, int(unique)),
        )
        self._columns[field] = col
        self._schema_version = conn.execute("PRAGMA schema_version").fetchone()[0]

    @property
    def _collection(self) -> _SQLiteCollection:
        """A minimal pymongo-like view (find, insert_one/many, count_documents, create_index)."""
        self._db()
        return _SQLiteCollection(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SQLiteStore):
            return False
        return (
            Path(self.database_path).resolve(),
            self.collection_name,
            self.key,
            self.unique_key,
        ) == (
            Path(other.database_path).resolve(),
            other.collection_name,
            other.key,
            other.unique_key,
        )

    def __hash__(self) -> int:
        return hash((self.database_path, self.collection_name))

    def __getstate__(self):  # pickled for multiprocessing: no connection, no lock
        return self.as_dict()

    def __setstate__(self, d):
        d = {k: v for k, v in d.items() if not k.startswith("@")}
        self.__init__(**d)

    # --- writing -------------------------------------------------------------------------
    def _row(self, doc: dict[str, Any]) -> tuple[str, str, list[Any]]:
        try:  # documents from jobflow/maggma are sanitised already: no second pass
            text = _PLAIN.encode(doc)
        except (TypeError, ValueError):
            doc = jsanitize(doc, strict=True, allow_bson=True)
            text = _encode(doc)
        key = json.dumps(
            [None if (v := _get_path(doc, f)) is _MISSING else v for f in self.unique_key],
            sort_keys=True,
            default=str,
        )
        values: list[Any] = []
        for field in self._columns:
            values += list(_column_values(_get_path(doc, field)))
        return key, text, values

    def _prepare(self, docs: list[dict] | dict) -> list[dict[str, Any]]:
        if isinstance(docs, dict):
            docs = [docs]
        out = []
        for d in docs:
            if not isinstance(d, dict):
                d = jsanitize(d, strict=True, allow_bson=True)
            if "_id" in d:
                d = {k: v for k, v in d.items() if k != "_id"}
            out.append(d)
        return out

    def _insert_sql(self, mode: str) -> str:
        cols = ["_key", "doc"] + [c for field in self._columns for c in (self._columns[field], self._columns[field] + "_a")]
        marks = ",".join("?" * len(cols))
        base = f"INSERT {mode} INTO docs ({','.join(cols)}) VALUES ({marks})"
        if mode == "":
            sets = ",".join(f"{c}=excluded.{c}" for c in cols[1:])
            base += f" ON CONFLICT(_key) DO UPDATE SET {sets}"
        return base

    def update(self, docs: list[dict] | dict, key: list | str | None = None) -> None:
        """Upsert ``docs``: a document replaces the stored one with the same ``key`` values.

        With ``key`` equal to the unique key this is one ``INSERT ... ON CONFLICT DO
        UPDATE`` per document; another ``key`` first deletes the documents matching its
        values, in the same transaction.
        """
        docs = self._prepare(docs)
        if not docs:
            return
        keys = [key] if isinstance(key, str) else list(key or [self.key])
        try:
            with self._write() as conn:
                if sorted(keys) != sorted(self.unique_key):
                    for d in docs:
                        crit = {k: (None if (v := _get_path(d, k)) is _MISSING else v) for k in keys}
                        ids = [rowid for rowid, _ in self._candidates(conn, crit)]
                        conn.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in ids])
                sql = self._insert_sql("")
                conn.executemany(sql, [(k, t, *v) for k, t, v in map(self._row, docs)])
        except sqlite3.Error as exc:
            raise self._fail(exc, "writing") from exc

    def insert_new(self, docs: list[dict] | dict) -> int:
        """Insert the documents whose unique key is not stored yet (``INSERT OR IGNORE``).

        Returns how many were inserted; concurrent writers never duplicate a key.
        """
        docs = self._prepare(docs)
        if not docs:
            return 0
        try:
            with self._write() as conn:
                before = conn.total_changes
                conn.executemany(
                    self._insert_sql("OR IGNORE"), [(k, t, *v) for k, t, v in map(self._row, docs)]
                )
                return conn.total_changes - before
        except sqlite3.Error as exc:
            raise self._fail(exc, "writing") from exc

    def remove_docs(self, criteria: dict) -> None:
        try:
            with self._write() as conn:
                ids = [rowid for rowid, _ in self._candidates(conn, criteria or {})]
                conn.executemany("DELETE FROM docs WHERE id = ?", [(i,) for i in ids])
        except sqlite3.Error as exc:
            raise self._fail(exc, "deleting") from exc

    def ensure_index(self, key: str, unique: bool = False) -> bool:
        """Index ``key`` (adds and fills its columns once; all processes see it)."""
        if key in self._columns and not unique:
            return True
        try:
            with self._write() as conn:
                if key not in self._columns:
                    self._add_index(conn, key, unique=unique and key not in self.unique_key)
            return True
        except sqlite3.IntegrityError:
            return False
        except sqlite3.Error as exc:
            raise self._fail(exc, f"indexing {key}") from exc

    # --- reading -------------------------------------------------------------------------
    def _select(
        self, conn: sqlite3.Connection, criteria: dict[str, Any]
    ) -> tuple[str, list[Any], bool]:
        where, params, exact = _Pushdown(self._columns).build(criteria or {})
        return (f" WHERE {where}" if where else ""), params, exact

    def _candidates(
        self, conn: sqlite3.Connection, criteria: dict[str, Any]
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        where, params, exact = self._select(conn, criteria)
        match = None if exact or not criteria else _matcher()
        # "+id": order by insertion without letting sqlite pick the rowid scan over the indexes
        order = " ORDER BY +id" if where else " ORDER BY id"
        for rowid, text in conn.execute(f"SELECT id, doc FROM docs{where}{order}", params):
            doc = _decode(text)
            if match is None or match(criteria, doc):
                yield rowid, doc

    def _read(self, fn, doing: str):
        with self._lock:
            try:
                conn = self._db()
                self._refresh_columns(conn)
                return fn(conn)
            except sqlite3.Error as exc:
                raise self._fail(exc, doing) from exc

    def count(self, criteria: dict | None = None, hint: dict | None = None) -> int:
        def run(conn):
            where, params, exact = self._select(conn, criteria or {})
            if exact or not criteria:
                return conn.execute(f"SELECT COUNT(*) FROM docs{where}", params).fetchone()[0]
            return sum(1 for _ in self._candidates(conn, criteria))

        return self._read(run, "counting")

    def query(
        self,
        criteria: dict | None = None,
        properties: dict | list | None = None,
        sort: dict[str, Sort | int] | None = None,
        skip: int = 0,
        limit: int = 0,
        hint: dict | None = None,
        **kwargs: Any,
    ) -> Iterator[dict]:
        criteria = criteria or {}

        def run(conn):
            where, params, exact = self._select(conn, criteria)
            if (exact or not criteria) and not sort:
                sql = f"SELECT doc FROM docs{where} ORDER BY {'+id' if where else 'id'}"
                if limit or skip:
                    sql += f" LIMIT {int(limit) if limit else -1} OFFSET {int(skip)}"
                return [_decode(t) for (t,) in conn.execute(sql, params)]
            docs = [d for _, d in self._candidates(conn, criteria)]
            if sort:
                for field, direction in reversed(list(sort.items())):
                    value = direction.value if isinstance(direction, Sort) else direction
                    docs.sort(key=lambda d, f=field: _sort_key(_get_path(d, f)), reverse=value < 0)
            end = skip + limit if limit else None
            return docs[skip:end]

        docs = self._read(run, "reading")
        for doc in docs:
            yield _project(doc, properties)

    def distinct(self, field: str, criteria: dict | None = None, all_exist: bool = False) -> list:
        """Distinct values of ``field`` (array values flattened; ``1`` and ``True`` differ, as in MongoDB)."""

        def run(conn):
            seen: dict[Any, Any] = {}

            def add(value: Any) -> None:
                for item in value if isinstance(value, list) else [value]:
                    if item is not _MISSING:
                        seen.setdefault(_identity(item), item)

            if not criteria and field in self._columns:
                col = self._columns[field]
                for (v,) in conn.execute(f"SELECT DISTINCT {col} FROM docs WHERE {col} IS NOT NULL"):
                    add(v)
                for (arr,) in conn.execute(f"SELECT DISTINCT {col}_a FROM docs WHERE {col}_a IS NOT NULL"):
                    add(json.loads(arr))
                # values the columns do not hold (booleans, null, documents, nested lists)
                rest = conn.execute(f"SELECT doc FROM docs WHERE {col} IS NULL").fetchall()
                for (text,) in rest:
                    v = _get_path(_decode(text), field)
                    add([x for x in v if not isinstance(x, _SQL_SCALAR) or isinstance(x, bool)] if isinstance(v, list) else v)
                return list(seen.values())
            for _, d in self._candidates(conn, criteria or {}):
                add(_get_path(d, field))
            return list(seen.values())

        return self._read(run, "reading")

    def groupby(
        self,
        keys: list[str] | str,
        criteria: dict | None = None,
        properties: dict | list | None = None,
        sort: dict[str, Sort | int] | None = None,
        skip: int = 0,
        limit: int = 0,
    ) -> Iterator[tuple[dict, list[dict]]]:
        keys = [keys] if isinstance(keys, str) else list(keys)
        if isinstance(properties, list):
            properties = [*properties, *keys]
        elif isinstance(properties, dict):
            properties = {**properties, **dict.fromkeys(keys, 1)}
        docs = [
            d
            for d in self.query(criteria, properties, sort, skip, limit)
            if all(_get_path(d, k) is not _MISSING for k in keys)
        ]

        def grouping(d):
            return tuple(_sort_key(_get_path(d, k)) for k in keys)

        for _, group in _groupby(sorted(docs, key=grouping), key=grouping):
            group = list(group)
            head: dict[str, Any] = {}
            for k in keys:
                _set_path(head, k, _get_path(group[0], k))
            yield head, group


def _project(doc: dict[str, Any], properties: dict | list | None) -> dict[str, Any]:
    if not properties:
        return doc
    if isinstance(properties, list | tuple):
        include = list(properties)
    else:
        include = [k for k, v in properties.items() if v]
        exclude = [k for k, v in properties.items() if not v]
        if exclude and not include:
            out = dict(doc)
            for path in exclude:
                parts = path.split(".")
                cur = out
                for part in parts[:-1]:
                    cur = cur.get(part) if isinstance(cur, dict) else None
                if isinstance(cur, dict):
                    cur.pop(parts[-1], None)
            return out
    out: dict[str, Any] = {}
    for path in include:
        value = _get_path(doc, path)
        if value is not _MISSING:
            _set_path(out, path, value)
    return out


class _SQLiteCollection:
    """The few pymongo ``Collection`` methods project code and jobflow-remote touch."""

    def __init__(self, store: SQLiteStore):
        self.store = store

    def find(self, filter: dict | None = None, projection: Any = None, **kwargs: Any):  # noqa: A002
        return self.store.query(filter or {}, properties=projection)

    def find_one(self, filter: dict | None = None, projection: Any = None):  # noqa: A002
        return next(iter(self.store.query(filter or {}, properties=projection, limit=1)), None)

    def insert_one(self, doc: dict) -> None:
        if self.store.insert_new(doc) == 0:
            raise StoreError(f"duplicate key {self.store.unique_key} in {self.store.name}")

    def insert_many(self, docs: list[dict]) -> int:
        return self.store.insert_new(docs)

    def count_documents(self, filter: dict | None = None) -> int:  # noqa: A002
        return self.store.count(filter or {})

    def create_index(self, keys: Any, unique: bool = False, **kwargs: Any) -> str:
        fields = [keys] if isinstance(keys, str) else [k for k, _ in keys]
        for field in fields:
            self.store.ensure_index(field)
        return "_".join(fields)

    def drop_indexes(self) -> None:
        """Indexes of this store are part of its schema: nothing is dropped."""
