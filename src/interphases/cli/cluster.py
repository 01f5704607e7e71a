"""CLI commands: submit, status (SLURM via qtoolkit), jf-remote (jobflow-remote), and
the hidden worker commands the batch jobs call (run-chunk, rank-campaign, run-flow)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console(soft_wrap=True)  # messages on one line (scripts grep them)


class Scheduler(str, Enum):
    slurm = "slurm"
    local = "local"


def _resources(base, queue, time_limit, cpus, mem_per_cpu, account, max_parallel):
    from interphases.cluster.slurm import SlurmResources

    update = {
        k: v
        for k, v in {
            "queue": queue,
            "time_limit_s": time_limit,
            "cpus_per_task": cpus,
            "memory_per_cpu_mb": mem_per_cpu,
            "account": account,
            "max_parallel": max_parallel,
        }.items()
        if v is not None
    }
    base = base or SlurmResources()
    return SlurmResources.model_validate({**base.model_dump(), **update})


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("submit")
    def submit_cmd(
        path: str = typer.Argument(
            ...,
            help="FLOW.json (serialised jobflow Flow/Job), CAMPAIGN.json, or a submitted campaign's name.",
        ),
        scheduler: Scheduler = typer.Option(
            Scheduler.slurm, help="slurm (batch jobs) or local (run here, no queue)."
        ),
        resume: bool = typer.Option(
            False, "--resume", help="Resubmit only the campaign items missing from the database."
        ),
        queue: str = typer.Option(None, help="SLURM partition."),
        time_limit: int = typer.Option(None, help="Wall time per job / array task, seconds."),
        cpus: int = typer.Option(None, help="Cores per job / array task."),
        mem_per_cpu: int = typer.Option(None, help="Memory per core, MB."),
        account: str = typer.Option(None, help="SLURM account."),
        max_parallel: int = typer.Option(None, help="Array tasks running at once."),
        chunk_size: int = typer.Option(None, help="Campaign items per array task."),
        dry_run: bool = typer.Option(
            False, "--dry-run", help="Say what would be submitted, submit nothing."
        ),
    ) -> None:
        """Run a flow or a campaign through SLURM: one batch job, or a job array + ranking job."""
        from interphases.cluster.campaign import (
            is_campaign_file,
            resolve_campaign,
            run_campaign_here,
            submit_campaign,
        )
        from interphases.cluster.flowjob import run_flow_file, submit_flow_file
        from interphases.errors import InterphasesError

        p = Path(path)
        if p.is_file() and not is_campaign_file(p):
            if resume:
                raise InterphasesError(
                    "--resume applies to campaigns; a single flow is submitted again as it is"
                )
            if scheduler is Scheduler.local:
                info = run_flow_file(p)
                console.print(
                    f"flow {info['flow_uuid']}: {info['jobs']} job(s) run, {info['rows_written']} summary row(s)"
                )
                return
            res = _resources(None, queue, time_limit, cpus, mem_per_cpu, account, None)
            if dry_run:
                console.print(
                    f"would submit {p} as one batch job ({res.model_dump(exclude_none=True)})"
                )
                return
            job_id, folder = submit_flow_file(p, res)
            console.print(f"submitted flow as SLURM job {job_id}; logs in {folder / 'logs'}")
            return
        campaign = resolve_campaign(path)
        if chunk_size is not None:
            campaign = campaign.model_copy(update={"chunk_size": chunk_size})
            campaign = type(campaign).model_validate(campaign.model_dump())
        res = _resources(
            campaign.resources, queue, time_limit, cpus, mem_per_cpu, account, max_parallel
        )
        campaign = campaign.model_copy(update={"resources": res})
        if scheduler is Scheduler.local:
            outcomes = run_campaign_here(campaign)
            counts = {
                s: sum(o.status == s for o in outcomes) for s in ("done", "skipped", "failed")
            }
            console.print(
                f"campaign {campaign.name}: {counts['done']} run, {counts['skipped']} already done, {counts['failed']} failed"
            )
            if counts["failed"]:
                raise typer.Exit(1)
            return
        sub = submit_campaign(campaign, resume=resume, dry_run=dry_run)
        if sub.cancelled:
            console.print(f"cancelled stale job(s) {', '.join(sub.cancelled)}")
        if not sub.chunks:
            console.print(
                f"campaign {sub.campaign}: all {sub.skipped_items} item(s) already in the database, nothing to submit"
            )
        elif dry_run:
            console.print(
                f"would submit chunks {sub.chunks} ({sub.skipped_items} item(s) already done)"
            )
        else:
            console.print(
                f"campaign {sub.campaign}: array job {sub.array_job_id} ({len(sub.chunks)} task(s)), "
                f"ranking job {sub.rank_job_id} after it; {sub.skipped_items} item(s) already done"
            )

    @app.command("status")
    def status_cmd(
        campaign_ref: str = typer.Argument(
            None, help="Campaign (file or name); omit for all campaigns and your queue."
        ),
    ) -> None:
        """Queue state (squeue via qtoolkit) and campaign progress (done / missing items)."""
        from interphases.cluster import slurm
        from interphases.cluster.campaign import Campaign, CampaignState, progress, resolve_campaign
        from interphases.config import project_dir
        from interphases.database import open_database

        if campaign_ref:
            campaigns = [resolve_campaign(campaign_ref)]
        else:
            campaigns = [
                Campaign.load(p)
                for p in sorted((project_dir() / "campaigns").glob("*/campaign.json"))
            ]
        job_ids: list[str] = []
        with open_database() as db:
            for camp in campaigns:
                prog = progress(camp, db)
                state = CampaignState.load(camp)
                job_ids += state.job_ids()
                console.print(
                    f"campaign [bold]{camp.name}[/]: {len(prog.done)}/{prog.total} done, {len(prog.missing)} missing"
                    + (
                        f" (items {prog.missing[:20]}{' ...' if len(prog.missing) > 20 else ''})"
                        if prog.missing
                        else ""
                    )
                    + (
                        f"; ranking: {camp.directory / 'ranking.csv'}"
                        if (camp.directory / "ranking.csv").is_file()
                        else ""
                    )
                )
        try:
            jobs = slurm.list_jobs(job_ids) if (campaign_ref and job_ids) else slurm.list_jobs()
        except Exception as exc:  # no SLURM here: progress is still useful
            console.print(f"queue: not available ({exc})")
            return
        if not jobs:
            console.print("queue: no job" + (" of this campaign" if campaign_ref else "s"))
            return
        table = Table(title=f"queue: {len(jobs)} job(s)")
        for col in ("job id", "name", "state", "reason/sub-state", "run time (s)"):
            table.add_column(col)
        for job in jobs:
            table.add_row(
                str(job.job_id),
                str(job.name),
                str(job.state.value if job.state else ""),
                str(job.sub_state.value if job.sub_state else ""),
                str(job.runtime or ""),
            )
        console.print(table)

    @app.command("run-chunk", hidden=True)
    def run_chunk_cmd(
        campaign_file: Path = typer.Argument(..., help="campaign.json in the campaign folder."),
        index: int = typer.Option(..., "--index", help="Chunk index ($SLURM_ARRAY_TASK_ID)."),
    ) -> None:
        """Worker: run one chunk of a campaign (called by the array tasks)."""
        from interphases.cluster.campaign import run_chunk

        outcomes = run_chunk(campaign_file, index)
        for o in outcomes:
            typer.echo(
                f"item {o.index} {o.result_key[:12]}: {o.status}"
                + (f" ({o.error})" if o.error else "")
            )
        if any(o.status == "failed" for o in outcomes):
            raise typer.Exit(1)

    @app.command("rank-campaign", hidden=True)
    def rank_campaign_cmd(campaign_file: Path = typer.Argument(...)) -> None:
        """Worker: rank a finished campaign (called by the dependent job)."""
        from interphases.cluster.campaign import rank_campaign

        typer.echo(f"ranking written: {rank_campaign(campaign_file)}")

    @app.command("run-flow", hidden=True)
    def run_flow_cmd(flow_file: Path = typer.Argument(...)) -> None:
        """Worker: run one serialised flow with the configured JobStore."""
        from interphases.cluster.flowjob import run_flow_file

        typer.echo(str(run_flow_file(flow_file)))

    jf_app = typer.Typer(
        help="jobflow-remote: a project with a SLURM worker, and submission to it.",
        no_args_is_help=True,
    )
    app.add_typer(jf_app, name="jf-remote")

    @jf_app.command("init")
    def jf_init(
        name: str = typer.Option("interphases", help="Project name."),
        queue_store: Path = typer.Option(
            None,
            help="YAML with the queue's maggma store (a MongoStore); default: a JSON file (inline runs only).",
        ),
        queue: str = typer.Option(None, help="SLURM partition."),
        time_limit: int = typer.Option(None, help="Wall time per job, seconds."),
        cpus: int = typer.Option(None, help="Cores per job."),
        batch: bool = typer.Option(
            False, "--batch", help="Batch worker: one SLURM allocation runs many jobs (jobflow-remote batch mode)."
        ),
        batch_max_jobs: int = typer.Option(None, help="Batch mode: at most this many jobs per allocation."),
        batch_parallel: int = typer.Option(None, help="Batch mode: jobs run at once inside one allocation."),
        batch_max_wait: float = typer.Option(60, help="Batch mode: stop after this many idle seconds."),
    ) -> None:
        """Write the jobflow-remote project (JobStore = the interphases database).

        It goes where jobflow-remote looks: $JFREMOTE_PROJECTS_FOLDER, else an existing
        ~/.jfremote, else <project>/jfremote.
        """
        import yaml

        from interphases.cluster.remote import write_project
        from interphases.errors import SchedulerError

        store = None
        if queue_store is not None:
            if not queue_store.is_file():
                raise SchedulerError(f"queue store file {queue_store} not found")
            store = yaml.safe_load(queue_store.read_text())
        res = _resources(None, queue, time_limit, cpus, None, None, None)
        batch_options = None
        if batch or batch_max_jobs or batch_parallel:
            batch_options = {
                "max_jobs_per_batch": batch_max_jobs,
                "parallel_jobs": batch_parallel,
                "max_wait": batch_max_wait,
            }
        path = write_project(name, resources=res, queue_store=store, batch=batch_options)
        console.print(f"jobflow-remote project written: {path}")
        console.print(
            f"for jobflow-remote's own CLI: export JFREMOTE_PROJECTS_FOLDER={path.parent}",
            highlight=False,
        )
        if store is None:
            console.print(
                "queue: a JSON file, usable by one process only: submit with --inline (MongoDB: --queue-store)"
            )

    @jf_app.command("submit")
    def jf_submit(
        flow_file: Path = typer.Argument(..., help="Serialised jobflow Flow/Job (JSON)."),
        project: str = typer.Option("interphases", help="jobflow-remote project name."),
        worker: str = typer.Option("slurm", help="Worker name in the project."),
        inline: bool = typer.Option(
            False, "--inline", help="Run jobflow-remote's runner in this process until done."
        ),
        max_seconds: int = typer.Option(3600, help="Give up an inline run after this long."),
    ) -> None:
        """Queue a flow in a jobflow-remote project (daemon runs it, or --inline here)."""
        from interphases.cluster.flowjob import load_flow
        from interphases.cluster.remote import submit_flow

        jobs = submit_flow(
            load_flow(flow_file), project, worker=worker, run_inline=inline, max_seconds=max_seconds
        )
        ids = ", ".join(j.db_id for j in jobs)
        verb = "ran" if inline else "queued"
        console.print(
            f"{verb} {len(jobs)} job(s) in jobflow-remote project {project}: db ids {ids}"
        )
        for j in jobs:
            slurm_id = f", SLURM job {j.process_id}" if j.process_id else ""
            console.print(f"  {j.db_id} {j.name} {j.uuid}: {j.state}{slurm_id}", highlight=False)
