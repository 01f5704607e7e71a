"""Batched climbing-image NEB, and the plain ASE reference.

Method: nudged elastic band with the improved tangent (Henkelman & Jónsson, J. Chem.
Phys. 113, 9978 (2000)) and a climbing image (Henkelman, Uberuaga & Jónsson, J. Chem.
Phys. 113, 9901 (2000)). For interior image i with tangent τ_i (the improved tangent,
energy-weighted at extrema), PES force F_i and springs of constant k:

    F_i^NEB = F_i - (F_i·τ_i) τ_i + k (|R_{i+1} - R_i| - |R_i - R_{i-1}|) τ_i

and the climbing image (highest energy) feels F_c - 2 (F_c·τ_c) τ_c and no spring.

What is reused from ASE: ``ase.mep.NEB(method="improvedtangent")`` computes tangents,
spring and climbing forces and the convergence measure from energies/forces attached to
its images; an unmodified ASE optimiser (FIRE by default) moves each band. What is
written here: all interior images of all bands are evaluated together, once per
optimiser step, by the batched evaluator (:mod:`lockstep`). Plain ASE asks
``neb.get_forces()`` three times per step, which with one shared calculator recomputes
every image each time (matcalc's NEB: 6.7x slower than one calculator per image); here
each image is evaluated exactly once per step, with energies + forces only.

Climbing is on from the start (``climb_after_steps=0``) or switched on after that many
steps (or as soon as the plain band converges, whichever comes first). Convergence is
ASE's: largest per-atom NEB force norm over all interior images (climbing image included)
below ``fmax``. Frozen atoms (constraints on the images) do not move.

:func:`neb_sequential_ase` is the reference: ``NEB(images, k, climb, method=
"improvedtangent")`` with one model calculator per image (atomate2's way) or one shared
calculator (``shared_calculator=True``, matcalc's way), driven by ``optimizer.run``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from interphases.errors import InvalidStructureError
from interphases.potentials.interpolate import reaction_coordinate
from interphases.potentials.lockstep import LockstepJob, attach_results, make_optimizer, run_lockstep

if TYPE_CHECKING:
    from ase import Atoms

    from interphases.potentials.evaluate import Evaluation, Evaluator
    from interphases.potentials.registry import Model

__all__ = ["NEBOutcome", "neb_batch", "neb_sequential_ase"]


@dataclass
class NEBOutcome:
    """One band: images (endpoints included), their energies (eV) and model forces (eV/Å)."""

    images: list[Atoms]
    energies: list[float]
    forces: list[np.ndarray] | None
    converged: bool
    n_steps: int
    climbing_image: int | None
    max_force: float | None
    reaction_coordinate: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def barrier_forward(self) -> float:
        """max(E) - E(first image), eV."""
        return float(max(self.energies) - self.energies[0])

    @property
    def barrier_backward(self) -> float:
        """max(E) - E(last image), eV."""
        return float(max(self.energies) - self.energies[-1])


def _check_path(images: Sequence[Atoms], index: int) -> None:
    if len(images) < 3:
        raise InvalidStructureError(f"NEB path {index} has {len(images)} images: give the endpoints and at least one image")
    first = images[0]
    for image in images[1:]:
        if len(image) != len(first) or (image.numbers != first.numbers).any():
            raise InvalidStructureError(f"NEB path {index}: all images must have the same atoms in the same order")
        if not np.allclose(image.cell.array, first.cell.array, atol=1e-6):
            raise InvalidStructureError(f"NEB path {index}: all images must have the same lattice (NEB is fixed-cell)")


@functools.cache
def _cached_dyneb():
    """ASE's DyNEB whose "which images are converged" test reuses the NEB forces of the
    last ``get_forces()`` call. ASE's own ``DyNEB.set_positions`` recomputes them for every
    image in turn, after the earlier images have moved, which costs extra force calls on
    those images (and would read stale single-point results here)."""
    from ase.mep.neb import DyNEB

    class CachedDyNEB(DyNEB):
        _last_forces: np.ndarray | None = None

        def get_forces(self):
            forces = super().get_forces()
            self._last_forces = forces.copy()
            return forces

        def _fmax_all(self, images):
            n = self.natoms
            f = self._last_forces if self._last_forces is not None else self.get_forces()
            return [float(np.sqrt((f[n * i : n * (i + 1)] ** 2).sum(axis=1)).max()) for i in range(self.nimages - 2)]

    return CachedDyNEB


class _NEBJob(LockstepJob):
    def __init__(
        self,
        images: list[Atoms],
        *,
        k: float | Sequence[float],
        climb: bool,
        climb_after_steps: int,
        optimizer: str,
        optimizer_kwargs: dict[str, Any],
        method: str,
        dynamic_relaxation: bool = False,
        fmax: float = 0.05,
    ) -> None:
        from ase.mep import NEB

        self.images = images
        climb_now = climb and climb_after_steps <= 0
        if dynamic_relaxation:
            self.neb = _cached_dyneb()(images, k=k, fmax=fmax, climb=climb_now, method=method, dynamic_relaxation=True)
        else:
            self.neb = NEB(images, k=k, climb=climb_now, method=method)
        self.climb_pending = climb and climb_after_steps > 0
        self.climb_after_steps = climb_after_steps
        super().__init__(make_optimizer(optimizer, self.neb, **optimizer_kwargs))
        self.results: list[Evaluation | None] = [None] * len(images)
        self._endpoints_done = False

    def _targets(self) -> list[int]:
        # endpoints once, in the first batch; then the interior images that moved (all of
        # them, except converged ones frozen by dynamic relaxation)
        if not self._endpoints_done:
            return list(range(len(self.images)))
        return [
            i
            for i in range(1, len(self.images) - 1)
            if self.images[i].calc is None or self.images[i].calc.check_state(self.images[i])
        ]

    def pending(self) -> list[tuple[Atoms, bool]]:
        self._pending = self._targets()
        return [(self.images[i], False) for i in self._pending]

    def receive(self, results: list[Evaluation]) -> None:
        for i, result in zip(self._pending, results, strict=True):
            attach_results(self.images[i], result)
            self.results[i] = result
        self._endpoints_done = True

    def check_converged(self, fmax: float) -> bool:
        converged = super().check_converged(fmax)
        if self.climb_pending and (converged or self.n_steps >= self.climb_after_steps):
            self.neb.climb = True
            self.climb_pending = False
            converged = super().check_converged(fmax)
        return converged

    def outcome(self) -> NEBOutcome:
        done = all(r is not None for r in self.results)
        energies = [r.energy for r in self.results] if done else []
        return NEBOutcome(
            images=self.images,
            energies=energies,
            forces=[r.forces for r in self.results] if done else None,
            converged=self.converged,
            n_steps=self.n_steps,
            climbing_image=int(self.neb.imax) if (self.neb.climb and done) else None,
            max_force=self.max_force,
            reaction_coordinate=reaction_coordinate(self.images),
            error=self.error,
        )


def neb_batch(
    paths: Sequence[Sequence[Atoms]],
    evaluator: Evaluator,
    *,
    k: float | Sequence[float] = 0.1,
    climb: bool = True,
    climb_after_steps: int = 0,
    fmax: float = 0.05,
    max_steps: int = 500,
    optimizer: str = "FIRE",
    optimizer_kwargs: dict[str, Any] | None = None,
    method: str = "improvedtangent",
    dynamic_relaxation: bool = False,
) -> list[NEBOutcome]:
    """Climbing-image NEB of every path at once (images are moved in place).

    Args:
        paths: each a list of Atoms, endpoints included (``interpolate_atoms`` makes one).
        evaluator: the batched evaluator (``model.evaluator()``); all moving images of all
            unfinished bands go into one ``evaluate`` call per step.
        k: spring constant(s), eV/Å^2 (one per spring, or one for all).
        climb: use a climbing image; ``climb_after_steps`` delays it (0 = from the start).
        fmax: eV/Å, convergence on the largest NEB force (ASE meaning).
        max_steps: optimiser steps at most; beyond, ``converged=False``.
        optimizer: ``"FIRE"`` (default), ``"BFGS"``, ``"LBFGS"``, ``"MDMin"``.
        method: ASE NEB method; ``"improvedtangent"`` (default and recommended).
        dynamic_relaxation: freeze images whose NEB force is already below ``fmax`` (and
            do not evaluate them) until their neighbours' moves push them above it again:
            ASE's DyNEB (Lindgren, Kastlunger & Peterson, J. Chem. Theory Comput. 15, 5787
            (2019)). Fewer force calls; same convergence criterion on every image.
    """
    for i, images in enumerate(paths):
        _check_path(images, i)
    kwargs = dict(optimizer_kwargs or {})
    jobs = [
        _NEBJob(
            list(images),
            k=k,
            climb=climb,
            climb_after_steps=climb_after_steps,
            optimizer=optimizer,
            optimizer_kwargs=kwargs,
            method=method,
            dynamic_relaxation=dynamic_relaxation,
            fmax=fmax,
        )
        for images in paths
    ]
    from interphases.progress import watch  # progress hook: a no-op unless the CLI shows progress

    run_lockstep(jobs, watch(evaluator, jobs, fmax, "neb", max_steps), fmax=fmax, max_steps=max_steps)
    return [job.outcome() for job in jobs]


def neb_sequential_ase(
    paths: Sequence[Sequence[Atoms]],
    model: Model,
    *,
    k: float | Sequence[float] = 0.1,
    climb: bool = True,
    climb_after_steps: int = 0,
    fmax: float = 0.05,
    max_steps: int = 500,
    optimizer: str = "FIRE",
    optimizer_kwargs: dict[str, Any] | None = None,
    method: str = "improvedtangent",
    shared_calculator: bool = False,
) -> list[NEBOutcome]:
    """Reference: plain ASE NEB + optimiser.run, one path after the other.

    ``shared_calculator=False`` gives every image its own model calculator (atomate2);
    ``True`` shares one (matcalc; much slower, see the module docstring).
    """
    from ase.mep import NEB

    kwargs = dict(optimizer_kwargs or {})
    outcomes = []
    for i, images in enumerate(paths):
        _check_path(images, i)
        images = list(images)
        if shared_calculator:
            calc = model.calculator()
            for image in images:
                image.calc = calc
        else:
            for image in images:
                image.calc = model.calculator()
        neb = NEB(
            images,
            k=k,
            climb=climb and climb_after_steps <= 0,
            method=method,
            allow_shared_calculator=shared_calculator,
        )
        opt = make_optimizer(optimizer, neb, **kwargs)
        error = None
        converged = False
        try:
            if climb and climb_after_steps > 0:
                opt.run(fmax=fmax, steps=min(climb_after_steps, max_steps))
                neb.climb = True
            converged = bool(opt.run(fmax=fmax, steps=max(0, max_steps - opt.nsteps)))
        except Exception as exc:  # noqa: BLE001 - report it in the outcome
            error = f"{type(exc).__name__}: {exc}"
        energies = [float(e) for e in neb.energies] if neb.energies is not None else []
        forces = [np.array(f) for f in neb.real_forces] if neb.real_forces is not None else None
        max_force = None
        # (skipped with a shared calculator: it would re-evaluate every image)
        if forces is not None and error is None and not shared_calculator:
            # ASE NEB keeps zeros for the endpoints' real forces: fill them from the calculators
            forces[0] = np.array(images[0].get_forces(apply_constraint=False))
            forces[-1] = np.array(images[-1].get_forces(apply_constraint=False))
            optimizable = opt.optimizable
            max_force = float(optimizable.gradient_norm(optimizable.get_gradient()))
        outcomes.append(
            NEBOutcome(
                images=images,
                energies=energies,
                forces=forces,
                converged=converged,
                n_steps=opt.nsteps,
                climbing_image=int(neb.imax) if neb.climb and error is None else None,
                max_force=max_force,
                reaction_coordinate=reaction_coordinate(images),
                error=error,
            )
        )
    return outcomes
