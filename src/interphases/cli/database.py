"""CLI commands: query, show, report, db (the results database)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(soft_wrap=True)  # messages on one line (scripts grep them)

TABLE_COLUMNS = (
    "kind",
    "phases_key",
    "miller",
    "value",
    "units",
    "engine",
    "model",
    "candidate_id",
    "job_uuid",
)


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class ReportFormat(str, Enum):
    md = "md"
    html = "html"


def _cell(value: Any) -> str:
    from interphases.cli.tables import cell

    return cell(value)  # blanks for None / nan


def _print_frame(df, fmt: OutputFormat, columns: list[str] | None, title: str) -> None:
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing and len(df):
            from interphases.errors import DatabaseError

            raise DatabaseError(
                f"unknown column(s) {', '.join(missing)}: the rows have {', '.join(df.columns)}"
            )
        df = df[[c for c in columns if c in df.columns]]
    if fmt is OutputFormat.csv:
        out = df.copy()
        for col in out.columns:  # lists as JSON so the CSV round-trips
            if out[col].map(lambda v: isinstance(v, list | dict)).any():
                out[col] = out[col].map(
                    lambda v: json.dumps(v) if isinstance(v, list | dict) else v
                )
        typer.echo(out.to_csv(index=False), nl=False)
    elif fmt is OutputFormat.json:
        typer.echo(df.to_json(orient="records", indent=1))
    else:
        from interphases.cli.tables import columns_for, table_console

        shown = [c for c in (columns or columns_for(df, TABLE_COLUMNS)) if c in df.columns]
        if not columns and "kind" in shown and df["kind"].nunique() <= 1:
            shown.remove("kind")  # one quantity: it is in the title
        if not columns and "miller" in shown and df["miller"].isna().all():
            shown.remove("miller")
        table = Table(title=title)
        for col in shown:
            numeric = col in ("value", "job_uuid")
            table.add_column(
                col, justify="right" if col == "value" else "left", no_wrap=numeric, overflow="fold"
            )
        for _, row in df.iterrows():
            # escape: ids in labels such as "[eb08206a]" are rich markup otherwise (and vanish)
            table.add_row(*(escape(_cell(row[c]) if c != "job_uuid" else _cell(row[c])[:8]) for c in shown))
        table_console().print(table)  # no wrapping when piped


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("query")
    def query_cmd(
        kind: str = typer.Argument(
            None, help="Quantity, e.g. work_of_adhesion, surface_energy (omit: all)."
        ),
        phases: str = typer.Option(
            None, "--phases", help="Phases that must all be involved, e.g. Li,LiF."
        ),
        min_value: float = typer.Option(None, "--min", help="Keep values >= MIN."),
        max_value: float = typer.Option(None, "--max", help="Keep values <= MAX."),
        engine: str = typer.Option(None, help="Only this engine (mlip, cp2k, vasp, ase)."),
        model: str = typer.Option(None, help="Only this model / functional."),
        campaign: str = typer.Option(None, help="Only rows of this campaign."),
        candidate: str = typer.Option(None, help="Only rows of this candidate id."),
        sort: str = typer.Option("value", help="Column to sort by."),
        order: str = typer.Option(
            "best", help="best (per quantity: W_ad largest first, energies smallest), asc, desc."
        ),
        limit: int = typer.Option(None, help="At most this many rows."),
        fmt: OutputFormat = typer.Option(
            OutputFormat.table, "--format", "-f", help="table, csv or json."
        ),
        columns: str = typer.Option(None, help="Comma-separated columns to print."),
    ) -> None:
        """Rank computed results from the database (one row per computed quantity)."""
        from interphases.database import query
        from interphases.errors import DatabaseError

        if order not in ("best", "asc", "desc"):
            raise DatabaseError(f"--order {order!r}: use best, asc or desc")
        descending = None if order == "best" else order == "desc"
        df = query(
            kind,
            phases=phases,
            min=min_value,
            max=max_value,
            sort=sort,
            descending=descending,
            engine=engine,
            model=model,
            limit=limit,
            campaign=campaign,
            candidate_id=candidate,
        )
        if kind and not len(df):
            from interphases.cli.tables import unknown_kind_message
            from interphases.database import kinds

            message = unknown_kind_message(kind, kinds())
            if message:
                raise DatabaseError(message)
        title = f"{kind or 'all results'}: {len(df)} row(s)"
        _print_frame(df, fmt, [c.strip() for c in columns.split(",")] if columns else None, title)

    @app.command("show")
    def show_cmd(
        identifier: str = typer.Argument(
            ..., help="Job uuid, flow uuid, result key, candidate id or row id."
        ),
        output: bool = typer.Option(
            True, "--output/--no-output", help="Include the job output documents."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
    ) -> None:
        """One result with its provenance: summary rows, JobStore documents, run log."""
        from monty.json import jsanitize

        from interphases.database import show

        found = show(identifier, with_output=output)
        if as_json:
            typer.echo(
                json.dumps(jsanitize(found, strict=False, enum_values=True), indent=1, default=str)
            )
            return
        import pandas as pd

        if found["rows"]:
            _print_frame(
                pd.DataFrame(found["rows"]),
                OutputFormat.table,
                None,
                f"summary rows for {identifier}",
            )
        for job in found["jobs"]:
            console.rule(f"job {job.get('name')} {job.get('uuid')} (index {job.get('index')})")
            console.print(f"completed at: {job.get('completed_at')}")
            console.print(f"flows (hosts): {', '.join(job.get('hosts') or []) or '-'}")
            if job.get("metadata"):
                console.print(f"metadata: {json.dumps(jsanitize(job['metadata']), default=str)}")
            if output and job.get("output") is not None:
                from interphases.cli.tables import compact_lines  # short: scalars, structures in one line

                console.print(
                    "\n".join(compact_lines(jsanitize(job["output"], strict=False))), highlight=False, markup=False
                )
        for run in found["runs"]:
            console.print(
                f"run {run.get('run_id', '')[:8]}: {run.get('status')} at {run.get('time')} on {run.get('host')}"
                + (f", slurm job {run['slurm_job_id']}" if run.get("slurm_job_id") else "")
                + (f", error: {run['error']}" if run.get("error") else "")
            )

    @app.command("report")
    def report_cmd(
        out_dir: Path = typer.Option(
            Path("report"), "--output", "-o", help="Folder for the report, CSVs and charts."
        ),
        fmt: ReportFormat = typer.Option(ReportFormat.md, "--format", "-f", help="md or html."),
        kind: list[str] = typer.Option(
            None, "--kind", help="Quantities to include (repeat; default: all)."
        ),
        campaign: str = typer.Option(None, help="Only this campaign's results."),
        top: int = typer.Option(20, help="Rows per ranking table and chart."),
    ) -> None:
        """Write a Markdown/HTML report: ranking tables, bar charts, the workflows' plots."""
        from interphases.database import write_report

        path = write_report(out_dir, kinds=kind or None, fmt=fmt.value, top=top, campaign=campaign)
        console.print(f"report written: {path}")

    db_app = typer.Typer(
        help="The results database: where it is, set it up, index outputs.", no_args_is_help=True
    )
    app.add_typer(db_app, name="db")

    @db_app.command("info")
    def db_info() -> None:
        """Show the configuration in force and the number of documents."""
        from interphases.database import open_database

        with open_database() as db:
            console.print(f"configuration: {db.config.source}")
            console.print(
                f"type: {db.config.type}; outputs: {db.location}; summary: {db.summary.name}"
            )
            for name, n in db.counts().items():
                console.print(f"  {name}: {n}")

    @db_app.command("init")
    def db_init() -> None:
        """Create the database and all its collections (done automatically on first use)."""
        from interphases.database import open_database

        with open_database() as db:
            console.print(f"initialised {db.location}")

    @db_app.command("ingest")
    def db_ingest() -> None:
        """Index summary rows of every job output in the JobStore (idempotent)."""
        from interphases.database import ingest

        report = ingest()
        console.print(
            f"outputs checked: {report.outputs_checked}, with rows: {report.outputs_with_rows}, "
            f"rows written: {report.written}, already indexed: {report.existing}"
        )

    @db_app.command("check")
    def db_check() -> None:
        """Check every store of the database (sqlite files: integrity check); exit 2 if one is broken."""
        from interphases.database.maintenance import check
        from interphases.errors import DatabaseError

        states = check()
        for state in states:
            console.print(state.line(), highlight=False, markup=False)
        broken = [s.name for s in states if not s.ok]
        if broken:
            raise DatabaseError(
                f"{', '.join(broken)} broken: `interphases db repair` rebuilds the summary and run log "
                "from the JobStore (job outputs need a backup)"
            )
        console.print("database ok")

    @db_app.command("repair")
    def db_repair() -> None:
        """Move a corrupt summary/run-log file aside and rebuild the summary from the JobStore."""
        from interphases.database.maintenance import repair

        report = repair()
        for moved in report.moved:
            console.print(f"moved aside: {moved}", highlight=False)
        console.print(
            f"summary rebuilt from {report.outputs_checked} job output(s): {report.rows_written} row(s) written"
        )

    @db_app.command("migrate")
    def db_migrate() -> None:
        """Copy a montydb folder of an older version into the indexed sqlite stores (idempotent)."""
        from interphases.database.maintenance import migrate

        report = migrate()
        counts = ", ".join(f"{k}: {v}" for k, v in report.copied.items())
        console.print(f"migrated {report.path} to sqlite ({counts}); the montydb files are kept", highlight=False)

    @db_app.command("config-example")
    def db_config_example(
        mongodb: bool = typer.Option(
            False, "--mongodb", help="Production example (MongoDB + GridFS)."
        ),
    ) -> None:
        """Print an interphases.yaml example (put it in the project folder)."""
        from interphases.database.config import EXAMPLE_EMBEDDED, EXAMPLE_MONGODB

        typer.echo(EXAMPLE_MONGODB if mongodb else EXAMPLE_EMBEDDED, nl=False)
