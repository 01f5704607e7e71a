"""Campaigns: many jobflow flows run as a SLURM job array, then one ranking job.

No database server is needed: the array tasks write into the embedded results database
(or MongoDB if configured), and the database doubles as the campaign's progress record.

Campaign file (JSON, ``format: "interphases-campaign/1"``)::

    {"format": "interphases-campaign/1",
     "name": "li-lif-screen",            # [A-Za-z0-9._-], names the campaign folder
     "chunk_size": 2,                    # items per array task
     "rank_kind": "work_of_adhesion",    # quantity the final job ranks by (optional)
     "resources": {"queue": "debug", "time_limit_s": 3600, "cpus_per_task": 1},
     "items": [
        {"result_key": "…", "candidate_id": "Li(100)|LiF(100)-0",
         "flow": {…jobflow Flow or Job, as written by flow.as_dict()…}},
        {"result_key": "…", "candidate_id": "…",
         "maker": {…a serialised Maker…}, "inputs": {…keyword arguments of make()…}}
     ]}

``result_key`` is the stable identity of an item (see
:func:`interphases.database.make_result_key`); an item whose key has a completed run in
the database is skipped, which is what makes ``--resume`` recompute only what is missing.

Submission (:func:`submit_campaign`): the database is initialised (collections created)
in the submitting process, the campaign is copied to ``<project>/campaigns/<name>/``,
the chunks still missing go into one array (``--array=0-9`` or e.g. ``3,7``) whose
tasks run ``python -m interphases.cli run-chunk CAMPAIGN --index $SLURM_ARRAY_TASK_ID``,
and a ranking job waits for the array with ``--dependency=afterok``. A task that
fails or is cancelled leaves the ranking job pending for ever; ``--resume`` cancels it,
submits the missing chunks and a new ranking job.
"""

from __future__ import annotations

import json
import os
import re
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from monty.json import MontyDecoder, jsanitize
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from interphases.cluster.filesystem import check_embedded_database_location
from interphases.cluster.slurm import SlurmResources, compress_indices, python_command
from interphases.config import project_dir
from interphases.database.store import Database, open_database
from interphases.database.summary import (
    completed_keys,
    done_run_id,
    ingest,
    make_result_key,
    record_result,
)
from interphases.errors import InterphasesError, SchedulerError

FORMAT = "interphases-campaign/1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _serialise(obj: Any) -> Any:
    return jsanitize(obj, strict=True, enum_values=True)


class CampaignItem(BaseModel):
    """One unit of work: a serialised flow, or a Maker and the inputs of its ``make``."""

    model_config = ConfigDict(extra="forbid")

    result_key: str = Field(min_length=1)
    candidate_id: str | None = None
    ref: str | None = Field(
        None,
        description="JSON file holding this item's 'flow' (or 'maker' and 'inputs'); relative "
        "paths are to the campaign file's folder. Only the task that runs the item reads it.",
    )
    flow: dict[str, Any] | None = None
    maker: dict[str, Any] | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> CampaignItem:
        if self.ref is not None:
            if self.flow is not None or self.maker is not None or self.inputs:
                raise ValueError("an item with 'ref' holds no 'flow', 'maker' or 'inputs' itself")
            return self
        if (self.flow is None) == (self.maker is None):
            raise ValueError("give exactly one of 'flow', 'maker' (with 'inputs') or 'ref'")
        if self.flow is not None and self.inputs:
            raise ValueError("'inputs' go with 'maker', not with 'flow'")
        return self

    @classmethod
    def from_flow(
        cls, flow: Any, result_key: str, candidate_id: str | None = None, **metadata: Any
    ) -> CampaignItem:
        """Item running ``flow`` (a jobflow Flow or Job) as it is."""
        return cls(
            result_key=result_key,
            candidate_id=candidate_id,
            flow=_serialise(flow),
            metadata=metadata,
        )

    @classmethod
    def from_maker(
        cls,
        maker: Any,
        inputs: dict[str, Any],
        candidate_id: str | None = None,
        result_key: str | None = None,
        **metadata: Any,
    ) -> CampaignItem:
        """Item running ``maker.make(**inputs)``; the key defaults to a hash of both."""
        maker_d, inputs_d = _serialise(maker), _serialise(inputs)
        key = result_key or make_result_key(maker=maker_d, inputs=inputs_d)
        return cls(
            result_key=key,
            candidate_id=candidate_id,
            maker=maker_d,
            inputs=inputs_d,
            metadata=metadata,
        )

    @classmethod
    def by_reference(
        cls,
        obj: Any,
        folder: str | Path,
        result_key: str,
        candidate_id: str | None = None,
        inputs: dict[str, Any] | None = None,
        **metadata: Any,
    ) -> CampaignItem:
        """Item whose flow (or Maker, with ``inputs``) is written to ``folder/<key>.json``.

        The campaign file then holds only the key, the id and the file name: a 10^4-item
        campaign stays small and an array task loads only its own items' files.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{result_key}.json"
        body = {"flow": _serialise(obj)} if inputs is None else {"maker": _serialise(obj), "inputs": _serialise(inputs)}
        path.write_text(json.dumps(body, separators=(",", ":")))
        return cls(result_key=result_key, candidate_id=candidate_id, ref=str(path.resolve()), metadata=metadata)

    def _source(self) -> dict[str, Any]:
        if self.ref is None:
            return {"flow": self.flow, "maker": self.maker, "inputs": self.inputs}
        try:
            body = json.loads(Path(self.ref).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise InterphasesError(
                f"campaign item {self.candidate_id or self.result_key}: cannot read {self.ref} ({exc})"
            ) from exc
        if not isinstance(body, dict) or ("flow" in body) == ("maker" in body):
            raise InterphasesError(
                f"campaign item file {self.ref}: needs exactly one of 'flow' or 'maker' (with 'inputs')"
            )
        return {"flow": body.get("flow"), "maker": body.get("maker"), "inputs": body.get("inputs") or {}}

    def build(self) -> Any:
        """The jobflow Flow/Job to run (deserialised; the Maker is called here)."""
        decoder = MontyDecoder()
        source = self._source()
        try:
            if source["flow"] is not None:
                return decoder.process_decoded(source["flow"])
            maker = decoder.process_decoded(source["maker"])
            return maker.make(**decoder.process_decoded(source["inputs"]))
        except Exception as exc:
            raise InterphasesError(
                f"campaign item {self.candidate_id or self.result_key}: cannot rebuild its flow ({type(exc).__name__}: {exc})"
            ) from exc


class Campaign(BaseModel):
    """A named list of items run as a job array (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["interphases-campaign/1"] = FORMAT
    name: str
    items: list[CampaignItem] = Field(min_length=1)
    chunk_size: int = Field(1, ge=1)
    rank_kind: str | None = None
    resources: SlurmResources = Field(default_factory=SlurmResources)
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name_ok(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(
                f"campaign name {name!r}: use letters, digits, '.', '_' or '-' (it names a folder)"
            )
        return name

    @model_validator(mode="after")
    def _unique_keys(self) -> Campaign:
        seen: set[str] = set()
        for item in self.items:
            if item.result_key in seen:
                raise ValueError(
                    f"result_key {item.result_key!r} appears twice: every item needs its own"
                )
            seen.add(item.result_key)
        return self

    # --- files ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Campaign:
        path = Path(path)
        if not path.is_file():
            raise InterphasesError(f"campaign file {path} not found")
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InterphasesError(f"campaign file {path} is not JSON: {exc}") from exc
        campaign = cls.parse(raw, source=str(path))
        base = path.resolve().parent
        for item in campaign.items:  # the copy in the campaign folder keeps absolute paths
            if item.ref is not None and not Path(item.ref).is_absolute():
                item.ref = str(base / item.ref)
        return campaign

    @classmethod
    def parse(cls, raw: Any, source: str = "campaign") -> Campaign:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "campaign"
            raise InterphasesError(f"{source}: {where}: {first['msg']}") from exc

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=1))
        tmp.replace(path)
        return path

    # --- layout --------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        """``<project>/campaigns/<name>``: campaign copy, state, logs, run folders, ranking."""
        return project_dir() / "campaigns" / self.name

    @property
    def file(self) -> Path:
        return self.directory / "campaign.json"

    def chunks(self) -> list[list[int]]:
        """Item indices of each array task, in order."""
        n = len(self.items)
        return [list(range(i, min(i + self.chunk_size, n))) for i in range(0, n, self.chunk_size)]


def is_campaign_file(path: str | Path) -> bool:
    """Whether a JSON file is a campaign (else it is taken for a serialised flow)."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(raw, dict) and raw.get("format", "").startswith("interphases-campaign")


# --- progress ------------------------------------------------------------------------------


@dataclass
class Progress:
    """Done and missing items of a campaign, read from the database."""

    total: int
    done: list[int]
    missing: list[int]
    missing_chunks: list[int]

    @property
    def finished(self) -> bool:
        return not self.missing


def progress(campaign: Campaign, database: Database | None = None) -> Progress:
    keys = [item.result_key for item in campaign.items]
    done_keys = completed_keys(database, keys)
    done = [i for i, k in enumerate(keys) if k in done_keys]
    missing = [i for i, k in enumerate(keys) if k not in done_keys]
    missing_set = set(missing)
    chunks = [c for c, members in enumerate(campaign.chunks()) if missing_set.intersection(members)]
    return Progress(total=len(keys), done=done, missing=missing, missing_chunks=chunks)


# --- running items (inside a batch job, or here with --scheduler local) --------------------


@dataclass
class ItemOutcome:
    index: int
    result_key: str
    status: Literal["done", "skipped", "failed"]
    n_rows: int = 0
    error: str | None = None


def run_item(campaign: Campaign, index: int, database: Database) -> ItemOutcome:
    """Run item ``index`` unless its result is in the database; index its rows."""
    from jobflow import run_locally

    item = campaign.items[index]
    if item.result_key in completed_keys(database, [item.result_key]):
        return ItemOutcome(index, item.result_key, "skipped")
    context = {
        "result_key": item.result_key,
        "candidate_id": item.candidate_id,
        "campaign": campaign.name,
    }
    try:
        flow = item.build()
        flow.update_metadata(
            {k: v for k, v in {**item.metadata, **context}.items() if v is not None}
        )
        run_dir = campaign.directory / "runs" / item.result_key[:16]
        run_dir.mkdir(parents=True, exist_ok=True)
        responses = run_locally(
            flow,
            store=database.jobstore,
            create_folders=True,
            root_dir=run_dir,
            ensure_success=True,
            raise_immediately=True,
            log=False,
        )
    except Exception as exc:  # one failed item must not stop the chunk; the task exits 1
        traceback.print_exc()  # into the task's SLURM log
        record_result(
            item.result_key,
            database=database,
            status="failed",
            error=f"{type(exc).__name__}: {exc}",
            **_slurm_ids(),
            **{k: v for k, v in context.items() if k != "result_key"},
        )
        return ItemOutcome(
            index,
            item.result_key,
            "failed",
            error="".join(traceback.format_exception_only(exc)).strip(),
        )
    uuids = sorted(responses)
    ingest_error = None
    try:
        rows = ingest(database=database, uuids=uuids, **context)
        n_rows = rows.written + rows.existing
    except (
        Exception
    ) as exc:  # the outputs are stored: keep them, re-index later (`interphases db ingest`)
        traceback.print_exc()
        ingest_error, n_rows = f"{type(exc).__name__}: {exc}", 0
    record_result(
        item.result_key,
        database=database,
        run_id=done_run_id(item.result_key),  # one completed run per item, whoever logs it
        candidate_id=item.candidate_id,
        campaign=campaign.name,
        flow_uuid=getattr(flow, "uuid", None),
        job_uuids=uuids,
        n_rows=n_rows,
        run_dir=str(run_dir),
        ingest_error=ingest_error,
        **_slurm_ids(),
    )
    return ItemOutcome(index, item.result_key, "done", n_rows=n_rows, error=ingest_error)


def _slurm_ids() -> dict[str, str]:
    ids = {
        "slurm_job_id": os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID"),
        "slurm_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
    }
    return {k: v for k, v in ids.items() if v}


def run_chunk(campaign_file: str | Path, index: int) -> list[ItemOutcome]:
    """Run chunk ``index`` of a campaign (what one array task does)."""
    campaign = Campaign.load(campaign_file)
    chunks = campaign.chunks()
    if not 0 <= index < len(chunks):
        raise InterphasesError(
            f"chunk index {index} out of range: campaign {campaign.name} has {len(chunks)} chunks"
        )
    database = open_database()  # collections exist already: init only checks, under a lock
    with database:
        return [run_item(campaign, i, database) for i in chunks[index]]


def rank_campaign(campaign_file: str | Path, top: int = 50) -> Path:
    """Final job: check completeness, write ``ranking.csv`` and ``report/`` of the campaign."""
    from interphases.database.query import query
    from interphases.database.report import write_report

    campaign = Campaign.load(campaign_file)
    with open_database() as database:
        state = progress(campaign, database)
        out = campaign.directory
        if campaign.rank_kind:
            ranking = query(campaign.rank_kind, campaign=campaign.name, database=database)
        else:
            ranking = query(None, campaign=campaign.name, sort=None, database=database)
        ranking.to_csv(out / "ranking.csv", index=False)
        write_report(
            out / "report",
            database=database,
            campaign=campaign.name,
            top=top,
            title=f"campaign {campaign.name}",
            kinds=[campaign.rank_kind] if campaign.rank_kind else None,
        )
    (out / "ranking.done").write_text(
        json.dumps({"time": _now(), "done": len(state.done), "missing": state.missing}) + "\n"
    )
    if state.missing:
        raise InterphasesError(
            f"campaign {campaign.name}: {len(state.missing)} item(s) missing; ranking written for the others, "
            f"resubmit with `interphases submit --resume {campaign.name}`"
        )
    return out / "ranking.csv"


# --- submission ----------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class CampaignState:
    """``state.json`` of a campaign folder: what was submitted when (written here only)."""

    path: Path
    submissions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, campaign: Campaign) -> CampaignState:
        path = campaign.directory / "state.json"
        subs = json.loads(path.read_text())["submissions"] if path.is_file() else []
        return cls(path, subs)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"submissions": self.submissions}, indent=1))
        tmp.replace(self.path)

    def job_ids(self) -> list[str]:
        ids = []
        for s in self.submissions:
            arrays = s.get("array_job_ids") or ([s["array_job_id"]] if s.get("array_job_id") else [])
            ids += [*arrays, *([s["rank_job_id"]] if s.get("rank_job_id") else [])]
        return ids


@dataclass
class Submission:
    campaign: str
    array_job_id: str | None
    rank_job_id: str | None
    chunks: list[int]
    skipped_items: int
    cancelled: list[str] = field(default_factory=list)
    #: one id per array (several when the chunks exceed the cluster's MaxArraySize)
    array_job_ids: list[str] = field(default_factory=list)


def resolve_campaign(ref: str | Path) -> Campaign:
    """A campaign from a file, or by name from ``<project>/campaigns/<name>/campaign.json``."""
    path = Path(ref)
    if path.is_file():
        return Campaign.load(path)
    if _NAME.match(str(ref)):
        stored = project_dir() / "campaigns" / str(ref) / "campaign.json"
        if stored.is_file():
            return Campaign.load(stored)
    raise InterphasesError(
        f"no campaign file or submitted campaign named {ref!r} (looked in {project_dir() / 'campaigns'})"
    )


def submit_campaign(
    campaign: Campaign,
    *,
    resume: bool = False,
    resources: SlurmResources | None = None,
    dry_run: bool = False,
) -> Submission:
    """Submit the missing chunks as one job array and a dependent ranking job.

    The database is initialised here (all collections created) before anything is
    queued. With jobs of this campaign still queued or running, or a previous
    submission and no ``resume``, it refuses (a second array would compute twice).
    """
    from interphases.cluster import slurm

    slurm.check_slurm()
    campaign = campaign.model_copy(update={"resources": resources}) if resources else campaign
    state = CampaignState.load(campaign)
    cancelled: list[str] = []
    if state.submissions:
        if not resume:
            raise SchedulerError(
                f"campaign {campaign.name} was submitted before: use `interphases submit --resume {campaign.name}` "
                "(only missing items run)"
            )
        queued = slurm.list_jobs(state.job_ids())
        rank_ids = {s.get("rank_job_id") for s in state.submissions}
        busy = [j for j in queued if str(j.job_id).split("_")[0] not in rank_ids]
        if busy:
            ids = ", ".join(sorted({str(j.job_id) for j in busy}))
            raise SchedulerError(
                f"campaign {campaign.name} still has tasks in the queue ({ids}): wait, or scancel them"
            )
        for job in queued:  # a ranking job whose array failed waits for ever: replace it
            slurm.cancel(str(job.job_id))
            cancelled.append(str(job.job_id))
    database = open_database()  # creates every collection before any task starts
    with database:
        if database.config.embedded:
            check_embedded_database_location(
                database.config.embedded_path(), slurm.partition_nodes(campaign.resources.queue)
            )
        state_now = progress(campaign, database)
    campaign.save(campaign.file)
    if not state_now.missing_chunks:
        return Submission(campaign.name, None, None, [], len(state_now.done), cancelled)
    if dry_run:
        return Submission(
            campaign.name, None, None, state_now.missing_chunks, len(state_now.done), cancelled
        )
    limit = slurm.max_array_size()
    array_ids: list[str] = []
    arrays: list[str] = []
    for offset, indices in slurm.split_array(state_now.missing_chunks, limit):
        array = compress_indices(indices)
        index = '"$SLURM_ARRAY_TASK_ID"' if offset == 0 else f'"$((SLURM_ARRAY_TASK_ID + {offset}))"'
        array_ids.append(
            slurm.submit(
                python_command("run-chunk", str(campaign.file)) + f" --index {index}",
                work_dir=campaign.directory,
                resources=campaign.resources,
                job_name=f"ip-{campaign.name}",
                log_stem="chunk" if offset == 0 else f"chunk+{offset}",
                array=array,
                script_name="array.sh" if offset == 0 else f"array+{offset}.sh",
            )
        )
        arrays.append(array if offset == 0 else f"{array}+{offset}")
    array_id = ",".join(array_ids)
    rank_resources = campaign.resources.model_copy(
        update={"max_parallel": None, "cpus_per_task": 1}
    )
    rank_id = slurm.submit(
        python_command("rank-campaign", str(campaign.file)),
        work_dir=campaign.directory,
        resources=rank_resources,
        job_name=f"ip-{campaign.name}-rank",
        log_stem="rank",
        after_ok=array_ids,
        script_name="rank.sh",
    )
    state.submissions.append(
        {
            "time": _now(),
            "array_job_id": array_id,
            "array_job_ids": array_ids,
            "array": ";".join(arrays),
            "max_array_size": limit,
            "rank_job_id": rank_id,
            "cancelled": cancelled,
        }
    )
    state.save()
    return Submission(
        campaign.name,
        array_id,
        rank_id,
        state_now.missing_chunks,
        len(state_now.done),
        cancelled,
        array_ids,
    )


def run_campaign_here(campaign: Campaign) -> list[ItemOutcome]:
    """Run every missing item in this process (no queue), then the ranking."""
    campaign.save(campaign.file)
    outcomes = []
    with open_database() as database:
        for index in range(len(campaign.items)):
            outcomes.append(run_item(campaign, index, database))
    if all(o.status != "failed" for o in outcomes):
        rank_campaign(campaign.file)
    return outcomes
