"""jobflow-remote: the standard way to run jobflow flows on clusters, with a SLURM worker.

:func:`write_project` writes a jobflow-remote project file (YAML) whose worker submits
to SLURM on this machine (``type: local``, ``scheduler_type: slurm``, ``work_dir`` in the
project folder) and whose output JobStore is the configured interphases database
(montydb files or MongoDB). :func:`submit_flow` adds a flow to it.

jobflow-remote keeps its job queue in a MongoDB (``queue.store``), and its runner daemon
(``jf runner start``) moves jobs through the queue. Without a MongoDB server (here, CI)
the queue can be a ``JSONStore`` file used by ONE process: :func:`submit_flow` with
``run_inline=True`` then drives jobflow-remote's own ``Runner.run_all_jobs`` in this
process, and the jobs still go through the real SLURM. Projects live where
jobflow-remote looks for them: ``JFREMOTE_PROJECTS_FOLDER`` if set, else ``~/.jfremote``
if it exists (a user's existing projects are found), else ``<project>/jfremote``.
``batch`` (:func:`project_dict`) makes the worker a jobflow-remote batch worker: one
SLURM allocation runs many jobs, one after another or ``parallel_jobs`` at a time.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from interphases.cluster.slurm import SlurmResources, batch_environment
from interphases.config import project_dir
from interphases.database.store import open_database
from interphases.errors import SchedulerError

#: runner polling periods (s) for inline runs; the daemon defaults are 30-60 s
FAST_RUNNER = {
    "delay_checkout": 1,
    "delay_check_run_status": 2,
    "delay_advance_status": 1,
    "delay_refresh_limited": 5,
    "delay_update_batch": 5,
}


def projects_folder() -> Path:
    """Folder of jobflow-remote project files, exported as ``JFREMOTE_PROJECTS_FOLDER``.

    jobflow-remote's conventions first: ``JFREMOTE_PROJECTS_FOLDER`` if set, else an
    existing ``~/.jfremote``; only without either ``<project>/jfremote``. jobflow-remote
    reads the variable when first imported, so its ``SETTINGS`` object is updated as well.
    """
    home = Path.home() / ".jfremote"
    if os.environ.get("JFREMOTE_PROJECTS_FOLDER"):
        folder = Path(os.environ["JFREMOTE_PROJECTS_FOLDER"]).expanduser()
    elif home.is_dir():
        folder = home
    else:
        folder = project_dir() / "jfremote"
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["JFREMOTE_PROJECTS_FOLDER"] = str(folder)
    if "jobflow_remote" in sys.modules:
        sys.modules["jobflow_remote"].SETTINGS.projects_folder = str(folder)
    return folder


def find_project(name: str) -> Path:
    """The project file ``name`` in :func:`projects_folder` (yaml, yml, json or toml)."""
    folder = projects_folder()
    for ext in ("yaml", "yml", "json", "toml"):
        if (folder / f"{name}.{ext}").is_file():
            return folder / f"{name}.{ext}"
    known = sorted(p.stem for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json", ".toml"))
    raise SchedulerError(
        f"jobflow-remote project {name!r} not found in {folder} (projects there: {', '.join(known) or 'none'}): "
        "create it with `interphases jf-remote init --name NAME` or set JFREMOTE_PROJECTS_FOLDER"
    )


def _slurm_time(seconds: int) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def project_dict(
    name: str,
    *,
    resources: SlurmResources | None = None,
    queue_store: dict[str, Any] | None = None,
    worker: str = "slurm",
    runner: dict[str, float] | None = None,
    batch: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The jobflow-remote project (``jobflow_remote.config.base.Project`` fields).

    ``batch``: jobflow-remote ``BatchConfig`` options (``max_jobs_per_batch``,
    ``parallel_jobs``, ``max_wait``, ``max_time``, ...) to make the worker a batch worker
    (many jobs per SLURM allocation); its folders go under the project's ``base_dir``.
    """
    resources = resources or SlurmResources()
    base = projects_folder() / name
    database = open_database()  # collections exist before the runner writes outputs
    jobstore = database.jobstore.as_dict()
    database.close()
    if queue_store is None:  # single-process test mode, see the module docstring
        queue_store = {"type": "JSONStore", "paths": str(base / "queue.json"), "read_only": False}
    slurm_resources: dict[str, Any] = {
        "ntasks": 1,
        "cpus_per_task": resources.cpus_per_task,
        "time": _slurm_time(resources.time_limit_s),
    }
    if resources.queue:
        slurm_resources["partition"] = resources.queue
    if resources.memory_per_cpu_mb:
        slurm_resources["mem_per_cpu"] = resources.memory_per_cpu_mb
    if resources.account:
        slurm_resources["account"] = resources.account
    if resources.qos:
        slurm_resources["qos"] = resources.qos
    env = batch_environment(resources.cpus_per_task)
    jf = Path(sys.executable).with_name("jf")
    batch_config = None
    if batch is not None:
        batch_config = {
            "jobs_handle_dir": str(base / "batch" / "handle"),
            "work_dir": str(base / "batch" / "work"),
            **{k: v for k, v in batch.items() if v is not None},
        }
    return {
        "name": name,
        "base_dir": str(base),
        "workers": {
            worker: {
                "type": "local",
                "scheduler_type": "slurm",
                "work_dir": str(base / "work"),
                "resources": slurm_resources,
                "pre_run": "\n".join(f"export {k}={v}" for k, v in env.items()),
                "execution_cmd": f"{jf} -fe execution run {{}}" if jf.exists() else None,
                "batch": batch_config,
            }
        },
        "queue": {"store": queue_store},
        "jobstore": jobstore,
        "runner": dict(runner or {}),
        "metadata": {"written_by": "interphases"},
    }


def write_project(
    name: str = "interphases",
    *,
    resources: SlurmResources | None = None,
    queue_store: dict[str, Any] | None = None,
    worker: str = "slurm",
    runner: dict[str, float] | None = None,
    batch: dict[str, Any] | None = None,
) -> Path:
    """Write ``<JFREMOTE_PROJECTS_FOLDER>/<name>.yaml`` and validate it with jobflow-remote.

    ``queue_store``: a maggma store spec for the queue, a MongoDB in production, e.g.
    ``{"type": "MongoStore", "host": ..., "database": "jfremote", "collection_name": "jobs"}``;
    None: a JSONStore file (only for a runner inside one process, see :func:`submit_flow`).
    """
    from jobflow_remote.config.base import Project

    data = project_dict(
        name, resources=resources, queue_store=queue_store, worker=worker, runner=runner, batch=batch
    )
    data["workers"][worker] = {k: v for k, v in data["workers"][worker].items() if v is not None}
    try:
        Project.model_validate(data)
    except Exception as exc:
        raise SchedulerError(
            f"jobflow-remote rejects the project {name!r}: {str(exc).splitlines()[0]}"
        ) from exc
    path = projects_folder() / f"{name}.yaml"
    for d in ("work", "log", "tmp", "daemon") + (("batch/handle", "batch/work") if batch is not None else ()):
        (Path(data["base_dir"]) / d).mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@dataclass
class RemoteJob:
    """One job of a flow in jobflow-remote's queue."""

    db_id: str
    uuid: str
    name: str
    state: str
    process_id: str | None = None  # the SLURM job id once submitted


def submit_flow(
    flow: Any,
    project: str = "interphases",
    *,
    worker: str = "slurm",
    run_inline: bool = False,
    max_seconds: float = 600,
) -> list[RemoteJob]:
    """Add ``flow`` to the jobflow-remote queue of ``project``.

    ``run_inline=False``: the project's runner daemon (``jf -p PROJECT runner start``)
    executes it; the jobs come back in state ``QUEUED``. ``run_inline=True``: run it now
    with jobflow-remote's ``Runner`` in this process (test mode, JSONStore queue), check
    every job COMPLETED, then index the summary rows of the outputs.
    """
    from jobflow.core.flow import get_flow

    find_project(project)  # a clear error if jobflow-remote would not find it
    flow = get_flow(flow)
    jobs = [job for job, _ in flow.iterflow()]
    if not run_inline:
        from jobflow_remote import submit_flow as jf_submit

        try:
            db_ids = list(jf_submit(flow, worker=worker, project=project))
        except Exception as exc:
            raise SchedulerError(
                f"jobflow-remote could not queue the flow in project {project!r}: {exc}"
            ) from exc
        return [
            RemoteJob(str(i), j.uuid, j.name, "QUEUED") for i, j in zip(db_ids, jobs, strict=True)
        ]

    from jobflow_remote.jobs.runner import Runner

    runner = Runner(project_name=project)
    # a foreground run polls often: the daemon's defaults (30-60 s) would idle most of the time
    options = runner.project.runner
    runner.project.runner = options.model_copy(
        update={k: min(v, getattr(options, k)) for k, v in FAST_RUNNER.items()}
    )
    controller = runner.job_controller  # a JSONStore queue lives in this object only
    if controller.auxiliary.find_one({"next_id": {"$exists": True}}) is None:
        # a fresh queue needs jobflow-remote's counters; its attempt to index the
        # JobStore fails harmlessly on montydb (no indexes) with a logged traceback
        jc_logger = logging.getLogger("jobflow_remote.jobs.jobcontroller")
        level = jc_logger.level
        jc_logger.setLevel(logging.ERROR)
        try:
            controller.reset()
        finally:
            jc_logger.setLevel(level)
    controller.add_flow(flow, worker=worker)
    try:
        runner.run_all_jobs(max_seconds=max_seconds)
    except RuntimeError as exc:
        raise SchedulerError(f"jobflow-remote runner: {exc}") from exc
    finally:
        runner.cleanup()
    infos = controller.get_jobs_info(flow_ids=[flow.uuid])
    result = [
        RemoteJob(
            str(i.db_id),
            i.uuid,
            i.name,
            i.state.value,
            str(i.remote.process_id) if i.remote.process_id else None,
        )
        for i in infos
    ]
    failed = [r for r in result if r.state != "COMPLETED"]
    if failed or len(result) != len(jobs):
        states = (
            ", ".join(f"{r.name}: {r.state}" for r in failed)
            or f"{len(result)} of {len(jobs)} jobs found"
        )
        raise SchedulerError(
            f"jobflow-remote flow {flow.uuid} did not complete ({states}); see {runner.project.log_dir}"
        )
    from interphases.database.summary import ingest

    with open_database() as database:
        ingest(database=database, uuids=[j.uuid for j in jobs])
    return result
