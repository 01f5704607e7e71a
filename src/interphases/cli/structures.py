"""CLI commands: structures.

- ``interphases phases`` — the offline library as a table (name, formula, category,
  working ion(s), space group, atoms in the cell, density computed vs literature,
  reference).
- ``interphases phases NAME`` — one phase in detail (lattice, Wyckoff sites, notes,
  reference with DOI); ``-o FILE`` writes its structure (format from the file name:
  ``.cif``, ``POSCAR``/``.vasp``, ``.extxyz``, ``.json``, ... or ``--format``).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
if not console.is_terminal:  # piped or captured: a table this wide reads better unwrapped
    console = Console(width=150)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("phases")(phases)


def phases(
    name: str = typer.Argument(
        None, help="A library phase (name, alias or formula, e.g. LiF, beta-Li3PS4, LLZO). Omit to list all."
    ),
    output: Path = typer.Option(
        None, "--output", "-o",
        help="Write the structure of NAME to this file; the format follows the name "
        "(.cif, POSCAR, .vasp, .extxyz, .json, ...) unless --format is given.",
    ),
    fmt: str = typer.Option(None, "--format", "-f", help="Output format (pymatgen or ASE name, e.g. cif, poscar, extxyz)."),
    cell: str = typer.Option(
        "default", "--cell", help="Cell to show/write: default, conventional or primitive."
    ),
    category: str = typer.Option(None, "--category", "-c", help="List only one category: metal, SEI, 'solid electrolyte'."),
) -> None:
    """List the bundled offline library of battery phases, or show/write one of them.

    Examples:
      interphases phases
      interphases phases --category "solid electrolyte"
      interphases phases LLZO
      interphases phases beta-Li3PS4 -o Li3PS4.cif
      interphases phases Li6PS5Cl --cell primitive -o POSCAR
    """
    from interphases.structures import library

    if cell not in ("default", "conventional", "primitive"):
        raise typer.BadParameter("--cell must be default, conventional or primitive")
    if name is None:
        if output is not None:
            raise typer.BadParameter("--output needs a phase NAME")
        _table(library.list_phases(category), cell)
        return
    info = library.phase_info(name)
    structure = library.get_phase(info.name, cell=cell)  # type: ignore[arg-type]
    if output is None:
        _detail(info, structure)
        return
    from interphases.structures.bulk import write_structure

    written = write_structure(structure, output, fmt=fmt)
    console.print(
        f"wrote {info.name} ({structure.composition.reduced_formula}, {len(structure)} atoms, "
        f"{info.spacegroup_symbol}) to {written}", highlight=False,
    )


def _table(infos, cell: str) -> None:
    from interphases.structures import library

    table = Table(title="interphases offline library", title_justify="left")
    for col, kw in (
        ("name", {"style": "bold", "no_wrap": True}), ("formula", {"no_wrap": True}), ("category", {}),
        ("ion", {"no_wrap": True}), ("space group", {"no_wrap": True}), ("atoms", {"justify": "right"}),
        ("ρ calc", {"justify": "right"}), ("ρ lit", {"justify": "right"}), ("Δρ", {"justify": "right"}),
        ("reference", {}),
    ):
        table.add_column(col, **kw)
    for info in infos:
        s = library.get_phase(info.name, cell=cell)  # type: ignore[arg-type]
        dev = 100 * (s.density / info.density_g_cm3 - 1)
        sg = f"{info.spacegroup_symbol} ({info.spacegroup_number})"
        if info.is_ordered_model:
            same = info.parent_spacegroup_number == info.spacegroup_number
            sg += ", ordered" if same else f" ⊂ {info.parent_spacegroup_symbol}"
        table.add_row(
            info.name, info.formula, info.category, ",".join(info.working_ions), sg, str(len(s)),
            f"{s.density:.3f}", f"{info.density_g_cm3:.3f}", f"{dev:+.1f}%", info.reference.short,
        )
    console.print(table)
    console.print("ρ in g/cm³ (calc: the library cell; lit: the source in the data). "
                  "'⊂ G' / 'ordered': ordered model of a partially occupied experimental structure "
                  "of space group G. `interphases phases NAME` shows one phase with its full reference.",
                  highlight=False)


def _detail(info, structure) -> None:
    lat = info.lattice
    lines = [
        f"[bold]{info.name}[/]  {info.formula}  ({info.category}; working ion(s): {', '.join(info.working_ions)})",
        f"space group      {info.spacegroup_symbol} (No. {info.spacegroup_number})"
        + (f", ordered model of {info.parent_spacegroup_symbol} (No. {info.parent_spacegroup_number})"
           if info.is_ordered_model else ""),
        f"lattice          a={lat['a']:.4f} b={lat['b']:.4f} c={lat['c']:.4f} Å  "
        f"α={lat['alpha']:.2f} β={lat['beta']:.2f} γ={lat['gamma']:.2f}°",
        f"cell             {len(structure)} atoms ({info.cell} by default), V = {structure.volume:.2f} Å³",
        f"density          {structure.density:.3f} g/cm³ computed, {info.density_g_cm3:.3f} literature "
        f"({info.density_source})",
        f"oxidation states {', '.join(f'{k}{v:+g}' for k, v in info.oxidation_states.items())}",
        f"coordinates      {info.provenance}",
        f"reference        {info.reference}",
    ]
    if info.aliases:
        lines.append(f"aliases          {', '.join(info.aliases)}")
    if info.notes:
        lines.append(f"notes            {info.notes}")
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)
    if info.n_wyckoff_sites <= 12:
        table = Table(title="sites (fractional, as given in the data)", title_justify="left")
        for col in ("element", "Wyckoff", "x", "y", "z"):
            table.add_column(col)
        for el, w, xyz in info.wyckoff_sites:
            table.add_row(el, w, *(f"{x:.4f}" for x in xyz))
        console.print(table)
