"""CLI commands: ion migration barriers.

- ``interphases neb PHASE`` — CI-NEB barriers of the distinct hops of an ion (vacancy or
  interstitial mechanism) in a bulk phase and the effective (percolation) barrier in 1, 2
  and 3 dimensions; the results go to the project database (``interphases query``), and
  ``-o DIR`` gets the energy profile (PNG and SVG), the JSON documents and the NEB images
  (extended XYZ, one file per hop).
- ``interphases neb-interface SUBSTRATE FILM`` — an ion hop from one phase into the
  other across the best-ranked interface candidate.

Both run a jobflow Flow through :func:`interphases.workflows.run.run_and_store`: a rerun
with the same inputs finds the stored result and does not recompute it.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:  # piped or captured: the tables read better unwrapped
    console = Console(width=160)

MECHANISM_HELP = "vacancy (one ion removed, cell charge -z) or interstitial (one ion added, +z)."


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("neb")(neb)
    app.command("neb-interface")(neb_interface)


def _engine(engine: str, model: str | None):
    from interphases.workflows.engines import get_engine

    if engine.lower() == "mlip":
        return get_engine("mlip", model=model or "chgnet")
    if engine.lower() not in ("cp2k", "vasp"):
        from interphases.errors import InterphasesError

        raise InterphasesError(f"unknown engine {engine!r}: use mlip, cp2k or vasp")
    if model is not None:
        console.print(f"[yellow]note:[/] --model is ignored by the {engine} engine")
    return get_engine(engine)


def _quiet() -> None:
    """Silence pymatgen's charged-cell warning and jobflow's deprecation notice."""
    warnings.filterwarnings("ignore", message="Structure charge")
    warnings.filterwarnings("ignore", category=FutureWarning, module="jobflow")


def _progress(title: str, n_stages: int | None, resume_hint: str) -> Any:
    """Stage / NEB-step progress (rich on a terminal, log lines otherwise); see interphases.progress."""
    from interphases.progress import RunProgress

    return RunProgress(title, n_stages, resume_hint=resume_hint)


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _stored_outputs(result_key: str) -> list[Any]:
    """Outputs of the jobs stored under ``result_key`` (a rerun that was skipped)."""
    from monty.json import MontyDecoder

    from interphases.database import open_database

    db = open_database()
    try:
        docs = list(db.jobstore.query({"metadata.result_key": result_key}, load=True))
        return [MontyDecoder().process_decoded(d["output"]) for d in docs]
    finally:
        db.close()


def _run(flow: Any, result_key: str | None, store: bool, direct: Any) -> tuple[list[Any], bool]:
    """Run ``flow`` with the database (or ``direct()`` without it); outputs and whether skipped."""
    if not store:
        return list(direct()), False
    from interphases.workflows.run import run_and_store

    run = run_and_store(flow, result_key=result_key)
    if run.skipped:
        return _stored_outputs(result_key), True  # type: ignore[arg-type]
    return list(run.outputs.values()), False


def _write_images(hops: list[Any], stem: Path) -> list[Path]:
    from ase.io import write

    from interphases.potentials.conversion import structure_to_atoms

    written = []
    for h in hops:
        if not h.images:
            continue
        path = stem.with_name(f"{stem.name}_{h.label.replace('>', '').replace('/', '_')}.extxyz")
        frames = []
        for image, energy in zip(h.images, h.energies or [None] * len(h.images), strict=True):
            atoms = structure_to_atoms(image)
            if energy is not None:
                atoms.info["energy"] = energy
            frames.append(atoms)
        write(path, frames, format="extxyz")
        written.append(path)
    return written


def _hop_table(title: str, hops: list[Any], bulk: bool) -> Table:
    table = Table(title=title, title_justify="left")
    cols = ["hop", "sites", "length Å", "mult", "E_fwd eV", "E_bwd eV", "ΔE eV", "conv", "steps", "note"]
    if not bulk:
        cols = ["hop", "from → to", "length Å", "E_fwd eV", "E_bwd eV", "ΔE eV", "conv", "steps", "note"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("hop", "sites", "from → to", "note") else "right")
    for h in hops:
        note = ""
        if h.error and not h.error.startswith("not converged"):
            note = h.error[:60]
        elif not h.converged:
            note = "not converged"
        elif h.warnings:
            note = "see note"
        common = [_f(h.barrier_forward), _f(h.barrier_backward), _f(h.reaction_energy), "yes" if h.converged else "no",
                  str(h.n_steps), note]
        if bulk:
            table.add_row(h.label, h.hop.sites if h.hop else "-", f"{h.length:.3f}",
                          str(h.hop.multiplicity) if h.hop else "-", *common)
        else:
            table.add_row(h.label, f"{h.info.get('from_side')} → {h.info.get('to_side')}", f"{h.length:.3f}", *common)
    return table


def neb(
    phase: str = typer.Argument(..., help="Library name (e.g. LiF, Li3N, MgO), structure file or MP id."),
    ion: str = typer.Option(None, "--ion", "-i", help="Migrating ion (default: the phase's only working ion)."),
    charge: int = typer.Option(None, "--charge", help="Ion charge z (default: Li/Na/K 1, Mg/Ca/Zn 2, Al 3)."),
    mechanism: str = typer.Option("vacancy", "--mechanism", "-m", help=MECHANISM_HELP),
    engine: str = typer.Option("mlip", "--engine", help="mlip, cp2k or vasp."),
    model: str = typer.Option(None, "--model", help="MLIP model (default chgnet; emt, 7net-0, ...)."),
    cutoff: float = typer.Option(
        None, "--cutoff", help="Longest hop, Å (default: the shortest that percolates in >1D)."
    ),
    min_image: float = typer.Option(7.5, "--min-image", help="Shortest supercell lattice vector, Å."),
    max_atoms: int = typer.Option(300, "--max-atoms", help="Largest supercell."),
    images: int = typer.Option(5, "--images", help="Moving NEB images per hop."),
    fmax: float = typer.Option(0.05, "--fmax", help="Force convergence of endpoints and NEB, eV/Å."),
    max_steps: int = typer.Option(500, "--max-steps", help="NEB optimiser steps at most."),
    max_hops: int = typer.Option(None, "--max-hops", help="Compute only the N shortest distinct hops."),
    hop: list[str] = typer.Option(None, "--hop", help="Compute only this hop label (repeatable), e.g. --hop hop-1."),
    relax_bulk: bool = typer.Option(True, "--relax-bulk/--no-relax-bulk", help="Relax the primitive cell first."),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for the plot (PNG, SVG), JSON and images."),
    store: bool = typer.Option(True, "--store/--no-store", help="Store results in the project database."),
    rerun: bool = typer.Option(False, "--rerun", help="Recompute even if the result is in the database."),
) -> None:
    """CI-NEB migration barriers of an ion in a bulk phase and its effective (percolation) barrier.

    Distinct hops up to --cutoff (pymatgen-analysis-diffusion), supercell with --min-image,
    fixed-cell endpoint relaxation, IDPP, one batched climbing-image NEB for all hops; the
    effective barrier is the lowest transition-state level at which the hops form a
    network crossing the crystal in 1, 2 and 3 dimensions.

    Examples:
      interphases neb LiF --ion Li --mechanism vacancy -o out/
      interphases neb MgO --ion Mg --min-image 6 --fmax 0.1
      interphases neb Li3N --max-hops 1 --images 3
      interphases neb LiF --mechanism interstitial --model 7net-0 -o out/LiF-int
    """
    from interphases.analysis.migration import plot_energy_profiles
    from interphases.database import make_result_key
    from interphases.structures.hops import MECHANISMS
    from interphases.workflows.migration import (
        _supercell_text,
        EffectiveBarrierDocument,
        EffectiveBarrierMaker,
        MigrationBarrierDocument,
        MigrationBarrierMaker,
        effective_barrier,
    )

    if mechanism not in MECHANISMS:
        raise typer.BadParameter(f"--mechanism must be one of {', '.join(MECHANISMS)}")
    _quiet()
    from interphases.cli import checks

    checks.positive(min_image, "--min-image")
    checks.positive(max_atoms, "--max-atoms", integer=True)
    checks.positive(images, "--images", integer=True)
    checks.positive(fmax, "--fmax")
    checks.positive(max_steps, "--max-steps", integer=True)
    checks.positive(max_hops, "--max-hops", integer=True)
    checks.positive(cutoff, "--cutoff")
    checks.output_dir(output, "--output")
    structure = checks.load_checked(phase)
    if ion is not None and mechanism == "vacancy" and ion not in {el.symbol for el in structure.composition.elements}:
        from interphases.errors import InterphasesError

        raise InterphasesError(
            f"{structure.composition.reduced_formula} has no {ion}: a vacancy mechanism needs {ion} sites "
            "(use --mechanism interstitial to insert it)"
        )
    eng = _engine(engine, model)
    checks.check_engine(eng, [structure], [phase])
    maker = MigrationBarrierMaker(
        engine=eng, ion=ion, charge=charge, mechanism=mechanism, cutoff=cutoff, min_image=min_image,
        max_atoms=max_atoms, n_images=images, fmax=fmax, max_steps=max_steps, max_hops=max_hops,
        hop_labels=list(hop) if hop else None, relax_bulk=relax_bulk,
    )
    flow = EffectiveBarrierMaker(barriers=maker).make(structure)
    key = None if rerun else make_result_key(task="neb", structure=structure, maker=maker, engine=eng.provenance())
    formula = structure.composition.reduced_formula
    start = time.perf_counter()
    with _progress(f"CI-NEB of {ion or 'the ion'} ({mechanism}) in {formula} ({eng.provenance().get('model', engine)})", 2 if store else None,
                   f"run `interphases neb {phase} ...` again with the same options"):
        def direct():
            doc = maker.compute(structure)
            return [doc, effective_barrier(doc)]

        outputs, skipped = _run(flow, key, store, direct)
    elapsed = time.perf_counter() - start
    doc = next((o for o in outputs if isinstance(o, MigrationBarrierDocument)), None)
    eff = next((o for o in outputs if isinstance(o, EffectiveBarrierDocument)), None)
    if doc is None:
        raise typer.Exit(1)
    prov = doc.provenance
    console.print(
        f"[bold]{doc.ion}[/] (z = {doc.ion_charge}) {doc.mechanism} in [bold]{doc.formula}[/]: supercell "
        f"{_supercell_text(doc.supercell)} of the primitive cell, {doc.n_atoms} atoms, min image {doc.min_image:.2f} Å, "
        f"cell charge {doc.defect_charge:+g}; {prov.get('engine')} {prov.get('model', '')}"
    )
    console.print(_hop_table(f"Distinct {doc.ion} hops (cutoff {doc.network.cutoff:.2f} Å)", doc.hops, bulk=True))
    if eff is not None:
        for step in eff.steps:
            console.print(
                f"[bold]effective barrier {step.dimensionality}D: {step.barrier:.3f} eV[/]  "
                f"(limiting {step.limiting_hop}; hops {', '.join(step.hops)})"
            )
    for note in dict.fromkeys([*(eff.notes if eff is not None else []), *doc.notes]):
        console.print(f"[yellow]note:[/] {note}")
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in doc.wall_time.items())
    console.print(("stored result found: not recomputed" if skipped else f"wall time {elapsed:.1f} s ({timing})"))
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        stem = output / f"neb_{doc.formula}_{doc.ion}_{doc.mechanism}"
        title = f"{doc.ion} {doc.mechanism} in {doc.formula} ({doc.n_atoms} atoms, {prov.get('model', '')})"
        files = plot_energy_profiles(
            [h.profile_dict(f"{h.label} {h.hop.sites if h.hop else ''} {h.length:.2f} Å") for h in doc.hops if h.energies],
            stem, title=title,
        )
        payload = {"barriers": json.loads(doc.model_dump_json()), "effective": json.loads(eff.model_dump_json()) if eff else None,
                   "wall_time_s": elapsed}
        stem.with_suffix(".json").write_text(json.dumps(payload, indent=1))
        files.append(stem.with_suffix(".json"))
        files += _write_images(doc.hops, stem)
        console.print("wrote " + ", ".join(str(f) for f in files))


def neb_interface(
    substrate: str = typer.Argument(
        ..., help="Phase that keeps its lattice, e.g. Li (library name, file or MP id); or an interface file (two phases stacked along c), used as given."
    ),
    film: str = typer.Argument(None, help="Phase strained onto it, e.g. LiF (leave out for an interface file)."),
    ion: str = typer.Option(None, "--ion", "-i", help="Migrating ion (default: the working ion both phases contain)."),
    charge: int = typer.Option(None, "--charge", help="Ion charge z (default from the element)."),
    from_side: str = typer.Option("film", "--from", help="Side the ion leaves: film or substrate."),
    mechanism: str = typer.Option(
        "vacancy", "--mechanism", "-m", help="vacancy (into an empty ion site) or interstitial (into an open site)."
    ),
    substrate_miller: str = typer.Option(None, "--substrate-miller", help="Substrate plane, e.g. 1,1,0."),
    film_miller: str = typer.Option(None, "--film-miller", help="Film plane, e.g. 1,1,0."),
    index: int = typer.Option(1, "--candidate", help="Use the N-th ranked candidate (1 = best)."),
    max_area: float = typer.Option(60.0, "--max-area", help="Largest interface area, Å²."),
    thickness: float = typer.Option(6.0, "--thickness", help="Thickness of each side, Å."),
    vacuum: float = typer.Option(10.0, "--vacuum", help="Vacuum over the film, Å."),
    min_image: float = typer.Option(None, "--min-image", help="Repeat in plane to this shortest vector, Å."),
    n_hops: int = typer.Option(1, "--hops", help="Distinct moving ions (nearest the interface first)."),
    engine: str = typer.Option("mlip", "--engine", help="mlip, cp2k or vasp."),
    model: str = typer.Option(None, "--model", help="MLIP model (default chgnet)."),
    images: int = typer.Option(5, "--images", help="Moving NEB images."),
    fmax: float = typer.Option(0.05, "--fmax", help="Force convergence, eV/Å."),
    max_steps: int = typer.Option(500, "--max-steps", help="NEB optimiser steps at most."),
    relax_interface: bool = typer.Option(
        True, "--relax-interface/--no-relax-interface", help="Relax the interface (cell fixed) before the hop."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Folder for the plot, JSON and images."),
    store: bool = typer.Option(True, "--store/--no-store", help="Store results in the project database."),
) -> None:
    """CI-NEB of an ion hop from one phase into the other across an interface candidate.

    The candidate comes from `interphases candidates` settings (slab model); the interfacial
    ions of --from hop into the nearest site across the interface plane. With one argument,
    an interface file (two phases stacked along c, e.g. from `interphases export`), the cell
    is used as given: its lower phase is the substrate, the upper one the film, its frozen
    atoms stay frozen; --substrate-miller, --film-miller, --candidate, --max-area,
    --thickness and --vacuum do not apply.

    Examples:
      interphases neb-interface Li LiF --substrate-miller 1,1,0 --film-miller 1,1,0 -o out/
      interphases neb-interface Li LiF --from substrate --hops 2 --fmax 0.1
      interphases neb-interface Li_LiF_interface.vasp --ion Li --no-relax-interface
    """
    from interphases.database import make_result_key
    from interphases.errors import InterphasesError
    from interphases.workflows.migration import InterfaceHopDocument, InterfaceHopMaker

    _quiet()
    from interphases.cli import checks

    for value, option in ((max_area, "--max-area"), (thickness, "--thickness"), (min_image, "--min-image"),
                          (fmax, "--fmax")):
        checks.positive(value, option)
    checks.positive(vacuum, "--vacuum", allow_zero=True)
    for value, option in ((index, "--candidate"), (n_hops, "--hops"), (images, "--images"), (max_steps, "--max-steps")):
        checks.positive(value, option, integer=True)
    if from_side not in ("film", "substrate"):
        raise InterphasesError(f"--from {from_side!r}: use film or substrate")
    checks.output_dir(output, "--output")
    eng = _engine(engine, model)
    if film is None:  # an interface file, used as given
        target, cand_id = _given_interface(substrate)
        checks.check_engine(eng, [target], [substrate])
        defining = {"structure": target}
        title, what = f"CI-NEB across {Path(substrate).name}", f"interface file {Path(substrate).name} ({cand_id})"
        hint = f"run `interphases neb-interface {substrate} ...` again with the same options"
    else:
        sub, fil = checks.load_checked(substrate), checks.load_checked(film)
        checks.check_engine(eng, [sub, fil], [substrate, film])
        target = _pick_candidate(sub, fil, substrate, film, substrate_miller, film_miller, index, max_area, thickness, vacuum)
        defining = {"candidate": target.candidate_id}
        title = f"CI-NEB across {target.substrate_formula} {target.miller_pair} {target.film_formula}"
        what = f"candidate {target.candidate_id} {target.miller_pair} {target.terminations}"
        hint = f"run `interphases neb-interface {substrate} {film} ...` again with the same options"
    maker = InterfaceHopMaker(
        engine=eng, ion=ion, charge=charge, from_side=from_side, mechanism=mechanism, n_hops=n_hops,  # type: ignore[arg-type]
        min_image=min_image, n_images=images, fmax=fmax, max_steps=max_steps, relax_interface=relax_interface,
    )
    flow = maker.make(target)
    key = make_result_key(task="neb-interface", **defining, maker=maker, engine=eng.provenance())
    start = time.perf_counter()
    with _progress(title, None, hint):
        outputs, skipped = _run(flow, key, store, lambda: [maker.compute(target)])
    elapsed = time.perf_counter() - start
    doc = next((o for o in outputs if isinstance(o, InterfaceHopDocument)), None)
    if doc is None:
        raise typer.Exit(1)
    console.print(
        f"[bold]{doc.ion}[/] from the {doc.from_side} ({doc._formula(doc.from_side)}) into the {doc.to_side} "
        f"({doc._formula(doc.to_side)}): {what}, "
        f"{doc.n_atoms} atoms (in-plane repeats {doc.parameters.get('in_plane_repeats')}), {doc.provenance.get('model', '')}"
    )
    _print_hop_result(doc, skipped, elapsed, output)


def _given_interface(path: str) -> tuple[Any, str]:
    """An interface file labelled substrate (lower phase) / film (upper phase), and a short
    hash of it; one-line errors for a file that is not two stacked phases."""
    import hashlib

    from interphases.cli import checks
    from interphases.errors import InterphasesError
    from interphases.structures.bulk import classify_structure, label_given_interface

    structure = checks.load_checked(path)
    kind = classify_structure(structure)
    if kind != "interface":
        raise InterphasesError(
            f"{path} is a {kind} of {structure.composition.reduced_formula}, not an interface (two phases stacked along c): "
            "give SUBSTRATE FILM to build interface candidates, or an interface file"
        )
    labelled = label_given_interface(structure)
    digest = hashlib.sha1(json.dumps(structure.as_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    return labelled, digest


def _pick_candidate(sub: Any, fil: Any, substrate: str, film: str, substrate_miller: str | None, film_miller: str | None,
                    index: int, max_area: float, thickness: float, vacuum: float) -> Any:
    """The ``index``-th (1-based) interface candidate of two bulks."""
    from interphases.cli.interfaces import parse_miller
    from interphases.errors import InterphasesError
    from interphases.structures import enumerate_candidates

    with console.status("enumerating interface candidates..."):
        cands = enumerate_candidates(
            sub, fil,
            substrate_millers=[parse_miller(substrate_miller)] if substrate_miller else None,
            film_millers=[parse_miller(film_miller)] if film_miller else None,
            max_area=max_area, substrate_thickness=thickness, film_thickness=thickness, vacuum=vacuum,
            substrate_name=substrate, film_name=film,
        )
    if not 1 <= index <= len(cands):
        raise InterphasesError(f"{len(cands)} candidates found: --candidate must be between 1 and {len(cands)}"
                               if cands else "no interface candidate: raise --max-area or change the planes")
    return cands[index - 1]


def _print_hop_result(doc: Any, skipped: bool, elapsed: float, output: Path | None) -> None:
    """The hop table, notes and wall time of an interface hop; with ``output`` its files."""
    from interphases.analysis.migration import plot_energy_profiles

    console.print(_hop_table("Interface hops", doc.hops, bulk=False))
    for note in doc.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print("stored result found: not recomputed" if skipped else f"wall time {elapsed:.1f} s")
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        stem = output / f"neb_{doc.substrate_formula}_{doc.film_formula}_{doc.ion}_{doc.from_side}"
        files = plot_energy_profiles(
            [h.profile_dict() for h in doc.hops if h.energies], stem,
            title=f"{doc.ion}: {doc._formula(doc.from_side)} → {doc._formula(doc.to_side)} ({doc.n_atoms} atoms)",
        )
        stem.with_suffix(".json").write_text(doc.model_dump_json(indent=1))
        files.append(stem.with_suffix(".json"))
        files += _write_images(doc.hops, stem)
        console.print("wrote " + ", ".join(str(f) for f in files))
