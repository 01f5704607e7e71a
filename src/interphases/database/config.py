"""Where the results database lives: embedded files by default, MongoDB by configuration.

The same code runs against both; only this configuration changes. It is looked up in
this order (first hit wins):

1. ``INTERPHASES_DB_CONFIG``: path of a YAML file (format below);
2. ``<project>/interphases.yaml``: the project's own file (``interphases.config.project_dir()``);
3. ``JOBFLOW_CONFIG_FILE`` set in the environment: jobflow's own ``JOB_STORE`` is used
   (the summary collections go next to its ``docs_store``);
4. default: embedded sqlite files in ``<project>/database`` (:class:`.sqlite_store.SQLiteStore`,
   indexed, one file per collection); a folder written by an older version (montydb
   files) is still opened with montydb until ``interphases db migrate`` converts it.

File format (only the ``database`` block is read)::

    database:
      type: embedded          # sqlite files, no server (default)
      path: database          # relative to the project folder, or absolute
      storage: sqlite         # sqlite (indexed, default) or montydb (legacy folders)

    database:
      type: jobstore          # any maggma stores, e.g. MongoDB + GridFS (production)
      jobstore:               # exactly jobflow's JOB_STORE block (JobStore.from_dict_spec)
        docs_store: {type: MongoStore, database: interphases, collection_name: outputs,
                     host: mongo.example.org, port: 27017, username: me, password: secret}
        additional_stores:
          data: {type: GridFSStore, database: interphases, collection_name: outputs_blobs,
                 host: mongo.example.org, port: 27017, username: me, password: secret}
      summary_store:          # optional, default: docs_store with collection_name below
        type: MongoStore
        ...
      summary_collection: interphases_summary   # optional names
      results_collection: interphases_results

    database:
      type: jobflow           # use jobflow's JOB_STORE (JOBFLOW_CONFIG_FILE or ~/.jobflow.yaml)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from interphases.config import project_dir
from interphases.errors import DatabaseError

#: default collection names (jobflow's usual names for the JobStore)
OUTPUTS_COLLECTION = "outputs"
DATA_COLLECTION = "outputs_data"
SUMMARY_COLLECTION = "interphases_summary"
RESULTS_COLLECTION = "interphases_results"

PROJECT_CONFIG_NAME = "interphases.yaml"


class DatabaseConfig(BaseModel):
    """Parsed ``database`` block; ``source`` says where it came from."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["embedded", "jobstore", "jobflow"] = "embedded"
    # embedded
    path: Path | None = Field(None, description="Folder of the database files (embedded).")
    #: "sqlite": interphases' indexed SQLiteStore (default for new folders);
    #: "montydb": maggma's MontyStore on montydb sqlite files (folders of older versions;
    #: no indexes, migrate with `interphases db migrate`). None: montydb if the folder
    #: holds montydb files and no sqlite store yet, else sqlite. montydb "lightning" and
    #: "flatfile" are not offered (lmdb 3.0 breaks montydb 2.5.6; flatfile is unsafe with
    #: several processes).
    storage: Literal["sqlite", "montydb"] | None = None
    # jobstore / jobflow
    jobstore: dict[str, Any] | None = Field(
        None, description="jobflow JobStore spec or monty dict."
    )
    summary_store: dict[str, Any] | None = Field(
        None, description="maggma Store spec of the summary."
    )
    results_store: dict[str, Any] | None = Field(
        None, description="maggma Store spec of the run log."
    )
    summary_collection: str = SUMMARY_COLLECTION
    results_collection: str = RESULTS_COLLECTION
    source: str = Field("default", description="File or rule the configuration came from.")

    @model_validator(mode="after")
    def _check(self) -> DatabaseConfig:
        if self.type == "jobstore" and not self.jobstore:
            raise ValueError("type 'jobstore' needs a 'jobstore' block (jobflow JOB_STORE format)")
        if self.type == "embedded" and self.jobstore:
            raise ValueError("a 'jobstore' block needs 'type: jobstore'")
        return self

    @property
    def embedded(self) -> bool:
        return self.type == "embedded"

    def embedded_storage(self) -> str:
        """``sqlite`` or ``montydb`` (see :attr:`storage`), deciding from the folder if unset."""
        if self.storage is not None:
            return self.storage
        path = self.embedded_path()
        try:
            legacy = (path / ".monty.storage").is_file() and not any(path.glob("*.sqlite"))
        except OSError:
            legacy = False
        return "montydb" if legacy else "sqlite"

    def embedded_path(self) -> Path:
        """Absolute folder of the embedded database (relative paths: to the project folder)."""
        path = Path(self.path) if self.path is not None else Path("database")
        if not path.is_absolute():
            path = project_dir() / path
        return path.resolve()


def _parse_file(path: Path) -> DatabaseConfig:
    if not path.is_file():
        raise DatabaseError(
            f"database config file {path} not found: fix INTERPHASES_DB_CONFIG or create it"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise DatabaseError(
            f"database config {path} is not valid YAML: {str(exc).splitlines()[0]}"
        ) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("database", {}), dict):
        raise DatabaseError(f"database config {path}: expected a mapping with a 'database:' block")
    block = dict(raw.get("database") or {})
    if "jobstore" in block and "type" not in block:
        block["type"] = "jobstore"
    return parse_config(block, source=str(path))


def parse_config(block: dict[str, Any], source: str = "dict") -> DatabaseConfig:
    """Validate a ``database`` block (a dict); bad input raises :class:`DatabaseError`."""
    try:
        config = DatabaseConfig.model_validate({**block, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "database"
        raise DatabaseError(f"database config {source}: {where}: {first['msg']}") from exc
    if (
        config.type == "embedded"
        and config.path is not None
        and not Path(config.path).is_absolute()
    ):
        # relative to the config file's folder when it came from a file
        base = Path(source).parent if Path(source).is_file() else project_dir()
        config.path = (base / config.path).resolve()
    return config


def load_config() -> DatabaseConfig:
    """The database configuration in force now (see the module docstring for the order)."""
    env_file = os.environ.get("INTERPHASES_DB_CONFIG")
    if env_file:
        return _parse_file(Path(env_file).expanduser())
    project_file = project_dir() / PROJECT_CONFIG_NAME
    if project_file.is_file():
        return _parse_file(project_file)
    if os.environ.get("JOBFLOW_CONFIG_FILE"):
        return DatabaseConfig(
            type="jobflow", source=f"JOBFLOW_CONFIG_FILE={os.environ['JOBFLOW_CONFIG_FILE']}"
        )
    return DatabaseConfig(type="embedded", source="default (embedded, project folder)")


EXAMPLE_MONGODB = """\
# interphases.yaml: results in MongoDB (documents) + GridFS (large arrays)
database:
  type: jobstore
  jobstore:
    docs_store:
      type: MongoStore
      database: interphases
      collection_name: outputs
      host: mongo.example.org
      port: 27017
      username: interphases
      password: change-me
    additional_stores:
      data:
        type: GridFSStore
        database: interphases
        collection_name: outputs_blobs
        host: mongo.example.org
        port: 27017
        username: interphases
        password: change-me
  # summary and run log go to the same database as docs_store unless given:
  # summary_store: {type: MongoStore, database: interphases, collection_name: interphases_summary, ...}
"""

EXAMPLE_EMBEDDED = """\
# interphases.yaml: embedded results database (sqlite files, no server)
database:
  type: embedded
  path: database      # relative to this file's folder
  storage: sqlite     # indexed sqlite store (montydb: folders of older versions)
"""
