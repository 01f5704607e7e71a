"""Campaigns at scale: items by reference, arrays split over MaxArraySize (real SLURM),
the network-filesystem refusal, jobflow-remote's project folder and batch mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from interphases.cluster import slurm
from interphases.cluster.campaign import Campaign, CampaignItem, run_chunk, submit_campaign
from interphases.cluster.examples import emt_bulk_energy
from interphases.cluster.filesystem import check_embedded_database_location, filesystem_type
from interphases.database import make_result_key, open_database
from interphases.errors import SchedulerError


def _by_reference(tmp_path: Path, name: str, n: int, chunk_size: int) -> tuple[Campaign, Path]:
    folder = tmp_path / "items"
    items = [
        CampaignItem.by_reference(
            emt_bulk_energy("Cu", round(3.40 + 0.0001 * i, 5), label=f"item{i}"),
            folder,
            result_key=make_result_key(test=name, i=i),
            candidate_id=f"item{i}",
        )
        for i in range(n)
    ]
    campaign = Campaign(
        name=name, items=items, chunk_size=chunk_size, rank_kind="emt_energy_per_atom",
        resources={"time_limit_s": 600},
    )
    return campaign, campaign.save(tmp_path / f"{name}.json")


def test_items_by_reference_small_file_and_task_reads_only_its_own(tmp_path):
    campaign, path = _by_reference(tmp_path, "byref", 300, chunk_size=7)
    assert path.stat().st_size < 300 * 400  # keys and file names, no structures
    # the task of chunk 5 needs only its own item files: delete all the others
    mine = campaign.chunks()[5]
    for i, item in enumerate(campaign.items):
        if i not in mine:
            Path(item.ref).unlink()
    outcomes = run_chunk(path, 5)
    assert [o.index for o in outcomes] == mine and all(o.status == "done" for o in outcomes)
    with open_database() as db:
        assert db.summary.count({"campaign": "byref"}) == len(mine)
    # an item whose file is gone fails with its name
    with pytest.raises(Exception, match="cannot read"):
        campaign.items[0].build()


def test_relative_references_resolve_against_the_campaign_file(tmp_path):
    job = emt_bulk_energy("Cu", 3.6, label="rel")
    item = CampaignItem.by_reference(job, tmp_path / "items", result_key="rel-key")
    raw = {"name": "rel", "items": [{"result_key": "rel-key", "ref": "items/rel-key.json"}]}
    (tmp_path / "c.json").write_text(json.dumps(raw))
    loaded = Campaign.load(tmp_path / "c.json")
    assert loaded.items[0].ref == item.ref
    assert loaded.items[0].build().name == job.name


def test_split_array():
    assert slurm.split_array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4) == [
        (0, [0, 1, 2, 3]),
        (4, [0, 1, 2, 3]),
        (8, [0, 1]),
    ]
    assert slurm.split_array([5, 1003, 2400], 1001) == [(0, [5]), (1001, [2]), (2002, [398])]


def test_network_filesystem_is_refused_for_several_nodes(tmp_path):
    mounts = tmp_path / "mounts"
    for point in ("shared", "scratch", "local"):  # mount points exist, as real ones do
        (tmp_path / point).mkdir()
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path / 'shared'} nfs4 rw 0 0\n"
        f"lfs@o2ib:/scratch {tmp_path / 'scratch'} lustre rw 0 0\n"
    )
    assert filesystem_type(tmp_path / "shared" / "project" / "database", mounts) == "nfs4"
    assert filesystem_type(tmp_path / "scratch", mounts) == "lustre"
    assert filesystem_type(tmp_path / "local", mounts) == "ext4"
    with pytest.raises(SchedulerError, match="MongoDB") as err:
        check_embedded_database_location(tmp_path / "shared" / "db", 4, mounts)
    assert "nfs4" in str(err.value) and "\n" not in str(err.value)
    check_embedded_database_location(tmp_path / "shared" / "db", 1, mounts)  # one node: fine
    check_embedded_database_location(tmp_path / "local" / "db", 4, mounts)  # local disk: fine
    assert filesystem_type("/", "/proc/mounts") is not None  # this machine's real table


def test_jfremote_honours_existing_projects(tmp_path, monkeypatch):
    from interphases.cluster.remote import find_project, projects_folder, write_project

    home = tmp_path / "home"
    (home / ".jfremote").mkdir(parents=True)
    (home / ".jfremote" / "mine.yaml").write_text("name: mine\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("JFREMOTE_PROJECTS_FOLDER", raising=False)
    assert projects_folder() == (home / ".jfremote").resolve()
    assert find_project("mine") == (home / ".jfremote" / "mine.yaml").resolve()
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("JFREMOTE_PROJECTS_FOLDER", str(other))
    with pytest.raises(SchedulerError, match="not found in"):
        find_project("mine")
    assert projects_folder() == other.resolve()
    # batch mode: a jobflow-remote batch worker
    from jobflow_remote.config.base import Project

    path = write_project("batchy", batch={"max_jobs_per_batch": 50, "parallel_jobs": 2, "max_wait": 30})
    assert path.parent == other.resolve()
    project = Project.model_validate(yaml.safe_load(path.read_text()))
    worker = project.workers["slurm"]
    assert worker.is_batch and worker.batch.max_jobs_per_batch == 50 and worker.batch.parallel_jobs == 2


def test_jfremote_init_batch_cli(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from interphases.cli import app

    monkeypatch.setenv("JFREMOTE_PROJECTS_FOLDER", str(tmp_path / "jf"))
    res = CliRunner().invoke(app, ["jf-remote", "init", "--name", "b", "--batch", "--batch-parallel", "3"])
    assert res.exit_code == 0, res.output
    data = yaml.safe_load((tmp_path / "jf" / "b.yaml").read_text())
    assert data["workers"]["slurm"]["batch"]["parallel_jobs"] == 3


@pytest.fixture
def small_max_array_size(slurm_cluster) -> int:
    """The test SLURM's MaxArraySize (8, scripts/slurm/slurm.conf.in), read as submit reads it."""
    size = slurm.max_array_size()
    if size > 8:
        pytest.fail(
            f"the test SLURM has MaxArraySize={size}: restart it with scripts/slurm/stop.sh and start.sh "
            "(slurm.conf.in sets 8)"
        )
    return size


def test_2500_item_campaign_split_over_max_array_size(tmp_path, slurm_cluster, small_max_array_size):
    campaign, path = _by_reference(tmp_path, "big", 2500, chunk_size=250)
    campaign = campaign.model_copy(update={"resources": campaign.resources.model_copy(update={"queue": slurm_cluster})})
    assert len(campaign.chunks()) == 10  # > MaxArraySize 4: must be split
    sub = submit_campaign(campaign)
    expected = -(-10 // small_max_array_size)  # arrays of at most MaxArraySize tasks
    assert len(sub.array_job_ids) == expected > 1 and sub.chunks == list(range(10))
    state = yaml.safe_load((campaign.directory / "state.json").read_text())
    assert state["submissions"][0]["max_array_size"] == small_max_array_size
    slurm.wait([*sub.array_job_ids, sub.rank_job_id], timeout_s=540)
    with open_database() as db:
        assert db.summary.count({"campaign": "big"}) == 2500
        assert db.results.count({"campaign": "big", "status": "done"}) == 2500
    ranking = (campaign.directory / "ranking.csv").read_text().splitlines()
    assert len(ranking) == 2501
    done = yaml.safe_load((campaign.directory / "ranking.done").read_text())
    assert done["done"] == 2500 and done["missing"] == []
