"""jobflow Makers, result documents, database rows, and the CLI."""

from __future__ import annotations

import math
import sys

import pytest
from jobflow import Flow, JobStore, run_locally
from maggma.stores import MemoryStore
from typer.testing import CliRunner

from interphases.analysis.entries import EntrySource
from interphases.analysis.reactions import interface_reactions
from interphases.analysis.stability import stability_window
from interphases.cli import app
from interphases.workflows.stability import (
    ElectrolyteMetalStabilityDocument,
    ElectrolyteMetalStabilityMaker,
    InterfaceReactionMaker,
    StabilityWindowMaker,
)

REQUIRED = ("kind", "formulas", "value", "units", "engine", "model")


def _run(flow_or_job):
    responses = run_locally(
        flow_or_job, store=JobStore(MemoryStore()), ensure_success=True, log=False
    )
    return responses


def test_electrolyte_metal_flow(li_p_o_file, li_p_o_entries):
    flow = ElectrolyteMetalStabilityMaker(
        metal="Li", entry_source=EntrySource(kind="file", path=str(li_p_o_file))
    ).make("Li3PO4")
    assert isinstance(flow, Flow) and len(flow.jobs) == 3
    responses = _run(flow)
    doc = responses[flow.jobs[-1].uuid][1].output
    assert isinstance(doc, ElectrolyteMetalStabilityDocument)
    ref = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert doc.window.window.reduction.voltage == ref.reduction.voltage
    assert doc.window.window.oxidation.voltage == ref.oxidation.voltage
    assert doc.verdict.verdict == "passivating"
    assert (
        doc.reaction.reaction.most_negative.energy
        == interface_reactions(li_p_o_entries, "Li3PO4", "Li").most_negative.energy
    )
    prov = doc.window.provenance
    assert (
        prov.entry_source,
        prov.thermo_type,
        prov.correction_scheme,
        prov.working_ion,
        prov.ion_charge,
    ) == (f"file:{li_p_o_file.name}", "GGA_GGA+U", "MP2020", "Li", 1)

    rows = doc.summary_rows()
    kinds = [r["kind"] for r in rows]
    assert kinds == [
        "reduction_limit",
        "oxidation_limit",
        "decomposition_energy_vs_metal",
        "e_above_hull",
        "reaction_energy",
    ]
    for row in rows:
        assert all(key in row for key in REQUIRED)
        assert isinstance(row["value"], float) and math.isfinite(row["value"])
        assert row["engine"] == "dft" and row["model"] == "GGA_GGA+U"
    red = rows[0]
    assert (
        red["value"] == ref.reduction.voltage
        and red["units"] == "V vs Li/Li+"
        and red["formulas"] == ["Li3PO4"]
    )
    assert rows[2]["verdict"] == "passivating"
    assert rows[-1]["formulas"] == ["Li3PO4", "Li"] and rows[-1]["units"] == "eV/atom"


def test_rows_fit_the_results_database(li_p_o_file):
    from interphases.database.summary import normalize_row

    doc = StabilityWindowMaker(
        entry_source=EntrySource(kind="file", path=str(li_p_o_file))
    ).compute("P2O5")
    rows = doc.summary_rows()
    assert "oxidation_limit" not in [r["kind"] for r in rows]  # no Li to extract: no infinite value
    assert all(r["oxidation_unbounded"] for r in rows)
    for row in rows:
        normalize_row(row)  # raises DatabaseError on a row that breaks the contract


def test_multivalent_window_maker(fit_compounds, mp2020_by_pymatgen):
    from interphases.analysis.entries import filter_chemsys

    entries = mp2020_by_pymatgen(filter_chemsys(fit_compounds.values(), ["Mg", "O"]))
    job = StabilityWindowMaker(working_ion="Mg").make("MgO", entries=entries)
    doc = _run(job)[job.uuid][1].output
    assert doc.provenance.ion_charge == 2 and doc.provenance.entry_source == "inline entries"
    assert doc.summary_rows()[1]["units"] == "V vs Mg/Mg2+"
    assert doc.verdict.verdict == "stable"


def test_open_reaction_maker(li_p_o_file):
    source = EntrySource(kind="file", path=str(li_p_o_file))
    doc = InterfaceReactionMaker(entry_source=source, open_element="Li", voltage=3.0).compute(
        "LiPO3", "Li3PO4"
    )
    row = doc.summary_rows()[0]
    assert row["open_element"] == "Li" and row["voltage"] == 3.0
    assert (
        row["products"] == ["Li4P2O7"] and row["value"] < 0
    )  # comproportionation to the pyrophosphate
    # at 1 V both Li3PO4 and Li2O are inside their windows and share a tie line: no reaction
    assert (
        InterfaceReactionMaker(entry_source=source, open_element="Li", voltage=1.0)
        .compute("Li3PO4", "Li2O")
        .reaction.is_stable
    )


# --------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_window_prints_window_profile_and_plot(li_p_o_file, tmp_path, li_p_o_entries):
    png = tmp_path / "li3po4.png"
    out_json = tmp_path / "doc.json"
    result = runner.invoke(
        app,
        [
            "window",
            "Li3PO4",
            "--ion",
            "Li",
            "--entries",
            str(li_p_o_file),
            "--plot",
            str(png),
            "--json",
            str(out_json),
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    ref = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert (
        f"window: {ref.reduction.voltage:.3f} – {ref.oxidation.voltage:.3f} V vs Li/Li+"
        in result.output
    )
    assert "Li3PO4 + 8 Li -> 4 Li2O + Li3P" in result.output
    assert "Li4P2O7 + O2" in result.output and "+8.000" in result.output
    assert "interphase vs Li metal: passivating" in result.output
    assert png.stat().st_size > 10_000 and out_json.stat().st_size > 1000


def test_cli_react_table(li_p_o_file, li_p_o_entries):
    result = runner.invoke(
        app, ["react", "Li3PO4", "Li", "--entries", str(li_p_o_file)], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    best = interface_reactions(li_p_o_entries, "Li3PO4", "Li").most_negative
    assert (
        f"most negative: {best.energy:.4f} eV/atom at x = {best.mixing_ratio:.3f}" in result.output
    )
    result = runner.invoke(
        app,
        [
            "react",
            "LiPO3",
            "P2O5",
            "--entries",
            str(li_p_o_file),
            "--open-element",
            "Li",
            "--voltage",
            "3.0",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "open Li at 3.0 V" in result.output


def test_cli_user_errors_are_one_line(monkeypatch, capsys, li_p_o_file):
    from interphases.cli import main

    for argv, message in (
        (["window", "Li3PO4"], "no Materials Project API key"),
        (["window", "Li3PO4", "--entries", "/nonexistent/entries.json"], "not found"),
        (
            ["react", "Li3PO4", "Li", "--entries", str(li_p_o_file), "--voltage", "1"],
            "--open-element",
        ),
    ):
        monkeypatch.setattr(sys, "argv", ["interphases", *argv])
        with pytest.raises(SystemExit) as exc:
            main()
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_report_draws_stored_windows(li_p_o_file, li_p_o_entries, tmp_path):
    """`report` draws one window chart from the stored rows: Li3PO4's span equals the window
    of the plain hull computation; P2O5 (no Li to extract) has no oxidation limit."""
    from interphases.database import open_database, save_rows, write_report
    from interphases.database.report import window_spans
    from interphases.database.query import query

    source = EntrySource(kind="file", path=str(li_p_o_file))
    rows = []
    for formula in ("Li3PO4", "P2O5"):
        rows += StabilityWindowMaker(entry_source=source).compute(formula).summary_rows()
    db = open_database()
    save_rows(rows, database=db)
    spans = {s["formula"]: s for s in window_spans(query(None, sort=None, database=db))}
    ref = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert spans["Li3PO4"]["low"] == pytest.approx(ref.reduction.voltage)
    assert spans["Li3PO4"]["high"] == pytest.approx(ref.oxidation.voltage)
    assert spans["P2O5"]["high"] is None
    md = write_report(tmp_path / "r", database=db).read_text()
    assert "plots/windows_V_vs_Li_Li_.png" in md
    assert (tmp_path / "r" / "plots" / "windows_V_vs_Li_Li_.png").stat().st_size > 1000
