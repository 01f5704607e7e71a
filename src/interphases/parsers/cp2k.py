"""CP2K output (the main ``*.out`` file and its trajectory files) into the result schema.

Reading is pymatgen's :class:`~pymatgen.io.cp2k.outputs.Cp2kOutput` (version, run type,
completion, SCF / geometry-optimisation convergence, initial structure, energies,
forces, DFT settings); this module adds what it lacks and maps to
:class:`~interphases.parsers.schema.CalcResult`:

- outputs whose input file is not beside them (pymatgen needs it for the charge) are
  read with the charge/multiplicity the output itself prints;
- the final structure of a GEO_OPT/CELL_OPT is the last frame of ``<project>-pos-1.xyz``
  with the last cell of ``<project>-1.cell`` (pymatgen zips frames with cells and drops
  CELL_OPT's final re-evaluation frame);
- units: forces Hartree/bohr -> eV/Å; the stress tensor is read from the last
  ``STRESS| Analytical stress tensor [GPa]`` block (``STRESS TENSOR [GPa]`` before
  CP2K 8) and CP2K prints it with the *pressure* sign (its 1/3 trace is the internal
  pressure), so ``σ_ASE = -σ_CP2K`` (ASE's CP2K calculator flips it the same way);
- convergence: the last SCF converged *and*, for GEO_OPT/CELL_OPT, "GEOMETRY
  OPTIMIZATION COMPLETED" without "MAXIMUM NUMBER OF OPTIMIZATION STEPS REACHED";
  a run without ``PROGRAM ENDED`` is not converged.

Single points (ENERGY, ENERGY_FORCE) and relaxations (GEO_OPT, CELL_OPT) are read;
other run types (MD, BAND, ...) raise :class:`~interphases.errors.ParseError`, as does
any unreadable, truncated-before-the-first-energy or non-CP2K file.
"""

from __future__ import annotations

import re
import warnings
from glob import glob
from pathlib import Path
from typing import Any

import numpy as np
from monty.io import zopen
from pymatgen.core import Lattice, Structure
from pymatgen.core.units import Ha_to_eV, bohr_to_ang
from pymatgen.io.cp2k.outputs import Cp2kOutput

from interphases.errors import ParseError
from interphases.parsers.schema import CalcResult

__all__ = ["HARTREE_PER_BOHR_TO_EV_PER_ANG", "parse_cp2k_output", "scf_converged_last"]

#: 1 Hartree/bohr in eV/Å
HARTREE_PER_BOHR_TO_EV_PER_ANG = Ha_to_eV / bohr_to_ang

_SINGLE_POINT = {"ENERGY", "ENERGY_FORCE", "WAVEFUNCTION_OPTIMIZATION", "WFN_OPT"}
_RELAX = {"GEO_OPT", "GEOMETRY_OPTIMIZATION", "CELL_OPT"}
_FLOAT = r"[-+]?\d*\.\d+(?:[eEdD][-+]?\d+)?"


class _Cp2kOutput(Cp2kOutput):
    """pymatgen's reader, tolerant of a missing or unreadable input file.

    Charge and multiplicity then come from the output itself; an input that pymatgen
    cannot read (e.g. ``@include`` of a file that is not there) is skipped.
    """

    def parse_input(self) -> None:
        try:
            super().parse_input()
        except Exception:
            self.input = None

    @property
    def charge(self) -> float:
        if self.input is not None:
            return super().charge
        return int(self.data.get("dft", {}).get("Charge", 0) or 0)

    @property
    def multiplicity(self) -> int:
        if self.input is not None:
            try:
                return super().multiplicity
            except (KeyError, IndexError, AttributeError):
                pass
        return int(self.data.get("dft", {}).get("Multiplicity", 1) or 1)


def _read_text(path: Path) -> str:
    try:
        with zopen(path, mode="rt", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except Exception as exc:
        raise ParseError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from exc


def scf_converged_last(text: str) -> bool | None:
    """Whether the last SCF in a CP2K output converged (None when no SCF ended)."""
    matches = re.findall(r"SCF run (NOT )?converged", text)
    if not matches:
        return None
    return matches[-1] == ""


def _stress_gpa(text: str) -> list[list[float]] | None:
    """Last stress tensor printed (GPa, CP2K pressure sign) as ASE-sign 3x3 GPa."""
    new = list(re.finditer(r"STRESS\|\s+(?:Analytical|Numerical) stress tensor \[GPa\]", text))
    old = list(re.finditer(r"STRESS TENSOR \[GPa", text))
    rows: list[list[float]] = []
    if new and (not old or new[-1].start() > old[-1].start()):
        block = text[new[-1].end() :].splitlines()[2:5]
        for line in block:
            parts = line.split()
            if len(parts) != 5 or parts[0] != "STRESS|":
                return None
            rows.append([float(v) for v in parts[2:5]])
    elif old:
        block = text[old[-1].end() :].splitlines()[2:6]
        for line in block:
            parts = line.split()
            if len(parts) == 4 and parts[0] in ("X", "Y", "Z"):
                rows.append([float(v) for v in parts[1:4]])
    if len(rows) != 3 or not np.all(np.isfinite(rows)):
        return None
    return (-np.asarray(rows)).tolist()


def _project_file(directory: Path, pattern: str) -> str | None:
    """The newest file of a CP2K project matching ``pattern`` (plain or compressed)."""
    files = sorted(glob(str(directory / pattern)) + glob(str(directory / f"{pattern}.gz")))
    return files[-1] if files else None


def _precise_lattice(out: _Cp2kOutput, text: str, lattice: Lattice) -> Lattice:
    """Without the input, pymatgen reads the cell from ``CELL| Vector`` lines (3 decimals).

    CP2K also prints |a|, |b|, |c| and the angles with 6 decimals: take the lattice with
    exactly those parameters that is closest to the printed vectors (orthogonal Procrustes).
    """
    if out.input is not None:
        return lattice
    lengths = re.findall(rf"CELL\| Vector [abc] .*\|[abc]\| =\s+({_FLOAT})", text)[:3]
    angles = re.findall(rf"CELL\| Angle \(\w,\w\), \w+\s+\[degree\]:\s+({_FLOAT})", text)[:3]
    if len(lengths) != 3 or len(angles) != 3:
        return lattice
    target = Lattice.from_parameters(*(float(x) for x in lengths), *(float(x) for x in angles))
    u, _, vt = np.linalg.svd(target.matrix.T @ lattice.matrix)
    refined = target.matrix @ (u @ vt)
    if np.abs(refined - lattice.matrix).max() > 2e-3:  # not the same cell: keep what was read
        return lattice
    return Lattice(refined, pbc=lattice.pbc)


def _final_structure(out: _Cp2kOutput, text: str, directory: Path, project: str, relax: bool) -> tuple[Structure, bool]:
    """(structure, found): the input structure for a single point; for a relaxation the
    last trajectory frame with the last cell, or (initial structure, False) without trajectory."""
    initial = out.initial_structure
    if out.input is None:
        lattice = _precise_lattice(out, text, initial.lattice)
        initial = Structure(lattice, initial.species, initial.cart_coords, coords_are_cartesian=True,
                            site_properties=initial.site_properties, charge=initial.charge)
    if not relax:
        return initial, True
    from pymatgen.io.xyz import XYZ

    traj = _project_file(directory, f"{project}-pos-1.xyz")
    if traj is None:
        return initial, False
    frames = XYZ.from_file(traj).all_molecules
    if not frames:
        return initial, False
    last = frames[-1]
    lattice = initial.lattice
    cell_file = _project_file(directory, f"{project}-1.cell")
    if cell_file is not None:
        with zopen(cell_file, mode="rt") as handle:
            rows = [line.split() for line in handle if line.strip() and not line.lstrip().startswith("#")]
        if rows:
            lattice = Lattice(np.array([float(v) for v in rows[-1][2:11]]).reshape(3, 3))
    if len(last) != len(initial):
        raise ParseError(f"{traj}: {len(last)} atoms in the trajectory, {len(initial)} in the output")
    final = Structure(lattice, [site.specie for site in last], [site.coords for site in last], coords_are_cartesian=True)
    return final, True


def _final_forces(out: _Cp2kOutput, directory: Path, project: str, n_atoms: int) -> list[list[float]] | None:
    """Last forces printed (trajectory ``-frc-1.xyz`` or the ATOMIC FORCES table), eV/Å."""
    frc = _project_file(directory, f"{project}-frc-1.xyz")
    out.filenames["forces"] = [frc] if frc else []
    try:
        out.parse_forces()
    except Exception:
        return None
    steps = out.data.get("forces") or []
    if not steps:
        return None
    forces = np.asarray(steps[-1], dtype=float)
    if forces.shape != (n_atoms, 3):
        return None
    return (forces * HARTREE_PER_BOHR_TO_EV_PER_ANG).tolist()


def _input_summary(out: _Cp2kOutput) -> dict[str, Any]:
    """The settings that define the calculation, from the input when present, else the output."""
    summary: dict[str, Any] = {"run_type": out.run_type}
    dft = out.data.get("dft", {})
    summary["functional"] = dft.get("functional")
    summary["spin_polarized"] = bool(out.spin_polarized)
    summary["charge"] = out.charge
    kinds = out.data.get("atomic_kind_info", {}) or {}
    summary["kinds"] = {
        name: {"element": info.get("element"), "basis_set": info.get("orbital_basis_set"), "potential": info.get("pseudo_potential")}
        for name, info in kinds.items()
    }
    cutoffs = out.data.get("QS", {}).get("Multi_grid_cutoffs_[a.u.]")
    if cutoffs:
        summary["grid_cutoffs_ha"] = cutoffs
    inp = out.input
    if inp is not None:
        def kw(path: str, key: str) -> Any:
            try:
                section = inp.by_path(path)
                value = section.get(key)
                return value.values[0] if len(value.values) == 1 else list(value.values)
            except Exception:
                return None

        summary["cutoff_ry"] = kw("FORCE_EVAL/DFT/MGRID", "CUTOFF")
        summary["rel_cutoff_ry"] = kw("FORCE_EVAL/DFT/MGRID", "REL_CUTOFF")
        summary["eps_scf"] = kw("FORCE_EVAL/DFT/SCF", "EPS_SCF")
        summary["max_scf"] = kw("FORCE_EVAL/DFT/SCF", "MAX_SCF")
        summary["eps_default"] = kw("FORCE_EVAL/DFT/QS", "EPS_DEFAULT")
        summary["kpoints"] = kw("FORCE_EVAL/DFT/KPOINTS", "SCHEME")
        summary["surface_dipole_correction"] = kw("FORCE_EVAL/DFT", "SURFACE_DIPOLE_CORRECTION")
        summary["smearing_temperature_K"] = kw("FORCE_EVAL/DFT/SCF/SMEAR", "ELEC_TEMP")
        summary["ot"] = inp.check("FORCE_EVAL/DFT/SCF/OT")
    return {k: v for k, v in summary.items() if v is not None}


def parse_cp2k_output(
    path: str | Path,
    *,
    input_file: str | Path | None = None,
    task_label: str | None = None,
) -> CalcResult:
    """A CP2K output file (single point or GEO_OPT/CELL_OPT) into a :class:`CalcResult`.

    Args:
        path: the main output (stdout of ``cp2k -i input``), plain or compressed. The
            trajectory files (``<project>-pos-1.xyz``, ``-frc-1.xyz``, ``-1.cell``) are
            read from the same folder when present.
        input_file: the CP2K input, when it is not beside the output under the name the
            output records (only used for the parameter summary and the charge).
        task_label: label stored in the result.
    """
    path = Path(path)
    if not path.is_file():
        raise ParseError(f"{path}: file not found")
    text = _read_text(path)
    if "CP2K| version string" not in text:
        raise ParseError(f"{path}: not a CP2K output (no 'CP2K| version string' header)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = _Cp2kOutput(str(path), auto_load=False)
            if out.input is None and input_file is not None:
                from pymatgen.io.cp2k.inputs import Cp2kInput

                out.input = Cp2kInput.from_file(str(input_file))
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"{path}: not a readable CP2K output ({type(exc).__name__}: {exc})") from exc

    run_type = str(out.run_type or "").upper()
    if run_type not in _SINGLE_POINT | _RELAX:
        raise ParseError(f"{path}: CP2K run type {run_type or '?'} is not a single point or relaxation (GEO_OPT, CELL_OPT)")
    relax = run_type in _RELAX

    completed = re.search(r"PROGRAM ENDED AT", text) is not None
    directory = path.parent
    project = str(out.data.get("global", {}).get("Project_name") or "*")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.parse_initial_structure()
            structure, structure_found = _final_structure(out, text, directory, project, relax)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"{path}: cannot read the structure ({type(exc).__name__}: {exc})") from exc

    energies = [float(e) * Ha_to_eV for e in re.findall(rf"ENERGY\| Total FORCE_EVAL \( \w+ \) energy [\[(]a\.u\.[\])]:\s+({_FLOAT})", text)]
    if not energies:
        raise ParseError(f"{path}: no 'Total FORCE_EVAL energy' (the run stopped before the first SCF ended)")
    energy = energies[-1]

    scf_last = scf_converged_last(text)
    n_scf_failed = len(re.findall(r"SCF run NOT converged", text))
    geo_done = "GEOMETRY OPTIMIZATION COMPLETED" in text
    geo_max = "MAXIMUM NUMBER OF OPTIMIZATION STEPS REACHED" in text
    errors = []
    if not completed:
        errors.append("CP2K did not finish (no 'PROGRAM ENDED' line: crashed, killed or still running)")
    if scf_last is False:
        errors.append(f"SCF not converged (last SCF; {n_scf_failed} unconverged SCF cycle(s) in the run)")
    if relax and (geo_max or not geo_done):
        errors.append(
            "geometry optimisation not converged: maximum number of steps reached"
            if geo_max
            else "geometry optimisation not completed"
        )
    if not structure_found:
        errors.append(f"final structure unknown (no {project}-pos-1.xyz trajectory beside the output): initial structure returned")
    converged = completed and scf_last is not False and (not relax or (geo_done and not geo_max)) and structure_found

    n_steps = len(re.findall(r"OPTIMIZATION STEP:", text)) if relax else 0
    version = (out.data.get("cp2k_version") or [[None]])[0][0]
    version = str(version).replace("CP2K version", "").strip() if version else None
    try:
        parameters = _input_summary(out)
    except Exception:  # a summary must never hide the result
        parameters = {"run_type": run_type}
    functional = parameters.get("functional")
    return CalcResult(
        structure=structure,
        energy=energy,
        forces=_final_forces(out, directory, project, len(structure)),
        stress=_stress_gpa(text),
        converged=converged,
        n_steps=n_steps,
        engine="cp2k",
        code="cp2k",
        code_version=version,
        model="+".join(functional) if isinstance(functional, list) else functional,
        parameters=parameters,
        task_label=task_label,
        error="; ".join(errors) or None,
        energy_trajectory=energies if relax else None,
        dir_name=str(directory.resolve()),
    )
