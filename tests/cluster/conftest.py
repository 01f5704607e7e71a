"""A real single-node SLURM for the cluster tests (scripts/slurm/start.sh).

Session-scoped: reuses a running SLURM, else starts one (root or passwordless sudo
needed: CI runs as root) and stops it at the end of the session if it started it.
Without root, sudo or the SLURM packages the tests error (they are never skipped).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START, STOP = REPO / "scripts" / "slurm" / "start.sh", REPO / "scripts" / "slurm" / "stop.sh"


def _controller_up() -> bool:
    if shutil.which("scontrol") is None:
        return False
    out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
    return "is UP" in out.stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    """Make sure a SLURM controller and node answer; yields the partition name."""
    started = False
    if not _controller_up():
        if (
            os.geteuid() != 0
            and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode != 0
        ):
            pytest.fail(
                "the SLURM tests need root or passwordless sudo to start SLURM (scripts/slurm/start.sh)"
            )
        cmd = (
            ["bash", str(START)] if os.geteuid() == 0 else ["sudo", "-n", "-E", "bash", str(START)]
        )
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            pytest.fail(f"scripts/slurm/start.sh failed: {(res.stderr or res.stdout).strip()}")
        started = True
    else:  # reuse, but the node must be usable
        res = subprocess.run(["bash", str(START)], capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            pytest.fail(f"SLURM is running but not usable: {(res.stderr or res.stdout).strip()}")
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True).stdout.split()
    partition = next(
        (p.rstrip("*") for p in out if p.endswith("*")), out[0].rstrip("*") if out else None
    )
    yield partition
    if started:
        cmd = ["bash", str(STOP)] if os.geteuid() == 0 else ["sudo", "-n", "-E", "bash", str(STOP)]
        subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def slurm_cpus(slurm_cluster) -> int:
    """CPUs of the node (array tasks that can run at the same moment)."""
    out = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%c"], capture_output=True, text=True
    ).stdout.split()
    return int(out[0]) if out else 1


@pytest.fixture
def emt_campaign(tmp_path):
    """Build a campaign of EMT bulk energies of Cu at lattice constants 3.40, 3.42, ... Å.

    ``special``: {item index: {"hold_file"/"fail_file"/"barrier_dir"/...: value}}.
    Returns (campaign, path of its JSON file, log file).
    """
    from interphases.cluster.campaign import Campaign, CampaignItem
    from interphases.cluster.examples import emt_bulk_energy
    from interphases.database import make_result_key

    log = tmp_path / "runs.log"

    def build(name: str, n: int, chunk_size: int = 1, special: dict | None = None, **resources):
        items = []
        for i in range(n):
            a = round(3.40 + 0.02 * i, 4)
            extra = (special or {}).get(i, {})
            job = emt_bulk_energy("Cu", a, label=f"item{i}", log_file=str(log), **extra)
            key = make_result_key(test=name, element="Cu", a=a)
            items.append(CampaignItem.from_flow(job, result_key=key, candidate_id=f"item{i}"))
        campaign = Campaign(
            name=name,
            items=items,
            chunk_size=chunk_size,
            rank_kind="emt_energy_per_atom",
            resources={"time_limit_s": 300, **resources},
        )
        path = campaign.save(tmp_path / f"{name}.json")
        return campaign, path, log

    return build


def _log_counts(log: Path) -> dict[str, dict[str, int]]:
    """{"start": {label: n}, "done": {label: n}} from an examples log file."""
    counts: dict[str, dict[str, int]] = {"start": {}, "done": {}}
    if log.is_file():
        for line in log.read_text().splitlines():
            what, label = line.split()[:2]
            counts[what][label] = counts[what].get(label, 0) + 1
    return counts


@pytest.fixture(scope="session")
def log_counts():
    """Reader of an examples log file: {"start": {label: n}, "done": {label: n}}."""
    return _log_counts
