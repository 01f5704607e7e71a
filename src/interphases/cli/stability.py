"""CLI commands: ``window`` (electrochemical stability window) and ``react`` (interface reactions)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True, soft_wrap=True)

_ENTRIES_HELP = "JSON(.gz) file of pymatgen ComputedEntry objects (one functional / correction scheme); repeat to merge several files into one hull. Omit to query the Materials Project (needs MP_API_KEY and the network)."
_MIXED_HELP = "Allow entries of two Materials Project database generations (legacy mp-N and mp-N-GGA ids) on one hull, after checking that they agree."


def _source(entries: list[Path] | None, thermo_type: str, mp2020: bool, allow_mixed: bool = False):
    from interphases.analysis.entries import EntrySource

    if not entries:
        return EntrySource(kind="mp", thermo_type=thermo_type, apply_mp2020=mp2020, allow_mixed_databases=allow_mixed)
    files = [str(p) for p in entries]
    return EntrySource(kind="file", path=files[0], paths=files[1:] or None, apply_mp2020=mp2020,
                       allow_mixed_databases=allow_mixed)


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        if note.startswith("WARNING"):
            err_console.print(f"[bold red]{note}[/]", highlight=False)
        else:
            console.print(f"[yellow]note:[/] {note}")


def _parse_gaps(gaps: list[str] | None) -> dict[str, float]:
    from interphases.analysis.entries import EntriesError

    out = {}
    for item in gaps or []:
        formula, _, value = item.partition("=")
        try:
            out[formula.strip()] = float(value)
        except ValueError as exc:
            raise EntriesError(
                f"--gap takes FORMULA=EV, e.g. --gap Li3P=0.7 (got {item!r})"
            ) from exc
    return out


def _v(value: float | None) -> str:
    return "∞" if value is None else f"{value:.3f}"


def _write_json(doc, path: Path | None) -> None:
    if path is not None:
        path.write_text(doc.model_dump_json(indent=1))
        console.print(f"document written to {path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("window")
    def window_cmd(
        formula: str = typer.Argument(..., help="Phase, e.g. Li3PO4."),
        ion: str = typer.Option(
            "Li", "--ion", "-i", help="Working ion / metal: Li, Na, K, Mg, Ca, Zn, Al."
        ),
        charge: int = typer.Option(
            None, "--charge", help="Ion charge z (default: Li/Na/K 1, Mg/Ca/Zn 2, Al 3)."
        ),
        entries: list[Path] = typer.Option(None, "--entries", "-e", help=_ENTRIES_HELP),
        allow_mixed_mp: bool = typer.Option(False, "--allow-mixed-mp", help=_MIXED_HELP),
        thermo_type: str = typer.Option(
            "GGA_GGA+U", "--thermo-type", help="Materials Project hull: GGA_GGA+U or R2SCAN."
        ),
        mp2020: bool = typer.Option(
            False, "--mp2020", help="(Re)apply MP2020 corrections to GGA/GGA+U entries."
        ),
        plot: Path = typer.Option(
            None, "--plot", help="Write the uptake profile (voltage vs ion uptake) to this image."
        ),
        gap: list[str] = typer.Option(
            None,
            "--gap",
            help="Band gap of a product, FORMULA=EV (repeatable); overrides other sources.",
        ),
        gap_threshold: float = typer.Option(
            0.5,
            "--gap-threshold",
            help="Gap (eV) at or above which a product counts as insulating.",
        ),
        json_out: Path = typer.Option(
            None, "--json", help="Write the full result document (JSON) here."
        ),
    ) -> None:
        """Electrochemical stability window of FORMULA against a metal: limits, products, uptake profile, verdict.

        V vs M/M^z+ = -(mu_M - mu_M^0)/(z e) from the M-open convex hull (pymatgen element
        profile); unstable phases are placed on the hull (Zhu 2015 / Richards 2016 convention).
        """
        from interphases.analysis.stability import couple_label, plot_uptake_profile
        from interphases.cli import checks
        from interphases.workflows.stability import StabilityWindowMaker

        checks.output_file(plot, "--plot")
        checks.output_file(json_out, "--json")
        checks.positive(gap_threshold, "--gap-threshold", allow_zero=True)

        maker = StabilityWindowMaker(
            working_ion=ion,
            charge=charge,
            entry_source=_source(entries, thermo_type, mp2020, allow_mixed_mp),
            band_gaps=_parse_gaps(gap),
            gap_threshold=gap_threshold,
        )
        doc = maker.compute(formula)
        w, prov = doc.window, doc.provenance
        couple = couple_label(w.working_ion, w.ion_charge)
        hull = (
            "no entry (composition only)"
            if w.e_above_hull is None
            else f"{1000 * w.e_above_hull:.1f} meV/atom"
        )
        console.print(
            f"[bold]{w.formula}[/] vs {w.working_ion} (z = {w.ion_charge})   hull {w.chemsys}: {prov.n_entries} entries, {prov.entry_source}, {prov.thermo_type}, corrections {prov.correction_scheme}"
        )
        console.print(f"E_above_hull: {hull}   convention: {w.convention}")
        _print_notes(list(dict.fromkeys([*prov.notes, *w.notes])) if hasattr(prov, "notes") else w.notes)
        console.print(
            f"[bold]window: {_v(w.reduction.voltage)} – {_v(w.oxidation.voltage)} V vs {couple}[/]"
        )

        limits = Table(title="Limits")
        for col in ("limit", f"V vs {couple}", "products", "reaction"):
            limits.add_column(col)
        for name, lim in (("reduction", w.reduction), ("oxidation", w.oxidation)):
            limits.add_row(
                name,
                _v(lim.voltage),
                " + ".join(lim.products) or "-",
                lim.reaction or lim.note or "-",
            )
        console.print(limits)

        prof = Table(title=f"{w.working_ion} uptake profile (per formula unit of {w.formula})")
        for col in ("V from", "V to", f"{w.working_ion} uptake", "phases", "reaction"):
            prof.add_column(
                col, justify="right" if col != "phases" and col != "reaction" else "left"
            )
        for step in w.profile:
            prof.add_row(
                f"{step.voltage_low:.3f}",
                _v(step.voltage_high),
                f"{step.uptake:+.3f}",
                " + ".join(step.phases),
                step.reaction,
            )
        console.print(prof)

        v = doc.verdict
        if v is not None:
            console.print(
                f"[bold]interphase vs {v.metal} metal: {v.verdict}[/]  (E_D at 0 V = {v.decomposition_energy:.3f} eV/atom, gap threshold {v.gap_threshold} eV)"
            )
            for reason in v.reasons:
                console.print(f"  - {reason}")
        if plot is not None:
            plot_uptake_profile(w, plot)
            console.print(f"plot written to {plot}")
        _write_json(doc, json_out)

    @app.command("react")
    def react_cmd(
        reactant_1: str = typer.Argument(..., help="First phase, e.g. Li3PS4."),
        reactant_2: str = typer.Argument(..., help="Second phase, e.g. Li or LiCoO2."),
        entries: list[Path] = typer.Option(None, "--entries", "-e", help=_ENTRIES_HELP),
        allow_mixed_mp: bool = typer.Option(False, "--allow-mixed-mp", help=_MIXED_HELP),
        thermo_type: str = typer.Option(
            "GGA_GGA+U", "--thermo-type", help="Materials Project hull: GGA_GGA+U or R2SCAN."
        ),
        mp2020: bool = typer.Option(
            False, "--mp2020", help="(Re)apply MP2020 corrections to GGA/GGA+U entries."
        ),
        open_element: str = typer.Option(
            None,
            "--open-element",
            help="Element exchanged with a reservoir (the working ion), e.g. Li.",
        ),
        voltage: float = typer.Option(
            None, "--voltage", help="Reservoir potential, V vs M/M^z+ (needs --open-element)."
        ),
        charge: int = typer.Option(
            None, "--charge", help="Charge z of the open ion (default from the element)."
        ),
        json_out: Path = typer.Option(
            None, "--json", help="Write the full result document (JSON) here."
        ),
    ) -> None:
        """Reaction energy (eV/atom) vs mixing ratio of two phases and the most negative reaction.

        Closed system, or open to --open-element at --voltage (mu = mu^0 - z e V); pymatgen
        InterfacialReactivity (Richards et al., Chem. Mater. 28, 266 (2016)).
        """
        from interphases.cli import checks
        from interphases.workflows.stability import InterfaceReactionMaker

        checks.output_file(json_out, "--json")

        maker = InterfaceReactionMaker(
            entry_source=_source(entries, thermo_type, mp2020, allow_mixed_mp),
            open_element=open_element,
            voltage=voltage,
            charge=charge,
        )
        doc = maker.compute(reactant_1, reactant_2)
        r, prov = doc.reaction, doc.provenance
        cond = (
            "closed system"
            if r.open_element is None
            else f"open {r.open_element} at {r.voltage} V (Δμ = {r.delta_mu:.3f} eV)"
            if r.voltage is not None
            else f"open {r.open_element}, Δμ = {r.delta_mu:.3f} eV"
        )
        console.print(
            f"[bold]{r.reactant_1} | {r.reactant_2}[/]  {cond}   hull {r.chemsys}: {prov.n_entries} entries, {prov.entry_source}, {prov.thermo_type}"
        )
        table = Table(
            title="Reactions along the mixing line (x = atomic fraction of " + r.reactant_1 + ")"
        )
        for col in ("#", "x", "E_rxn (eV/atom)", "E_rxn (kJ/mol atoms)", "reaction"):
            table.add_column(col, justify="left" if col == "reaction" else "right")
        for k in r.kinks:
            mark = " *" if k.index == r.most_negative.index else ""
            table.add_row(
                f"{k.index}{mark}",
                f"{k.mixing_ratio:.3f}",
                f"{k.energy:.4f}",
                f"{k.energy_kj_per_mol:.1f}",
                k.reaction,
            )
        console.print(table)
        m = r.most_negative
        if r.is_stable:
            console.print(
                "[bold]no reaction[/]: the two phases share a tie line (stable interface)"
            )
        else:
            console.print(
                f"[bold]most negative:[/] {m.energy:.4f} eV/atom at x = {m.mixing_ratio:.3f}: {m.reaction}  -> products {' + '.join(m.products)}"
            )
        _write_json(doc, json_out)
