"""The summary collection: one flat document per computed quantity, and the run log.

Contract with the workflows: an output document (pydantic model or MSONable) that has a
``summary_rows(self) -> list[dict]`` method gets its rows indexed here. A row is flat and
has at least::

    kind      what was computed: "surface_energy", "work_of_adhesion",
              "interfacial_energy", "interface_formation_energy", "elastic_energy",
              "migration_barrier", ... (snake_case, one name per quantity)
    formulas  formula(s) of the phase(s) involved (list or "A,B" / "A|B" string)
    value     the number (float)
    units     e.g. "J/m^2", "eV/A^2", "eV", "V"
    engine    engine family ("mlip", "cp2k", "vasp", "ase")
    model     model or functional ("CHGNet-0.3.0", "PBE", "EMT")

and may add ``phases`` (labels, default: the formulas), ``miller`` (list of Miller
indices), ``candidate_id``, ``result_key`` and any flat extra keys (areas, atom counts,
strain, termination, ...). This module adds ``formulas_key``/``phases_key`` (sorted,
"|"-joined), ``job_uuid``, ``job_index``, ``flow_uuid``, ``time`` and ``row_id``.

``row_id`` is deterministic (job uuid + index + position, or the row's content), so
ingesting the same output twice writes nothing the second time.

Resume: a campaign item or a workflow defines its ``result_key`` with
:func:`make_result_key` (hash of the defining inputs); :func:`record_result` writes one
run-log document per completed run, :func:`has_result` / :func:`get_result` read it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import math
import socket
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monty.json import MontyDecoder, jsanitize

from interphases.database.sqlite_store import SQLiteStore
from interphases.database.store import Database, open_database
from interphases.errors import DatabaseError

REQUIRED_FIELDS = ("kind", "formulas", "value", "units", "engine", "model")
#: fields that define a row's identity when it has no job uuid (time is not one)
_VOLATILE = {"time", "row_id", "_id"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _canonical(obj: Any) -> str:
    """Stable JSON of ``obj`` (MSON-serialised, sorted keys, no ``@version``)."""

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k != "@version"}
        if isinstance(x, list | tuple):
            return [strip(v) for v in x]
        if isinstance(x, float):
            return float(f"{x:.12g}")  # last-bit noise must not change a key
        return x

    return json.dumps(
        strip(jsanitize(obj, strict=True, enum_values=True)), sort_keys=True, separators=(",", ":")
    )


def make_result_key(**parts: Any) -> str:
    """Stable hash (40 hex chars) of the inputs that define a result.

    Pass everything that changes the answer: candidate id, engine, model (with its
    version), parameters, Maker settings. Values may be MSONable objects (structures,
    Makers); ``@version`` tags are ignored so that upgrading a package keeps the keys,
    floats are rounded to 12 significant digits.

    >>> make_result_key(candidate="Li|LiF-001", engine="mlip", model="CHGNet-0.3.0") == \\
    ...     make_result_key(model="CHGNet-0.3.0", engine="mlip", candidate="Li|LiF-001")
    True
    """
    if not parts:
        raise DatabaseError("make_result_key needs at least one defining input")
    return hashlib.sha1(_canonical(parts).encode()).hexdigest()


def _as_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        sep = "|" if "|" in value else ","
        return [p.strip() for p in value.split(sep) if p.strip()]
    if isinstance(value, Iterable):
        return [str(v).strip() for v in value]
    raise DatabaseError(
        f"summary row field {name!r} must be a list of strings or 'A,B', got {value!r}"
    )


@functools.lru_cache(maxsize=4096)
def normalize_formula(text: str) -> str:
    """Reduced formula when ``text`` parses as one ("Li2O2" -> "LiO"), else ``text`` itself."""
    try:
        from pymatgen.core import Composition

        comp = Composition(text)
        return comp.reduced_formula if comp.num_atoms > 0 else text
    except Exception:  # a phase label such as "LLZO-cubic" is not a formula
        return text


def normalize_row(row: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Validate one summary row and complete it with keys, time and ``row_id``.

    ``context`` fills fields the row does not set itself (job_uuid, flow_uuid,
    result_key, candidate_id, time, ...); the row's own values win.
    """
    if not isinstance(row, dict):
        raise DatabaseError(f"a summary row must be a dict, got {type(row).__name__}")
    out = {k: v for k, v in context.items() if v is not None}
    out.update({k: v for k, v in row.items() if v is not None or k not in out})
    missing = [k for k in REQUIRED_FIELDS if out.get(k) in (None, "", [])]
    if missing:
        raise DatabaseError(
            f"summary row {row.get('kind', '?')!r} lacks {', '.join(missing)}: see database/summary.py"
        )
    try:
        value = float(out["value"])
    except (TypeError, ValueError) as exc:
        raise DatabaseError(
            f"summary row {out['kind']!r}: value {out['value']!r} is not a number"
        ) from exc
    if math.isinf(value):
        raise DatabaseError(f"summary row {out['kind']!r}: value is infinite")
    out["value"] = value
    out["formulas"] = sorted(normalize_formula(f) for f in _as_list(out["formulas"], "formulas"))
    out["phases"] = sorted(_as_list(out.get("phases"), "phases")) or list(out["formulas"])
    out["formulas_key"] = "|".join(out["formulas"])
    out["phases_key"] = "|".join(out["phases"])
    for key in ("kind", "units", "engine", "model"):
        out[key] = str(out[key])
    out.setdefault("time", _now())
    out = jsanitize(out, strict=True, enum_values=True, allow_bson=True)
    return out


def _row_id(row: dict[str, Any], position: int | None = None) -> str:
    if row.get("job_uuid") and position is not None:
        ident = {
            "job_uuid": row["job_uuid"],
            "job_index": row.get("job_index", 1),
            "i": position,
            "kind": row["kind"],
        }
    else:
        ident = {k: v for k, v in row.items() if k not in _VOLATILE}
    return hashlib.sha1(_canonical(ident).encode()).hexdigest()


def _scan_keys(store: Any, field: str, scan: bool, values: Sequence[str] | None = None) -> set[str]:
    """Values of ``field`` present in ``store`` (restricted to ``values`` if given)."""
    if scan:  # montydb: one pass, no query engine
        found = {d.get(field) for d in store._collection.find({})}
    elif values is not None:
        found = {
            d.get(field) for d in store.query({field: {"$in": list(values)}}, properties=[field])
        }
    else:
        found = set(store.distinct(field))
    found.discard(None)
    return found if values is None else found & set(values)


@dataclass
class SaveReport:
    """What :func:`save_rows` / :func:`ingest` did."""

    written: int = 0
    existing: int = 0
    outputs_with_rows: int = 0
    outputs_checked: int = 0


def save_rows(
    rows: Sequence[dict[str, Any]],
    *,
    database: Database | None = None,
    replace: bool = False,
    **context: Any,
) -> SaveReport:
    """Write summary rows; rows already present (same ``row_id``) are skipped.

    ``context`` adds fields to every row that does not set them (``result_key``,
    ``candidate_id``, ``campaign``, ...). The store enforces ``row_id``: one
    insert-or-ignore transaction on the embedded sqlite store, ``$setOnInsert`` upserts
    on MongoDB (unique index), never check-then-insert, so concurrent writers of the
    same rows end with one copy. ``replace=True`` overwrites rows whose ``row_id`` exists.
    """
    db = (database or open_database()).connect()
    normalized = []
    for i, row in enumerate(rows):
        doc = normalize_row(row, **context)
        doc["row_id"] = doc.get("row_id") or _row_id(doc, i if doc.get("job_uuid") else None)
        normalized.append(doc)
    unique = {d["row_id"]: d for d in normalized}  # duplicates inside one call collapse
    if not unique:
        return SaveReport()
    if replace:
        existing = _scan_keys(db.summary, "row_id", db.scan, list(unique))
        db.summary.update(list(unique.values()), key="row_id")  # upsert
        return SaveReport(written=len(unique), existing=len(existing))
    written = insert_new(db.summary, list(unique.values()), "row_id")
    return SaveReport(written=written, existing=len(unique) - written)


def insert_new(store: Any, docs: list[dict[str, Any]], key: str) -> int:
    """Insert the documents whose ``key`` is not stored yet; returns how many were inserted.

    Enforced by the store: ``INSERT OR IGNORE`` (:class:`.SQLiteStore`), or one
    ``$setOnInsert`` upsert per document (MongoDB with its unique index, mongomock,
    montydb: check-then-insert, legacy folders only).
    """
    if isinstance(store, SQLiteStore):
        return store.insert_new(docs)
    from maggma.stores import MontyStore

    if isinstance(store, MontyStore):  # legacy folders: montydb has no unique index
        found = _scan_keys(store, key, True, [d[key] for d in docs])
        new = [d for d in docs if d[key] not in found]
        if new:
            store._collection.insert_many(new)
        return len(new)
    from pymongo import UpdateOne
    from pymongo.errors import BulkWriteError

    ops = [UpdateOne({key: d[key]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    try:
        return int(store._collection.bulk_write(ops, ordered=False).upserted_count)
    except BulkWriteError as exc:  # a concurrent writer won the race on the unique index
        return int(exc.details.get("nUpserted", 0))


def _output_class(output: Any) -> type | None:
    if not isinstance(output, dict) or "@module" not in output or "@class" not in output:
        return None
    try:
        return getattr(importlib.import_module(output["@module"]), output["@class"])
    except (ImportError, AttributeError):
        return None


def rows_from_output(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Summary rows of one JobStore document (its output must have ``summary_rows``)."""
    obj = MontyDecoder().process_decoded(doc["output"])
    rows = obj.summary_rows()
    if not isinstance(rows, list):
        raise DatabaseError(f"{type(obj).__name__}.summary_rows() must return a list of dicts")
    return rows


def ingest(
    jobstore: Any | None = None,
    *,
    database: Database | None = None,
    uuids: Sequence[str] | None = None,
    **context: Any,
) -> SaveReport:
    """Index the summary rows of job outputs into the summary collection (idempotent).

    Looks at every output document in ``jobstore`` (default: the database's own), or
    only the jobs ``uuids``; those whose class has ``summary_rows()`` are loaded (with
    their ``data`` blobs) and their rows saved with the job's uuid, index, outermost
    flow uuid (``hosts[-1]``; ``parent_flow_uuid`` = ``hosts[0]`` when nested), name and
    completion time. ``result_key`` and
    ``candidate_id`` come from the row, else ``context``, else the job's metadata.
    Outputs already indexed are not loaded again.
    """
    db = (database or open_database()).connect()
    jobstore = jobstore or db.jobstore
    jobstore.connect()
    criteria: dict[str, Any] = {"uuid": {"$in": list(uuids)}} if uuids is not None else {}
    if uuids is not None and not uuids:
        return SaveReport()
    heads = list(
        jobstore.query(
            criteria, properties=["uuid", "index", "output.@module", "output.@class", "metadata"]
        )
    )
    done = _scan_keys(
        db.summary, "job_uuid", db.scan, [h["uuid"] for h in heads] if not db.scan else None
    )
    report = SaveReport(outputs_checked=len(heads))
    for head in heads:
        cls = _output_class(head.get("output"))
        if cls is None or not callable(getattr(cls, "summary_rows", None)):
            continue
        report.outputs_with_rows += 1
        if head["uuid"] in done:
            report.existing += 1
            continue
        doc = jobstore.query_one({"uuid": head["uuid"], "index": head["index"]}, load=True)
        meta = doc.get("metadata") or {}
        hosts = doc.get("hosts") or []
        job_context = {
            "result_key": meta.get("result_key"),
            "candidate_id": meta.get("candidate_id"),
            **{k: v for k, v in context.items() if v is not None},
            "job_uuid": doc["uuid"],
            "job_index": doc["index"],
            "flow_uuid": hosts[-1] if hosts else None,  # outermost flow
            "parent_flow_uuid": hosts[0] if len(hosts) > 1 else None,  # innermost, if nested
            "job_name": doc.get("name"),
            "time": doc.get("completed_at"),
        }
        job_context = {k: v for k, v in job_context.items() if v is not None}
        rows = [
            {**job_context, **r, "job_uuid": doc["uuid"], "job_index": doc["index"]}
            for r in rows_from_output(doc)
        ]
        part = save_rows(rows, database=db)
        report.written += part.written
        report.existing += part.existing
    return report


# --- run log: resume without recomputing -------------------------------------------------


def record_result(
    result_key: str,
    *,
    database: Database | None = None,
    status: str = "done",
    run_id: str | None = None,
    **info: Any,
) -> dict[str, Any]:
    """Log one run of ``result_key``; the store enforces ``run_id`` (insert-or-ignore).

    ``run_id`` identifies the run: by default, for a ``done`` run with a ``flow_uuid``,
    a hash of the key and the flow (the same flow logged twice, e.g. by two array tasks
    that ran the same item, is one entry), else a fresh id (a forced recomputation is a
    new run). Campaign items pass :func:`done_run_id` (one completed run per item).
    ``info``: candidate_id, campaign, flow_uuid, job_uuids, n_rows, slurm_job_id, ...
    """
    db = (database or open_database()).connect()
    if run_id is None:
        if status == "done" and info.get("flow_uuid"):
            run_id = hashlib.sha1(f"{result_key}|{info['flow_uuid']}".encode()).hexdigest()
        else:
            run_id = uuidlib.uuid4().hex
    doc = {
        "run_id": run_id,
        "result_key": result_key,
        "status": status,
        "time": _now(),
        "host": socket.gethostname(),
        **jsanitize(info, strict=True, enum_values=True, allow_bson=True),
    }
    insert_new(db.results, [dict(doc)], "run_id")
    return doc


def done_run_id(result_key: str) -> str:
    """The ``run_id`` of the one completed run a campaign item may log."""
    return hashlib.sha1(f"{result_key}|done".encode()).hexdigest()


def completed_keys(database: Database | None = None, keys: Sequence[str] | None = None) -> set[str]:
    """Result keys with a completed run (or summary rows carrying that key)."""
    db = (database or open_database()).connect()
    if db.scan:
        done = {
            d["result_key"] for d in db.results._collection.find({}) if d.get("status") == "done"
        }
        done |= _scan_keys(db.summary, "result_key", True)
        return done if keys is None else done & set(keys)
    criteria: dict[str, Any] = {"status": "done"}
    if keys is not None:
        criteria["result_key"] = {"$in": list(keys)}
    done = {d["result_key"] for d in db.results.query(criteria, properties=["result_key"])}
    done |= _scan_keys(db.summary, "result_key", False, keys)
    return done if keys is None else done & set(keys)


def has_result(result_key: str, database: Database | None = None) -> bool:
    """Whether ``result_key`` was already computed (run log or summary rows)."""
    return result_key in completed_keys(database, [result_key])


def run_count(result_key: str, database: Database | None = None) -> int:
    """How many completed runs the run log holds for ``result_key``."""
    db = (database or open_database()).connect()
    return sum(1 for d in _find(db.results, {"result_key": result_key, "status": "done"}))


def get_result(result_key: str, database: Database | None = None) -> dict[str, Any] | None:
    """``{"result_key", "runs": [run-log docs], "rows": [summary rows]}``, or None if absent."""
    db = (database or open_database()).connect()
    runs = sorted(_find(db.results, {"result_key": result_key}), key=lambda d: d.get("time", ""))
    rows = list(_find(db.summary, {"result_key": result_key}))
    if not runs and not rows:
        return None
    return {"result_key": result_key, "runs": runs, "rows": rows}


def _find(store: Any, criteria: dict[str, Any]) -> list[dict[str, Any]]:
    """Documents matching a MongoDB filter (``_id`` dropped).

    The filter runs in the store on both backends (montydb implements MongoDB 4.0
    semantics; the tests compare it with mongomock). Without indexes a plain filter
    costs montydb little more than reading every document (~35 µs each), the floor.
    """
    docs = list(store.query(criteria))
    for d in docs:
        d.pop("_id", None)
    return docs
