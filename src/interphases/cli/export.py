"""CLI command ``export``: structures stored in the results database, as files.

``interphases export ID -f cif|poscar|extxyz|json -o DIR`` finds every structure in the job
outputs of ID (a candidate id, job uuid, flow uuid, result key or row id, as for ``show``):
relaxed interfaces, slabs, bulk references, NEB images, and writes one file per structure.
Frozen atoms (pymatgen ``selective_dynamics``) are kept where the format holds them
(POSCAR selective dynamics, extxyz ``move_mask`` constraint, JSON); CIF cannot: a warning
says so.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from interphases.errors import InterphasesError

console = Console(soft_wrap=True)
log = logging.getLogger("interphases")

FORMATS = {"cif": "cif", "poscar": "vasp", "extxyz": "extxyz", "json": "json"}


def _structures(obj: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(key path, Structure) for every structure in a job output (dicts, lists, Structures)."""
    from pymatgen.core import Structure

    if isinstance(obj, Structure):
        yield path or "structure", obj
    elif isinstance(obj, dict):
        if obj.get("@class") == "Structure" and "sites" in obj:
            try:
                yield path or "structure", Structure.from_dict(obj)
            except Exception:  # noqa: BLE001 - a malformed blob is skipped, the rest exported
                log.warning("skipped an unreadable structure at %s", path)
            return
        for key, value in obj.items():
            if str(key).startswith("@"):
                continue
            yield from _structures(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _structures(value, f"{path}.{i}" if path else str(i))
    elif hasattr(obj, "model_dump"):
        yield from _structures(obj.model_dump(), path)


def _frozen(structure: Any) -> bool:
    sd = structure.site_properties.get("selective_dynamics")
    return sd is not None and any(not all(flags) for flags in sd)


def write_structure(structure: Any, path: Path, fmt: str) -> list[str]:
    """Write ``structure`` as ``fmt``; returns warnings (constraints the format cannot hold)."""
    warnings_out: list[str] = []
    if fmt == "poscar":
        from pymatgen.io.vasp import Poscar

        Poscar(structure).write_file(path)
    elif fmt == "json":
        path.write_text(structure.to_json())
    elif fmt == "extxyz":
        from ase.io import write
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = AseAtomsAdaptor.get_atoms(structure)
        write(path, atoms, format="extxyz")
    else:
        structure.to(filename=str(path), fmt="cif")
        if _frozen(structure):
            warnings_out.append(f"{path.name}: CIF has no frozen-atom constraints; they were dropped (use -f poscar or extxyz)")
    return warnings_out


def export_structures(identifier: str, fmt: str, output: Path) -> list[Path]:
    """Every structure stored for ``identifier`` written into ``output``; returns the files."""
    from interphases.database import show

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise InterphasesError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    found = show(identifier, with_output=True)
    output.mkdir(parents=True, exist_ok=True)
    ext = {"cif": "cif", "poscar": "vasp", "extxyz": "extxyz", "json": "json"}[fmt]
    written: list[Path] = []
    seen: set[str] = set()
    for job in found["jobs"]:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(job.get("name") or "job")).strip("_")
        uuid = str(job.get("uuid", ""))[:8]
        for key, structure in _structures(job.get("output")):
            fingerprint = f"{uuid}:{key}"
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            stem = f"{name}-{uuid}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', key)}"[:150]
            path = output / f"{stem}.{ext}"
            for warning in write_structure(structure, path, fmt):
                log.warning(warning)
            written.append(path)
    if not written:
        raise InterphasesError(f"no structure stored for {identifier!r} (its jobs hold numbers only)")
    return written


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""

    @app.command("export")
    def export_cmd(
        identifier: str = typer.Argument(..., help="Candidate id, job uuid, flow uuid, result key or row id (see `interphases query`)."),
        fmt: str = typer.Option("extxyz", "--format", "-f", help="cif, poscar, extxyz or json."),
        output: Path = typer.Option(Path("export"), "--output", "-o", help="Folder for the files."),
    ) -> None:
        """Write the stored structures of a result (relaxed interfaces, slabs, bulks, NEB images) as files.

        Frozen atoms are kept as POSCAR selective dynamics, extxyz constraints and in JSON; CIF cannot hold them (a warning says so).

        Examples:
          interphases export 1a2b3c4d -f extxyz -o relaxed/
          interphases export <result key> -f poscar -o out/
        """
        if output.exists() and not output.is_dir():
            raise InterphasesError(f"--output {output} is a file; give a folder")
        files = export_structures(identifier, fmt, output)
        for path in files:
            console.print(f"wrote {path}", highlight=False)
        console.print(f"{len(files)} structure(s) exported to {output}", highlight=False)
