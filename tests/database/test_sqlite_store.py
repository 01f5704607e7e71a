"""The embedded SQLiteStore: jobflow's own JobStore round trip, MongoDB filter semantics
(checked against mongomock), enforced keys with many writer processes, corrupt files."""

from __future__ import annotations

import multiprocessing
import random
from datetime import datetime

import mongomock_ng
import pytest
from jobflow import Flow, JobStore, job, run_locally
from maggma.stores import MemoryStore
from pymatgen.core import Lattice, Structure

from interphases.database import open_database, record_result, save_rows
from interphases.database.sqlite_store import SQLiteStore
from interphases.errors import DatabaseError


def _jobstore(path) -> JobStore:
    docs = SQLiteStore(str(path), "outputs", key="uuid", unique_key=["uuid", "index"], indexes=["hosts"])
    data = SQLiteStore(str(path), "outputs_data", key="blob_uuid", indexes=["job_uuid", "job_index"])
    return JobStore(docs, additional_stores={"data": data})


@job(data="structure")
def _make(a: float) -> dict:
    s = Structure(Lattice.cubic(a), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    return {"structure": s, "a": a, "when": datetime(2026, 1, 2, 3, 4, 5), "nan": float("nan")}


@job
def _volume(structure: Structure) -> float:
    return structure.volume


def test_jobflow_jobstore_round_trip_with_data_blobs(tmp_path):
    store = _jobstore(tmp_path)
    make = _make(3.6)
    vol = _volume(make.output["structure"])  # resolved through the data store
    flow = Flow([make, vol])
    responses = run_locally(flow, store=store, ensure_success=True, log=False)
    assert responses[vol.uuid][1].output == pytest.approx(3.6**3)
    store.connect()
    # the structure went to the data store; the output document holds a reference
    raw = store.query_one({"uuid": make.uuid}, load=False)
    assert set(raw["output"]["structure"]) >= {"blob_uuid", "store"}
    assert store.additional_stores["data"].count() == 1
    loaded = store.get_output(make.uuid, load=True)
    assert loaded["structure"]["lattice"]["a"] == pytest.approx(3.6)
    assert isinstance(loaded["when"], datetime) and loaded["nan"] != loaded["nan"]
    assert store.get_output(vol.uuid) == pytest.approx(3.6**3)
    assert store.count({"hosts": flow.uuid}) == 2
    # a rewrite of the same job (uuid, index) replaces, never duplicates
    doc = store.query_one({"uuid": vol.uuid}, load=True)
    store.update(doc)
    assert store.count() == 2
    # remove_docs removes the job's blobs too
    store.remove_docs({"uuid": make.uuid})
    assert store.count() == 1 and store.additional_stores["data"].count() == 0
    # a second store object on the same files (another process would do the same) sees it
    other = _jobstore(tmp_path)
    other.connect()
    assert other.count() == 1 and other.query_one({"uuid": vol.uuid})["output"] == pytest.approx(3.6**3)


def _random_docs(n: int, seed: int = 1, bools: bool = True) -> list[dict]:
    rng = random.Random(seed)
    words = ["Li", "LiF", "Li2O", "Na", "x"]
    docs = []
    for i in range(n):
        d: dict = {"task_id": f"t{i}", "n": i}
        r = rng.random()
        if r < 0.2:
            d["v"] = rng.choice(words)
        elif r < 0.4:
            d["v"] = rng.randint(-3, 3)
        elif r < 0.55:
            d["v"] = rng.uniform(-3, 3)
        elif r < 0.7:
            d["v"] = rng.sample(words, 2) + [rng.randint(0, 3)]
        elif r < 0.78:
            d["v"] = None
        elif r < 0.85:
            d["v"] = rng.choice([True, False]) if bools else "x"
        elif r < 0.9:
            d["v"] = {"k": 1}
        # else: missing
        if rng.random() < 0.7:
            d["m"] = {"k": rng.choice(words + [1, 2.5])}
        docs.append(d)
    return docs


FILTERS = [
    {},
    {"v": "Li"},
    {"v": 2},
    {"v": 2.0},
    {"v": None},
    {"v": {"k": 1}},
    {"v": {"$in": ["Li", "Na", 1]}},
    {"v": {"$in": [None, "x"]}},
    {"v": {"$in": []}},
    {"v": {"$gte": 1}},
    {"v": {"$lt": 0, "$gt": -2}},
    {"v": {"$gt": "Li"}},
    {"v": {"$ne": "Li"}},
    {"v": {"$exists": False}},
    {"v": {"$nin": ["Li", 2]}},
    {"v": {"$regex": "^Li"}},
    {"$or": [{"v": "Na"}, {"m.k": "LiF"}]},
    {"$or": [{"v": "Na"}, {"n": {"$lt": 5}}]},
    {"$and": [{"m.k": {"$in": ["Li", 1]}}, {"v": {"$exists": True}}]},
    {"m.k": 2.5},
    {"m.k": {"$gte": 1}},
    {"m": {"k": "x"}},
    {"task_id": {"$in": ["t3", "t7", "nope"]}},
]


@pytest.mark.parametrize("criteria", FILTERS, ids=str)
def test_filters_match_mongodb(tmp_path, criteria):
    # no booleans: mongomock compares True == 1 (MongoDB does not; see the next test)
    docs = _random_docs(300, bools=False)
    store = SQLiteStore(str(tmp_path), "c", key="task_id", indexes=["v", "m.k", "n"])
    store.connect()
    store.update(docs)
    mongo = mongomock_ng.MongoClient().db.c
    mongo.insert_many([dict(d) for d in docs])
    expected = sorted(d["task_id"] for d in mongo.find(criteria))
    got = sorted(d["task_id"] for d in store.query(criteria))
    assert got == expected
    assert store.count(criteria) == len(expected)


def test_boolean_equality_is_not_numeric(tmp_path):
    """MongoDB: {v: true} matches booleans only (mongomock would also match 1)."""
    docs = [d for d in _random_docs(300) if not isinstance(d.get("v"), list)]
    store = SQLiteStore(str(tmp_path), "c", key="task_id", indexes=["v"])
    store.connect()
    store.update(docs)
    expected = sorted(d["task_id"] for d in docs if d.get("v") is True)
    assert expected and sorted(d["task_id"] for d in store.query({"v": True})) == expected


def test_sort_skip_limit_distinct_groupby(tmp_path):
    docs = _random_docs(200)
    store = SQLiteStore(str(tmp_path), "c", key="task_id", indexes=["v", "n"])
    store.connect()
    store.update(docs)
    mongo = mongomock_ng.MongoClient().db.c
    mongo.insert_many([dict(d) for d in docs])
    got = [d["task_id"] for d in store.query({"n": {"$gte": 10}}, sort={"n": -1}, skip=5, limit=7)]
    want = [d["task_id"] for d in mongo.find({"n": {"$gte": 10}}).sort("n", -1).skip(5).limit(7)]
    assert got == want
    want_values = set()
    for d in docs:  # MongoDB: arrays flattened, True distinct from 1, missing left out
        for v in d["v"] if isinstance(d.get("v"), list) else [d.get("v", KeyError)]:
            if v is not KeyError:
                want_values.add(repr(v))
    assert sorted(map(repr, store.distinct("v"))) == sorted(want_values)
    assert sorted(map(repr, store.distinct("v", {"n": {"$lt": 50}}))) == sorted(
        {repr(x) for d in docs[:50] if "v" in d for x in (d["v"] if isinstance(d["v"], list) else [d["v"]])}
    )
    groups = [(k["n"], len(v)) for k, v in store.groupby("n", criteria={"n": {"$lt": 4}})]
    assert groups == [(0, 1), (1, 1), (2, 1), (3, 1)]


def test_update_on_another_key_replaces(tmp_path):
    store = SQLiteStore(str(tmp_path), "c", key="task_id", indexes=["name"])
    store.connect()
    store.update([{"task_id": "a", "name": "x", "v": 1}, {"task_id": "b", "name": "y", "v": 2}])
    store.update({"task_id": "c", "name": "x", "v": 3}, key="name")  # replaces "a"
    assert sorted(d["task_id"] for d in store.query()) == ["b", "c"]
    assert store.insert_new([{"task_id": "b", "v": 9}, {"task_id": "d", "v": 4}]) == 1
    assert store.query_one({"task_id": "b"})["v"] == 2
    # an index added later is filled from the stored documents
    assert store.ensure_index("v")
    assert sorted(d["task_id"] for d in store.query({"v": {"$gte": 3}})) == ["c", "d"]


def _writer(args) -> None:
    worker, n_shared, n_own = args
    db = open_database()
    rows = [
        {"kind": "k", "formulas": "Li", "value": float(i), "units": "eV", "engine": "ase", "model": "EMT",
         "candidate_id": f"shared-{i}"}
        for i in range(n_shared)
    ] + [
        {"kind": "k", "formulas": "Na", "value": float(i), "units": "eV", "engine": "ase", "model": "EMT",
         "candidate_id": f"own-{worker}-{i}"}
        for i in range(n_own)
    ]
    for start in range(0, len(rows), 10):  # many small transactions interleave
        save_rows(rows[start : start + 10], database=db)
    record_result("shared-key", database=db, n_rows=1, flow_uuid="flow-1")
    db.close()


def test_eight_processes_end_with_exactly_the_distinct_rows():
    open_database().close()  # the submitting process creates the files
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        pool.map(_writer, [(w, 60, 15) for w in range(8)])
    db = open_database()
    assert db.summary.count() == 60 + 8 * 15
    assert len(set(db.summary.distinct("row_id"))) == 60 + 8 * 15
    assert db.summary.count({"formulas": "Li"}) == 60
    # a result is logged done once, whoever finishes it
    assert db.results.count({"result_key": "shared-key", "status": "done"}) == 1
    db.close()


def test_corrupt_file_names_itself_and_the_recovery(tmp_path):
    store = SQLiteStore(str(tmp_path), "interphases_summary", key="row_id")
    store.connect()
    store.update([{"row_id": str(i), "x": "y" * 500} for i in range(200)])
    store.close()
    path = tmp_path / "interphases_summary.sqlite"
    for extra in tmp_path.glob("interphases_summary.sqlite-*"):
        extra.unlink()
    path.write_bytes(path.read_bytes()[:3000])
    broken = SQLiteStore(str(tmp_path), "interphases_summary", key="row_id")
    with pytest.raises(DatabaseError) as err:
        broken.connect()
        list(broken.query())
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert "interphases db check" in message and "interphases db repair" in message


def test_memory_store_is_not_affected():
    """The sqlite module must not change maggma's other stores (sanity of the imports)."""
    store = MemoryStore("m", key="k")
    store.connect()
    store.update([{"k": 1}])
    assert store.count() == 1
