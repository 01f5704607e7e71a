"""ASE trajectories (``.traj``) and extended XYZ files into the result schema.

Reading is ASE's (:func:`ase.io.read`), structures go through pymatgen's
:class:`~pymatgen.io.ase.AseAtomsAdaptor` (``FixAtoms``/``FixCartesian`` constraints
become the ``selective_dynamics`` site property). This module adds the mapping:

- energy: the frame's potential energy (eV, whole cell);
- stress: ASE stores eV/Å³ in Voigt order with ASE's sign; converted to a 3x3 tensor in GPa;
- convergence: ASE files do not record it, so it is judged from the forces: a single
  frame is a single point (converged if it carries an energy); a trajectory of several
  frames is a relaxation, converged when the largest force on a free atom of the last
  frame is at most ``fmax`` (ASE's criterion); otherwise ``converged=False`` with the
  residual force in ``error``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.stress import voigt_6_to_full_3x3_stress
from pymatgen.io.ase import AseAtomsAdaptor

from interphases.errors import ParseError
from interphases.parsers.schema import CalcResult

__all__ = ["calc_result_from_atoms", "parse_ase_trajectory"]


def _frame_energy(atoms: Atoms) -> float | None:
    if atoms.calc is None:
        return None
    try:
        return float(atoms.get_potential_energy())
    except Exception:
        return None


def calc_result_from_atoms(
    atoms: Atoms,
    *,
    engine: str = "ase",
    code: str | None = None,
    code_version: str | None = None,
    model: str | None = None,
    converged: bool = True,
    n_steps: int = 0,
    error: str | None = None,
    parameters: dict[str, Any] | None = None,
    task_label: str | None = None,
    energy_trajectory: list[float] | None = None,
    dir_name: str | None = None,
) -> CalcResult:
    """A :class:`CalcResult` from an ``Atoms`` that carries a calculator's results."""
    energy = _frame_energy(atoms)
    if energy is None:
        raise ParseError("ASE Atoms has no potential energy (no calculator results attached)")
    results = atoms.calc.results if atoms.calc is not None else {}
    forces = results.get("forces")
    stress = results.get("stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
        stress = (stress / units.GPa).tolist()
    if code is None:
        name = getattr(atoms.calc, "name", None)
        code = name if name and name not in ("unknown", "singlepointcalculator") else "ase"
    return CalcResult(
        structure=AseAtomsAdaptor.get_structure(atoms),
        energy=energy,
        forces=np.asarray(forces, dtype=float).tolist() if forces is not None else None,
        stress=stress,
        converged=converged,
        n_steps=n_steps,
        engine=engine,
        code=code,
        code_version=code_version,
        model=model,
        parameters=parameters or {},
        task_label=task_label,
        error=error,
        energy_trajectory=energy_trajectory,
        dir_name=dir_name,
    )


def parse_ase_trajectory(
    path: str | Path,
    *,
    fmax: float = 0.05,
    engine: str = "ase",
    code: str | None = None,
    model: str | None = None,
    task_label: str | None = None,
) -> CalcResult:
    """An ASE ``.traj`` or extended-XYZ file (any format :func:`ase.io.read` knows) into a result.

    Args:
        path: the trajectory; its last frame is the result.
        fmax: force criterion (eV/Å) for a relaxation trajectory (several frames).
        engine, code, model: provenance to store (``code`` defaults to the calculator name
            recorded in the file, else ``"ase"``).
    """
    from ase.io import read

    path = Path(path)
    if not path.is_file():
        raise ParseError(f"{path}: file not found")
    try:
        frames = read(str(path), index=":")
    except Exception as exc:
        raise ParseError(f"{path}: not a readable ASE trajectory/extxyz ({type(exc).__name__}: {exc})") from exc
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        raise ParseError(f"{path}: no frames")
    energies = [_frame_energy(frame) for frame in frames]
    if energies[-1] is None:
        raise ParseError(f"{path}: the last frame has no energy")

    last = frames[-1]
    relax = len(frames) > 1
    converged, error = True, None
    if relax:
        result = calc_result_from_atoms(last, engine=engine, code=code, model=model)
        residual = result.max_force
        if residual is None:
            converged, error = False, "relaxation trajectory without forces: convergence unknown"
        elif residual > fmax:
            converged, error = False, f"largest force on a free atom {residual:.4f} eV/Å > fmax {fmax} eV/Å"
    return calc_result_from_atoms(
        last,
        engine=engine,
        code=code,
        model=model,
        converged=converged,
        n_steps=len(frames) - 1 if relax else 0,
        error=error,
        parameters={"fmax": fmax, "source": path.name} if relax else {"source": path.name},
        task_label=task_label,
        energy_trajectory=[e for e in energies if e is not None] if relax else None,
        dir_name=str(path.parent.resolve()),
    )
