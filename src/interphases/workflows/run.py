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

__all__ = ["FlowRun", "find_stored", "flow_result_key", "run_and_store", "stored_output"]

#: ``run_and_store(..., result_key=AUTO)``: the key is derived from the flow itself
AUTO = "auto"


def flow_result_key(flow: Any) -> str:
    """Result key of a Flow/Job from its content: functions, Makers, inputs, metadata.

    The uuids jobflow draws for every new Job/Flow are replaced by their order of
    appearance, so two flows built the same way (the same CLI command twice) get the
    same key, and any change of input, Maker setting or engine gives another.
    """
    from monty.json import jsanitize

    from interphases.database import make_result_key

    data = jsanitize(flow, strict=True, enum_values=True)
    order: dict[str, str] = {}

    def collect(x: Any) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "uuid" and isinstance(v, str):
                    order.setdefault(v, f"uuid-{len(order)}")
                collect(v)
        elif isinstance(x, list):
            for v in x:
                collect(v)

    def replace(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: replace(v) for k, v in x.items()}
        if isinstance(x, list):
            return [replace(v) for v in x]
        if isinstance(x, str):
            return order.get(x, x)
        return x

    collect(data)
    return make_result_key(task="flow", flow=replace(data))


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
            (``FlowRun.skipped``; ``outputs`` then holds the stored outputs, mapped onto
            this flow's jobs) unless ``skip_completed`` is False; the run is recorded
            under it. ``"auto"``: :func:`flow_result_key` (what the CLI passes).
        ingest_rows: index the outputs' summary rows (``interphases query`` reads them).
        context: extra keys for the summary rows (``campaign``, ``candidate_id``, ...).

    Raises:
        CalculationError: a job failed; outputs of the jobs that finished stay stored.
    """
    from jobflow import run_locally

    from interphases.config import project_dir
    from interphases.database import completed_keys, ingest, open_database, record_result

    if result_key == AUTO:
        result_key = flow_result_key(flow)
    own = database is None
    db = open_database() if own else database
    try:
        if skip_completed and result_key is not None and result_key in completed_keys(db, [result_key]):
            return FlowRun(
                flow_uuid=getattr(flow, "uuid", ""),
                outputs=_previous_outputs(flow, result_key, db),
                skipped=True,
            )
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
                job_order=_job_order(flow),
                n_rows=written,
                run_dir=str(run_dir),
                **{k: v for k, v in context.items() if isinstance(v, str | int | float)},
            )
        return FlowRun(flow_uuid=getattr(flow, "uuid", ""), outputs=outputs, rows_written=written, run_dir=str(run_dir))
    finally:
        if own:
            db.close()


def _job_order(flow: Any) -> list[str]:
    """uuids of the flow's own jobs, in a stable order (a Job: itself)."""
    jobs = getattr(flow, "jobs", None)
    if jobs is None:
        return [flow.uuid]
    out: list[str] = []
    for item in jobs:
        out.extend(_job_order(item))
    return out


def _previous_outputs(flow: Any, result_key: str, db: Any) -> dict[str, Any]:
    """{this flow's job uuid: stored output of the same job of the run logged under ``result_key``}."""
    from monty.json import MontyDecoder

    from interphases.database.summary import _find

    runs = [r for r in _find(db.results, {"result_key": result_key, "status": "done"}) if r.get("job_order")]
    if not runs:
        return {}
    latest = max(runs, key=lambda r: str(r.get("time") or ""))
    current = _job_order(flow)
    if len(current) != len(latest["job_order"]):
        return {}
    outputs: dict[str, Any] = {}
    for now, before in zip(current, latest["job_order"], strict=True):
        try:
            raw = db.jobstore.get_output(before, load=True)
        except ValueError:  # that job's output is not stored (removed, or never ran)
            continue
        outputs[now] = MontyDecoder().process_decoded(raw)
    return outputs


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
