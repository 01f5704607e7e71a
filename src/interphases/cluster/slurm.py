"""SLURM through qtoolkit: submit batch scripts and job arrays, read the queue, cancel.

qtoolkit (``QueueManager(SlurmIO())``) writes the ``#SBATCH`` header from
:class:`qtoolkit.QResources` and parses ``sbatch``/``squeue``/``scancel``. What it has
no key for goes through its ``scheduler_kwargs``: ``array`` (an explicit index list
such as ``0-3,7``, so a resubmission runs only the missing chunks) and ``qverbatim``
(``#SBATCH --dependency=afterok:ID`` and user lines). Only this thin layer is ours.

Batch jobs call the submitting Python (``sys.executable -m interphases.cli ...``) with
the project and database settings exported, so they run in the same environment.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from interphases.errors import SchedulerError

#: variables forwarded to batch jobs when set here (besides the database ones)
FORWARDED_ENV = (
    "PYTHONPATH",
    "PMG_CP2K_DATA_DIR",
    "PMG_DEFAULT_CP2K_FUNCTIONAL",
    "PMG_VASP_PSP_DIR",
    "INTERPHASES_CACHE",
)


class SlurmResources(BaseModel):
    """What one batch job (or one array task) asks SLURM for."""

    model_config = ConfigDict(extra="forbid")

    queue: str | None = Field(None, description="Partition (None: the cluster's default).")
    time_limit_s: int = Field(3600, gt=0, description="Wall-time limit per job/task, seconds.")
    cpus_per_task: int = Field(1, ge=1, description="Cores per task (also OMP_NUM_THREADS).")
    memory_per_cpu_mb: int | None = Field(None, gt=0, description="Memory per core, MB.")
    account: str | None = None
    qos: str | None = None
    max_parallel: int | None = Field(None, ge=1, description="Array tasks running at once (%N).")
    sbatch_lines: list[str] = Field(
        default_factory=list, description="Extra '#SBATCH ...' lines, verbatim."
    )

    def qresources(
        self,
        job_name: str,
        stdout: Path,
        stderr: Path,
        array: str | None = None,
        after_ok: Sequence[str] = (),
    ):
        """qtoolkit ``QResources`` for one submission."""
        from qtoolkit.core.data_objects import QResources

        verbatim = list(self.sbatch_lines)
        for line in verbatim:
            if not line.startswith("#SBATCH"):
                raise SchedulerError(f"extra sbatch line {line!r} must start with '#SBATCH'")
        if after_ok:
            verbatim.append(f"#SBATCH --dependency=afterok:{':'.join(after_ok)}")
        kwargs: dict[str, str] = {}
        if array:
            kwargs["array"] = array + (f"%{self.max_parallel}" if self.max_parallel else "")
        if verbatim:
            kwargs["qverbatim"] = "\n".join(verbatim)
        return QResources(
            queue_name=self.queue,
            job_name=job_name,
            processes=1,
            threads_per_process=self.cpus_per_task,
            time_limit=self.time_limit_s,
            memory_per_thread=self.memory_per_cpu_mb,
            account=self.account,
            qos=self.qos,
            output_filepath=str(stdout),
            error_filepath=str(stderr),
            scheduler_kwargs=kwargs or None,
        )


def check_slurm() -> None:
    """Raise :class:`SchedulerError` if the SLURM client commands are missing."""
    for cmd in ("sbatch", "squeue", "scancel"):
        if shutil.which(cmd) is None:
            raise SchedulerError(
                f"'{cmd}' not found: run on a SLURM login node, or start the test SLURM with scripts/slurm/start.sh"
            )


def queue_manager():
    """qtoolkit ``QueueManager`` for the local SLURM."""
    from qtoolkit.io.slurm import SlurmIO
    from qtoolkit.manager import QueueManager

    check_slurm()
    return QueueManager(SlurmIO())


def python_command(*args: str) -> str:
    """``<this python> -m interphases.cli ARGS`` with absolute paths, shell-quoted."""
    return " ".join(shlex.quote(a) for a in (sys.executable, "-m", "interphases.cli", *args))


def batch_environment(cpus: int = 1) -> dict[str, str]:
    """Variables exported at the top of every batch script (shell-quoted values)."""
    from interphases.database.store import database_env

    env = database_env()
    for var in FORWARDED_ENV:
        if os.environ.get(var):
            env.setdefault(var, os.environ[var])
    env.update(
        {"OMP_NUM_THREADS": str(cpus), "MKL_NUM_THREADS": str(cpus), "PYTHONUNBUFFERED": "1"}
    )
    return {k: shlex.quote(v) for k, v in env.items()}


def submit(
    commands: str | list[str],
    *,
    work_dir: Path,
    resources: SlurmResources,
    job_name: str,
    log_stem: str,
    array: str | None = None,
    after_ok: Sequence[str] = (),
    script_name: str = "submit.sh",
) -> str:
    """Submit one batch script (or job array) and return its SLURM job id."""
    manager = queue_manager()
    work_dir = Path(work_dir).resolve()
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pattern = "%A_%a" if array else "%j"
    options = resources.qresources(
        job_name,
        logs / f"{log_stem}-{pattern}.out",
        logs / f"{log_stem}-{pattern}.err",
        array=array,
        after_ok=after_ok,
    )
    result = manager.submit(
        commands=commands,
        options=options,
        work_dir=str(work_dir),
        environment={"environ": batch_environment(resources.cpus_per_task)},
        script_fname=script_name,
    )
    if result.job_id is None:
        reason = (result.stderr or result.stdout or "no output").strip().splitlines()
        raise SchedulerError(
            f"sbatch refused {work_dir / script_name}: {reason[-1] if reason else 'no output'}"
        )
    return str(result.job_id)


def list_jobs(job_ids: Iterable[str] | None = None, user: str | None = None) -> list:
    """qtoolkit ``QJob`` list of queued/running jobs (array tasks one by one).

    ``job_ids``: these jobs (an array id lists all its tasks); else the user's jobs.
    Finished jobs drop out of ``squeue`` after SLURM's ``MinJobAge``.
    """
    manager = queue_manager()
    ids = [str(j) for j in (job_ids or [])]
    if ids:
        return manager.get_jobs_list(jobs=ids)
    return manager.get_jobs_list(user=user or getpass.getuser())


def cancel(job_id: str) -> None:
    """``scancel`` a job, an array, or one array task (``ID_INDEX``)."""
    manager = queue_manager()
    result = manager.cancel(job_id)
    if result.exit_code not in (0, None):
        raise SchedulerError(f"scancel {job_id} failed: {(result.stderr or '').strip()}")


def wait(job_ids: Sequence[str], timeout_s: float = 600.0, poll_s: float = 1.0) -> None:
    """Block until none of ``job_ids`` (arrays included) is in the queue any more."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not list_jobs(job_ids):
            return
        if time.monotonic() > deadline:
            raise SchedulerError(
                f"jobs {', '.join(job_ids)} still in the queue after {timeout_s:.0f} s"
            )
        time.sleep(poll_s)


#: SLURM's default MaxArraySize (array indices 0 .. MaxArraySize - 1)
DEFAULT_MAX_ARRAY_SIZE = 1001


def show_config() -> dict[str, str]:
    """``scontrol show config`` as {name: value} (empty if scontrol is missing or fails)."""
    import subprocess

    if shutil.which("scontrol") is None:
        return {}
    try:
        out = subprocess.run(
            ["scontrol", "show", "config"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    config = {}
    for line in out.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            config[name.strip()] = value.strip()
    return config


def max_array_size() -> int:
    """The cluster's ``MaxArraySize`` (largest array index + 1), from ``scontrol show config``."""
    value = show_config().get("MaxArraySize", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_ARRAY_SIZE


def partition_nodes(queue: str | None = None) -> int:
    """Number of nodes the tasks of ``queue`` (None: the default partition) can land on."""
    import subprocess

    if shutil.which("sinfo") is None:
        return 1
    cmd = ["sinfo", "-h", "-o", "%P %D"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return 1
    total = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            continue
        name = parts[0]
        if (queue is None and name.endswith("*")) or (queue is not None and name.rstrip("*") == queue):
            total += int(parts[1])
    return max(total, 1)


def split_array(indices: Iterable[int], max_size: int) -> list[tuple[int, list[int]]]:
    """Indices grouped into arrays that fit ``MaxArraySize``: [(offset, [index - offset, ...])].

    A task of an array runs chunk ``SLURM_ARRAY_TASK_ID + offset``.
    """
    if max_size < 1:
        raise SchedulerError(f"MaxArraySize {max_size}: must be positive")
    groups: dict[int, list[int]] = {}
    for i in sorted(set(int(i) for i in indices)):
        offset = (i // max_size) * max_size
        groups.setdefault(offset, []).append(i - offset)
    return sorted(groups.items())


def compress_indices(indices: Iterable[int]) -> str:
    """SLURM array spec of sorted indices: [0, 1, 2, 5, 7, 8] -> '0-2,5,7-8'."""
    values = sorted(set(int(i) for i in indices))
    if not values:
        raise SchedulerError("empty job array")
    parts, start, prev = [], values[0], values[0]
    for v in values[1:] + [None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if v is not None:
            start = prev = v
    return ",".join(parts)
