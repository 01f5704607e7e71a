"""The results database: a jobflow ``JobStore`` plus two small collections.

- ``jobstore``: jobflow's store of job output documents (``outputs``), with the ``data``
  additional store for large arrays (``outputs_data``; GridFS or S3 in production).
- ``summary``: one flat document per computed quantity (see :mod:`.summary`), the thing
  queries and reports read.
- ``results``: the run log, one document per completed campaign item run
  (``result_key``), used to resume campaigns without recomputing.

Embedded default (no server): maggma ``MontyStore`` on montydb sqlite files in the
project folder. Two montydb facts shape this module (measured here, see
``shared/notes/hpc-and-dft-setup.md``): two processes creating the same collection at
the same moment lose documents, so :meth:`Database.init` creates every collection once,
under a file lock, before anything runs; and montydb rewrites its storage config files
on every connect, so :class:`ProjectMontyStore` skips that once the folder is set up
(a reader could otherwise see a half-written config while an array task connects).
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
from interphases.errors import DatabaseError

#: montydb database name inside the embedded folder
EMBEDDED_DATABASE_NAME = "interphases"
#: montydb storage options (BSON encoding as maggma's default, Mongo 4.0 semantics)
_STORAGE_KWARGS = {"use_bson": True, "mongo_version": "4.0"}
#: sqlite writers wait up to 120 s for the lock (default 5 s) when many array tasks write
_SQLITE_CLIENT_KWARGS = {"wtimeout": 120_000}
#: summary fields indexed on a real MongoDB (montydb has no indexes)
SUMMARY_INDEXES = (
    "kind",
    "row_id",
    "result_key",
    "job_uuid",
    "flow_uuid",
    "phases",
    "candidate_id",
)


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
    """A :class:`ProjectMontyStore` on the embedded folder ``path``."""
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
    #: montydb has no indexes and its ``$in`` costs one pass per listed value: "which of
    #: these keys exist" is answered by reading the keys once into a Python set
    scan: bool = False
    _connected: bool = field(default=False, repr=False)

    @property
    def location(self) -> str:
        """Human-readable place of the stores."""
        return self.jobstore.docs_store.name

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
                    f"cannot connect to the results database {self.location}: {exc}"
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
        """Create every collection (embedded: once, under a file lock) and the indexes.

        Call this in the submitting process before any batch job starts; afterwards
        concurrent writers only insert into existing collections, which montydb handles.
        """
        if self.config.embedded:
            path = self.config.embedded_path()
            path.mkdir(parents=True, exist_ok=True)
            with _file_lock(path / ".interphases-init.lock"):
                if not _storage_ready(path, self.config.storage):
                    from montydb import set_storage

                    set_storage(str(path), storage=self.config.storage, **_STORAGE_KWARGS)
                self.connect()
                database = self.summary._collection.database
                existing = set(database.list_collection_names())
                for store in self.all_stores():
                    if store.collection_name not in existing:
                        database.create_collection(store.collection_name)
                        existing.add(store.collection_name)
        else:
            self.connect()
            if isinstance(self.summary, MongoStore) and not isinstance(self.summary, MontyStore):
                for key in SUMMARY_INDEXES:
                    self.summary.ensure_index(key)
                self.results.ensure_index("result_key")
                self.jobstore.ensure_index("uuid")
        return self

    def counts(self) -> dict[str, int]:
        """Number of documents in each store (a full scan on montydb)."""
        self.connect()
        out = {"outputs": self.jobstore.docs_store.count()}
        for name, store in self.jobstore.additional_stores.items():
            with contextlib.suppress(Exception):
                out[f"additional:{name}"] = store.count()
        out["summary"] = self.summary.count()
        out["results"] = self.results.count()
        return out


def open_database(config: DatabaseConfig | None = None, *, init: bool = True) -> Database:
    """Open (and by default initialise) the configured results database.

    ``init=True`` creates missing collections; batch tasks of a campaign whose database
    was initialised at submission pass ``init=False`` and only connect.
    """
    config = config or load_config()
    if config.embedded:
        path = config.embedded_path()
        docs = embedded_store(path, OUTPUTS_COLLECTION, config.storage, key="uuid")
        data = embedded_store(path, DATA_COLLECTION, config.storage, key="blob_uuid")
        jobstore = JobStore(docs, additional_stores={"data": data})
        summary = embedded_store(path, config.summary_collection, config.storage, key="row_id")
        results = embedded_store(path, config.results_collection, config.storage, key="run_id")
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
