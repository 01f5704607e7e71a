"""Run a jobflow Flow here, with the project's results database as its JobStore.

The CLI commands (``interphases demo``, ``interphases neb``, ...) and the tests call
:func:`run_and_store`: ``jobflow.run_locally`` on the configured JobStore (embedded
montydb by default, MongoDB in production, see :mod:`interphases.database`), then the
``summary_rows()`` of every output are indexed into the summary collection so that
``interphases query`` finds them. ``result_key`` (see
:func:`interphases.database.make_result_key`) makes a rerun skip work already stored.

jobflow does the running; this module only wires it to the database (what
:func:`interphases.cluster.flowjob.run_flow_file` does for a serialised flow on SLURM).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interphases.errors import CalculationError

__all__ = ["FlowRun", "find_stored", "run_and_store", "stored_output"]


@dataclass
class FlowRun:
    """What :func:`run_and_store` did."""

    flow_uuid: str
    outputs: dict[str, Any] = field(default_factory=dict)  # job uuid -> output of its last run
    rows_written: int = 0
    skipped: bool = False  # result_key already in the database: nothing was run
    run_dir: str | None = None

    def output_of(self, job: Any) -> Any:
        """Output of ``job`` (a jobflow Job of the flow)."""
        return self.outputs[job.uuid]


def run_and_store(
    flow: Any,
    *,
    database: Any | None = None,
    root_dir: str | Path | None = None,
    result_key: str | None = None,
    skip_completed: bool = True,
    ingest_rows: bool = True,
    **context: Any,
) -> FlowRun:
    """Run ``flow`` (a jobflow Flow or Job) locally and store everything it produces.

    Args:
        flow: the Flow / Job.
        database: an open :class:`~interphases.database.Database` (default: the configured one).
        root_dir: parent of the job folders (default: ``<project>/runs``).
        result_key: when given and already completed in the database, nothing is run
            (``FlowRun.skipped``) unless ``skip_completed`` is False; the run is recorded under it.
        ingest_rows: index the outputs' summary rows (``interphases query`` reads them).
        context: extra keys for the summary rows (``campaign``, ``candidate_id``, ...).

    Raises:
        CalculationError: a job failed; outputs of the jobs that finished stay stored.
    """
    from jobflow import run_locally

    from interphases.config import project_dir
    from interphases.database import completed_keys, ingest, open_database, record_result

    own = database is None
    db = open_database() if own else database
    try:
        if skip_completed and result_key is not None and result_key in completed_keys(db, [result_key]):
            return FlowRun(flow_uuid=getattr(flow, "uuid", ""), skipped=True)
        if result_key is not None or context:
            flow.update_metadata({k: v for k, v in {"result_key": result_key, **context}.items() if v is not None})
        run_dir = Path(root_dir) if root_dir is not None else project_dir() / "runs"
        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            responses = run_locally(
                flow,
                store=db.jobstore,
                create_folders=True,
                root_dir=run_dir,
                ensure_success=True,
                raise_immediately=True,
                log=False,
            )
        except Exception as exc:
            # the chained exception keeps the traceback; the CLI prints one line
            if result_key is not None:
                record_result(result_key, database=db, status="failed", error=f"{type(exc).__name__}: {exc}")
            raise CalculationError(f"flow {getattr(flow, 'name', '')!r} failed: {type(exc).__name__}: {exc}") from exc
        outputs = {}
        for uuid, by_index in responses.items():
            last = max(by_index)
            outputs[uuid] = by_index[last].output
        written = 0
        if ingest_rows:
            report = ingest(database=db, uuids=sorted(responses), result_key=result_key, **context)
            written = report.written
        if result_key is not None:
            record_result(
                result_key,
                database=db,
                flow_uuid=getattr(flow, "uuid", None),
                job_uuids=sorted(responses),
                n_rows=written,
                run_dir=str(run_dir),
                **{k: v for k, v in context.items() if isinstance(v, str | int | float)},
            )
        return FlowRun(flow_uuid=getattr(flow, "uuid", ""), outputs=outputs, rows_written=written, run_dir=str(run_dir))
    finally:
        if own:
            db.close()


def stored_output(job_uuid: str, *, database: Any | None = None) -> Any:
    """The output of a stored job, decoded (pydantic documents come back as objects)."""
    from monty.json import MontyDecoder

    from interphases.database import open_database

    own = database is None
    db = open_database() if own else database
    try:
        raw = db.jobstore.get_output(job_uuid, load=True)
        return MontyDecoder().process_decoded(raw)
    finally:
        if own:
            db.close()


def find_stored(result_key: str, kind: str, *, database: Any | None = None) -> Any | None:
    """The stored output of the job that wrote the ``kind`` rows of ``result_key`` (resume), or None."""
    from interphases.database import open_database
    from interphases.database.summary import _find

    own = database is None
    db = open_database() if own else database
    try:
        rows = _find(db.summary, {"result_key": result_key, "kind": kind})
        if not rows:
            return None
        latest = max(rows, key=lambda r: str(r.get("time") or ""))
        return stored_output(latest["job_uuid"], database=db)
    finally:
        if own:
            db.close()
