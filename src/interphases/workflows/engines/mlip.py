"""The MLIP engine: every workflow's energies on a machine-learned potential (CHGNet by
default), through the batched evaluator, batched relaxation and batched CI-NEB of
:mod:`interphases.potentials`.

``MLIPEngine(model="chgnet")`` is an MSONable dataclass: it serialises with a Maker into
a jobflow Flow and reloads the model once per worker process (models are cached).
``implementation="ase"`` switches every call to the plain ASE reference path (the model's
own ASE calculator, ``optimizer.run()``, ASE NEB with one calculator per image), for
cross-checks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from ase import units
from pymatgen.core import Structure

from interphases.errors import InterphasesError, InvalidStructureError
from interphases.parsers.schema import CalcResult, NEBResult, barriers_from_energies
from interphases.potentials.conversion import atoms_to_structure, structure_to_atoms
from interphases.potentials.evaluate import EvaluationFailed
from interphases.potentials.interpolate import interpolate_atoms
from interphases.potentials.lockstep import OPTIMIZERS, per_item
from interphases.potentials.neb import neb_batch, neb_sequential_ase
from interphases.potentials.registry import Model, load_model
from interphases.potentials.relax import CELL_MODES, relax_batch, relax_sequential_ase
from interphases.workflows.engines.base import CellRelax, Engine
from interphases.workflows.engines.dft_common import rotate_back, standard_orientation

if TYPE_CHECKING:
    from ase import Atoms

    from interphases.potentials.evaluate import Evaluator

__all__ = ["MLIPEngine"]


@dataclass
class MLIPEngine(Engine):
    """Energies, relaxations and NEBs on a machine-learned interatomic potential.

    Attributes:
        model: model name (``"chgnet"``, ``"7net-0"``, ``"emt"``, ``"lj"``, see
            :func:`interphases.potentials.load_model`) or an ASE calculator instance
            (in-process use only: a calculator does not serialise).
        checkpoint: local checkpoint file for ``model``'s family.
        optimizer: ``"FIRE"`` (default), ``"BFGS"``, ``"LBFGS"`` or ``"MDMin"`` (ASE's).
        optimizer_kwargs: passed to the ASE optimiser (e.g. ``{"maxstep": 0.1}``).
        device: ``"cpu"``, ``"cuda"`` or ``None`` (GPU when visible).
        num_threads: torch threads (``None``: ``OMP_NUM_THREADS`` or the usable cores).
        batch_size: structures per model call (``None``: 1 on CPU, 32 on GPU).
        implementation: ``"batched"`` (default) or ``"ase"`` (reference path).
        min_distance: Å; two sites closer than this are overlapping atoms (input error).
        climb_after_steps: NEB steps before the climbing image is switched on (0 = at once).
        neb_images: moving images to interpolate when a path is given as two endpoints.
        neb_interpolation: ``"idpp"`` (default) or ``"linear"`` for such paths.
        model_options: extra model options (SevenNet ``modal``, LJ ``sigma``/``epsilon``/``rc``).
    """

    model: Any = "chgnet"
    checkpoint: str | None = None
    optimizer: str = "FIRE"
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    num_threads: int | None = None
    batch_size: int | None = None
    implementation: Literal["batched", "ase"] = "batched"
    min_distance: float = 0.5
    climb_after_steps: int = 0
    neb_images: int = 5
    neb_interpolation: Literal["idpp", "linear"] = "idpp"
    model_options: dict[str, Any] = field(default_factory=dict)

    name: ClassVar[str] = "mlip"
    per_structure_cells: ClassVar[bool] = True
    runtime_fields: ClassVar[frozenset[str]] = frozenset({"device", "num_threads", "batch_size"})

    def __post_init__(self) -> None:
        if self.implementation not in ("batched", "ase"):
            raise InterphasesError(f"unknown implementation {self.implementation!r}: use 'batched' or 'ase'")
        if str(self.optimizer).lower() not in {o.lower() for o in OPTIMIZERS}:
            raise InterphasesError(f"optimizer {self.optimizer!r} is not supported: use one of {', '.join(OPTIMIZERS)}")
        self._evaluator: Evaluator | None = None

    # ------------------------------------------------------------------ model
    def load(self) -> Model:
        """The loaded model (cached per process)."""
        return load_model(self.model, checkpoint=self.checkpoint, device=self.device, **self.model_options)

    def evaluator(self) -> Evaluator:
        """The batched evaluator of this engine's model (created once per engine)."""
        if self._evaluator is None:
            self._evaluator = self.load().evaluator(batch_size=self.batch_size, num_threads=self.num_threads)
        return self._evaluator

    def interaction_range(self) -> float | None:
        """The model's graph cutoff (CHGNet: 5 Å; EMT: 8 Å, above ASE's largest neighbour
        list radius); ``None`` for models whose range is not known here."""
        if not isinstance(self.model, str):
            return None
        model = self.load()
        if model.family == "chgnet" and model.isolated_atom_cutoff:
            return float(model.isolated_atom_cutoff)
        if model.family == "emt":
            return 8.0
        return None

    def provenance(self) -> dict[str, Any]:
        model = self.load()
        return {
            "engine": self.name,
            "model": model.name,
            "code": model.family,
            "model_version": model.version,
            "package": model.package,
            "package_version": model.package_version,
            "implementation": self.implementation,
        }

    # ------------------------------------------------------------------ checks
    def check_structures(self, structures: Sequence[Structure], labels: Sequence[str] | None = None) -> None:
        """Raise before any work: disordered or empty input, elements the model does not
        cover (:class:`UnsupportedElementsError`), overlapping atoms or (CHGNet) atoms
        without any neighbour inside the model's cutoff (:class:`InvalidStructureError`)."""
        model = self.load()
        for i, structure in enumerate(structures):
            if not isinstance(structure, Structure):
                raise InvalidStructureError(f"input {i}: expected a pymatgen Structure, got {type(structure).__name__}")
            where = _where(labels, i, structure)
            if len(structure) == 0:
                raise InvalidStructureError(f"{where} has no sites")
            if not structure.is_ordered:
                raise InvalidStructureError(f"{where} is disordered: order it (e.g. OrderDisorderedStructureTransformation)")
        model.check_elements(structures, labels)
        for i, structure in enumerate(structures):
            where = _where(labels, i, structure)
            _check_min_distance(structure, self.min_distance, where)
            if model.isolated_atom_cutoff:
                _check_isolated_atoms(structure, model.isolated_atom_cutoff, model.name, where)

    # ------------------------------------------------------------------ results
    def _parameters(self, **extra: Any) -> dict[str, Any]:
        model = self.load()
        params = {
            "model": model.name,
            "device": model.device,
            "implementation": self.implementation,
            **{k: v for k, v in model.options.items() if k != "calculator_instance"},
        }
        params.update(extra)
        return params

    def _result(
        self,
        template: Structure,
        atoms: Atoms | None,
        *,
        energy: float,
        forces: np.ndarray | None,
        stress_voigt: np.ndarray | None,
        converged: bool,
        n_steps: int,
        label: str | None,
        parameters: dict[str, Any],
        energy_trajectory: list[float] | None = None,
        error: str | None = None,
    ) -> CalcResult:
        model = self.load()
        structure = atoms_to_structure(atoms, template) if atoms is not None else template
        stress = None
        if stress_voigt is not None:
            from ase.stress import voigt_6_to_full_3x3_stress

            stress = (voigt_6_to_full_3x3_stress(np.asarray(stress_voigt)) / units.GPa).tolist()
        return CalcResult(
            structure=structure,
            energy=float(energy),
            forces=np.asarray(forces).tolist() if forces is not None else None,
            stress=stress,
            converged=bool(converged),
            n_steps=int(n_steps),
            engine=self.name,
            code=model.family,
            code_version=model.version,
            model=model.name,
            parameters=parameters,
            task_label=label,
            error=error,
            energy_trajectory=energy_trajectory,
        )

    # ------------------------------------------------------------------ Engine API
    def static(
        self,
        structures: Sequence[Structure],
        labels: Sequence[str] | None = None,
        *,
        stress: bool = False,
        forces: bool = True,
    ) -> list[CalcResult]:
        """Energies and forces (and the stress if ``stress=True``) of ``structures``.

        ``forces=False``: energies only (``CalcResult.forces`` is None): no force backward
        pass, a forward under ``torch.no_grad`` for CHGNet (what a registry scan reads)."""
        if stress and not forces:
            raise InterphasesError("a stress needs forces=True")
        structures = list(structures)
        labels = _labels(labels, len(structures))
        self.check_structures(structures, labels)
        atoms_list = [structure_to_atoms(s) for s in structures]
        if self.implementation == "ase":
            results = []
            for atoms in atoms_list:
                atoms.calc = self.load().calculator()
                results.append(
                    (
                        float(atoms.get_potential_energy()),
                        np.array(atoms.get_forces(apply_constraint=False)) if forces else None,
                        np.array(atoms.get_stress()) if stress else None,
                        None,
                    )
                )
        else:
            evaluations = self.evaluator().evaluate(atoms_list, stress=stress, forces=forces)
            results = [
                (float("nan"), None, None, e.error) if isinstance(e, EvaluationFailed) else (e.energy, e.forces, e.stress, None)
                for e in evaluations
            ]
        params = self._parameters(task="static", stress=stress, **({} if forces else {"forces": False}))
        return [
            self._result(
                s,
                None,
                energy=energy,
                forces=forces,
                stress_voigt=st,
                converged=error is None,
                n_steps=0,
                label=label,
                parameters=params,
                error=error,
            )
            for s, (energy, forces, st, error), label in zip(structures, results, labels, strict=True)
        ]

    def relax(
        self,
        structures: Sequence[Structure],
        *,
        cell: CellRelax | Sequence[CellRelax] = "fixed",
        fmax: float | Sequence[float] = 0.05,
        max_steps: int = 300,
        labels: Sequence[str] | None = None,
    ) -> list[CalcResult]:
        """Relax ``structures`` together; ``cell`` is ``"fixed"``, ``"full"`` or ``"z"`` and
        ``fmax`` a threshold (eV/Å), each for all or one per structure (structures with
        different thresholds still share every model call). Frozen atoms (``selective_dynamics``) stay put. A structure not
        converged after ``max_steps`` comes back with ``converged=False`` and ``error`` set."""
        structures = list(structures)
        labels = _labels(labels, len(structures))
        modes = [cell] * len(structures) if isinstance(cell, str) else list(cell)
        if len(modes) != len(structures) or any(m not in CELL_MODES for m in modes):
            raise InterphasesError(f"cell must be one of {CELL_MODES} (or one per structure), got {cell!r}")
        self.check_structures(structures, labels)
        # "z" relaxes the Cartesian zz strain: put a, b in the xy plane first (rotated back below)
        rotations: list[np.ndarray | None] = [None] * len(structures)
        prepared = list(structures)
        for i, (s, mode) in enumerate(zip(structures, modes, strict=True)):
            if mode == "z":
                prepared[i], rotations[i] = standard_orientation(s)
        atoms_list = [structure_to_atoms(s) for s in prepared]
        try:
            thresholds = per_item(fmax, len(structures), "fmax")
        except ValueError as exc:
            raise InterphasesError(str(exc)) from None
        kwargs = dict(cell=modes, fmax=thresholds, max_steps=max_steps, optimizer=self.optimizer, optimizer_kwargs=self.optimizer_kwargs)
        if self.implementation == "ase":
            outcomes = relax_sequential_ase(atoms_list, self.load(), **kwargs)
        else:
            outcomes = relax_batch(atoms_list, self.evaluator(), **kwargs)
        for out, q in zip(outcomes, rotations, strict=True):
            if q is not None:
                _rotate_outcome_back(out, q)
        results = []
        for s, out, mode, label, threshold in zip(structures, outcomes, modes, labels, thresholds, strict=True):
            error = out.error
            if error is None and not out.converged:
                error = f"not converged: max force {out.max_force:.3f} eV/Å > fmax {threshold} after {out.n_steps} steps"
            params = self._parameters(
                task="relax", cell=mode, fmax=threshold, max_steps=max_steps, optimizer=self.optimizer,
                optimizer_kwargs=dict(self.optimizer_kwargs),
            )
            results.append(
                self._result(
                    s,
                    out.atoms if out.forces is not None else None,
                    energy=out.energy,
                    forces=out.forces,
                    stress_voigt=out.stress if mode != "fixed" else None,
                    converged=out.converged,
                    n_steps=out.n_steps,
                    label=label,
                    parameters=params,
                    energy_trajectory=out.energy_trajectory,
                    error=error,
                )
            )
        return results

    def neb(
        self,
        paths: Sequence[Sequence[Structure]],
        *,
        climb: bool = True,
        fmax: float = 0.05,
        max_steps: int = 500,
        spring_constant: float = 0.1,
        labels: Sequence[str] | None = None,
        climb_after_steps: int | None = None,
        n_images: int | None = None,
        interpolation: Literal["idpp", "linear"] | None = None,
    ) -> list[NEBResult]:
        """Climbing-image NEB (improved tangent) of every path, all together.

        A path is a list of structures, endpoints included; a path of only two structures is
        interpolated first (``n_images`` moving images, ``interpolation`` ``"idpp"`` or
        ``"linear"``, engine defaults otherwise). ``spring_constant`` in eV/Å^2. Images are
        not relaxed endpoints-first here: relax the endpoints with :meth:`relax` before.
        """
        paths = [list(p) for p in paths]
        labels = _labels(labels, len(paths))
        climb_after = self.climb_after_steps if climb_after_steps is None else climb_after_steps
        n_images = self.neb_images if n_images is None else n_images
        interpolation = interpolation or self.neb_interpolation
        templates: list[Structure] = []
        atoms_paths: list[list[Atoms]] = []
        for i, path in enumerate(paths):
            where = labels[i] or f"NEB path {i}"
            if len(path) < 2:
                raise InvalidStructureError(f"{where}: give at least the two endpoints")
            self.check_structures(path, [f"{where}, image {j}" for j in range(len(path))])
            if len(path) == 2:
                atoms = interpolate_atoms(
                    structure_to_atoms(path[0]), structure_to_atoms(path[1]), n_images, method=interpolation
                )
                for j, image in enumerate(atoms[1:-1], start=1):  # interpolation can make atoms collide
                    _check_min_distance(atoms_to_structure(image, path[0]), self.min_distance, f"{where}, image {j}")
            else:
                atoms = [structure_to_atoms(s) for s in path]
            templates.append(path[0])
            atoms_paths.append(atoms)
        kwargs = dict(
            k=spring_constant,
            climb=climb,
            climb_after_steps=climb_after,
            fmax=fmax,
            max_steps=max_steps,
            optimizer=self.optimizer,
            optimizer_kwargs=self.optimizer_kwargs,
        )
        if self.implementation == "ase":
            outcomes = neb_sequential_ase(atoms_paths, self.load(), **kwargs)
        else:
            outcomes = neb_batch(atoms_paths, self.evaluator(), **kwargs)
        model = self.load()
        params = self._parameters(
            task="neb", method="improvedtangent", climb=climb, climb_after_steps=climb_after, fmax=fmax,
            max_steps=max_steps, spring_constant=spring_constant, optimizer=self.optimizer,
            n_images=n_images, interpolation=interpolation,
        )
        results = []
        for template, out, label in zip(templates, outcomes, labels, strict=True):
            error = out.error
            if error is None and not out.converged:
                error = f"not converged: max NEB force {out.max_force:.3f} eV/Å > fmax {fmax} after {out.n_steps} steps"
            energies = out.energies or [float("nan")] * len(out.images)
            forward, backward = barriers_from_energies(energies) if out.energies else (float("nan"), float("nan"))
            results.append(
                NEBResult(
                    images=[atoms_to_structure(a, template) for a in out.images],
                    energies=[float(e) for e in energies],
                    reaction_coordinate=out.reaction_coordinate,
                    barrier_forward=float(forward),
                    barrier_backward=float(backward),
                    converged=out.converged,
                    n_steps=out.n_steps,
                    climbing_image=out.climbing_image,
                    engine=self.name,
                    code=model.family,
                    code_version=model.version,
                    model=model.name,
                    parameters=params,
                    task_label=label,
                    error=error,
                )
            )
        return results


def _rotate_outcome_back(out: Any, q: np.ndarray) -> None:
    """Undo :func:`standard_orientation` on a relaxation outcome (positions, cell, forces, stress)."""
    from ase.stress import full_3x3_to_voigt_6_stress, voigt_6_to_full_3x3_stress

    stress3 = voigt_6_to_full_3x3_stress(np.asarray(out.stress)) if out.stress is not None else None
    cell, positions, forces, stress = rotate_back(
        q, np.asarray(out.atoms.cell), out.atoms.get_positions(), out.forces, stress3
    )
    constraints = out.atoms.constraints
    out.atoms.set_constraint()
    out.atoms.set_cell(cell, scale_atoms=False)
    out.atoms.set_positions(positions)
    out.atoms.set_constraint(constraints)
    if forces is not None:
        out.forces = np.asarray(forces)
    if stress is not None:
        out.stress = full_3x3_to_voigt_6_stress(np.asarray(stress))


def _where(labels: Sequence[str | None] | None, i: int, structure: Structure) -> str:
    """How an input is named in error messages: its label, else its index and formula."""
    label = labels[i] if labels else None
    return label or f"structure {i} ({structure.composition.reduced_formula})"


def _labels(labels: Sequence[str] | None, n: int) -> list[str | None]:
    if labels is None:
        return [None] * n
    labels = list(labels)
    if len(labels) != n:
        raise InterphasesError(f"got {len(labels)} labels for {n} inputs")
    return labels


def _check_min_distance(structure: Structure, cutoff: float, where: str) -> None:
    """Overlapping atoms -> InvalidStructureError (uses the shared validator when present)."""
    try:
        from interphases.structures.validation import check_min_distance
    except ImportError:
        check_min_distance = None
    if check_min_distance is not None:
        try:
            check_min_distance(structure, cutoff)
        except InvalidStructureError as exc:
            raise InvalidStructureError(f"{where}: {exc}") from exc
        return
    if cutoff <= 0:
        return
    centers, neighbors, _, distances = structure.get_neighbor_list(r=cutoff)
    if len(distances):
        k = int(np.argmin(distances))
        raise InvalidStructureError(
            f"{where}: sites {int(centers[k])} and {int(neighbors[k])} are {distances[k]:.2f} Å apart "
            f"(< {cutoff} Å): overlapping atoms; fix the structure"
        )


def _check_isolated_atoms(structure: Structure, cutoff: float, model_name: str, where: str) -> None:
    centers, _, _, _ = structure.get_neighbor_list(r=cutoff)
    lonely = sorted(set(range(len(structure))) - set(int(c) for c in centers))
    if lonely:
        raise InvalidStructureError(
            f"{where}: site(s) {lonely[:5]} have no neighbour within {cutoff:g} Å, which {model_name} cannot "
            "describe: reduce the vacuum or remove isolated atoms"
        )
