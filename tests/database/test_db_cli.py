"""The database from the command line: one-line errors for bad folders and corrupt files,
`db check` / `db repair` / `db migrate`, and a repeated compute command storing nothing new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from interphases.cluster.examples import emt_lattice_scan
from interphases.database import open_database, parse_config, query, record_result, save_rows
from interphases.workflows.run import run_and_store


def _cli(*args: str, project: str | Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if project is not None:
        env["INTERPHASES_PROJECT"] = str(project)
    return subprocess.run(
        [sys.executable, "-m", "interphases.cli", *args], capture_output=True, text=True, env=env, timeout=300
    )


def _one_line_error(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [line for line in (res.stdout + res.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    return lines[0]


@pytest.mark.parametrize("kind", ["proc", "under-a-file"])
def test_bad_project_folder_is_one_line(tmp_path, kind):
    if kind == "proc":
        project = "/proc/x"
    else:
        (tmp_path / "afile").write_text("x")
        project = tmp_path / "afile" / "project"
    line = _one_line_error(_cli("query", "work_of_adhesion", project=project))
    assert str(project) in line and "INTERPHASES_PROJECT" in line


def _corrupt(path: Path) -> None:
    for extra in path.parent.glob(path.name + "-*"):
        extra.unlink()
    path.write_bytes(path.read_bytes()[:2500])


def test_corrupt_summary_one_line_then_check_and_repair(tmp_path):
    project = tmp_path / "p"
    os.environ["INTERPHASES_PROJECT"] = str(project)  # restored by the autouse fixture
    with open_database() as db:
        run_and_store(emt_lattice_scan("Cu", [3.55, 3.6, 3.65]), database=db, result_key="cu-scan")
        n_rows = db.summary.count()
        assert n_rows == 4  # three energies and the minimum
    summary_file = project / "database" / "interphases_summary.sqlite"
    _corrupt(summary_file)

    line = _one_line_error(_cli("query", project=project))
    assert str(summary_file) in line and "interphases db check" in line and "db repair" in line

    check = _cli("db", "check", project=project)
    assert check.returncode == 2 and "summary: BROKEN" in check.stdout and "outputs: ok" in check.stdout

    repair = _cli("db", "repair", project=project)
    assert repair.returncode == 0, repair.stderr
    assert "moved aside" in repair.stdout and list(summary_file.parent.glob("*.corrupt-*"))
    assert _cli("db", "check", project=project).returncode == 0
    with open_database() as db:
        assert db.summary.count() == n_rows
        assert len(query("emt_energy_per_atom", database=db)) == 3


def test_corrupt_outputs_file_is_not_rebuilt(tmp_path):
    project = tmp_path / "p"
    os.environ["INTERPHASES_PROJECT"] = str(project)
    with open_database() as db:
        run_and_store(emt_lattice_scan("Ni", [3.5, 3.52]), database=db)
    _corrupt(project / "database" / "outputs.sqlite")
    line = _one_line_error(_cli("db", "repair", project=project))
    assert "outputs.sqlite" in line and "backup" in line


def test_migrate_montydb_folder(tmp_path, make_rows):
    folder = tmp_path / "db"
    legacy = parse_config({"type": "embedded", "path": str(folder), "storage": "montydb"})
    with open_database(legacy) as old:
        run_and_store(emt_lattice_scan("Cu", [3.55, 3.6]), database=old, result_key="k")
        save_rows(make_rows(40), database=old)
        record_result("k2", database=old)
        before = old.counts()
    auto = parse_config({"type": "embedded", "path": str(folder)})
    assert auto.embedded_storage() == "montydb"  # old folders still open
    (tmp_path / "interphases.yaml").write_text(f"database:\n  type: embedded\n  path: {folder}\n")
    res = _cli("db", "migrate", project=tmp_path)
    assert res.returncode == 0, res.stderr
    assert auto.embedded_storage() == "sqlite"
    with open_database(auto) as new:
        assert not new.legacy and new.counts() == before
        assert len(query("emt_energy_per_atom", database=new)) == 2
        doc = new.jobstore.query_one({"name": "emt_bulk_energy"}, load=True)
        assert doc["output"]["energy_per_atom_eV"] < 0
    # idempotent: migrating again copies onto the same keys
    assert _cli("db", "migrate", project=tmp_path).returncode == 0
    with open_database(auto) as new:
        assert new.counts() == before


def test_repeated_cli_command_stores_nothing_new(tmp_path):
    project = tmp_path / "p"
    args = ("surface-energy", "Al", "--model", "emt", "-m", "1,0,0", "--thickness", "6")
    first = _cli(*args, project=project)
    assert first.returncode == 0, first.stderr
    os.environ["INTERPHASES_PROJECT"] = str(project)
    with open_database() as db:
        counts = db.counts()
    assert counts["summary"] >= 1 and counts["outputs"] >= 1
    second = _cli(*args, project=project)
    assert second.returncode == 0, second.stderr
    gamma = [line for line in first.stdout.splitlines() if "(1,0,0)" in line]
    assert gamma and gamma == [line for line in second.stdout.splitlines() if "(1,0,0)" in line]
    with open_database() as db:
        assert db.counts() == counts  # nothing new: not a job, a blob, a row nor a run
    # another input is another result
    assert _cli(*args[:-1], "7", project=project).returncode == 0
    with open_database() as db:
        assert db.counts()["summary"] > counts["summary"]
