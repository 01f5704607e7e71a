"""The package installs, shows its design at the top level, and the CLI answers."""

import importlib

from typer.testing import CliRunner

import interphases
from interphases.cli import app


def test_top_level_layout():
    for sub in ("structures", "potentials", "workflows", "parsers", "analysis", "database", "cluster", "cli"):
        module = importlib.import_module(f"interphases.{sub}")
        assert module.__doc__, f"interphases.{sub} needs a docstring saying what lives there"


def test_cli_version_and_help():
    runner = CliRunner()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == interphases.__version__
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "interface" in result.output.lower()
