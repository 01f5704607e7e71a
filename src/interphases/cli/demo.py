"""CLI command: ``demo``, the main job on built-in data (``make demo`` runs it).

Screens electrode | SEI interfaces on CHGNet from the offline library, no key and no
network needed: Li | LiF and Li | Li2O. For each pair it prints the lattice-matched
candidates (pymatgen ZSL on the library structures), then runs the screening flow
(:class:`~interphases.workflows.screening.InterfaceScreeningMaker`: CHGNet relaxation of
both phases, enumeration, batched registry scan, batched relaxations, W_ad, sigma, E_f,
E_el, and SevenNet-0 single points of the relaxed cells for the model uncertainty of
W_ad: ``--uncertainty``) into the project database, prints the ranking, and finally reads
the database back (the same query as ``interphases query work_of_adhesion``) and writes a report. Sized to
finish in a few minutes on 2 CPU cores; a rerun reads the stored results.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.markup import escape

#: the demo's pairs: (substrate, film, interface area limit Å^2, candidates computed)
DEMO_PAIRS = (("Li", "LiF", 40.0, 3), ("Li", "Li2O", 70.0, 3))

#: the demo's second model (W_ad uncertainty), and the one used when --model is that model
DEMO_SECOND_MODEL = ("7net-0", "chgnet")


def second_model_name(model: str, uncertainty: str | None) -> str | None:
    """The demo's ``--uncertainty``: None -> SevenNet-0 (CHGNet when the demo's model,
    ``model`` = its canonical name, is SevenNet-0; about 7 s more on 2 CPU cores);
    ``none`` -> off; else the model named."""
    if uncertainty is None:
        first, other = DEMO_SECOND_MODEL
        return other if model == first else first
    return None if uncertainty.strip().lower() in ("none", "off", "") else uncertainty


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("demo")
    def demo_cmd(
        output: Path = typer.Option(Path("demo-output"), "--output", "-o", help="Folder for the report, tables and JSON."),
        model: str = typer.Option("chgnet", "--model", help="MLIP model (default CHGNet, weights in its wheel)."),
        thickness: float = typer.Option(6.0, "--thickness", help="Slab thickness of both sides, Å."),
        fmax: float = typer.Option(0.1, "--fmax", help="Force convergence, eV/Å."),
        uncertainty: str = typer.Option(
            None, "--uncertainty",
            help="Second model for the W_ad uncertainty column (default 7net-0; chgnet when --model is 7net-0); 'none': off.",
        ),
        rerun: bool = typer.Option(False, "--rerun", help="Recompute even if the database holds the results."),
    ) -> None:
        """Screen Li | LiF and Li | Li2O interfaces on CHGNet (offline) and rank them.

        Writes OUTPUT/report.md (ranking tables and charts from the database), OUTPUT/ranking.json and one screening JSON per pair; results stay in the project database (INTERPHASES_PROJECT, default ./interphases_project), so `interphases query work_of_adhesion --phases Li,LiF` finds them.
        """
        from interphases.cli.energetics import console, make_engine, print_ranking, run_screening, screening_maker
        from interphases.cli.interfaces import print_candidates
        from interphases.config import project_dir
        from interphases.database import query, write_report
        from interphases.progress import RunProgress
        from interphases.structures import enumerate_candidates, get_phase

        from interphases.cli import checks

        checks.positive(thickness, "--thickness")
        checks.positive(fmax, "--fmax")
        checks.output_dir(output, "--output")

        engine = make_engine("mlip", model)
        second_name = second_model_name(engine.load().name, uncertainty)
        second = None
        if second_name is not None:
            phases = sorted({p for pair in DEMO_PAIRS for p in pair[:2]})
            second = checks.uncertainty_engine(second_name, engine, [get_phase(p) for p in phases], phases)
        output.mkdir(parents=True, exist_ok=True)
        console.rule(f"interphases demo: electrode | SEI interfaces on {model} (offline library)")
        t_all = time.perf_counter()
        ranking = []
        for substrate, film, max_area, n in DEMO_PAIRS:
            settings = dict(max_index=1, max_area=max_area, max_strain=0.05, substrate_thickness=thickness,
                            film_thickness=thickness, vacuum=10.0)
            t0 = time.perf_counter()
            found = enumerate_candidates(get_phase(substrate), get_phase(film), substrate_name=substrate,
                                         film_name=film, **settings)
            print_candidates(
                found,
                f"{film} on {substrate}: {len(found)} lattice-matched candidates (library structures, "
                f"Miller <= 1, area <= {max_area:g} Å², {time.perf_counter() - t0:.1f} s)",
                show=10,
            )
            maker = screening_maker(
                engine, max_area=max_area, max_strain=0.05, substrate_thickness=thickness, film_thickness=thickness,
                vacuum=10.0, max_candidates=n, gaps=(1.6, 2.0, 2.4, 2.8), max_registries=4, fmax=fmax, max_steps=300,
            )
            if second is not None:  # the W_ad of the second model on the relaxed cells: the uncertainty column
                from dataclasses import replace

                maker = replace(maker, uncertainty_engine=second)
            with RunProgress(f"demo: screening {film} on {substrate} ({model})", None,
                             resume_hint="interphases demo (finished screenings are read from the database)"):
                doc, stored, seconds = run_screening(maker, substrate, film, rerun=rerun, campaign="demo")
            print_ranking(doc)
            how = "read from the database" if stored else f"computed in {seconds:.0f} s"
            console.print(f"{len(doc.ranking)} of {doc.n_enumerated} candidates (CHGNet-relaxed phases), {how}")
            _explain_selection(console, doc, n, max_area)
            (output / f"screening_{substrate}_{film}.json").write_text(doc.model_dump_json(indent=1))
            ranking += [r.model_dump() | {"pair": f"{substrate}|{film}"} for r in doc.ranking]

        # what the database now holds (the query API, as `interphases query` runs it: the one
        # ranking of interphases.analysis.ranking, flagged rows after the sound ones)
        rows = query("work_of_adhesion", phases=["Li"], model=engine.load().name, sort="value", campaign="demo")
        best = rows.drop_duplicates("candidate_id").head(10)
        from rich.table import Table

        from interphases.analysis.ranking import rank_rows

        from interphases.cli.tables import is_blank

        spread = "uncertainty" in best.columns and not best["uncertainty"].map(is_blank).all()
        table = Table(title="database: work of adhesion of every screened interface (sound first, then flagged"
                      + (f"; ± = |W_ad − W_ad({second_name})| at the same cells" if spread else "") + ")",
                      title_justify="left")
        for col in ("#", "interface [id]", "W_ad J/m²", *(["± J/m²"] if spread else []), "flags"):
            table.add_column(col)
        for i, (_, r) in enumerate(best.iterrows(), start=1):
            flags = r.get("flags")
            u = ["" if is_blank(r.get("uncertainty")) else f"{float(r['uncertainty']):.3f}"] if spread else []
            table.add_row(str(i), escape(str(r.get("label"))), f"{r['value']:.3f}", *u, flags if isinstance(flags, str) else "")
        console.print(table)
        # ranking.json: both pairs in the one ranking (rank = overall, pair_rank = within its pair)
        ranking = [r | {"pair_rank": r["rank"]} for r in ranking]
        for i, r in enumerate(rank_rows(ranking), start=1):
            r["rank"] = i
        ranking.sort(key=lambda r: r["rank"])
        (output / "ranking.json").write_text(json.dumps(ranking, indent=1, default=str))
        report = write_report(output, kinds=["work_of_adhesion", "interfacial_energy", "interface_formation_energy",
                                             "elastic_energy"], title="interphases demo: Li | LiF and Li | Li2O on CHGNet")
        console.print(f"report: {report}   database: {project_dir()}")
        console.print(f"demo finished in {time.perf_counter() - t_all:.0f} s")


def _explain_selection(console, doc, n: int, max_area: float) -> None:
    """Which candidates the screening computed, and why the others were left out."""
    computed = escape(", ".join(r.label or r.candidate_id for r in doc.ranking))
    left = doc.n_enumerated - len(doc.ranking)
    lines = [
        f"computed: {computed}.",
        "why: the screening enumerates on the relaxed lattices (so its ids differ from the library "
        f"table above) and keeps the {n} first by von Mises strain, then area, then atom count "
        f"(max_candidates={n})"
        + (f"; the other {left} are more strained or larger and were left out." if left > 0 else "."),
        "Polar (Tasker 3) cuts are replaced by their non-polar reconstructions (Tasker-2 half plane, "
        f"rock-salt (111) octopolar p(2x2)); one that needs a cell larger than {max_area:g} Å² "
        "does not appear.",
    ]
    flagged = [escape(f"{r.label}: {', '.join(r.flags)}") for r in doc.ranking if r.flags]
    lines.append("flagged (ranked after the sound rows): " + "; ".join(flagged) if flagged else "no row is flagged.")
    spread = [r for r in doc.ranking if getattr(r, "uncertainty", None) is not None]
    if spread:
        lines.append(
            f"model uncertainty (|W_ad({spread[0].model}) − W_ad({spread[0].second_model})| on the same relaxed cells, "
            "shown, not used to rank): "
            + "; ".join(escape(f"{r.label}: {r.work_of_adhesion:.3f} ± {r.uncertainty:.3f} J/m²") for r in spread)
        )
    console.print("\n".join(lines) + "\n", highlight=False, soft_wrap=True)
