"""Campaign files, chunking, resume logic, batch scripts and the jobflow-remote project,
without a queue (the SLURM runs are in test_slurm.py)."""

from __future__ import annotations

import json
import os

import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from jobflow import job
from pydantic import BaseModel
from typer.testing import CliRunner

from interphases.cli import app
from interphases.cluster.campaign import (
    Campaign,
    CampaignItem,
    progress,
    resolve_campaign,
    run_campaign_here,
    run_chunk,
)
from interphases.cluster.examples import EMTEnergyMaker
from interphases.cluster.slurm import SlurmResources, compress_indices, python_command
from interphases.database import open_database, query, run_count
from interphases.database.summary import _find
from interphases.errors import InterphasesError, SchedulerError


def ase_energy_per_atom(a: float, element: str = "Cu") -> float:
    atoms = bulk(element, "fcc", a=a, cubic=True)
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


def test_campaign_runs_here_and_resumes_without_recomputing(emt_campaign, log_counts):
    campaign, path, log = emt_campaign("local1", 5, chunk_size=2)
    assert campaign.chunks() == [[0, 1], [2, 3], [4]]
    outcomes = run_campaign_here(campaign)
    assert [o.status for o in outcomes] == ["done"] * 5
    assert log_counts(log)["done"] == {f"item{i}": 1 for i in range(5)}
    again = run_campaign_here(Campaign.load(path))
    assert [o.status for o in again] == ["skipped"] * 5
    assert log_counts(log)["done"] == {f"item{i}": 1 for i in range(5)}  # nothing recomputed
    with open_database() as db:
        assert all(run_count(item.result_key, db) == 1 for item in campaign.items)
        df = query("emt_energy_per_atom", campaign="local1", database=db)
    assert df["candidate_id"].tolist() == sorted(
        df["candidate_id"], key=lambda c: ase_energy_per_atom(3.40 + 0.02 * int(c[4:]))
    )
    for _, row in df.iterrows():
        assert row["value"] == pytest.approx(
            ase_energy_per_atom(row["lattice_constant_A"]), abs=1e-10
        )
    ranking = campaign.directory / "ranking.csv"
    assert ranking.is_file() and (campaign.directory / "report" / "report.md").is_file()
    assert progress(campaign).finished


def test_failed_item_is_recorded_and_rerun(emt_campaign, log_counts, tmp_path):
    flag = tmp_path / "fail-now"
    flag.touch()
    campaign, path, log = emt_campaign("local2", 3, special={1: {"fail_file": str(flag)}})
    campaign.save(campaign.file)
    outcomes = run_chunk(campaign.file, 1)
    assert outcomes[0].status == "failed" and "failing on purpose" in outcomes[0].error
    assert progress(campaign).missing == [0, 1, 2]
    flag.unlink()
    assert [o.status for o in run_chunk(campaign.file, 1)] == ["done"]
    assert progress(campaign).missing == [0, 2] and progress(campaign).missing_chunks == [0, 2]
    assert log_counts(log)["start"]["item1"] == 2 and log_counts(log)["done"]["item1"] == 1
    with pytest.raises(InterphasesError, match="out of range"):
        run_chunk(campaign.file, 7)


def test_maker_items_and_stable_keys(tmp_path):
    a = CampaignItem.from_maker(EMTEnergyMaker(), {"element": "Ni", "a": 3.52}, candidate_id="Ni")
    b = CampaignItem.from_maker(EMTEnergyMaker(), {"a": 3.52, "element": "Ni"}, candidate_id="Ni")
    c = CampaignItem.from_maker(EMTEnergyMaker(structure="bcc"), {"element": "Ni", "a": 3.52})
    assert a.result_key == b.result_key != c.result_key
    job = a.build()
    assert job.function_args == ("Ni", 3.52, "fcc") or job.function_args[:2] == ("Ni", 3.52)
    campaign = Campaign(name="makers", items=[a, c])
    outcomes = run_campaign_here(campaign)
    assert [o.status for o in outcomes] == ["done", "done"]
    assert resolve_campaign("makers").items[0].result_key == a.result_key


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"name": "x y", "items": []}, "name"),
        ({"name": "ok", "items": []}, "items"),
        ({"name": "ok", "items": [{"result_key": "k"}]}, "exactly one"),
        (
            {
                "name": "ok",
                "items": [{"result_key": "k", "flow": {}}, {"result_key": "k", "flow": {}}],
            },
            "twice",
        ),
        ({"name": "ok", "chunk_size": 0, "items": [{"result_key": "k", "flow": {}}]}, "chunk_size"),
        (
            {
                "name": "ok",
                "items": [{"result_key": "k", "flow": {}}],
                "resources": {"cpus_per_task": 0},
            },
            "cpus_per_task",
        ),
    ],
)
def test_bad_campaign_files_give_one_line_errors(tmp_path, raw, message):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"format": "interphases-campaign/1", **raw}))
    with pytest.raises(InterphasesError, match=message) as info:
        Campaign.load(path)
    assert "\n" not in str(info.value)


def test_unbuildable_item_is_a_clear_error():
    item = CampaignItem(result_key="k", maker={"@module": "nowhere", "@class": "Nothing"})
    with pytest.raises(InterphasesError, match="cannot rebuild"):
        item.build()


def test_compress_indices():
    assert compress_indices([5, 0, 1, 2, 7, 8]) == "0-2,5,7-8"
    assert compress_indices([3]) == "3"
    with pytest.raises(SchedulerError):
        compress_indices([])


def test_batch_script_has_array_dependency_and_environment(tmp_path, monkeypatch):
    """The script qtoolkit writes for an array task and for the dependent job."""
    from qtoolkit.io.slurm import SlurmIO
    from qtoolkit.manager import QueueManager

    from interphases.cluster.slurm import batch_environment

    monkeypatch.setenv("INTERPHASES_DB_CONFIG", str(tmp_path / "db config.yaml"))
    res = SlurmResources(
        queue="debug",
        time_limit_s=5400,
        cpus_per_task=2,
        max_parallel=3,
        sbatch_lines=["#SBATCH --constraint=cpu"],
    )
    manager = QueueManager(SlurmIO())
    script = manager.get_submission_script(
        commands=[python_command("run-chunk", "/p/c.json") + ' --index "$SLURM_ARRAY_TASK_ID"'],
        options=res.qresources(
            "ip-x", tmp_path / "o-%A_%a", tmp_path / "e-%A_%a", array="0-2,5", after_ok=["41"]
        ),
        environment={"environ": batch_environment(2)},
    )
    for line in (
        "#SBATCH --array=0-2,5%3",
        "#SBATCH --dependency=afterok:41",
        "#SBATCH --partition=debug",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --time=0-1:30:0",
        "#SBATCH --constraint=cpu",
        "export OMP_NUM_THREADS=2",
        f"export INTERPHASES_PROJECT={os.environ['INTERPHASES_PROJECT']}",
        f"export INTERPHASES_DB_CONFIG='{tmp_path / 'db config.yaml'}'",
        " -m interphases.cli run-chunk /p/c.json",
    ):
        assert line in script, line
    with pytest.raises(SchedulerError, match="#SBATCH"):
        SlurmResources(sbatch_lines=["--mem=1G"]).qresources("x", tmp_path, tmp_path)


def test_submit_without_slurm_is_a_clear_error(emt_campaign, monkeypatch, tmp_path):
    _, path, _ = emt_campaign("noslurm", 2)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    res = CliRunner().invoke(app, ["submit", str(path)])
    assert res.exit_code != 0 and isinstance(res.exception, SchedulerError)
    assert "sbatch" in str(res.exception)


def test_cli_local_scheduler_runs_flow_and_campaign(emt_campaign, tmp_path, log_counts):
    from monty.serialization import dumpfn

    from interphases.cluster.examples import emt_lattice_scan

    flow = emt_lattice_scan("Ag", [4.05, 4.1])
    dumpfn(flow, tmp_path / "flow.json")
    runner = CliRunner()
    res = runner.invoke(app, ["submit", str(tmp_path / "flow.json"), "--scheduler", "local"])
    assert res.exit_code == 0, res.output
    assert "3 job(s) run, 3 summary row(s)" in res.output
    _, path, log = emt_campaign("cli-local", 3)
    res = runner.invoke(app, ["submit", str(path), "--scheduler", "local", "--chunk-size", "2"])
    assert res.exit_code == 0 and "3 run, 0 already done" in res.output
    res = runner.invoke(app, ["status", "cli-local"])
    assert "3/3 done, 0 missing" in res.output


def test_jobflow_remote_project_file(tmp_path, monkeypatch):
    import yaml
    from jobflow_remote.config.base import Project

    from interphases.cluster.remote import projects_folder, write_project

    monkeypatch.delenv("JFREMOTE_PROJECTS_FOLDER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.jfremote: the project folder is used
    path = write_project("p1", resources=SlurmResources(queue="debug", time_limit_s=600))
    from interphases.config import project_dir

    assert path.parent == projects_folder() == project_dir() / "jfremote"
    data = yaml.safe_load(path.read_text())
    project = Project.model_validate(data)
    worker = project.workers["slurm"]
    assert (worker.type, worker.scheduler_type) == ("local", "slurm")
    assert str(worker.work_dir).startswith(str(project_dir()))
    assert worker.resources == {
        "ntasks": 1,
        "cpus_per_task": 1,
        "time": "00:10:00",
        "partition": "debug",
    }
    store = project.get_jobstore()
    with open_database() as db:
        assert store.docs_store.name == db.jobstore.docs_store.name  # outputs land in our database
    mongo = {
        "type": "MongoStore",
        "host": "mongo.example.org",
        "database": "jfr",
        "collection_name": "jobs",
    }
    data2 = yaml.safe_load(write_project("p2", queue_store=mongo).read_text())
    assert data2["queue"]["store"] == mongo


class BrokenRowsDoc(BaseModel):
    x: float

    def summary_rows(self) -> list[dict]:
        return [{"kind": "broken", "value": self.x}]  # lacks formulas, units, engine, model


@job
def broken_rows_job(x: float) -> BrokenRowsDoc:
    return BrokenRowsDoc(x=x)


def test_item_with_bad_summary_rows_keeps_its_outputs():
    """A computed item whose rows cannot be indexed is kept (done), not recomputed."""
    item = CampaignItem.from_flow(broken_rows_job(2.0), result_key="broken-1")
    outcome = run_campaign_here(Campaign(name="broken", items=[item]))[0]
    assert outcome.status == "done" and "lacks formulas" in outcome.error
    with open_database() as db:
        assert db.jobstore.query_one({"uuid": item.flow["uuid"]})["output"]["x"] == 2.0
        run = _find(db.results, {"result_key": "broken-1"})[0]
        assert run["status"] == "done" and "lacks formulas" in run["ingest_error"]
    assert run_campaign_here(Campaign(name="broken", items=[item]))[0].status == "skipped"
