"""The results database: a jobflow ``JobStore`` plus two small collections.

- ``jobstore``: jobflow's store of job output documents (``outputs``), with the ``data``
  additional store for large arrays (``outputs_data``; GridFS or S3 in production).
- ``summary``: one flat document per computed quantity (see :mod:`.summary`), the thing
  queries and reports read.
- ``results``: the run log, one document per completed campaign item run
  (``result_key``), used to resume campaigns without recomputing.

Embedded default (no server): :class:`~.sqlite_store.SQLiteStore`, one indexed sqlite
file per collection in ``<project>/database`` (WAL, many writers on one node). Every
store has a key it enforces: outputs ``(uuid, index)``, blobs ``blob_uuid``, summary
rows ``row_id``, run-log entries ``run_id`` (a completed run's id is derived from its
``result_key``, so a result is logged done once). Indexed: see the ``*_INDEXES``
tuples; the same fields get MongoDB indexes when the stores are MongoDB
(:meth:`Database.init`).

Folders written by older versions hold montydb files; they are opened with maggma's
``MontyStore`` (:class:`ProjectMontyStore`, no indexes) until ``interphases db migrate``
copies them into sqlite stores. Two montydb facts shape that legacy path: two
processes creating the same collection at the same moment lose documents, so
:meth:`Database.init` creates every collection once, under a file lock; and montydb
rewrites its storage config files on every connect, which :class:`ProjectMontyStore`
skips once the folder is set up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobflow import JobStore
from maggma.stores import MongoStore, MontyStore, Store
from monty.json import MontyDecoder

from interphases.database.config import (
    DATA_COLLECTION,
    OUTPUTS_COLLECTION,
    DatabaseConfig,
    load_config,
)
from interphases.database.sqlite_store import SQLiteStore
from interphases.errors import DatabaseError

#: montydb database name inside a legacy embedded folder
EMBEDDED_DATABASE_NAME = "interphases"
#: montydb storage options (BSON encoding as maggma's default, Mongo 4.0 semantics)
_STORAGE_KWARGS = {"use_bson": True, "mongo_version": "4.0"}
#: sqlite writers wait up to 120 s for the lock (default 5 s) when many array tasks write
_SQLITE_CLIENT_KWARGS = {"wtimeout": 120_000}
#: summary fields indexed (sqlite store and MongoDB; montydb has no indexes)
SUMMARY_INDEXES = (
    "kind",
    "row_id",
    "result_key",
    "job_uuid",
    "flow_uuid",
    "phases",
    "formulas",
    "candidate_id",
    "campaign",
    "engine",
    "model",
    "value",
)
#: job output documents: jobflow looks up ``uuid`` (+ ``index``); the workflow layer's
#: job-level resume looks finished jobs up by ``metadata.cache_key``
OUTPUTS_INDEXES = ("uuid", "index", "metadata.cache_key", "metadata.result_key", "hosts")
#: ``data`` blobs: jobflow reads and writes them by ``blob_uuid``, removes by job
DATA_INDEXES = ("blob_uuid", "job_uuid", "job_index")
#: run log
RESULTS_INDEXES = ("run_id", "result_key", "status", "campaign", "candidate_id")


def _storage_ready(path: Path, storage: str) -> bool:
    """True when montydb's storage files in ``path`` exist and name ``storage``.

    A folder set up for another montydb storage is an error (rewriting its config would
    hide the data it holds).
    """
    ident = path / ".monty.storage"
    cfg = path / "monty.storage.cfg"
    try:
        found = ident.read_text().strip()
        ready = cfg.stat().st_size > 0
    except OSError:
        return False
    if found and found != storage:
        raise DatabaseError(
            f"{path} holds a montydb '{found}' database, not '{storage}': use another folder"
        )
    return found == storage and ready


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock (fcntl) on ``path``, held for the ``with`` block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ProjectMontyStore(MontyStore):
    """maggma ``MontyStore`` that sets montydb's storage up once per folder, under a lock.

    ``MontyStore.connect`` calls ``montydb.set_storage`` on every connect, which truncates
    and rewrites two small config files; a process connecting at that moment (array
    tasks start together) can read them empty. Here they are written only if missing.
    Everything else is maggma's ``MontyStore``; it serialises with ``@module`` so a
    jobflow-remote project or a batch job rebuilds the same class.
    """

    def connect(self, force_reset: bool = False) -> None:
        if self._coll is None or force_reset:
            from montydb import MontyClient, set_storage

            path = Path(self.database_path)
            if not _storage_ready(path, self.storage):
                with _file_lock(path / ".interphases-init.lock"):
                    if not _storage_ready(path, self.storage):
                        set_storage(str(path), storage=self.storage, **self.storage_kwargs)
            client = MontyClient(str(path), **self.client_kwargs)
            self._coll = client[self.database_name][self.collection_name]

    def close(self) -> None:
        if self._coll is not None:
            self._coll.database.client.close()
        self._coll = None


def embedded_store(
    path: Path, collection_name: str, storage: str = "sqlite", **kwargs: Any
) -> ProjectMontyStore:
    """A legacy :class:`ProjectMontyStore` on the montydb folder ``path``."""
    return ProjectMontyStore(
        collection_name,
        database_path=str(path),
        database_name=EMBEDDED_DATABASE_NAME,
        storage=storage,
        storage_kwargs=dict(_STORAGE_KWARGS),
        client_kwargs=dict(_SQLITE_CLIENT_KWARGS) if storage == "sqlite" else {},
        **kwargs,
    )


def _store_from_spec(spec: dict[str, Any]) -> Store:
    """A maggma Store from a monty dict (``@class``) or a jobflow-style ``type:`` spec."""
    if "@class" in spec:
        return MontyDecoder().process_decoded(spec)
    import maggma.stores  # noqa: F401  (registers the Store subclasses)
    from jobflow.core.store import _construct_store

    def all_subclasses(cls: type) -> set[type]:
        return set(cls.__subclasses__()).union(
            s for c in cls.__subclasses__() for s in all_subclasses(c)
        )

    stores = {s.__name__: s for s in all_subclasses(Store)}
    if spec.get("type") not in stores:
        raise DatabaseError(
            f"unknown store type {spec.get('type')!r}: use a maggma Store class name (MongoStore, ...)"
        )
    return _construct_store(spec, stores)


def sibling_store(store: Store, collection_name: str) -> Store:
    """A store like ``store`` (same server/database/credentials) on another collection."""
    spec = store.as_dict()
    if "collection_name" not in spec:
        raise DatabaseError(
            f"cannot derive a summary collection from {type(store).__name__}: give 'summary_store' "
            "and 'results_store' in the database config"
        )
    spec["collection_name"] = collection_name
    return MontyDecoder().process_decoded(spec)


def _jobstore_from_spec(spec: dict[str, Any]) -> JobStore:
    try:
        if spec.get("@class") == "JobStore":
            return JobStore.from_dict(spec)
        return JobStore.from_dict_spec(spec)
    except DatabaseError:
        raise
    except Exception as exc:  # maggma/jobflow raise many types for a bad spec
        raise DatabaseError(
            f"database config: the 'jobstore' block is not a valid JobStore spec ({exc})"
        ) from exc


@dataclass
class Database:
    """The configured stores. Build it with :func:`open_database`."""

    config: DatabaseConfig
    jobstore: JobStore
    summary: Store
    results: Store
    #: legacy montydb folder: no indexes, and its ``$in`` costs one pass per listed value,
    #: so "which of these keys exist" is answered by reading the keys once into a set
    scan: bool = False
    _connected: bool = field(default=False, repr=False)

    @property
    def location(self) -> str:
        """Human-readable place of the stores."""
        return self.jobstore.docs_store.name

    @property
    def legacy(self) -> bool:
        """Whether this is a montydb folder of an older version (see ``db migrate``)."""
        return isinstance(self.jobstore.docs_store, MontyStore)

    def connect(self) -> Database:
        if not self._connected:
            try:
                self.jobstore.connect()
                self.summary.connect()
                self.results.connect()
            except DatabaseError:
                raise
            except Exception as exc:
                raise DatabaseError(
                    f"cannot connect to the results database {self.location}: {_first_line(exc)}"
                ) from exc
            self._connected = True
        return self

    def close(self) -> None:
        for store in (self.jobstore, self.summary, self.results):
            with contextlib.suppress(Exception):
                store.close()
        self._connected = False

    def __enter__(self) -> Database:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def all_stores(self) -> list[Store]:
        return [
            self.jobstore.docs_store,
            *self.jobstore.additional_stores.values(),
            self.summary,
            self.results,
        ]

    def init(self) -> Database:
        """Create every collection and its indexes.

        sqlite store: the tables, columns and indexes are created on connect (under
        each file's write lock). Legacy montydb: every collection once, under a file
        lock, before any batch job starts. MongoDB (and other MongoStore-like stores):
        the indexes of the ``*_INDEXES`` tuples, unique on the stores' keys.
        """
        if self.config.embedded and self.legacy:
            path = self.config.embedded_path()
            path.mkdir(parents=True, exist_ok=True)
            with _file_lock(path / ".interphases-init.lock"):
                if not _storage_ready(path, "sqlite"):
                    from montydb import set_storage

                    set_storage(str(path), storage="sqlite", **_STORAGE_KWARGS)
                self.connect()
                database = self.summary._collection.database
                existing = set(database.list_collection_names())
                for store in self.all_stores():
                    if store.collection_name not in existing:
                        database.create_collection(store.collection_name)
                        existing.add(store.collection_name)
            return self
        self.connect()
        if not self.config.embedded:
            self._mongo_indexes()
        return self

    def _mongo_indexes(self) -> None:
        """MongoDB indexes (``create_index`` is idempotent); other store kinds are left alone."""

        def mongo(store: Store) -> bool:
            return isinstance(store, MongoStore) and not isinstance(store, MontyStore)

        def index(store: Store, fields: tuple[str, ...], unique: tuple[str, ...] = ()) -> None:
            for name in fields:
                with contextlib.suppress(Exception):  # e.g. read-only users
                    store.ensure_index(name, unique=name in unique)

        docs = self.jobstore.docs_store
        if mongo(docs):
            with contextlib.suppress(Exception):
                docs._collection.create_index([("uuid", 1), ("index", 1)], unique=True)
            index(docs, OUTPUTS_INDEXES)
        for store in self.jobstore.additional_stores.values():
            # MongoStore/GridFSStore (metadata.blob_uuid)/S3Store (its index store)
            index(store, DATA_INDEXES, unique=("blob_uuid",) if mongo(store) else ())
        if mongo(self.summary):
            index(self.summary, SUMMARY_INDEXES, unique=("row_id",))
        if mongo(self.results):
            index(self.results, RESULTS_INDEXES, unique=("run_id",))

    def counts(self) -> dict[str, int]:
        """Number of documents in each store."""
        self.connect()
        out = {"outputs": self.jobstore.docs_store.count()}
        for name, store in self.jobstore.additional_stores.items():
            with contextlib.suppress(Exception):
                out[f"additional:{name}"] = store.count()
        out["summary"] = self.summary.count()
        out["results"] = self.results.count()
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_project_folder() -> Path:
    """The project folder, or a one-line :class:`DatabaseError` if it cannot be used."""
    from interphases.config import project_dir

    path = project_dir()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise DatabaseError(
            f"project folder {path} is under {probe}, which is a file: set INTERPHASES_PROJECT to a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        test = path / f".write-test-{os.getpid()}"
        test.touch()
        test.unlink()
    except OSError as exc:
        raise DatabaseError(
            f"project folder {path} cannot be created or written ({exc.strerror or _first_line(exc)}): "
            "set INTERPHASES_PROJECT to a writable folder"
        ) from exc
    return path


def sqlite_stores(path: Path, summary: str, results: str) -> dict[str, SQLiteStore]:
    """The four embedded sqlite stores in folder ``path``."""
    return {
        "outputs": SQLiteStore(
            str(path),
            OUTPUTS_COLLECTION,
            key="uuid",
            unique_key=["uuid", "index"],
            indexes=list(OUTPUTS_INDEXES),
        ),
        "data": SQLiteStore(str(path), DATA_COLLECTION, key="blob_uuid", indexes=list(DATA_INDEXES)),
        "summary": SQLiteStore(str(path), summary, key="row_id", indexes=list(SUMMARY_INDEXES)),
        "results": SQLiteStore(str(path), results, key="run_id", indexes=list(RESULTS_INDEXES)),
    }


def montydb_stores(path: Path, summary: str, results: str) -> dict[str, ProjectMontyStore]:
    """The four stores of a legacy montydb folder."""
    return {
        "outputs": embedded_store(path, OUTPUTS_COLLECTION, key="uuid"),
        "data": embedded_store(path, DATA_COLLECTION, key="blob_uuid"),
        "summary": embedded_store(path, summary, key="row_id"),
        "results": embedded_store(path, results, key="run_id"),
    }


def open_database(config: DatabaseConfig | None = None, *, init: bool = True) -> Database:
    """Open (and by default initialise) the configured results database.

    ``init=True`` creates missing collections and indexes; batch tasks of a campaign
    whose database was initialised at submission may pass ``init=False``.
    """
    config = config or load_config()
    if config.embedded:
        if config.path is None:
            check_project_folder()
        path = config.embedded_path()
        make = sqlite_stores if config.embedded_storage() == "sqlite" else montydb_stores
        stores = make(path, config.summary_collection, config.results_collection)
        jobstore = JobStore(stores["outputs"], additional_stores={"data": stores["data"]})
        summary, results = stores["summary"], stores["results"]
    else:
        if config.type == "jobflow":
            from jobflow.settings import JobflowSettings

            jobstore = JobflowSettings().JOB_STORE
        else:
            jobstore = _jobstore_from_spec(config.jobstore or {})
        summary = (
            _store_from_spec(config.summary_store)
            if config.summary_store
            else sibling_store(jobstore.docs_store, config.summary_collection)
        )
        results = (
            _store_from_spec(config.results_store)
            if config.results_store
            else sibling_store(jobstore.docs_store, config.results_collection)
        )
        summary.key = "row_id"
        results.key = "run_id"
    database = Database(
        config=config,
        jobstore=jobstore,
        summary=summary,
        results=results,
        scan=isinstance(summary, MontyStore),
    )
    if init:
        database.init()
    return database


def get_jobstore(config: DatabaseConfig | None = None) -> JobStore:
    """The configured jobflow ``JobStore`` (initialised, connected), for ``run_locally``."""
    return open_database(config).connect().jobstore


def database_env() -> dict[str, str]:
    """Environment variables a batch job needs to open the same database."""
    from interphases.config import project_dir

    env = {"INTERPHASES_PROJECT": str(project_dir())}
    for var in ("INTERPHASES_DB_CONFIG", "JOBFLOW_CONFIG_FILE"):
        if os.environ.get(var):
            env[var] = str(Path(os.environ[var]).expanduser().resolve())
    return env
