"""Results database: a jobflow JobStore (embedded indexed sqlite files by default,
MongoDB in production) plus a flat summary collection and its query API.

- :mod:`.config`   where the database is (``interphases.yaml``, ``INTERPHASES_DB_CONFIG``,
  ``JOBFLOW_CONFIG_FILE``, default: sqlite files in the project folder, see
  :mod:`.sqlite_store`; montydb folders of older versions are still read);
- :mod:`.store`    :func:`open_database` / :func:`get_jobstore`, collection set-up;
- :mod:`.summary`  summary rows (``summary_rows()`` contract), :func:`ingest`,
  :func:`save_rows`, resume helpers :func:`make_result_key`, :func:`has_result`;
- :mod:`.query`    :func:`query` -> pandas DataFrame, :func:`show` (provenance);
- :mod:`.maintenance` ``db check`` / ``db repair`` / ``db migrate``;
- :mod:`.report`   :func:`write_report` (Markdown/HTML rankings and charts).
"""

from interphases.database.config import DatabaseConfig, load_config, parse_config
from interphases.database.query import build_criteria, kinds, query, show
from interphases.database.report import write_report
from interphases.database.store import Database, get_jobstore, open_database
from interphases.database.summary import (
    completed_keys,
    get_result,
    has_result,
    ingest,
    make_result_key,
    normalize_row,
    record_result,
    run_count,
    save_rows,
)

__all__ = [
    "Database",
    "DatabaseConfig",
    "build_criteria",
    "completed_keys",
    "get_jobstore",
    "get_result",
    "has_result",
    "ingest",
    "kinds",
    "load_config",
    "make_result_key",
    "normalize_row",
    "open_database",
    "parse_config",
    "query",
    "record_result",
    "run_count",
    "save_rows",
    "show",
    "write_report",
]
