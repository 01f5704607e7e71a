"""One jobflow flow as one SLURM batch job, no database server.

``interphases submit FLOW.json --scheduler slurm`` copies the serialised flow (as
written by ``monty.serialization.dumpfn(flow, "flow.json")``) to
``<project>/flows/<flow uuid>/`` and submits a batch job running
``python -m interphases.cli run-flow`` there: ``jobflow.run_locally`` with the configured
JobStore, then the summary rows of the outputs are indexed (:func:`~interphases.database.ingest`).
"""

from __future__ import annotations

import json
import shutil
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monty.json import MontyDecoder

from interphases.cluster.slurm import SlurmResources, python_command
from interphases.config import project_dir
from interphases.database.store import open_database
from interphases.database.summary import ingest
from interphases.errors import CalculationError, InterphasesError


def load_flow(path: str | Path) -> Any:
    """A jobflow ``Flow`` or ``Job`` from a JSON file written by ``dumpfn``/``as_dict``."""
    from jobflow import Flow, Job

    path = Path(path)
    if not path.is_file():
        raise InterphasesError(f"flow file {path} not found")
    try:
        raw = json.loads(path.read_text())
        obj = MontyDecoder().process_decoded(raw)
    except Exception as exc:
        raise InterphasesError(
            f"{path} is not a serialised jobflow Flow/Job ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, Flow | Job):
        raise InterphasesError(
            f"{path} holds a {type(obj).__name__}, not a jobflow Flow or Job (nor a campaign: see cluster/campaign.py)"
        )
    return obj


def flow_directory(flow: Any) -> Path:
    return project_dir() / "flows" / flow.uuid


def run_flow_file(path: str | Path) -> dict[str, Any]:
    """Run a serialised flow here with the configured JobStore and index its rows."""
    from jobflow import run_locally

    flow = load_flow(path)
    run_dir = Path(path).resolve().parent / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    with open_database() as database:
        try:
            responses = run_locally(
                flow,
                store=database.jobstore,
                create_folders=True,
                root_dir=run_dir,
                ensure_success=True,
                raise_immediately=True,
                log=False,
            )
        except Exception as exc:
            traceback.print_exc()
            raise CalculationError(f"flow {flow.uuid} failed: {type(exc).__name__}: {exc}") from exc
        report = ingest(database=database, uuids=sorted(responses))
    return {"flow_uuid": flow.uuid, "jobs": len(responses), "rows_written": report.written}


def submit_flow_file(path: str | Path, resources: SlurmResources) -> tuple[str, Path]:
    """Submit a serialised flow as one batch job; returns (job id, flow folder)."""
    from interphases.cluster import slurm

    slurm.check_slurm()
    flow = load_flow(path)
    folder = flow_directory(flow)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "flow.json"
    if Path(path).resolve() != copy.resolve():
        shutil.copyfile(path, copy)
    open_database().close()  # create the collections before the job starts
    job_id = slurm.submit(
        python_command("run-flow", str(copy)),
        work_dir=folder,
        resources=resources,
        job_name=f"ip-flow-{flow.uuid[:8]}",
        log_stem="flow",
        script_name="flow.sh",
    )
    state = {
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "job_id": job_id,
        "name": flow.name,
    }
    (folder / "state.json").write_text(json.dumps(state, indent=1))
    return job_id, folder
