"""Query the summary collection into a pandas DataFrame; look one result up with provenance.

Filters are written once, as a MongoDB filter (:func:`build_criteria`), and run in the
store: on MongoDB on the server (indexed fields, see ``store.SUMMARY_INDEXES``), on the
embedded montydb by its own engine (MongoDB 4.0 semantics, no indexes: every query
reads every summary document, ~0.4 s CPU at 10^4 rows, see
``benchmarks/bench_database.py``). Tests run the same filters on both kinds of store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from interphases.database.store import Database, open_database
from interphases.database.summary import _find, normalize_formula
from interphases.errors import DatabaseError

#: quantities where a larger value ranks first (everything else, e.g. surface, interfacial
#: and formation energies, barriers, reduction limits, E_hull: smaller first). Reaction
#: and decomposition energies are <= 0; closer to 0 (larger) means more stable.
HIGHER_IS_BETTER = frozenset(
    {
        "work_of_adhesion",
        "work_of_adhesion_eq18",
        "adhesion_energy",
        "oxidation_limit",
        "stability_window_width",
        "electrochemical_window_width",
        "reaction_energy",
        "decomposition_energy_vs_metal",
    }
)

#: column order of query results (other fields follow, alphabetically)
COLUMNS = (
    "kind",
    "phases_key",
    "formulas_key",
    "miller",
    "value",
    "units",
    "engine",
    "model",
    "candidate_id",
    "result_key",
    "campaign",
    "job_uuid",
    "flow_uuid",
    "time",
)


def best_first_descending(kind: str | None) -> bool:
    """Whether a ranking of ``kind`` puts large values first."""
    return kind in HIGHER_IS_BETTER


def _tokens(phases: str | Sequence[str] | None) -> list[str]:
    if phases is None:
        return []
    if isinstance(phases, str):
        phases = phases.replace("|", ",").split(",")
    return [p.strip() for p in phases if p and p.strip()]


def build_criteria(
    kind: str | Sequence[str] | None = None,
    phases: str | Sequence[str] | None = None,
    min: float | None = None,  # noqa: A002  (the CLI's --min)
    max: float | None = None,  # noqa: A002
    engine: str | None = None,
    model: str | None = None,
    **equal: Any,
) -> dict[str, Any]:
    """MongoDB filter for the summary collection.

    ``kind``: one quantity, or a list of them.
    ``phases``: every given phase must be involved ("Li,LiF" finds Li | LiF interfaces;
    "Li" finds everything with Li); a name matches a row's phase label or its reduced
    formula. ``min``/``max`` bound ``value`` (inclusive). ``equal``: other fields that
    must equal the given value (``candidate_id=...``, ``campaign=...``); None is ignored.
    """
    clauses: list[dict[str, Any]] = []
    if isinstance(kind, str) and kind:
        clauses.append({"kind": kind})
    elif kind:  # several quantities
        clauses.append({"kind": {"$in": list(kind)}})
    for token in _tokens(phases):
        variants = sorted({token, normalize_formula(token)})
        clauses.append({"$or": [{"phases": {"$in": variants}}, {"formulas": {"$in": variants}}]})
    bounds: dict[str, float] = {}
    if min is not None:
        bounds["$gte"] = float(min)
    if max is not None:
        bounds["$lte"] = float(max)
    if bounds:
        clauses.append({"value": bounds})
    if engine:
        clauses.append({"engine": engine})
    if model:
        clauses.append({"model": model})
    for key, value in equal.items():
        if value is not None:
            clauses.append({key: value})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _frame(docs: list[dict[str, Any]]) -> pd.DataFrame:
    if not docs:
        return pd.DataFrame(columns=list(COLUMNS))
    df = pd.DataFrame(docs)
    df = df.drop(columns=[c for c in ("_id",) if c in df.columns])
    first = [c for c in COLUMNS if c in df.columns]
    rest = sorted(c for c in df.columns if c not in first)
    return df[first + rest]


def query(
    kind: str | Sequence[str] | None = None,
    phases: str | Sequence[str] | None = None,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    sort: str | None = "value",
    descending: bool | None = None,
    engine: str | None = None,
    model: str | None = None,
    limit: int | None = None,
    database: Database | None = None,
    raw: bool = False,
    **equal: Any,
) -> pd.DataFrame:
    """Summary rows matching the filters, as a DataFrame (one row per computed quantity).

    ``sort``: a column (default ``value``); ``descending=None`` ranks best first
    (``work_of_adhesion``: largest first; energies: smallest first). Sorted by ``value``
    for one ``kind``, the rows are in the one ranking of
    :func:`interphases.analysis.ranking.rank_frame` (flagged rows, e.g. polar, unconverged,
    W_ad < 0 or an Eq. 18 difference > 0.05 J/m², after the sound ones; ``flags`` and
    ``label`` columns added) unless ``raw`` or an explicit ``descending``. ``limit`` keeps the first rows after sorting.
    See :func:`build_criteria` for the filters.
    """
    if limit is not None and limit < 1:
        raise DatabaseError(f"limit must be a positive number of rows, got {limit}")
    if min is not None and max is not None and min > max:
        raise DatabaseError(f"--min {min} is larger than --max {max}: nothing can match")
    db = (database or open_database()).connect()
    criteria = build_criteria(kind, phases, min, max, engine, model, **equal)
    raw = raw or descending is not None  # an explicit order (CLI --order asc/desc) sorts raw
    if descending is None:
        descending = isinstance(kind, str) and best_first_descending(kind) and sort == "value"
    if db.scan:  # montydb sorts in Python too; pandas does it faster and the same way
        df = _frame(_find(db.summary, criteria))
    else:
        sort_spec = {sort: -1 if descending else 1} if sort else None
        ranked = sort == "value" and isinstance(kind, str) and not raw  # re-sorted below: no limit here
        df = _frame(list(db.summary.query(criteria, sort=sort_spec, limit=0 if ranked else limit or 0)))
    if sort and len(df):
        if sort not in df.columns:
            raise DatabaseError(
                f"cannot sort by {sort!r}: the rows have {', '.join(map(str, df.columns))}"
            )
        df = df.sort_values(sort, ascending=not descending, kind="stable", na_position="last")
        if sort == "value" and isinstance(kind, str) and not raw:
            df = _ranked(df, kind, bool(descending), db)
    if limit is not None:
        df = df.head(limit)
    return df.reset_index(drop=True)


def _ranked(df: pd.DataFrame, kind: str, descending: bool, db: Any) -> pd.DataFrame:
    """``df`` in the ranking order of screen/report, with the candidates' flags joined in."""
    from interphases.analysis.ranking import rank_frame

    return rank_frame(df, kind, descending=descending, facts=facts_of_candidates(df, db))


def facts_of_candidates(df: pd.DataFrame, db: Any) -> dict | None:
    """:func:`~interphases.analysis.ranking.candidate_facts` of the candidates in ``df``,
    read from all their summary rows, whatever kinds ``df`` holds: the polar mark, the
    Eq. 18 difference and the uncertainty live on other rows (``work_of_adhesion_eq18``,
    ``screening_rank``) than the quantity ranked. ``db``: a connected database."""
    from interphases.analysis.ranking import candidate_facts

    if "candidate_id" not in df.columns:
        return None
    ids = sorted({str(c) for c in df["candidate_id"].dropna().unique()})
    if not ids:
        return None
    crit = {"candidate_id": {"$in": ids}}
    return candidate_facts(_find(db.summary, crit) if db.scan else list(db.summary.query(crit)))


def kinds(database: Database | None = None) -> list[str]:
    """The distinct ``kind`` values in the summary collection."""
    db = (database or open_database()).connect()
    if db.scan:
        return sorted({d.get("kind") for d in db.summary._collection.find({}) if d.get("kind")})
    return sorted(k for k in db.summary.distinct("kind") if k)


def show(
    identifier: str, database: Database | None = None, with_output: bool = True
) -> dict[str, Any]:
    """One result with its provenance.

    ``identifier``: a job uuid, flow uuid, result key, candidate id or row id. Returns
    ``{"identifier", "rows", "jobs", "runs"}``: the summary rows, the JobStore documents
    of their jobs (uuid, name, completion time, hosts = enclosing flows, metadata and, if
    ``with_output``, the output document with its ``data`` blobs loaded) and the run log.
    """
    db = (database or open_database()).connect()
    ident_fields = ("job_uuid", "flow_uuid", "result_key", "candidate_id", "row_id")
    rows = _find(db.summary, {"$or": [{f: identifier} for f in ident_fields]})
    job_uuids = sorted({r["job_uuid"] for r in rows if r.get("job_uuid")})
    jobstore = db.jobstore
    criteria = {
        "$or": [{"uuid": identifier}, {"hosts": identifier}]
        + ([{"uuid": {"$in": job_uuids}}] if job_uuids else [])
    }
    properties = (
        None if with_output else ["uuid", "index", "name", "completed_at", "hosts", "metadata"]
    )
    jobs = []
    for doc in jobstore.query(criteria, properties=properties, load=with_output):
        doc.pop("_id", None)
        jobs.append(doc)
    result_keys = sorted(
        {r["result_key"] for r in rows if r.get("result_key")}
        | ({identifier} if not rows else set())
    )
    runs = [d for key in result_keys for d in _find(db.results, {"result_key": key})]
    if not rows and not jobs and not runs:
        raise DatabaseError(
            f"nothing found for {identifier!r}: give a job uuid, flow uuid, result key, candidate id or row id "
            "(see `interphases query KIND`)"
        )
    return {"identifier": identifier, "rows": rows, "jobs": jobs, "runs": runs}
