"""Batched relaxation of many structures, and the sequential ASE reference.

:func:`relax_batch` relaxes N structures at once: one ASE optimiser per structure (FIRE
by default, same algorithm and parameters as ``ase.optimize.FIRE``), all structures
evaluated together once per step (see :mod:`interphases.potentials.lockstep`).
Convergence is per structure, on the largest force norm over the atoms free to move
(ASE's ``fmax``); converged structures leave the batch; a structure still above ``fmax``
after ``max_steps`` comes back with ``converged=False``.

Cell degrees of freedom (``cell=``):

- ``"fixed"``: positions only (energies + forces, no stress is computed);
- ``"full"``: positions and all six cell components through ASE's
  ``FrechetCellFilter`` (Kuhn & Kowalski-style log-deformation gradient), zero pressure;
- ``"z"``: positions and the out-of-plane strain only (``FrechetCellFilter`` mask
  ``[0, 0, 1, 0, 0, 0]`` in Voigt order xx yy zz yz xz xy): the in-plane lattice stays
  fixed, as for the strained-bulk references of an interface energy.

Frozen atoms are ASE constraints on the Atoms (see :mod:`conversion`); they do not move.

:func:`relax_sequential_ase` is the reference path: each structure gets its own ASE
calculator (the model's own, e.g. ``CHGNetCalculator``) and ``optimizer.run()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from interphases.errors import InterphasesError
from interphases.potentials.lockstep import LockstepJob, attach_results, make_optimizer, per_item, run_lockstep

if TYPE_CHECKING:
    from ase import Atoms

    from interphases.potentials.evaluate import Evaluation, Evaluator
    from interphases.potentials.registry import Model

__all__ = ["CELL_MODES", "RelaxOutcome", "cell_target", "relax_batch", "relax_sequential_ase"]

CellMode = Literal["fixed", "full", "z"]
CELL_MODES = ("fixed", "full", "z")

#: FrechetCellFilter masks (Voigt order xx yy zz yz xz xy)
_CELL_MASKS = {"full": None, "z": [0, 0, 1, 0, 0, 0]}


@dataclass
class RelaxOutcome:
    """Result of one relaxation.

    ``forces`` are the model's forces on every atom (frozen ones included), eV/Å;
    ``stress`` (Voigt, eV/Å^3, ASE sign) only when the cell relaxed; ``max_force`` is the
    optimiser's convergence measure at the end (largest per-atom force norm over free
    atoms; with a cell filter the cell "forces" are included, as in ASE).
    """

    atoms: Atoms
    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None
    converged: bool
    n_steps: int
    max_force: float | None
    energy_trajectory: list[float] = field(default_factory=list)
    error: str | None = None


def cell_target(atoms: Atoms, cell: str) -> Any:
    """What the optimiser moves: the Atoms, or a FrechetCellFilter for cell relaxation."""
    if cell not in CELL_MODES:
        raise InterphasesError(f"unknown cell mode {cell!r}: use 'fixed', 'full' or 'z'")
    if cell == "fixed":
        return atoms
    from ase.filters import FrechetCellFilter

    return FrechetCellFilter(atoms, mask=_CELL_MASKS[cell])


def _cell_modes(cell: str | Sequence[str], n: int) -> list[str]:
    modes = [cell] * n if isinstance(cell, str) else list(cell)
    if len(modes) != n:
        raise InterphasesError("give one cell mode per structure, or one for all")
    for mode in modes:
        if mode not in CELL_MODES:
            raise InterphasesError(f"unknown cell mode {mode!r}: use 'fixed', 'full' or 'z'")
    return modes


class _RelaxJob(LockstepJob):
    def __init__(self, atoms: Atoms, cell: str, optimizer: str, optimizer_kwargs: dict[str, Any]) -> None:
        self.atoms = atoms
        self.cell = cell
        super().__init__(make_optimizer(optimizer, cell_target(atoms, cell), **optimizer_kwargs))
        self.energies: list[float] = []
        self.last: Evaluation | None = None

    def pending(self) -> list[tuple[Atoms, bool]]:
        return [(self.atoms, self.cell != "fixed")]

    def receive(self, results: list[Evaluation]) -> None:
        (result,) = results
        attach_results(self.atoms, result)
        self.energies.append(result.energy)
        self.last = result

    def outcome(self) -> RelaxOutcome:
        last = self.last
        return RelaxOutcome(
            atoms=self.atoms,
            energy=last.energy if last is not None else float("nan"),
            forces=last.forces if last is not None else None,
            stress=last.stress if last is not None and self.cell != "fixed" else None,
            converged=self.converged,
            n_steps=self.n_steps,
            max_force=self.max_force,
            energy_trajectory=list(self.energies),
            error=self.error,
        )


def relax_batch(
    atoms_list: Sequence[Atoms],
    evaluator: Evaluator,
    *,
    cell: CellMode | Sequence[CellMode] = "fixed",
    fmax: float | Sequence[float] = 0.05,
    max_steps: int = 300,
    optimizer: str = "FIRE",
    optimizer_kwargs: dict[str, Any] | None = None,
) -> list[RelaxOutcome]:
    """Relax all ``atoms_list`` together (they are modified in place and returned).

    Args:
        atoms_list: structures with their frozen atoms as ASE constraints.
        evaluator: see :mod:`interphases.potentials.evaluate` (``model.evaluator()``).
        cell: ``"fixed"``, ``"full"`` or ``"z"``, for all or one per structure.
        fmax: eV/Å, convergence threshold (ASE meaning), for all or one per structure.
        max_steps: optimiser steps at most; beyond, ``converged=False``.
        optimizer: ``"FIRE"`` (default), ``"BFGS"``, ``"LBFGS"`` or ``"MDMin"``.
        optimizer_kwargs: passed to the ASE optimiser (``maxstep``, ``dt``, ...).
    """
    modes = _cell_modes(cell, len(atoms_list))
    kwargs = dict(optimizer_kwargs or {})
    jobs = [_RelaxJob(atoms, mode, optimizer, kwargs) for atoms, mode in zip(atoms_list, modes, strict=True)]
    from interphases.progress import watch  # progress hook: a no-op unless the CLI shows progress

    thresholds = per_item(fmax, len(jobs), "fmax")
    run_lockstep(jobs, watch(evaluator, jobs, min(thresholds, default=0.0), "relax", max_steps), fmax=thresholds,
                 max_steps=max_steps)
    return [job.outcome() for job in jobs]


def relax_sequential_ase(
    atoms_list: Sequence[Atoms],
    model: Model,
    *,
    cell: CellMode | Sequence[CellMode] = "fixed",
    fmax: float | Sequence[float] = 0.05,
    max_steps: int = 300,
    optimizer: str = "FIRE",
    optimizer_kwargs: dict[str, Any] | None = None,
) -> list[RelaxOutcome]:
    """Reference path: one structure after the other, the model's own ASE calculator and
    ``optimizer.run(fmax, steps=max_steps)`` (what atomate2 and CHGNet's StructOptimizer do)."""
    modes = _cell_modes(cell, len(atoms_list))
    kwargs = dict(optimizer_kwargs or {})
    outcomes = []
    for atoms, mode, threshold in zip(atoms_list, modes, per_item(fmax, len(atoms_list), "fmax"), strict=True):
        atoms.calc = model.calculator()
        target = cell_target(atoms, mode)
        opt = make_optimizer(optimizer, target, **kwargs)
        energies: list[float] = []
        opt.attach(lambda a=atoms: energies.append(float(a.get_potential_energy())))
        error = None
        try:
            converged = bool(opt.run(fmax=threshold, steps=max_steps))
        except Exception as exc:  # noqa: BLE001 - report, do not lose the other structures
            converged, error = False, f"{type(exc).__name__}: {exc}"
        forces = stress = None
        energy, fmax_now = float("nan"), None
        if error is None:
            energy = float(atoms.get_potential_energy())
            forces = np.array(atoms.get_forces(apply_constraint=False))
            if mode != "fixed":
                stress = np.array(atoms.get_stress())
            optimizable = opt.optimizable
            fmax_now = float(optimizable.gradient_norm(optimizable.get_gradient()))
        outcomes.append(
            RelaxOutcome(atoms, energy, forces, stress, converged, opt.nsteps, fmax_now, energies, error)
        )
    return outcomes
