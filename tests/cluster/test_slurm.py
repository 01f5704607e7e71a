"""End to end through a real SLURM (scripts/slurm/start.sh): job arrays writing at once
into the embedded database, a killed and a failed task resubmitted, one flow as one
batch job, and jobflow-remote's runner submitting to SLURM."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from typer.testing import CliRunner

from interphases.cli import app
from interphases.cluster import slurm
from interphases.cluster.campaign import CampaignState, progress, submit_campaign
from interphases.database import open_database, query, run_count
from interphases.database.summary import _find

pytestmark = pytest.mark.slurm


def ase_energy_per_atom(element: str, a: float) -> float:
    atoms = bulk(element, "fcc", a=a, cubic=True)
    atoms.calc = EMT()
    return atoms.get_potential_energy() / len(atoms)


def wait_until(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_array_tasks_write_at_once_and_lose_nothing(
    slurm_cluster, slurm_cpus, emt_campaign, log_counts, tmp_path
):
    tasks = max(2, min(slurm_cpus, 4))
    per_task = 4
    n = tasks * per_task
    barrier = tmp_path / "barrier"
    # the first item of every task waits for the others: all tasks then write together
    special = {
        t * per_task: {"barrier_dir": str(barrier), "barrier_count": tasks, "hold_timeout_s": 60}
        for t in range(tasks)
    }
    campaign, path, log = emt_campaign(
        "concurrent", n, chunk_size=per_task, special=special, queue=slurm_cluster
    )
    sub = submit_campaign(campaign)
    assert sub.chunks == list(range(tasks)) and sub.skipped_items == 0
    slurm.wait([sub.array_job_id, sub.rank_job_id], timeout_s=150)

    lines = log.read_text().splitlines()
    firsts = {f"item{t * per_task}" for t in range(tasks)}
    first_done = min(
        i for i, line in enumerate(lines) if line.split()[:2] in [["done", f] for f in firsts]
    )
    started_before = {ln.split()[1] for ln in lines[:first_done] if ln.startswith("start")}
    assert firsts <= started_before, "array tasks did not run at the same time"
    assert log_counts(log)["done"] == {f"item{i}": 1 for i in range(n)}

    with open_database() as db:
        outputs = list(
            db.jobstore.query(
                {}, properties=["uuid", "output.lattice_constant_A", "output.energy_per_atom_eV"]
            )
        )
        assert len(outputs) == n and len({o["uuid"] for o in outputs}) == n
        rows = _find(db.summary, {"campaign": "concurrent"})
        assert len(rows) == n and len({r["row_id"] for r in rows}) == n
        runs = _find(db.results, {"campaign": "concurrent", "status": "done"})
        assert sorted(r["result_key"] for r in runs) == sorted(i.result_key for i in campaign.items)
        assert {r["slurm_job_id"] for r in runs} == {sub.array_job_id}
        assert sorted({int(r["slurm_task_id"]) for r in runs}) == list(range(tasks))
    for row in rows:
        assert row["value"] == pytest.approx(
            ase_energy_per_atom("Cu", row["lattice_constant_A"]), abs=1e-10
        )
    ranking = pd.read_csv(campaign.directory / "ranking.csv")
    assert len(ranking) == n and ranking["value"].is_monotonic_increasing
    assert json.loads((campaign.directory / "ranking.done").read_text())["missing"] == []


def test_killed_and_failed_tasks_resume_only_what_is_missing(
    slurm_cluster, emt_campaign, log_counts, tmp_path
):
    hold, fail = tmp_path / "hold", tmp_path / "fail"
    hold.touch()
    fail.touch()
    special = {1: {"hold_file": str(hold), "hold_timeout_s": 120}, 3: {"fail_file": str(fail)}}
    campaign, path, log = emt_campaign("resume", 5, special=special, queue=slurm_cluster)
    runner = CliRunner()
    res = runner.invoke(app, ["submit", str(path), "--time-limit", "300"])
    assert res.exit_code == 0, res.output
    array_id, rank_id = re.search(r"array job (\d+) .*ranking job (\d+)", res.output).groups()

    with open_database() as db:

        def first_round_over() -> bool:
            c = log_counts(log)
            failed = _find(db.results, {"campaign": "resume", "status": "failed"})
            return (
                all(c["done"].get(f"item{i}") for i in (0, 2, 4))
                and "item1" in c["start"]
                and len(failed) == 1
            )

        wait_until(first_round_over, 90, "items 0, 2, 4 done, item 1 running, item 3 failed")
        slurm.cancel(f"{array_id}_1")  # kill the task that is still running
        wait_until(lambda: not slurm.list_jobs([array_id]), 60, "the array to leave the queue")
        assert [str(j.job_id) for j in slurm.list_jobs([rank_id])] == [
            rank_id
        ]  # waits for ever (afterok)
        assert progress(campaign, db).missing == [1, 3]

    res = runner.invoke(app, ["status", "resume"])
    assert res.exit_code == 0 and "3/5 done, 2 missing (items [1, 3])" in res.output
    res = runner.invoke(app, ["submit", str(path)])  # without --resume: refused, nothing doubles
    assert res.exit_code != 0 and "--resume" in str(res.exception)

    hold.unlink()
    fail.unlink()
    res = runner.invoke(app, ["submit", "--resume", "resume"])
    assert res.exit_code == 0, res.output
    assert (
        f"cancelled stale job(s) {rank_id}" in res.output and "3 item(s) already done" in res.output
    )
    state = CampaignState.load(campaign)
    second = state.submissions[-1]
    assert second["array"] == "1,3" and second["cancelled"] == [rank_id]
    slurm.wait([second["array_job_id"], second["rank_job_id"]], timeout_s=120)

    counts = log_counts(log)
    assert counts["done"] == {f"item{i}": 1 for i in range(5)}  # every result computed once
    assert counts["start"] == {"item0": 1, "item1": 2, "item2": 1, "item3": 2, "item4": 1}
    with open_database() as db:
        assert all(run_count(item.result_key, db) == 1 for item in campaign.items)
        assert len(_find(db.results, {"campaign": "resume", "status": "failed"})) == 1
        df = query("emt_energy_per_atom", campaign="resume", database=db)
    assert sorted(df["candidate_id"]) == [f"item{i}" for i in range(5)]
    assert len(pd.read_csv(campaign.directory / "ranking.csv")) == 5
    res = runner.invoke(app, ["submit", "--resume", "resume"])
    assert "nothing to submit" in res.output


def test_single_flow_as_one_batch_job(slurm_cluster, tmp_path):
    from monty.serialization import dumpfn

    from interphases.cluster.examples import emt_lattice_scan

    flow = emt_lattice_scan("Au", [4.05, 4.08, 4.11])
    dumpfn(flow, tmp_path / "flow.json")
    res = CliRunner().invoke(
        app,
        ["submit", str(tmp_path / "flow.json"), "--scheduler", "slurm", "--queue", slurm_cluster],
    )
    assert res.exit_code == 0, res.output
    job_id = re.search(r"SLURM job (\d+)", res.output).group(1)
    slurm.wait([job_id], timeout_s=90)
    df = query("emt_lattice_constant", phases="Au")
    assert len(df) == 1 and df["flow_uuid"].iloc[0] == flow.uuid
    expected = min((4.05, 4.08, 4.11), key=lambda a: ase_energy_per_atom("Au", a))
    assert df["value"].iloc[0] == expected
    assert len(query("emt_energy_per_atom", phases="Au")) == 3


def test_jobflow_remote_runs_a_flow_through_slurm(slurm_cluster, tmp_path, monkeypatch):
    """`interphases jf-remote init` + `jf-remote submit --inline`: jobflow-remote's Runner
    submits each job of a real flow to SLURM; outputs land in the interphases JobStore."""
    from monty.serialization import dumpfn

    from interphases.cluster.examples import emt_lattice_scan

    monkeypatch.delenv("JFREMOTE_PROJECTS_FOLDER", raising=False)
    runner = CliRunner()
    res = runner.invoke(app, ["jf-remote", "init", "--name", "jfr-test", "--queue", slurm_cluster])
    assert res.exit_code == 0, res.output
    flow = emt_lattice_scan("Pd", [3.85, 3.89, 3.93])
    dumpfn(flow, tmp_path / "flow.json")
    res = runner.invoke(
        app,
        [
            "jf-remote",
            "submit",
            str(tmp_path / "flow.json"),
            "--project",
            "jfr-test",
            "--inline",
            "--max-seconds",
            "150",
        ],
    )
    assert res.exit_code == 0, res.output
    done = dict(re.findall(r" (\S+): COMPLETED, SLURM job (\d+)", res.output))
    assert sorted(done) == sorted(j.uuid for j in flow.jobs)
    slurm_ids = set(done.values())
    assert len(slurm_ids) == 4  # four real SLURM jobs
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    jobcomp = re.search(r"^JobCompLoc\s*=\s*(\S+)", config, re.M)
    if "jobcomp/filetxt" in config and jobcomp:  # start.sh's SLURM logs every finished job
        text = Path(jobcomp.group(1)).read_text()
        finished = {m.group(1) for m in re.finditer(r"JobId=(\d+) .*JobState=COMPLETED", text)}
        assert slurm_ids <= finished
    with open_database() as db:
        uuids = [j.uuid for j in flow.jobs]
        outputs = {d["uuid"]: d for d in db.jobstore.query({"uuid": {"$in": uuids}})}
    assert len(outputs) == 4
    df = query("emt_energy_per_atom", phases="Pd")
    assert len(df) == 3
    for _, row in df.iterrows():
        assert row["value"] == pytest.approx(
            ase_energy_per_atom("Pd", row["lattice_constant_A"]), abs=1e-10
        )
    best = query("emt_lattice_constant", phases="Pd")["value"].tolist()
    assert best == [min((3.85, 3.89, 3.93), key=lambda a: ase_energy_per_atom("Pd", a))]


def test_start_script_reuses_a_running_slurm(slurm_cluster):
    """scripts/slurm/start.sh is idempotent: a second call starts nothing."""
    script = Path(__file__).resolve().parents[2] / "scripts" / "slurm" / "start.sh"
    before = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    boot = re.search(r"BOOT_TIME\s*=\s*(\S+)", before).group(1)
    res = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "already running" in res.stdout
    after = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    assert re.search(r"BOOT_TIME\s*=\s*(\S+)", after).group(1) == boot  # same controller
    node = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True
    ).stdout.split()
    assert node and node[0].rstrip("*") in ("idle", "mix", "alloc")
