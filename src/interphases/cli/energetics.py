"""CLI commands: ``screen`` (interface screening), ``surface-energy`` (of a bulk's facets, or
of a slab file used as given) and ``adhesion`` (W_ad of an interface file used as given).

All run their jobflow flow here (:func:`interphases.workflows.run.run_and_store`) into
the project's results database, print the result as a table and, with ``-o DIR``, write
the document as JSON. A rerun with the same inputs reads the stored result instead of
recomputing it (``--rerun`` forces a new computation).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from interphases.errors import InterphasesError

console = Console()
if not console.is_terminal:
    console = Console(width=160)

_ENGINE_HELP = "Energy engine: mlip (default), cp2k or vasp."
_MODEL_HELP = "MLIP model: chgnet (default, offline), 7net-0, emt, ... (see docs/potentials.md)."


def make_engine(engine: str, model: str | None) -> Any:
    """An engine instance from the CLI's --engine / --model."""
    from interphases.workflows.engines import get_engine

    from interphases.config import project_dir

    key = engine.lower()
    if key == "mlip":
        return get_engine("mlip", model=model or "chgnet")
    if key not in ("cp2k", "vasp"):
        raise InterphasesError(f"unknown engine {engine!r}: use mlip, cp2k or vasp")
    if model:
        raise InterphasesError("--model is for --engine mlip only")
    # DFT run folders in one stable place: a rerun finds the finished runs and resumes
    return get_engine(key, run_dir=str(project_dir() / "dft-runs"))


def parse_floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError as exc:
        raise typer.BadParameter(f"{what}: give numbers separated by commas, e.g. 1.6,2.0,2.4") from exc
    if not values:
        raise typer.BadParameter(f"{what}: give at least one number")
    return values


def _j(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_ranking(doc: Any, out: Console | None = None, title: str | None = None) -> None:
    """The screening ranking as a table (energies in J/m^2)."""
    out = out or console
    model = doc.ranking[0].model if doc.ranking else "?"
    # the W_ad spread to a second model (--uncertainty), when the screening computed one
    second = next((r.second_model for r in doc.ranking if getattr(r, "second_model", None)), None)
    spread = f"; ± = |W_ad − W_ad({second})| at the same cells" if second else ""
    table = Table(
        title=title or f"{doc.film} on {doc.substrate}: interface ranking ({model}; sound rows first, W_ad largest first, then σ{spread})",
        title_justify="left",
    )
    cols = [
        ("rank", "right"), ("id", "left"), (f"{doc.substrate} | {doc.film} hkl", "left"), ("terminations", "left"),
        ("W_ad J/m²", "right"), *([("± J/m²", "right")] if second else []), ("W_ad unrelaxed", "right"),
        ("σ J/m²", "right"), ("E_f J/m²", "right"),
        ("E_el meV/Å³", "right"), ("strain %", "right"), ("area Å²", "right"), ("atoms", "right"), ("flags", "left"),
    ]
    # labels and numbers stay whole (min_width: a number's width); the headers wrap first
    for name, justify in cols:
        whole = justify == "left"
        table.add_column(name, justify=justify, no_wrap=whole, min_width=None if whole else 6)  # type: ignore[arg-type]
    for r in doc.ranking:
        flags = list(getattr(r, "flags", None) or [])  # interphases.analysis.ranking.row_flags
        if not flags:  # documents stored before the flags existed
            flags = (["polar"] if r.polar else []) + ([] if r.converged else ["unconverged"])
        table.add_row(
            str(r.rank),
            r.candidate_id,
            f"({','.join(map(str, r.substrate_miller))})|({','.join(map(str, r.film_miller))})",
            r.terminations,
            _j(r.work_of_adhesion),
            *([_j(getattr(r, "uncertainty", None))] if second else []),
            _j(r.unrelaxed_work_of_adhesion),
            _j(r.interfacial_energy),
            _j(r.formation_energy),
            _j(r.elastic_energy_mev_per_a3),
            f"{100 * r.von_mises_strain:.2f}",
            f"{r.area:.1f}",
            str(r.n_atoms),
            ", ".join(flags),
        )
    out.print(table, crop=False)  # narrower than the table: lines run on, numbers stay whole


def screening_maker(
    engine: Any,
    *,
    max_index: int = 1,
    max_area: float = 60.0,
    max_strain: float = 0.05,
    max_atoms: int | None = 300,
    substrate_thickness: float = 8.0,
    film_thickness: float = 8.0,
    vacuum: float = 12.0,
    max_candidates: int | None = 6,
    gaps: tuple[float, ...] | None = None,
    max_registries: int | None = None,
    fmax: float = 0.05,
    max_steps: int = 300,
    interfacial_energy: bool = True,
    relax_bulks: bool = True,
    refine_engine: Any = None,
    refine_top: int = 1,
    scan: str = "reduced",
    allow_polar: bool = False,
    uncertainty_engine: Any = None,
    refine_by: str = "rank",
) -> Any:
    """The screening Maker the CLI and the demo run.

    ``scan="reduced"``: coarse-to-fine registry x gap scan (each registry descends along the
    gap; the same minima as the full grid where the energy has one minimum along the gap,
    see ``benchmarks/bench_screening.py``); ``"grid"``: every point.
    ``allow_polar``: also build raw polar (Tasker 3) slabs, whose energies are not comparable.
    ``uncertainty_engine``: a second model whose W_ad on the relaxed cells gives each row an
    ``uncertainty``; ``refine_by``: "rank" or "ucb" (W_ad + uncertainty).
    """
    from interphases.workflows.energetics import DEFAULT_GAPS, AdhesionMaker
    from interphases.workflows.screening import InterfaceScreeningMaker

    return InterfaceScreeningMaker(
        engine=engine,
        relax_bulks=relax_bulks,
        enumeration={
            "max_index": max_index, "max_area": max_area, "max_strain": max_strain, "max_atoms": max_atoms,
            "substrate_thickness": substrate_thickness, "film_thickness": film_thickness, "vacuum": vacuum,
            **({"allow_polar": True} if allow_polar else {}),
        },
        max_candidates=max_candidates,
        adhesion=AdhesionMaker(gaps=tuple(gaps or DEFAULT_GAPS), max_registries=max_registries, scan=scan),
        interfacial_energy=interfacial_energy,
        uncertainty_engine=uncertainty_engine,
        refine_engine=refine_engine,
        refine_top=refine_top,
        refine_by=refine_by,
        fmax=fmax,
        max_steps=max_steps,
    )


def run_screening(maker: Any, substrate: str, film: str, *, rerun: bool = False, campaign: str | None = None) -> tuple[Any, bool, float]:
    """(ScreeningDocument, read from the database?, seconds): run or resume one screening."""
    from dataclasses import asdict

    from interphases.database import make_result_key
    from interphases.workflows.run import find_stored, run_and_store

    engine = maker.engine
    identity = engine.physics_settings() if hasattr(engine, "physics_settings") else getattr(engine, "model", str(engine))
    settings = {k: v for k, v in asdict(maker).items() if k not in ("engine", "refine_engine", "uncertainty_engine", "name")}
    if settings.get("refine_by") == "rank":  # the default: the keys of screenings stored before the option stay valid
        settings.pop("refine_by")
    second = maker.uncertainty_engine
    if second is not None:  # the model defines the result, not the run-time fields (threads, device)
        settings["uncertainty_engine"] = getattr(second, "model", None) or getattr(second, "name", str(second))
    key = make_result_key(kind="interface_screening", substrate=substrate, film=film, engine=getattr(engine, "name", str(engine)),
                          model=str(identity), settings=settings)
    start = time.perf_counter()
    if not rerun:
        stored = find_stored(key, "screening_rank")
        if stored is not None:
            return stored, True, time.perf_counter() - start
    flow = maker.make(substrate, film)
    run = run_and_store(flow, result_key=key, skip_completed=not rerun, campaign=campaign)
    return run.outputs[flow.output.uuid], False, time.perf_counter() - start


def _check_enumeration(maker: Any, bulks: list[Any]) -> None:
    """Enumerate the candidates of the unrelaxed bulks (seconds) so that settings that find none
    fail now instead of after the bulk relaxations."""
    from interphases.structures import enumerate_candidates

    settings = dict(maker.enumeration)
    # a margin: the relaxed bulks the flow uses have slightly different lattices
    loose = {**settings, "max_area": settings["max_area"] * 1.15, "max_strain": settings["max_strain"] + 0.02}
    try:
        found = enumerate_candidates(bulks[0], bulks[1], **loose)
    except InterphasesError:
        raise
    except Exception:  # noqa: BLE001 - the flow runs the real enumeration; this is only an early look
        return
    if not found:
        raise InterphasesError(
            f"no interface candidate with --max-area {settings.get('max_area')} Å², --max-strain {settings.get('max_strain')}, "
            f"--max-index {settings.get('max_index')}, --max-atoms {settings.get('max_atoms')}: widen them "
            f"(interphases candidates SUBSTRATE FILM lists what exists); nothing was computed"
        )


def _screen_with_progress(maker: Any, substrate: str, film: str, eng: Any, *, rerun: bool) -> tuple[Any, bool, float]:
    """run_screening with stage / step progress; a failed refine still leaves the MLIP rows queryable."""
    from interphases.errors import CalculationError
    from interphases.progress import RunProgress

    title = f"screening {film} on {substrate} ({getattr(eng, 'model', eng.name)})"
    n_stages = (5 + (1 if maker.interfacial_energy else 0) + (1 if maker.refine_engine is not None else 0)
                + (1 if maker.uncertainty_engine is not None else 0))
    hint = (f"run `interphases screen {substrate} {film} ...` again with the same options (it restarts this "
            "screening; finished screenings are read from the database)")
    try:
        with RunProgress(title, n_stages, resume_hint=hint):
            return run_screening(maker, substrate, film, rerun=rerun)
    except CalculationError as exc:
        if maker.refine_engine is None:
            raise
        rows = _ingest_finished()
        raise CalculationError(
            f"refinement with {maker.refine_engine.name} failed ({exc}); the finished {getattr(eng, 'model', eng.name)} "
            f"results are stored and queryable ({rows} row(s)): interphases query work_of_adhesion --phases {substrate},{film}"
        ) from exc


def _ingest_finished() -> int:
    """Summary rows for every finished job in the store (what ``interphases db ingest`` does)."""
    from interphases.database import ingest

    try:
        return int(getattr(ingest(), "written", 0))
    except Exception:  # noqa: BLE001 - the error message still says what happened
        return 0


def _write_best_structures(doc: Any, output: Path) -> None:
    """The relaxed structures of the best candidate(s) of a screening into ``output``."""
    import logging

    from interphases.cli.export import export_structures
    from interphases.errors import InterphasesError as _Err

    folder = output / "structures"
    for r in doc.ranking[:1]:
        try:
            files = export_structures(r.candidate_id, "extxyz", folder)
        except _Err as exc:
            logging.getLogger("interphases").warning("relaxed structures of %s not written: %s", r.candidate_id, exc)
            continue
        console.print(f"wrote {len(files)} relaxed structure(s) of {r.candidate_id} to {folder}")


def _given_slab_inputs(structure: Any, phase: str, bulk: str | None) -> tuple[Any, str] | None:
    """(bulk reference, its name) when ``structure`` is a slab file (used as given), None for a
    bulk; one-line errors for an interface, --bulk with a bulk, a bulk that cannot be found and
    a slab that is not a cut of it (non-stoichiometric), all before any computation."""
    from interphases.cli import checks
    from interphases.errors import MissingAPIKeyError, NetworkUnavailableError, UnknownPhaseError
    from interphases.structures.bulk import classify_structure
    from interphases.workflows.energetics import check_given_slab

    kind = classify_structure(structure)
    if kind == "interface":
        raise InterphasesError(
            f"{phase} is an interface (two stacked phases): its work of adhesion is `interphases adhesion {phase}`; "
            "a surface energy needs a bulk or a slab of one phase"
        )
    if kind == "bulk":
        if bulk is not None:
            raise InterphasesError(f"--bulk is the reference of a slab file; {phase} is a bulk (no vacuum along c): "
                                   "leave --bulk out")
        return None
    formula = structure.composition.reduced_formula
    if bulk is None:
        from interphases.structures import load_structure

        try:
            reference = load_structure(formula)
        except (UnknownPhaseError, MissingAPIKeyError, NetworkUnavailableError) as exc:
            raise InterphasesError(
                f"{phase} is a slab of {formula} and no bulk {formula} is in the library or the cache "
                f"(a non-stoichiometric slab has no bulk of its own formula): give its bulk with --bulk PHASE "
                f"(library name, file or MP id)"
            ) from exc
        checks.check_structure(reference, formula)
        name = formula
    else:
        reference, name = checks.load_checked(bulk), bulk
    check_given_slab(structure, reference, None)
    return reference, name


def _finish(doc: Any, skipped: bool, start: float, output: Path | None, name: str, hint: str = "") -> None:
    """Say whether ``doc`` was computed or read back; with ``output``, write it there as ``name``."""
    how = "read from the database" if skipped else f"computed in {time.perf_counter() - start:.0f} s"
    console.print(f"{how}; stored in the project database{hint}")
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / name).write_text(doc.model_dump_json(indent=1))
        console.print(f"wrote {output / name}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("screen")
    def screen_cmd(
        substrate: str = typer.Argument(..., help="Electrode phase that keeps its lattice (library name, file, MP id), e.g. Li."),
        film: str = typer.Argument(..., help="SEI phase or solid electrolyte strained onto it, e.g. LiF."),
        engine: str = typer.Option("mlip", "--engine", help=_ENGINE_HELP),
        model: str = typer.Option(None, "--model", help=_MODEL_HELP),
        max_index: int = typer.Option(1, "--max-index", help="Largest Miller index on both sides."),
        max_area: float = typer.Option(60.0, "--max-area", help="Largest interface area, Å²."),
        max_strain: float = typer.Option(0.05, "--max-strain", help="Largest principal strain of the film (0.05 = 5 %)."),
        max_atoms: int = typer.Option(300, "--max-atoms", help="Largest cell (atoms; 0: no limit)."),
        thickness: float = typer.Option(8.0, "--thickness", help="Smallest thickness of both slabs, Å."),
        vacuum: float = typer.Option(12.0, "--vacuum", help="Vacuum over the film, Å."),
        max_candidates: int = typer.Option(6, "--max-candidates", "-n", help="Candidates computed, least strained first (>= 1)."),
        gaps: str = typer.Option(None, "--gaps", help="Gaps of the registry scan, Å, e.g. 1.6,2.0,2.4,2.8."),
        registries: int = typer.Option(None, "--registries", help="Registries scanned per candidate (default: all)."),
        fmax: float = typer.Option(0.05, "--fmax", help="Force convergence, eV/Å."),
        max_steps: int = typer.Option(300, "--max-steps", help="Optimiser steps at most."),
        no_interfacial: bool = typer.Option(False, "--no-interfacial", help="Skip σ, E_f, E_el (W_ad only, about half the work)."),
        refine: str = typer.Option(None, "--refine", help="Refine the best candidates with this engine (cp2k, vasp)."),
        refine_top: int = typer.Option(1, "--refine-top", help="Candidates refined."),
        refine_by: str = typer.Option(
            "rank", "--refine-by",
            help="How --refine picks candidates: rank (the best rows) or ucb (largest W_ad + uncertainty; needs --uncertainty).",
        ),
        uncertainty: str = typer.Option(
            None, "--uncertainty",
            help="Second MLIP model (e.g. 7net-0): its W_ad on the relaxed cells; the spread |ΔW_ad| becomes the 'uncertainty' column (J/m²).",
        ),
        scan: str = typer.Option("reduced", "--scan", help="Registry x gap scan: 'reduced' (coarse-to-fine, fewer points) or 'grid' (every point)."),
        allow_polar: bool = typer.Option(False, "--allow-polar", help="Also build raw polar (Tasker 3) slabs; their energies are not comparable."),
        rerun: bool = typer.Option(False, "--rerun", help="Compute again even if the database has this screening."),
        output: Path = typer.Option(None, "--output", "-o", help="Write screening.json into this folder."),
    ) -> None:
        """Screen the interfaces of FILM on SUBSTRATE: enumerate, registry scan, relax, rank.

        The two phases are relaxed with the engine, lattice-matched candidates enumerated, and for each candidate the in-plane registries and gaps are scanned with single points (all candidates together), the minimum relaxed with its two isolated slabs (W_ad) and, unless --no-interfacial, the strained bulks and the periodic sandwich relaxed along z (σ, E_f, E_el; Eq. 14-18). Results go to the project database (interphases query work_of_adhesion ...).

        Examples:
          interphases screen Li LiF
          interphases screen Li Li2O --max-area 70 -n 3 --fmax 0.1
          interphases screen Li LiF --model 7net-0 --no-interfacial
          interphases screen Li LiF -n 4 --refine cp2k --refine-top 1
          interphases screen Li LiF --uncertainty 7net-0 --refine cp2k --refine-by ucb
        """
        from interphases.cli import checks

        # every argument and the engines checked before any computation
        if max_candidates is not None and max_candidates < 1:
            raise InterphasesError(f"-n/--max-candidates must be >= 1 (got {max_candidates}); give a number of candidates, e.g. -n 6")
        checks.positive(max_index, "--max-index", integer=True)
        checks.positive(max_area, "--max-area")
        checks.positive(max_strain, "--max-strain")
        checks.in_range(max_strain, "--max-strain", 0, 1)
        checks.positive(max_atoms, "--max-atoms", allow_zero=True, integer=True)
        checks.positive(thickness, "--thickness")
        checks.positive(vacuum, "--vacuum", allow_zero=True)
        checks.positive(registries, "--registries", integer=True)
        checks.positive(fmax, "--fmax")
        checks.positive(max_steps, "--max-steps", integer=True)
        checks.positive(refine_top, "--refine-top", integer=True)
        checks.refine_selection(refine_by, refine, uncertainty)
        if scan not in ("reduced", "grid"):
            raise InterphasesError(f"--scan must be 'reduced' or 'grid' (got {scan!r})")
        gap_values = parse_floats(gaps, "--gaps")
        for g in gap_values or ():
            checks.positive(g, "--gaps")
        checks.output_dir(output, "--output")
        eng = make_engine(engine, model)
        refine_eng = make_engine(refine, None) if refine else None
        bulks = [checks.load_checked(substrate), checks.load_checked(film)]
        checks.check_engine(eng, bulks, [substrate, film])
        if refine_eng is not None:
            checks.check_engine(refine_eng, bulks, [substrate, film], option="--refine")
        second = checks.uncertainty_engine(uncertainty, eng, bulks, [substrate, film])
        maker = screening_maker(
            eng, max_index=max_index, max_area=max_area, max_strain=max_strain, max_atoms=max_atoms or None,
            substrate_thickness=thickness, film_thickness=thickness, vacuum=vacuum, max_candidates=max_candidates,
            gaps=gap_values, max_registries=registries, fmax=fmax, max_steps=max_steps,
            interfacial_energy=not no_interfacial, refine_engine=refine_eng,
            refine_top=refine_top, scan=scan, allow_polar=allow_polar, uncertainty_engine=second, refine_by=refine_by,
        )
        _check_enumeration(maker, bulks)
        doc, stored, seconds = _screen_with_progress(maker, substrate, film, eng, rerun=rerun)
        print_ranking(doc)
        how = "read from the database (use --rerun to recompute)" if stored else f"computed in {seconds:.0f} s"
        console.print(f"{len(doc.ranking)} of {doc.n_enumerated} candidates, {how}")
        if output is not None:
            output.mkdir(parents=True, exist_ok=True)
            (output / "screening.json").write_text(doc.model_dump_json(indent=1))
            console.print(f"wrote {output / 'screening.json'}")
            _write_best_structures(doc, output)

    @app.command("surface-energy")
    def surface_cmd(
        phase: str = typer.Argument(..., help="Bulk phase (library name, file, MP id), e.g. LiF; or a slab file (vacuum along c), used as given."),
        bulk_ref: str = typer.Option(None, "--bulk", help="Bulk reference of a slab file (library name, file, MP id); default: the library phase of the slab's formula."),
        miller: list[str] = typer.Option(None, "--miller", "-m", help="Only this Miller index (repeatable), e.g. -m 1,0,0."),
        max_index: int = typer.Option(1, "--max-index", help="All distinct Miller indices up to this."),
        thickness: float = typer.Option(10.0, "--thickness", help="Smallest slab thickness, Å."),
        vacuum: float = typer.Option(15.0, "--vacuum", help="Vacuum, Å."),
        fixed_fraction: float = typer.Option(0.5, "--fixed-fraction", help="Frozen fraction of the slab (bottom)."),
        engine: str = typer.Option("mlip", "--engine", help=_ENGINE_HELP),
        model: str = typer.Option(None, "--model", help=_MODEL_HELP),
        fmax: float = typer.Option(0.05, "--fmax", help="Force convergence, eV/Å."),
        output: Path = typer.Option(None, "--output", "-o", help="Write surface_energy.json into this folder."),
    ) -> None:
        """Surface energies of every facet and termination of PHASE (bulk relax, slabs, slab relax).

        γ = (E_slab - N e_bulk) / 2A for symmetric slabs; with the bottom planes frozen the relaxed top surface is γ_unrelaxed + (E_relaxed - E_unrelaxed)/A. The lowest termination of each facet is marked.

        A slab file (vacuum along c) is used as given: nothing is cut, the atoms it freezes (selective dynamics) stay fixed in the relaxation (nothing frozen: every atom relaxes), γ = (E_slab - n E_bulk)/2A against --bulk (the mean of the two surfaces for an asymmetric slab); --thickness, --vacuum, --fixed-fraction and --max-index do not apply, -m names its facet.

        Examples:
          interphases surface-energy Li
          interphases surface-energy LiF -m 1,0,0 -m 1,1,0 --thickness 12
          interphases surface-energy Al111.vasp --bulk Al
        """
        from interphases.cli.interfaces import parse_miller
        from interphases.workflows.energetics import SurfaceEnergyMaker
        from interphases.workflows.run import run_and_store

        from interphases.cli import checks
        from interphases.progress import RunProgress

        for value, option in ((thickness, "--thickness"), (fmax, "--fmax"), (max_index, "--max-index")):
            checks.positive(value, option)
        checks.positive(vacuum, "--vacuum", allow_zero=True)
        checks.in_range(fixed_fraction, "--fixed-fraction", 0.0, 0.95)
        checks.output_dir(output, "--output")
        eng = make_engine(engine, model)
        bulk = checks.load_checked(phase)
        given = _given_slab_inputs(bulk, phase, bulk_ref)
        checks.check_engine(eng, [bulk] + ([given[0]] if given else []), [phase] + ([given[1]] if given else []))
        millers = [parse_miller(m) for m in miller] if miller else None
        if given:  # only what applies to a slab file enters the Maker (and the result key)
            if millers and len(millers) > 1:
                raise InterphasesError(f"{phase} is a slab: -m names its one facet, give it once (got {len(millers)})")
            maker = SurfaceEnergyMaker(engine=eng, fmax=fmax)
        else:
            maker = SurfaceEnergyMaker(
                engine=eng, max_index=max_index, miller_indices=millers,
                min_thickness=thickness, vacuum=vacuum, fixed_fraction=fixed_fraction, fmax=fmax,
            )
        start = time.perf_counter()
        with RunProgress(f"surface energies of {phase} ({getattr(eng, 'model', eng.name)})", None,
                         resume_hint=f"interphases surface-energy {phase} ... (same options)"):
            if given:
                job = maker.make_given(bulk, given[0], label=Path(phase).name,
                                       miller_index=millers[0] if millers else None)
            else:
                job = maker.make(bulk, label=phase)
            run = run_and_store(job, result_key="auto")  # a repeated command reads the stored result
            doc = run.outputs[job.uuid]
        if given:
            s0 = doc.surfaces[0]
            console.print(f"{phase}: a slab of {bulk.composition.reduced_formula} ({len(bulk)} atoms, vacuum {s0.vacuum:.1f} Å), "
                          f"used as given against the bulk {given[1]}; {s0.convention}", highlight=False, soft_wrap=True)
        table = Table(title=f"{doc.formula}: surface energies ({doc.provenance.get('model')})", title_justify="left")
        for name, justify in [("hkl", "left"), ("termination", "left"), ("γ J/m²", "right"), ("γ unrelaxed", "right"),
                              ("symmetric", "left"), ("Tasker", "right"), ("atoms", "right"), ("lowest", "left"), ("note", "left")]:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for s in doc.surfaces:
            table.add_row(
                "(" + ",".join(map(str, s.miller_index)) + ")" if any(s.miller_index) else "given", s.termination,
                _j(s.surface_energy_j_per_m2),
                _j(s.unrelaxed_surface_energy_j_per_m2), "yes" if s.symmetric else "no",
                str(s.tasker_type or "-"), str(s.n_atoms), "◀" if s.lowest_of_facet else "", s.note or "",
            )
        console.print(table)
        _finish(doc, run.skipped, start, output, "surface_energy.json")


    @app.command("adhesion")
    def adhesion_cmd(
        interface: str = typer.Argument(..., help="Interface file: two phases stacked along c (with vacuum: one interface; periodic sandwich: two), used as given."),
        engine: str = typer.Option("mlip", "--engine", help=_ENGINE_HELP),
        model: str = typer.Option(None, "--model", help=_MODEL_HELP),
        relax: bool = typer.Option(False, "--relax", help="Also relax the given cell and the two sides in it (cell fixed, the file's frozen atoms kept)."),
        fmax: float = typer.Option(0.05, "--fmax", help="Force convergence of --relax, eV/Å."),
        max_steps: int = typer.Option(300, "--max-steps", help="Optimiser steps at most (--relax)."),
        output: Path = typer.Option(None, "--output", "-o", help="Write adhesion.json into this folder."),
    ) -> None:
        """Work of adhesion of an interface file, used as given (no registry scan, nothing moved or frozen).

        The cell is split into its two phases (composition along c); W_ad = (E_A + E_B - E_AB) / (n S), the two sides alone in the same cell, S = |a x b|, n = 1 with vacuum (slab model) or 2 for a periodic sandwich (the mean of its two interfaces). Single points of the cell as given; with --relax also the relaxed W_ad. For interfaces built from two bulks: interphases screen SUBSTRATE FILM.

        Examples:
          interphases adhesion Al111_Ag111.vasp --model emt
          interphases adhesion Li_LiF.cif --relax
        """
        from interphases.cli import checks
        from interphases.progress import RunProgress
        from interphases.workflows.energetics import AdhesionMaker, split_given_interface
        from interphases.workflows.run import run_and_store

        checks.positive(fmax, "--fmax")
        checks.positive(max_steps, "--max-steps", integer=True)
        checks.output_dir(output, "--output")
        eng = make_engine(engine, model)
        structure = checks.load_checked(interface)
        split_given_interface(structure)  # one-line error, before any computation, for a file that is not an interface
        checks.check_engine(eng, [structure], [interface])
        maker = AdhesionMaker(engine=eng, relax=relax, fmax=fmax, max_steps=max_steps)
        start = time.perf_counter()
        with RunProgress(f"work of adhesion of {interface} ({getattr(eng, 'model', eng.name)})", None,
                         resume_hint=f"interphases adhesion {interface} ... (same options)"):
            job = maker.make_given(structure, label=Path(interface).name)
            run = run_and_store(job, result_key="auto")  # a repeated command reads the stored result
            doc = run.outputs[job.uuid]
        table = Table(title=f"{interface}: work of adhesion ({doc.provenance.get('model')}; given interface)", title_justify="left")
        for name, justify in [("lower | upper", "left"), ("terminations", "left"), ("cell", "left"),
                              ("W_ad J/m² relaxed" if relax else "W_ad J/m²", "right"),
                              ("W_ad unrelaxed", "right"), ("area Å²", "right"), ("atoms", "right"), ("note", "left")]:
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        table.add_row(
            f"{doc.lower_formula} | {doc.upper_formula}", doc.terminations,
            f"{doc.cell_model} ({doc.n_interfaces} interface{'s' if doc.n_interfaces > 1 else ''})",
            _j(doc.work_of_adhesion_j_per_m2), _j(doc.unrelaxed_work_of_adhesion_j_per_m2),
            f"{doc.area:.1f}", str(doc.n_atoms), "; ".join(doc.notes + doc.errors),
        )
        console.print(table)
        _finish(doc, run.skipped, start, output, "adhesion.json", " (interphases query work_of_adhesion)")
