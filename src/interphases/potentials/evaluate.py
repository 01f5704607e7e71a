"""Evaluation engine: energies, forces and (only when asked) stresses of many structures.

An :class:`Evaluator` takes a list of ASE ``Atoms`` and returns one :class:`Evaluation`
per structure. Every batched optimiser and the batched NEB call :meth:`Evaluator.evaluate`
exactly once per optimiser step with all the structures (or NEB images) that moved, so
the evaluator alone decides how to group them into model calls. It is swappable: a
TorchSim- or GPU-specific evaluator only has to implement ``evaluate``.

Two implementations:

- :class:`CHGNetEvaluator` calls the CHGNet network directly (not through its ASE
  calculator) and computes only what is asked for:

  * energies + forces (``task="ef"``) unless a stress is requested: skipping the strain
    graph and the stress derivative is 1.45-1.65x on CPU (measured on this machine);
  * forces as F = -dE/dr with ``create_graph=False`` (CHGNet's own ``_compute`` keeps the
    graph for a second derivative it only needs in training; 1.05-1.10x);
  * the network evaluated with the first layer of each gated MLP factorised over atoms
    and bonds (:mod:`chgnet_fast`, 1.5x on a 53-atom cell) and the graph built with numpy
    (:mod:`chgnet_graph`, 30x faster than CHGNet's Python loops, same arrays);
  * structures grouped ``batch_size`` at a time into one ``BatchedGraph`` forward pass;
    structures that need a stress always go alone (a batched CHGNet call with stress is
    0.36-0.69x on CPU).

  Energies equal those of ``chgnet.model.dynamics.CHGNetCalculator`` to float32 round-off
  (E = N * (e_model + e_composition), the same per-atom energy times the number of atoms)
  and forces to ~1e-5 eV/Å (tested).

- :class:`CalculatorEvaluator` runs any ASE calculator structure by structure (SevenNet,
  EMT, Lennard-Jones, a user's calculator), asking for ``stress`` only when needed.

Default grouping (``batch_size=None``): on a GPU, 32 structures per call; on a CPU, one
structure per call, because batching several CHGNet graphs on this 2-core CPU gains
1.0-1.15x at best and was measured slower for NEB images (see ``bench_potentials.py``).

Threads (CPU): ``num_threads`` = T (default ``OMP_NUM_THREADS`` when set, else the cores
this process may use) is used in one of two ways, chosen per workload by measurement
(CHGNet, 32-52-atom Li | LiF interfaces, this 2-core machine, ratios against one thread,
issue 16; ``parallel_structures``):

- several structures in one call (the default, ``parallel_structures=True``): T worker
  threads, one core each (torch releases the GIL inside its ops). Energy-only calls
  (registry scans): 1.67-1.68x idle or loaded, where 2 intra-op threads gave 0.90-0.99x.
  Calls with forces (relaxation and NEB steps): 1.01x on an idle machine (2 intra-op
  threads: 1.45x) but 1.29x with the machine loaded by other jobs, where 2 intra-op
  threads stalled at 0.18x (5x slower than one thread): workers are never slower than
  one thread, OpenMP threads can be much slower on shared cores, hence the default;
- a call with a single structure uses T intra-op threads (1.5x idle).

``parallel_structures=False`` runs every call on T intra-op threads (a dedicated machine,
force-heavy work); ``"auto"``: workers for energy-only calls, intra-op threads for force
calls (the idle-machine optimum).

Written here because no library does it: CHGNet's ``predict_structure`` always builds the
second-derivative graph and ASE calculators evaluate one structure at a time.
"""

from __future__ import annotations

import os
import time
import warnings
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from interphases.errors import CalculationError, InvalidStructureError

if TYPE_CHECKING:
    from ase import Atoms

    from interphases.potentials.registry import Model

__all__ = [
    "CHGNetEvaluator",
    "CalculatorEvaluator",
    "Evaluation",
    "EvaluationFailed",
    "Evaluator",
    "EvaluatorCalculator",
    "EvaluatorStats",
    "configure_threads",
    "default_num_threads",
    "make_evaluator",
]

@dataclass
class Evaluation:
    """Energy (eV, whole cell), forces (eV/Å, no constraint applied; ``None`` for an
    energy-only evaluation) and, when asked, stress (Voigt order xx yy zz yz xz xy, eV/Å^3,
    ASE sign convention) of one structure."""

    energy: float
    forces: np.ndarray | None
    stress: np.ndarray | None = None


@dataclass
class EvaluationFailed:
    """The model could not evaluate one structure (the others of the batch go on)."""

    error: str


@dataclass
class EvaluatorStats:
    """Counters for benchmarks: model calls and where the time went (seconds)."""

    n_calls: int = 0
    n_structures: int = 0
    #: structures evaluated with forces (a backward pass) / energy only (forward only)
    n_force_structures: int = 0
    n_energy_only: int = 0
    n_atoms: int = 0
    seconds_total: float = 0.0
    seconds_inputs: float = 0.0
    seconds_model: float = 0.0

    def reset(self) -> None:
        self.n_calls = self.n_structures = self.n_atoms = 0
        self.n_force_structures = self.n_energy_only = 0
        self.seconds_total = self.seconds_inputs = self.seconds_model = 0.0


def default_num_threads() -> int:
    """``OMP_NUM_THREADS`` if set, else the number of cores this process may run on."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.strip().isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


def configure_threads(num_threads: int | None = None) -> int:
    """Set torch's intra-op thread count (``None`` -> :func:`default_num_threads`)."""
    import torch

    n = int(num_threads) if num_threads else default_num_threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


class Evaluator(ABC):
    """Energies and forces (and stresses on request) of many structures per call."""

    def __init__(self, model: Model, *, batch_size: int | None = None, num_threads: int | None = None) -> None:
        self.model = model
        self.num_threads = num_threads
        self.batch_size = batch_size if batch_size is not None else self.default_batch_size()
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.stats = EvaluatorStats()

    def default_batch_size(self) -> int:
        return 1

    def evaluate(
        self, atoms_list: Sequence[Atoms], *, stress: bool | Sequence[bool] = False, forces: bool = True
    ) -> list[Evaluation | EvaluationFailed]:
        """Evaluate every structure once; ``stress`` per structure or for all.

        ``forces=False``: energies only (``Evaluation.forces`` is None, no stress). For
        CHGNet this is a forward pass under ``torch.no_grad`` with no force backward
        (2.5-2.7x cheaper on this CPU): what a registry scan needs.

        A structure the model cannot evaluate comes back as :class:`EvaluationFailed`
        (the others are unaffected), so a batched relaxation loses nothing computed.
        """
        n = len(atoms_list)
        if n == 0:
            return []
        flags = [bool(stress)] * n if isinstance(stress, bool | np.bool_) else [bool(s) for s in stress]
        if len(flags) != n:
            raise ValueError("one stress flag per structure expected")
        if not forces and any(flags):
            raise ValueError("a stress needs the backward pass: ask for forces=True")
        t0 = time.perf_counter()
        out = self._evaluate(list(atoms_list), flags) if forces else self._evaluate_energies(list(atoms_list))
        self.stats.seconds_total += time.perf_counter() - t0
        self.stats.n_structures += n
        if forces:
            self.stats.n_force_structures += n
        else:
            self.stats.n_energy_only += n
        self.stats.n_atoms += sum(len(a) for a in atoms_list)
        return out

    @abstractmethod
    def _evaluate(self, atoms_list: list[Atoms], stress: list[bool]) -> list[Evaluation | EvaluationFailed]: ...

    def _evaluate_energies(self, atoms_list: list[Atoms]) -> list[Evaluation | EvaluationFailed]:
        """Energies only; default: the full evaluation with the forces dropped."""
        out = self._evaluate(atoms_list, [False] * len(atoms_list))
        return [Evaluation(r.energy, None) if isinstance(r, Evaluation) else r for r in out]


class CalculatorEvaluator(Evaluator):
    """Any ASE calculator, one structure per call.

    Each structure (each Atoms object, e.g. one NEB image or one structure being relaxed)
    keeps its own calculator from ``model.calculator()`` (weights shared), so calculators
    that keep state between calls (EMT's and LJ's neighbour lists) update it instead of
    rebuilding it, as in a plain ASE run.
    """

    def __init__(self, model: Model, *, batch_size: int | None = None, num_threads: int | None = None) -> None:
        super().__init__(model, batch_size=1 if batch_size is None else batch_size, num_threads=num_threads)
        self._calculators: dict[int, tuple[weakref.ref, Calculator]] = {}

    def calculator_for(self, atoms: Atoms) -> Calculator:
        """The calculator dedicated to this Atoms object (created on first use)."""
        entry = self._calculators.get(id(atoms))
        if entry is not None and entry[0]() is atoms:
            return entry[1]
        if len(self._calculators) > 512:  # forget calculators of structures that are gone
            self._calculators = {k: v for k, v in self._calculators.items() if v[0]() is not None}
        calc = self.model.calculator()
        self._calculators[id(atoms)] = (weakref.ref(atoms), calc)
        return calc

    def _evaluate(self, atoms_list: list[Atoms], stress: list[bool]) -> list[Evaluation | EvaluationFailed]:
        if self.model.torch_model is not None:
            configure_threads(self.num_threads)
        out: list[Evaluation | EvaluationFailed] = []
        for atoms, need_stress in zip(atoms_list, stress, strict=True):
            calc = self.calculator_for(atoms)
            t0 = time.perf_counter()
            try:
                # get_property recomputes only what changed since this calculator's last call
                energy = float(calc.get_property("energy", atoms))
                forces = np.array(calc.get_property("forces", atoms), dtype=float)
                s = None
                if need_stress:
                    s = np.array(calc.get_property("stress", atoms), dtype=float)
                    if s.shape == (3, 3):
                        s = s[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
                out.append(Evaluation(energy, forces, s))
            except Exception as exc:  # noqa: BLE001 - one bad structure must not sink the batch
                out.append(EvaluationFailed(f"{type(exc).__name__}: {exc}"))
            self.stats.seconds_model += time.perf_counter() - t0
            self.stats.n_calls += 1
        return out

    def _evaluate_energies(self, atoms_list: list[Atoms]) -> list[Evaluation | EvaluationFailed]:
        if self.model.torch_model is not None:
            configure_threads(self.num_threads)
        out: list[Evaluation | EvaluationFailed] = []
        for atoms in atoms_list:
            calc = self.calculator_for(atoms)
            t0 = time.perf_counter()
            try:
                # only the energy is asked: calculators that can skip forces do
                out.append(Evaluation(float(calc.get_property("energy", atoms)), None))
            except Exception as exc:  # noqa: BLE001 - one bad structure must not sink the batch
                out.append(EvaluationFailed(f"{type(exc).__name__}: {exc}"))
            self.stats.seconds_model += time.perf_counter() - t0
            self.stats.n_calls += 1
        return out


class CHGNetEvaluator(Evaluator):
    """CHGNet forward + force backward, only what is asked, ``batch_size`` graphs per call."""

    def __init__(
        self,
        model: Model,
        *,
        batch_size: int | None = None,
        num_threads: int | None = None,
        max_batch_atoms: int | None = None,
        parallel_structures: bool | str = True,
        factorized: bool = True,
    ) -> None:
        super().__init__(model, batch_size=batch_size, num_threads=num_threads)
        self.net = model.torch_model
        from interphases.potentials import chgnet_fast

        # first MLP layers factorised (chgnet_fast), when the network has CHGNet's layers
        self.factorized = factorized and chgnet_fast.supports(self.net)
        self.device = model.device
        self.max_batch_atoms = max_batch_atoms
        self.parallel_structures = parallel_structures
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0

    def default_batch_size(self) -> int:
        return 32 if str(self.model.device).startswith("cuda") else 1

    # -- inputs
    def _graph(self, atoms: Atoms):
        """CHGNet crystal graph of ``atoms``: the converter's graph, built with numpy."""
        from pymatgen.core import Lattice, Structure

        from interphases.potentials.chgnet_graph import crystal_graph

        structure = Structure(
            Lattice(np.asarray(atoms.cell), pbc=tuple(bool(p) for p in atoms.pbc)),
            atoms.numbers,
            atoms.positions,
            coords_are_cartesian=True,
        )
        return crystal_graph(self.net.graph_converter, structure)

    def _groups(self, atoms_list: list[Atoms], stress: list[bool]) -> list[list[int]]:
        groups: list[list[int]] = []
        current: list[int] = []
        n_atoms = 0
        for i, (atoms, need_stress) in enumerate(zip(atoms_list, stress, strict=True)):
            if need_stress:  # never batch stress with CHGNet (0.36-0.69x on CPU)
                groups.append([i])
                continue
            too_many_atoms = self.max_batch_atoms is not None and current and n_atoms + len(atoms) > self.max_batch_atoms
            if len(current) >= self.batch_size or too_many_atoms:
                groups.append(current)
                current, n_atoms = [], 0
            current.append(i)
            n_atoms += len(atoms)
        if current:
            groups.append(current)
        return groups

    def _evaluate_energies(self, atoms_list: list[Atoms]) -> list[Evaluation | EvaluationFailed]:
        return self._evaluate(atoms_list, [False] * len(atoms_list), forces=False)

    def _evaluate(
        self, atoms_list: list[Atoms], stress: list[bool], forces: bool = True
    ) -> list[Evaluation | EvaluationFailed]:
        groups = self._groups(atoms_list, stress)
        n_threads = int(self.num_threads) if self.num_threads else default_num_threads()
        # "auto": workers for energy-only calls, intra-op threads when forces are computed (measured, see above)
        parallel = (not forces) if self.parallel_structures == "auto" else bool(self.parallel_structures)
        workers = min(n_threads, len(groups)) if parallel and self.device == "cpu" else 1
        out: list[Evaluation | EvaluationFailed | None] = [None] * len(atoms_list)
        t0 = time.perf_counter()
        if workers > 1:
            # independent structures on independent cores: one intra-op thread per worker
            # (torch ops release the GIL). Scales better than OpenMP threads inside one
            # structure, and does not stall when the cores are shared with other jobs.
            configure_threads(1)
            if self._pool is None or self._pool_size != workers:
                if self._pool is not None:
                    self._pool.shutdown(wait=False)
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chgnet-eval")
                self._pool_size = workers
            try:
                done = list(self._pool.map(lambda g: self._run_group_safe(atoms_list, stress, g, forces), groups))
            finally:
                configure_threads(n_threads)  # leave the process as configured
        else:
            configure_threads(n_threads)
            done = [self._run_group_safe(atoms_list, stress, g, forces) for g in groups]
        wall = time.perf_counter() - t0
        busy = sum(t_in + t_model for _, _, t_in, t_model in done) or 1.0
        for group, results, t_in, t_model in done:
            for i, res in zip(group, results, strict=True):
                out[i] = res
            # wall-clock share of graph building and of the model (workers overlap)
            self.stats.seconds_inputs += wall * t_in / busy
            self.stats.seconds_model += wall * t_model / busy
        self.stats.n_calls += len(groups)
        return out  # type: ignore[return-value]

    def _run_group_safe(self, atoms_list: list[Atoms], stress: list[bool], group: list[int], forces: bool = True):
        """Evaluate one group; a structure that fails is isolated and reported, not raised."""
        import torch

        # denormal floats (from smooth cutoffs) are slow on x86 and carry no information;
        # the flag is per thread (MXCSR) and torch cannot report its previous value
        torch.set_flush_denormal(True)
        try:
            try:
                results, t_in, t_model = self._run_group([atoms_list[i] for i in group], stress[group[0]], forces)
                return group, results, t_in, t_model
            except (InvalidStructureError, CalculationError) as exc:
                if len(group) == 1:
                    return group, [EvaluationFailed(str(exc))], 0.0, 0.0
            # isolate the structure that failed; the others are evaluated on their own
            results, t_in, t_model = [], 0.0, 0.0
            for i in group:
                try:
                    (res,), a, b = self._run_group([atoms_list[i]], stress[i], forces)
                    results.append(res)
                    t_in, t_model = t_in + a, t_model + b
                except (InvalidStructureError, CalculationError) as exc_i:
                    results.append(EvaluationFailed(str(exc_i)))
            return group, results, t_in, t_model
        finally:
            torch.set_flush_denormal(False)

    def _run_group(
        self, group: list[Atoms], need_stress: bool, forces: bool = True
    ) -> tuple[list[Evaluation], float, float]:
        import torch
        from chgnet.model.model import BatchedGraph

        from interphases.potentials import chgnet_fast

        net = self.net
        t0 = time.perf_counter()
        graphs = []
        for atoms in group:
            try:
                graphs.append(self._graph(atoms).to(self.device))
            except ValueError as exc:  # isolated atoms, bad cells
                raise InvalidStructureError(f"CHGNet cannot build a graph for {atoms.get_chemical_formula()}: {exc}") from exc
        t1 = time.perf_counter()
        if not forces:
            return self._energies_only(graphs), t1 - t0, time.perf_counter() - t1
        try:
            with torch.enable_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Converting a tensor with requires_grad=True to a scalar"
                comp_energy = 0 if net.composition_model is None else net.composition_model(graphs)
                batched = BatchedGraph.from_graphs(
                    graphs,
                    bond_basis_expansion=net.bond_basis_expansion,
                    angle_basis_expansion=net.angle_basis_expansion,
                    compute_stress=need_stress,
                )
                if self.factorized:
                    e_pred, n_per_graph = chgnet_fast.energy(net, batched)
                else:
                    pred = net._compute(batched, compute_force=False, compute_stress=False)
                    e_pred, n_per_graph = pred["e"], pred["atoms_per_graph"]
                # the per-atom energy of an intensive model; dE/dr needs the total
                e_model = e_pred * n_per_graph if net.is_intensive else e_pred
                inputs = list(batched.atom_positions) + (list(batched.strains) if need_stress else [])
                grads = torch.autograd.grad(e_model.sum(), inputs, create_graph=False, retain_graph=False)
        except RuntimeError as exc:
            raise CalculationError(f"CHGNet evaluation failed: {exc}") from exc
        with torch.no_grad():
            e_total = (e_pred + comp_energy) * n_per_graph if net.is_intensive else e_pred + comp_energy
            energies = e_total.detach().cpu().numpy().astype(float)
            results = []
            for j, _atoms in enumerate(group):
                forces = (-grads[j]).detach().cpu().numpy().astype(float)
                s = None
                if need_stress:
                    # stress = (1/V) dE/d(strain), eV/Å^3 (ASE convention), Voigt order
                    sigma = (grads[len(group) + j] / batched.volumes[j]).detach().cpu().numpy().astype(float)
                    s = sigma[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
                results.append(Evaluation(float(energies[j]), forces, s))
        t2 = time.perf_counter()
        return results, t1 - t0, t2 - t1

    def _energies_only(self, graphs: list) -> list[Evaluation]:
        """The same energies as :meth:`_run_group`, forward only, no autograd graph."""
        import torch
        from chgnet.model.model import BatchedGraph

        from interphases.potentials import chgnet_fast

        net = self.net
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                comp_energy = 0 if net.composition_model is None else net.composition_model(graphs)
                batched = BatchedGraph.from_graphs(
                    graphs,
                    bond_basis_expansion=net.bond_basis_expansion,
                    angle_basis_expansion=net.angle_basis_expansion,
                    compute_stress=False,
                )
                if self.factorized:
                    e_pred, n_per_graph = chgnet_fast.energy(net, batched)
                else:
                    pred = net._compute(batched, compute_force=False, compute_stress=False)
                    e_pred, n_per_graph = pred["e"], pred["atoms_per_graph"]
                e_total = (e_pred + comp_energy) * n_per_graph if net.is_intensive else e_pred + comp_energy
                energies = e_total.detach().cpu().numpy().astype(float)
        except RuntimeError as exc:
            raise CalculationError(f"CHGNet evaluation failed: {exc}") from exc
        return [Evaluation(float(e), None) for e in energies]


class EvaluatorCalculator(Calculator):
    """An ASE calculator backed by an :class:`Evaluator` (energies + forces, stress only
    when ASE asks for it), for code that must drive ASE itself.

    ``Model.fast_calculator()`` returns one. With CHGNet this is the lean evaluation
    (``task="ef"``, no second-derivative graph, numpy graphs) behind the ASE interface.
    ASE asks for forces and stress in two calls; under a cell filter pass
    ``compute_stress=True`` so that both come from one evaluation.
    """

    implemented_properties = ("energy", "free_energy", "forces", "stress")

    def __init__(self, evaluator: Evaluator, *, compute_stress: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.evaluator = evaluator
        self.compute_stress = compute_stress

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        need_stress = self.compute_stress or "stress" in properties
        (result,) = self.evaluator.evaluate([self.atoms], stress=need_stress)
        if isinstance(result, EvaluationFailed):
            raise CalculationError(result.error)
        self.results = {"energy": result.energy, "free_energy": result.energy, "forces": result.forces}
        if result.stress is not None:
            self.results["stress"] = result.stress


def make_evaluator(model: Model, *, batch_size: int | None = None, num_threads: int | None = None) -> Evaluator:
    """The fastest evaluator available for ``model``."""
    if model.family == "chgnet" and model.torch_model is not None:
        return CHGNetEvaluator(model, batch_size=batch_size, num_threads=num_threads)
    return CalculatorEvaluator(model, batch_size=batch_size, num_threads=num_threads)

