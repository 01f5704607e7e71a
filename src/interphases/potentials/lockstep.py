"""Run many ASE optimisers in lock-step with one batched evaluation per step.

The batched relaxation and the batched NEB do not re-implement FIRE or BFGS: each
structure (or each NEB band) gets its own, unmodified ASE optimiser (``ase.optimize.FIRE``,
``BFGS``, ``LBFGS``, ``MDMin``) with its own state (velocities, time step, Hessian).
What changes is *who evaluates the forces*: instead of each optimiser calling its
calculator, the driver

1. collects the structures that moved since the last step from every unfinished job,
2. evaluates them all in one :meth:`Evaluator.evaluate` call (grouped into model calls
   by the evaluator),
3. attaches the results as ``SinglePointCalculator`` s, so the optimiser, a cell filter
   (``FrechetCellFilter``) or ``ase.mep.NEB`` read energies/forces/stresses from them,
4. checks each job's convergence exactly as ``ase.optimize.Optimizer.irun`` does
   (``optimizable.converged(gradient, fmax)``: the largest per-atom force norm, frozen
   atoms zeroed by their constraints, cell degrees of freedom included for filters),
5. calls ``optimizer.step()`` on the jobs that are neither converged nor out of steps.

Converged jobs and jobs at ``max_steps`` leave the batch; the rest go on. With an exact
evaluator, every job follows the same trajectory as ``optimizer.run(fmax, steps)`` would
(tested against sequential ASE on EMT). A ``SinglePointCalculator`` raises if an optimiser
asks for forces at positions that were not evaluated, so an optimiser needing several
evaluations per step (line searches) cannot silently get stale forces; those are refused.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ase.calculators.singlepoint import SinglePointCalculator

from interphases.errors import InterphasesError
from interphases.potentials.evaluate import Evaluation, EvaluationFailed

if TYPE_CHECKING:
    from ase import Atoms
    from ase.optimize.optimize import Optimizer

    from interphases.potentials.evaluate import Evaluator

__all__ = ["LockstepJob", "OPTIMIZERS", "make_optimizer", "run_lockstep"]

#: ASE optimisers that take exactly one gradient per step (safe to drive in lock-step)
OPTIMIZERS = ("FIRE", "BFGS", "LBFGS", "MDMin")


def make_optimizer(name: str, target: Any, **kwargs: Any) -> Optimizer:
    """An ASE optimiser by name, silent (no log file)."""
    from ase import optimize

    canonical = {o.lower(): o for o in OPTIMIZERS}.get(str(name).lower())
    if canonical is None:
        raise InterphasesError(
            f"optimizer {name!r} is not supported: use one of {', '.join(OPTIMIZERS)} "
            "(line-search optimisers evaluate several times per step)"
        )
    kwargs.setdefault("logfile", None)
    return getattr(optimize, canonical)(target, **kwargs)


def attach_results(atoms: Atoms, result: Evaluation) -> None:
    """Give ``atoms`` a SinglePointCalculator holding ``result`` for its current positions."""
    atoms.calc = SinglePointCalculator(
        atoms,
        energy=result.energy,
        free_energy=result.energy,
        forces=result.forces,
        stress=result.stress,
    )


class LockstepJob(ABC):
    """One optimisation (a structure or an NEB band) driven by :func:`run_lockstep`."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.n_steps = 0
        self.converged = False
        self.finished = False
        self.error: str | None = None
        self.max_force: float | None = None

    @abstractmethod
    def pending(self) -> list[tuple[Atoms, bool]]:
        """Structures to evaluate now, each with 'needs stress'."""

    @abstractmethod
    def receive(self, results: list[Evaluation]) -> None:
        """Attach the results of :meth:`pending` (same order)."""

    def check_converged(self, fmax: float) -> bool:
        optimizable = self.optimizer.optimizable
        gradient = optimizable.get_gradient()
        self.max_force = float(optimizable.gradient_norm(gradient))
        return bool(optimizable.converged(gradient, fmax))

    def step(self) -> None:
        self.optimizer.step()
        self.optimizer.nsteps += 1
        self.n_steps += 1


def per_item(value: float | Sequence[float], n: int, name: str = "value") -> list[float]:
    """``value`` for each of ``n`` items: a number for all, or a sequence of ``n`` numbers."""
    if isinstance(value, (int, float)):
        return [float(value)] * n
    values = [float(v) for v in value]
    if len(values) != n:
        raise ValueError(f"{name}: {len(values)} values for {n} structures")
    return values


def run_lockstep(jobs: Sequence[LockstepJob], evaluator: Evaluator, *, fmax: float | Sequence[float],
                 max_steps: int) -> None:
    """Drive ``jobs`` to convergence (or ``max_steps``) with one evaluate() per step.

    ``fmax`` is one threshold for all jobs or one per job: jobs with different thresholds
    share the same evaluate() calls (fewer, fuller calls than one loop per threshold)."""
    thresholds = per_item(fmax, len(jobs), "fmax")
    target = {id(job): f for job, f in zip(jobs, thresholds, strict=True)}
    active = [job for job in jobs if not job.finished]
    while active:
        requests: list[tuple[LockstepJob, int]] = []
        atoms_batch: list[Atoms] = []
        stress_flags: list[bool] = []
        for job in active:
            pending = job.pending()
            requests.append((job, len(pending)))
            for atoms, need_stress in pending:
                atoms_batch.append(atoms)
                stress_flags.append(need_stress)
        results = evaluator.evaluate(atoms_batch, stress=stress_flags)

        still_active: list[LockstepJob] = []
        start = 0
        for job, n in requests:
            chunk = results[start : start + n]
            start += n
            failed = [r for r in chunk if isinstance(r, EvaluationFailed)]
            if failed:
                job.error = failed[0].error
                job.finished = True
                continue
            job.receive(chunk)  # type: ignore[arg-type]
            if job.check_converged(target[id(job)]):
                job.converged = True
                job.finished = True
            elif job.n_steps >= max_steps:
                job.finished = True
            else:
                job.step()
                still_active.append(job)
        active = still_active
