"""The ``interphases`` command line.

Each command group lives in its own module with a ``register(app)`` function, so a
newcomer finds ``interphases window`` in ``cli/stability.py`` and so on. User errors
(:class:`~interphases.errors.InterphasesError`) are printed as one line, exit code 2.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import typer
from rich.console import Console

from interphases.errors import InterphasesError

app = typer.Typer(
    name="interphases",
    help="Build, compute and rank battery interfaces (electrode | SEI | solid electrolyte).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# command modules, in the order their commands appear in --help
_COMMAND_MODULES = ("structures", "interfaces", "energetics", "migration", "stability", "database", "export", "cluster", "demo")

for _name in _COMMAND_MODULES:
    importlib.import_module(f"interphases.cli.{_name}").register(app)

err_console = Console(stderr=True)

# ASE's FrechetCellFilter takes scipy's matrix logarithm of near-identity deformations, which
# warns about an error of ~1e-12 that does not matter; keep the terminal output readable
warnings.filterwarnings("ignore", message="logm result may be inaccurate")


def main() -> None:
    """Entry point of the ``interphases`` script."""
    try:
        app()
    except InterphasesError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log lines (debug, jobflow's log)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors on stderr."),
) -> None:
    """Build, compute and rank battery interfaces (electrode | SEI | solid electrolyte)."""
    if ctx.invoked_subcommand is not None:  # log lines on stderr, a log file per run (interphases.progress)
        from interphases.progress import configure_logging

        configure_logging(-1 if quiet else verbose, ctx.invoked_subcommand)
    if version:
        from interphases import __version__

        typer.echo(__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()
