"""Summary rows, ingestion of job outputs, resume helpers (embedded database)."""

from __future__ import annotations

import math
import multiprocessing

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from jobflow import Job, job, run_locally
from pymatgen.core import Lattice, Structure

from interphases.cluster.examples import emt_lattice_scan
from interphases.database import (
    completed_keys,
    get_result,
    has_result,
    ingest,
    make_result_key,
    normalize_row,
    open_database,
    record_result,
    run_count,
    save_rows,
)
from interphases.errors import DatabaseError

ROW = {
    "kind": "work_of_adhesion",
    "formulas": "Li,LiF",
    "value": 0.41,
    "units": "J/m^2",
    "engine": "mlip",
    "model": "CHGNet-0.3.0",
}


def emt_energy_per_atom(element: str, a: float) -> float:
    """Independent reference: plain ASE."""
    atoms = bulk(element, "fcc", a=a, cubic=True)
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


def test_make_result_key_is_stable_and_sensitive():
    s1 = Structure(Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    s2 = Structure(Lattice.cubic(4.03 + 1e-15), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    k = make_result_key(
        candidate="Li|LiF-0", engine="mlip", model="CHGNet-0.3.0", structure=s1, fmax=0.05
    )
    assert len(k) == 40
    assert k == make_result_key(
        fmax=0.05, structure=s2, model="CHGNet-0.3.0", engine="mlip", candidate="Li|LiF-0"
    )
    assert k != make_result_key(
        candidate="Li|LiF-0", engine="mlip", model="SevenNet-0", structure=s1, fmax=0.05
    )
    assert k != make_result_key(
        candidate="Li|LiF-0", engine="mlip", model="CHGNet-0.3.0", structure=s1, fmax=0.02
    )
    d = s1.as_dict()
    d["@version"] = "9.9.9"  # a package upgrade must not change the key
    assert make_result_key(s=d) == make_result_key(s=s1.as_dict())
    with pytest.raises(DatabaseError):
        make_result_key()


def test_normalize_row_completes_and_validates():
    row = normalize_row(
        {**ROW, "formulas": "LiF|Li4O2", "miller": [[1, 0, 0], [1, 1, 1]]},
        job_uuid="u",
        result_key="r",
    )
    assert row["formulas"] == ["Li2O", "LiF"] and row["formulas_key"] == "Li2O|LiF"
    assert row["phases"] == row["formulas"]
    assert row["job_uuid"] == "u" and row["result_key"] == "r" and row["time"]
    assert normalize_row({**ROW, "phases": ["LLZO", "Li"]})["phases_key"] == "LLZO|Li"
    with pytest.raises(DatabaseError, match="lacks units, model"):
        normalize_row({k: v for k, v in ROW.items() if k not in ("units", "model")})
    with pytest.raises(DatabaseError, match="not a number"):
        normalize_row({**ROW, "value": "high"})
    with pytest.raises(DatabaseError, match="infinite"):
        normalize_row({**ROW, "value": math.inf})
    with pytest.raises(DatabaseError, match="must be a dict"):
        normalize_row([1, 2])


def test_save_rows_is_idempotent(db):
    first = save_rows([ROW, {**ROW, "value": 0.5}], database=db, campaign="c1")
    assert (first.written, first.existing) == (2, 0)
    again = save_rows([ROW, {**ROW, "value": 0.5}], database=db, campaign="c1")
    assert (again.written, again.existing) == (0, 2)
    docs = list(db.summary.query({}))
    assert len(docs) == 2 and {d["campaign"] for d in docs} == {"c1"}
    replaced = save_rows([ROW], database=db, campaign="c1", replace=True)
    assert replaced.written == 1 and db.summary.count() == 2


@job
def plain_number(x: float) -> float:
    return 2 * x


def test_ingest_job_outputs_with_rows(db):
    flow = emt_lattice_scan("Cu", [3.55, 3.6, 3.65])
    extra = plain_number(1.0)  # output without summary_rows: ignored
    run_locally(flow, store=db.jobstore, log=False)
    run_locally(extra, store=db.jobstore, log=False)
    report = ingest(database=db, result_key="scan-cu")
    assert report.outputs_checked == 5 and report.outputs_with_rows == 4 and report.written == 4
    rows = {(d["kind"], d.get("lattice_constant_A")): d for d in db.summary.query({})}
    for a in (3.55, 3.6, 3.65):
        row = rows[("emt_energy_per_atom", a)]
        assert row["value"] == pytest.approx(emt_energy_per_atom("Cu", a), abs=1e-10)
        assert (row["units"], row["engine"], row["model"], row["formulas"]) == (
            "eV/atom",
            "ase",
            "EMT",
            ["Cu"],
        )
        assert row["flow_uuid"] == flow.uuid and row["result_key"] == "scan-cu"
    best = rows[("emt_lattice_constant", None)]
    expected = min((3.55, 3.6, 3.65), key=lambda a: emt_energy_per_atom("Cu", a))
    assert best["value"] == expected
    assert {r["job_uuid"] for r in rows.values()} == {j.uuid for j in flow.jobs}
    # re-ingesting writes nothing and does not load the outputs again
    again = ingest(database=db)
    assert again.written == 0 and again.existing == 4 and db.summary.count() == 4


def test_ingest_loads_data_store_blobs(db):
    """Outputs whose arrays went to the ``data`` store are rebuilt before summary_rows()."""
    from interphases.cluster.examples import emt_bulk_energy

    j = emt_bulk_energy("Ni", 3.52)
    # jobflow's additional-store keyword: this output field goes to the "data" store
    big = Job(emt_bulk_energy.original, function_args=("Al", 4.05), data=["energy_eV"])
    run_locally([j, big], store=db.jobstore, log=False)
    assert db.jobstore.additional_stores["data"].count() == 1
    ingest(database=db)
    values = {d["formulas_key"]: d["value"] for d in db.summary.query({})}
    assert values["Al"] == pytest.approx(emt_energy_per_atom("Al", 4.05), abs=1e-10)
    assert values["Ni"] == pytest.approx(emt_energy_per_atom("Ni", 3.52), abs=1e-10)


def test_resume_helpers(db):
    assert not has_result("k1", db)
    record_result("k1", database=db, status="failed", error="boom")
    assert not has_result("k1", db) and run_count("k1", db) == 0
    record_result("k1", database=db, candidate_id="c1", n_rows=0)
    assert has_result("k1", db) and run_count("k1", db) == 1
    record_result("k1", database=db)
    assert run_count("k1", db) == 2
    save_rows([{**ROW, "result_key": "k2"}], database=db)  # rows carrying a key count as done
    assert completed_keys(db) == {"k1", "k2"}
    assert completed_keys(db, ["k2", "k3"]) == {"k2"}
    result = get_result("k1", db)
    assert [r["status"] for r in result["runs"]] == ["failed", "done", "done"]
    assert get_result("k2", db)["rows"][0]["value"] == 0.41
    assert get_result("nope", db) is None


def _writer(worker: int, n: int) -> None:
    db = open_database()
    for i in range(n):
        save_rows(
            [{**ROW, "value": worker * 1000 + i, "candidate_id": f"w{worker}-{i}"}], database=db
        )
        record_result(f"w{worker}-{i}", database=db)


def test_concurrent_processes_lose_no_document(db):
    """Four processes writing at once into the initialised embedded database."""
    db.close()
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(w, 15)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    db.connect()
    values = sorted(d["value"] for d in db.summary.query({}))
    assert values == sorted(float(w * 1000 + i) for w in range(4) for i in range(15))
    assert len(completed_keys(db)) == 60
