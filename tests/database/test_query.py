"""Query API and CLI: filters checked against a plain-Python reference, the embedded
(scan) path against the server path (mongomock, as MongoDB would run the filter),
provenance (show), the report, and the speed at 10^4 rows."""

from __future__ import annotations

import json
import time
import uuid

import pandas as pd
import pytest
from jobflow import run_locally
from typer.testing import CliRunner

from interphases.cli import app
from interphases.cluster.examples import emt_lattice_scan
from interphases.database import (
    ingest,
    open_database,
    parse_config,
    query,
    save_rows,
    show,
    write_report,
)
from interphases.database.summary import normalize_formula
from interphases.errors import DatabaseError

HIGHER_FIRST = {"work_of_adhesion"}


def reference(rows, kind=None, phases=(), vmin=None, vmax=None, engine=None, model=None):
    """Independent filter + best-first ordering over the raw rows."""
    out = []
    for r in rows:
        formulas = {normalize_formula(f) for f in r["formulas"]}
        if kind and r["kind"] != kind:
            continue
        if any(p not in formulas and normalize_formula(p) not in formulas for p in phases):
            continue
        if vmin is not None and r["value"] < vmin or vmax is not None and r["value"] > vmax:
            continue
        if engine and r["engine"] != engine or model and r["model"] != model:
            continue
        out.append(r)
    # the one ranking (interphases.analysis.ranking): a negative work of adhesion (the
    # interface would come apart by itself) is flagged and ranked after every sound row
    out.sort(
        key=lambda r: (kind == "work_of_adhesion" and r["value"] < 0, -r["value"])
        if kind in HIGHER_FIRST
        else r["value"]
    )
    return [r["candidate_id"] for r in out]


CASES = [
    dict(kind="work_of_adhesion"),
    dict(kind="work_of_adhesion", phases=["Li", "LiF"], vmin=0.3),
    dict(kind="surface_energy", phases=["Li2O"], vmax=1.0),
    dict(kind="interfacial_energy", engine="cp2k", model="PBE"),
    dict(kind="migration_barrier", phases=["Li7La3Zr2O12"], vmin=0.0, vmax=1.5),
    dict(kind="work_of_adhesion", phases=["Li4O2"]),  # matched through the reduced formula Li2O
    dict(kind="nonexistent"),
]


@pytest.fixture(scope="module")
def rows(make_rows):
    return make_rows(600, seed=3)


def _server_db():
    name = f"outputs_{uuid.uuid4().hex[:8]}"
    config = parse_config(
        {
            "type": "jobstore",
            "jobstore": {"docs_store": {"type": "MemoryStore", "collection_name": name}},
        }
    )
    return open_database(config)


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_query_matches_reference_on_both_paths(rows, db, case):
    server = _server_db()
    assert not db.scan and not server.scan  # sqlite pushes the indexed part into SQL
    save_rows(rows, database=db)
    save_rows(rows, database=server)
    kwargs = dict(
        kind=case.get("kind"),
        phases=case.get("phases"),
        min=case.get("vmin"),
        max=case.get("vmax"),
        engine=case.get("engine"),
        model=case.get("model"),
    )
    expected = reference(rows, **{k: v for k, v in case.items()})
    for database in (db, server):
        df = query(**kwargs, database=database)
        assert df["candidate_id"].tolist() == expected
    if expected:
        assert set(df.columns) >= {
            "kind",
            "formulas",
            "phases_key",
            "value",
            "units",
            "engine",
            "model",
        }


def test_query_sort_limit_and_errors(rows, db):
    save_rows(rows, database=db)
    asc = query("work_of_adhesion", descending=False, database=db)
    assert asc["value"].is_monotonic_increasing
    top = query("work_of_adhesion", limit=5, database=db)
    assert len(top) == 5 and top["value"].tolist() == sorted(asc["value"], reverse=True)[:5]
    by_atoms = query("surface_energy", sort="n_atoms", database=db)
    assert by_atoms["n_atoms"].is_monotonic_increasing
    with pytest.raises(DatabaseError, match="cannot sort"):
        query("surface_energy", sort="colour", database=db)
    with pytest.raises(DatabaseError, match="larger than"):
        query("surface_energy", min=2, max=1, database=db)
    empty = query("surface_energy", phases="Xe", database=db)
    assert empty.empty and "value" in empty.columns


def test_query_10k_rows_is_fast(db, make_rows):
    """The issue's bound is 1 s (benchmarks/bench_database.py reports it); generous here."""
    many = make_rows(10_000, seed=1)
    save_rows(many, database=db)
    assert db.summary.count() == 10_000
    t0 = time.perf_counter()
    df = query("work_of_adhesion", phases="Li,LiF", min=0.3, database=db)
    elapsed = time.perf_counter() - t0
    assert df["candidate_id"].tolist() == reference(many, "work_of_adhesion", ["Li", "LiF"], 0.3)
    assert elapsed < 3.0, f"query over 10^4 rows took {elapsed:.2f} s"


def test_show_gives_rows_jobs_and_runs(db):
    flow = emt_lattice_scan("Ni", [3.5, 3.52])
    run_locally(flow, store=db.jobstore, log=False)
    ingest(database=db, result_key="ni-scan")
    from interphases.database import record_result

    record_result("ni-scan", database=db, n_rows=3)
    by_flow = show(flow.uuid, database=db)
    assert len(by_flow["rows"]) == 3 and len(by_flow["jobs"]) == 3
    assert {j["uuid"] for j in by_flow["jobs"]} == {j.uuid for j in flow.jobs}
    assert by_flow["runs"][0]["result_key"] == "ni-scan"
    one = flow.jobs[0].uuid
    by_job = show(one, database=db)
    assert [r["job_uuid"] for r in by_job["rows"]] == [one]
    job_doc = by_job["jobs"][0]
    assert job_doc["output"]["energy_per_atom_eV"] == pytest.approx(by_job["rows"][0]["value"])
    assert job_doc["hosts"] == [flow.uuid]
    with pytest.raises(DatabaseError, match="nothing found"):
        show("no-such-thing", database=db)


def test_report_markdown_and_html(rows, db, tmp_path):
    from interphases.config import project_dir

    save_rows(rows[:80], database=db)
    plots = project_dir() / "plots"
    plots.mkdir(parents=True)
    (plots / "landscape.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 16)
    md = write_report(tmp_path / "r", database=db, top=5)
    text = md.read_text()
    wad = query("work_of_adhesion", database=db)
    assert "## work_of_adhesion" in text and "largest first" in text
    section = text.split("## work_of_adhesion")[1].split("##")[0]
    first_row = [ln for ln in section.splitlines() if ln.startswith("| 1 |")][0]
    assert f"{wad['value'].iloc[0]:.4g}" in first_row  # the best W_ad ranks first
    assert (tmp_path / "r" / "work_of_adhesion.png").read_bytes()[:4] == b"\x89PNG"
    assert len(pd.read_csv(tmp_path / "r" / "work_of_adhesion.csv")) == len(wad)
    assert "plots/landscape.png" in text and (tmp_path / "r" / "plots" / "landscape.png").is_file()
    html = write_report(tmp_path / "h", database=db, fmt="html", kinds=["surface_energy"])
    assert "<table" in html.read_text() and "work_of_adhesion" not in html.read_text()
    with pytest.raises(DatabaseError, match="format"):
        write_report(tmp_path / "x", database=db, fmt="pdf")


def test_cli_query_show_report_db(rows, db, tmp_path):
    save_rows(rows[:200], database=db)
    db.close()
    runner = CliRunner()
    expected = reference(rows[:200], "work_of_adhesion", ["Li", "LiF"], 0.3)
    res = runner.invoke(
        app,
        [
            "query",
            "work_of_adhesion",
            "--phases",
            "Li,LiF",
            "--min",
            "0.3",
            "--sort",
            "value",
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert [r["candidate_id"] for r in json.loads(res.output)] == expected
    res = runner.invoke(
        app, ["query", "work_of_adhesion", "--phases", "Li,LiF", "--min", "0.3", "--format", "csv"]
    )
    assert res.exit_code == 0
    from io import StringIO

    csv = pd.read_csv(StringIO(res.output))
    assert csv["candidate_id"].tolist() == expected and json.loads(csv["formulas"][0])
    res = runner.invoke(
        app,
        [
            "query",
            "work_of_adhesion",
            "--phases",
            "Li,LiF",
            "--min",
            "0.3",
            "--columns",
            "candidate_id,value",
        ],
    )
    assert res.exit_code == 0 and (not expected or expected[0] in res.output)
    res = runner.invoke(
        app, ["show", expected[0] if expected else rows[0]["candidate_id"], "--json"]
    )
    assert res.exit_code == 0 and json.loads(res.output)["rows"]
    res = runner.invoke(app, ["report", "-o", str(tmp_path / "rep"), "--format", "html"])
    assert res.exit_code == 0 and (tmp_path / "rep" / "report.html").is_file()
    res = runner.invoke(app, ["db", "info"])
    assert res.exit_code == 0 and "summary: 200" in res.output
    res = runner.invoke(app, ["db", "config-example", "--mongodb"])
    assert "GridFSStore" in res.output
