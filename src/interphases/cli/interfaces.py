"""CLI commands: slabs and interface candidates.

- ``interphases slabs PHASE`` — every distinct Miller index and termination of one phase
  as a table (thickness, vacuum, symmetric, stoichiometric, Tasker type, polarity, frozen
  atoms); ``-o DIR`` writes one structure file per slab plus ``slabs.json``.
- ``interphases candidates SUBSTRATE FILM`` — lattice-matched interface candidates, ranked
  by von Mises strain, area and atom count; ``-o DIR`` writes one structure file per
  candidate plus ``candidates.json`` (records that load back with
  :func:`interphases.structures.interfaces.load_candidates`).

Phases are resolved by :func:`interphases.structures.load_structure`: a library name
(``Li``, ``LiF``, ``beta-Li3PS4``), a structure file, or a Materials Project id/formula.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()
if not console.is_terminal:  # piped or captured: a table this wide reads better unwrapped
    console = Console(width=160)

FORMATS = ("poscar", "cif", "extxyz")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("slabs")(slabs)
    app.command("candidates")(candidates)


def parse_miller(text: str) -> tuple[int, int, int]:
    """``"1,1,0"``, ``"1 1 0"``, ``"110"`` or ``"1,-1,0"`` -> (1, 1, 0).

    Hexagonal four-index (Miller-Bravais) input ``h,k,i,l`` with ``i = -(h+k)`` (e.g.
    ``1,0,-1,0`` or ``0001``) is converted to the three-index ``(h, k, l)`` pymatgen uses.
    """
    raw = text.strip().strip("()[]{}")
    parts = raw.replace(",", " ").split()
    if len(parts) == 1 and len(parts[0]) in (3, 4) and parts[0].isdigit():
        parts = list(parts[0])
    try:
        hkl = tuple(int(p) for p in parts)
    except ValueError:
        hkl = ()
    if len(hkl) == 4:
        h, k, i, l = hkl
        if i != -(h + k):
            raise typer.BadParameter(
                f"{text!r}: a four-index (hexagonal) Miller index h,k,i,l needs i = -(h+k) = {-(h + k)}; "
                f"or give the three-index form {h},{k},{l}"
            )
        hkl = (h, k, l)
    if len(hkl) != 3 or not any(hkl):
        raise typer.BadParameter(
            f"{text!r} is not a Miller index; write it as 1,1,0 (or 110; hexagonal four-index 1,0,-1,0 is converted)"
        )
    return hkl  # type: ignore[return-value]


def _parse_grid(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        n, m = (int(x) for x in text.lower().replace("x", ",").split(","))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r}: write the grid as NxM, e.g. 3x3") from exc
    if n < 1 or m < 1:
        raise typer.BadParameter(f"{text!r}: both grid sizes must be >= 1")
    return n, m


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    return fmt


def slabs(
    phase: str = typer.Argument(
        ..., help="Library name (e.g. LiF, beta-Li3PS4), structure file or MP id."
    ),
    max_index: int = typer.Option(
        1, "--max-index", help="Largest Miller index (all distinct indices up to it)."
    ),
    miller: list[str] = typer.Option(
        None, "--miller", "-m", help="Only this Miller index (repeatable), e.g. -m 1,1,1."
    ),
    thickness: float = typer.Option(
        10.0, "--thickness", help="Smallest atom-to-atom slab thickness, Å."
    ),
    vacuum: float = typer.Option(
        15.0, "--vacuum", help="Vacuum between periodic images, Å (exact)."
    ),
    asymmetric: bool = typer.Option(
        False, "--asymmetric", help="Keep stoichiometric asymmetric slabs as cut."
    ),
    allow_polar: bool = typer.Option(
        False,
        "--allow-polar",
        help="Also list polar slabs (dipole normal to the surface or net formal charge): their "
        "surface energies diverge with thickness or need a charge background, so they are not "
        "comparable with the non-polar ones.",
    ),
    fixed_thickness: float = typer.Option(
        None, "--fixed-thickness", help="Freeze the planes this deep from the bottom, Å."
    ),
    fixed_fraction: float = typer.Option(
        0.5, "--fixed-fraction", help="Freeze this fraction of the thickness (bottom)."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write one file per slab and slabs.json into this folder."
    ),
    fmt: str = typer.Option(
        "poscar", "--format", "-f", help="Structure file format: poscar, cif or extxyz."
    ),
) -> None:
    """List every slab of one phase: Miller indices, terminations, Tasker type, dipole, charge.

    Thickness and vacuum are measured on the built cells; symmetric slabs are preferred (Tasker type 3 cuts get a stoichiometric Tasker-2 reconstruction when pymatgen finds one, else a non-stoichiometric symmetric slab); covalent units (PS4, CO3, ...) are never cut; the bottom planes are frozen (selective dynamics).

    Examples:
      interphases slabs LiF
      interphases slabs CaF2 -m 1,1,1 --thickness 12
      interphases slabs beta-Li3PS4 --max-index 1 -o slabs/Li3PS4
    """
    from interphases.cli.checks import load_checked as load_structure
    from interphases.structures.slabs import generate_slabs, write_slabs

    fmt = _check_format(fmt)
    bulk = load_structure(phase)
    from interphases.structures.bulk import classify_structure

    kind = classify_structure(bulk)
    if kind != "bulk":  # a slab or interface file: described as given, nothing cut from it
        from interphases.structures.slabs import describe_given_slab

        d = describe_given_slab(bulk)
        console.print(
            f"{phase}: {d['formula']}, {d['n_atoms']} atoms, is {'an interface' if kind == 'interface' else 'a slab'} "
            f"(vacuum {d['vacuum']:.2f} Å along the normal); used as given, no slabs cut from it.\n"
            f"  thickness {d['thickness']:.2f} Å, area {d['area']:.1f} Å², {d['n_planes']} planes, "
            f"top|bottom {d['top_termination']}|{d['bottom_termination']}\n"
            f"  dipole {d['dipole_per_area']:+.4f} e/Å, net charge {d['net_charge']:+g} e "
            f"(formal charges {', '.join(f'{k}{v:+g}' for k, v in d['oxidation_states'].items())}): "
            f"{'polar' if d['polar'] else 'non-polar'}",
            highlight=False, soft_wrap=True,
        )
        return
    millers = [parse_miller(m) for m in miller] if miller else None
    start = time.perf_counter()
    import warnings

    from interphases.structures.slabs import PolarSlabWarning

    with console.status(f"cutting slabs of {bulk.composition.reduced_formula}..."), warnings.catch_warnings(
        record=True
    ) as caught:
        warnings.simplefilter("always", PolarSlabWarning)
        records = generate_slabs(
            bulk,
            max_index=max_index,
            miller_indices=millers,
            min_thickness=thickness,
            vacuum=vacuum,
            symmetric=not asymmetric,
            fixed_thickness=fixed_thickness,
            fixed_fraction=fixed_fraction,
            allow_polar=allow_polar,
        )
    elapsed = time.perf_counter() - start
    table = Table(
        title=f"Slabs of {bulk.composition.reduced_formula} ({phase})", title_justify="left"
    )
    for col, justify in [
        ("#", "right"),
        ("hkl", "left"),
        ("shift", "right"),
        ("top|bottom", "left"),
        ("sym", "center"),
        ("stoich", "center"),
        ("Tasker", "center"),
        ("dipole e/Å", "right"),
        ("charge e", "right"),
        ("polar", "center"),
        ("non-polar by", "left"),
        ("thick Å", "right"),
        ("vac Å", "right"),
        ("area Å²", "right"),
        ("atoms", "right"),
        ("fixed", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, r in enumerate(records, start=1):
        table.add_row(
            str(i),
            "".join(map(str, r.miller_index)),
            f"{r.shift:.3f}",
            f"{r.top_termination}|{r.bottom_termination}" + (" (repaired)" if r.repaired else ""),
            "yes" if r.symmetric else "no",
            "yes" if r.stoichiometric else "no",
            "-" if r.tasker_type is None else str(r.tasker_type),
            f"{0.0 if abs(r.dipole_per_area) < 5e-4 else r.dipole_per_area:+.3f}",
            f"{r.net_charge:+g}",
            ("yes (charged)" if r.charged else "yes (dipole)") if r.polar else "no",
            r.reconstruction or ("-" if r.tasker_type != 3 else ""),
            f"{r.thickness:.2f}",
            f"{r.vacuum:.2f}",
            f"{r.area:.1f}",
            str(r.n_atoms),
            str(r.n_fixed),
        )
    console.print(table)
    console.print(f"{len(records)} slabs in {elapsed:.1f} s")
    for w in caught:
        if issubclass(w.category, PolarSlabWarning):
            console.print(f"note: {w.message}", highlight=False, soft_wrap=True)
    if any(not r.stoichiometric for r in records):
        console.print(
            "note: non-stoichiometric slabs need the chemical potential of the excess element "
            "for γ (a range between the two bulk limits; see interphases.structures.slabs."
            "gamma_range)", highlight=False, soft_wrap=True,
        )
    if output is not None:
        write_slabs(records, output, fmt)
        console.print(f"wrote {len(records)} {fmt} files and slabs.json to {output}")


def candidates(
    substrate: str = typer.Argument(
        ..., help="Phase that keeps its lattice, usually the electrode (e.g. Li)."
    ),
    film: str = typer.Argument(
        ..., help="Phase strained onto it, the SEI phase or electrolyte (e.g. LiF)."
    ),
    max_index: int = typer.Option(1, "--max-index", help="Largest Miller index on both sides."),
    substrate_miller: list[str] = typer.Option(
        None, "--substrate-miller", help="Only these substrate planes (repeatable)."
    ),
    film_miller: list[str] = typer.Option(
        None, "--film-miller", help="Only these film planes (repeatable)."
    ),
    max_area: float = typer.Option(150.0, "--max-area", help="Largest interface area, Å²."),
    max_strain: float = typer.Option(
        0.05, "--max-strain", help="Largest in-plane principal strain of the film (0.05 = 5 %)."
    ),
    max_atoms: int = typer.Option(
        500, "--max-atoms", help="Largest number of atoms in a cell (0: no limit)."
    ),
    substrate_thickness: float = typer.Option(
        10.0, "--substrate-thickness", help="Smallest substrate thickness, Å."
    ),
    film_thickness: float = typer.Option(
        10.0, "--film-thickness", help="Smallest film thickness, Å."
    ),
    gap: float = typer.Option(
        2.0, "--gap", help="Substrate-film distance (topmost to lowest atom), Å."
    ),
    vacuum: float = typer.Option(15.0, "--vacuum", help="Vacuum over the film (slab model), Å."),
    cell_model: str = typer.Option(
        "slab",
        "--cell-model",
        help="slab (vacuum over the film) or sandwich (two interfaces, no vacuum).",
    ),
    registry_grid: str = typer.Option(
        None, "--registry-grid", help="Add an NxM grid of in-plane shifts, e.g. 3x3."
    ),
    fixed_thickness: float = typer.Option(
        None, "--fixed-thickness", help="Frozen substrate region, Å."
    ),
    fixed_fraction: float = typer.Option(
        0.5, "--fixed-fraction", help="Frozen fraction of the substrate thickness."
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write structures and candidates.json into this folder."
    ),
    fmt: str = typer.Option(
        "poscar", "--format", "-f", help="Structure file format: poscar, cif or extxyz."
    ),
    show: int = typer.Option(30, "--show", help="Rows of the table to print (all are written)."),
    allow_polar: bool = typer.Option(
        False,
        "--allow-polar",
        help="Also use polar (Tasker-3, dipolar) cuts as they are; by default they are replaced by "
        "their non-polar reconstructions (Tasker-2 half plane, rock-salt (111) octopolar p(2x2), "
        "which needs a larger cell), because the energies of polar slabs are not comparable.",
    ),
) -> None:
    """Enumerate lattice-matched interfaces of FILM on SUBSTRATE, ranked by strain, area, atoms.

    pymatgen's Zur-McGill matching over all distinct Miller indices up to --max-index, every termination pair (covalent units never cut), symmetry-equivalent matches and supercells removed. The film is strained onto the substrate; --max-strain bounds its largest principal strain. Each candidate lists in-plane registries (film adsorption site over substrate site) to try. Frozen atoms: the bottom substrate planes (slab model) or the middle of the substrate (sandwich model).

    Examples:
      interphases candidates Li LiF
      interphases candidates Li Li2O --max-area 100 --max-strain 0.03 -o out/Li_Li2O
      interphases candidates Li beta-Li3PS4 --cell-model sandwich --gap 2.5 -o out/Li_LPS
    """
    from interphases.cli.checks import load_checked as load_structure
    from interphases.structures.interfaces import enumerate_candidates, write_candidates

    fmt = _check_format(fmt)
    if cell_model not in ("slab", "sandwich"):
        raise typer.BadParameter("--cell-model must be slab or sandwich")
    grid = _parse_grid(registry_grid)
    sub_millers = [parse_miller(m) for m in substrate_miller] if substrate_miller else None
    film_millers = [parse_miller(m) for m in film_miller] if film_miller else None
    sub_bulk = load_structure(substrate)
    film_bulk = load_structure(film)

    start = time.perf_counter()
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("Miller pairs", total=None)

        def report(done: int, total: int, description: str) -> None:
            progress.update(task, completed=done, total=total, description=f"matched {description}")

        found = enumerate_candidates(
            sub_bulk,
            film_bulk,
            max_index=max_index,
            substrate_millers=sub_millers,
            film_millers=film_millers,
            max_area=max_area,
            max_strain=max_strain,
            max_atoms=max_atoms or None,
            substrate_thickness=substrate_thickness,
            film_thickness=film_thickness,
            gap=gap,
            vacuum=vacuum,
            cell_model=cell_model,  # type: ignore[arg-type]
            registry_grid=grid,
            fixed_thickness=fixed_thickness,
            fixed_fraction=fixed_fraction,
            allow_polar=allow_polar,
            substrate_name=substrate,
            film_name=film,
            progress=report,
        )
    elapsed = time.perf_counter() - start

    sub_f, film_f = sub_bulk.composition.reduced_formula, film_bulk.composition.reduced_formula
    print_candidates(
        found, f"{film_f} on {sub_f}: {len(found)} candidates ({cell_model} model), ranked by strain, area, atoms", show
    )
    if not found:
        console.print("no candidate: raise --max-area or --max-strain, or allow more --max-atoms")
    console.print(f"enumerated in {elapsed:.1f} s")
    if output is not None:
        write_candidates(found, output, fmt)
        console.print(f"wrote {len(found)} {fmt} files and candidates.json to {output}")


def print_candidates(found, title: str, show: int = 30, out: Console | None = None) -> None:
    """The ranked candidate table (strain, area, atoms, terminations, registries)."""
    out = out or console
    if not found:
        out.print(title)
        return
    sub_f, film_f = found[0].substrate_formula, found[0].film_formula
    table = Table(title=title, title_justify="left")
    for col, justify in [
        ("rank", "right"),
        ("id", "left"),
        (f"{sub_f} | {film_f} hkl", "left"),
        ("terminations", "left"),
        ("strain %", "right"),
        ("max strain %", "right"),
        ("area Å²", "right"),
        ("atoms", "right"),
        ("registries", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for rank, c in enumerate(found[: max(show, 0)], start=1):
        table.add_row(
            str(rank),
            c.candidate_id,
            c.miller_pair,
            c.terminations,
            f"{100 * c.von_mises_strain:.2f}",
            f"{100 * c.max_linear_strain:.2f}",
            f"{c.area:.1f}",
            str(c.n_atoms),
            str(len(c.in_plane_shifts)),
        )
    out.print(table)
    if len(found) > show:
        out.print(f"... {len(found) - show} more (use --show or -o to see all)")
