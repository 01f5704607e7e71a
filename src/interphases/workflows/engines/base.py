"""The engine contract: what every workflow needs from an energy code.

Workflows are build -> compute -> score: a job builds the cells and describes each
calculation as a :class:`Calculation`; the ENGINE turns that list into jobflow jobs
(:meth:`Engine.compute`), whose output is the list of results in the same order; a
job scores them. How compute runs is the engine's business, never the workflow's:

- in-process engines (the MLIP, any ASE calculator) run the whole list as ONE batched
  job (:func:`interphases.workflows.compute.run_calculations_job`);
- the DFT engines add one job per calculation at run time (atomate2's Makers) and a
  collect job (``Response(replace=...)``), so every DFT calculation is its own cluster job.

Every compute job carries a content key (:meth:`Engine.identity` + the calculations),
so a rerun of a killed flow reuses what is already in the JobStore
(:mod:`interphases.workflows.compute`).

Below the jobs, the synchronous API that the compute jobs call:

- :meth:`Engine.static`  energies (and forces) of many structures;
- :meth:`Engine.relax`   relax many structures, cell fixed, fully relaxed, or along
  the out-of-plane direction only (``cell="z"``, in-plane lattice fixed: the strained
  bulk references of the interface energy);
- :meth:`Engine.neb`     climbing-image NEB of one or several paths.

Frozen atoms travel with the structure in the ``selective_dynamics`` site property
(pymatgen/VASP convention, True = free), so every engine respects them.

Engines are MSONable dataclasses: they serialise with the Maker into a jobflow
Flow and are rebuilt on the worker that runs the job (models reload there once).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

from monty.json import MSONable
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure

from interphases.parsers.schema import CalcResult, NEBResult

CellRelax = Literal["fixed", "full", "z"]
CalcKind = Literal["static", "relax", "neb"]


class Calculation(BaseModel):
    """One calculation a workflow asks of an engine (built by a workflow's build job).

    ``kind``: ``"static"`` (single point; ``forces=False`` when only the energy is read),
    ``"relax"`` (``cell`` per structure: ``"fixed"``, ``"full"`` or ``"z"``; ``fmax`` in
    eV/Å and ``max_steps``) or ``"neb"`` (``images``: a path, endpoints included, or its
    two endpoints; ``climb``, ``spring_constant``). Frozen atoms travel in the structures'
    ``selective_dynamics`` site property.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: CalcKind
    label: str
    structure: Structure | None = None
    images: list[Structure] | None = None
    cell: CellRelax = "fixed"
    fmax: float = 0.05
    max_steps: int = 300
    forces: bool = True
    climb: bool = True
    spring_constant: float = 0.1
    options: dict[str, Any] = Field(default_factory=dict, description="Engine-specific extras (NEB n_images, ...).")

    @classmethod
    def static(cls, structure: Structure, label: str, *, forces: bool = True) -> Calculation:
        return cls(kind="static", structure=structure, label=label, forces=forces)

    @classmethod
    def relax(cls, structure: Structure, label: str, *, cell: CellRelax = "fixed", fmax: float = 0.05,
              max_steps: int = 300) -> Calculation:
        if cell not in ("fixed", "full", "z"):
            from interphases.errors import InterphasesError

            raise InterphasesError(f"cell must be 'fixed', 'full' or 'z', got {cell!r}")
        return cls(kind="relax", structure=structure, label=label, cell=cell, fmax=fmax, max_steps=max_steps)

    @classmethod
    def neb(cls, images: Sequence[Structure], label: str, *, climb: bool = True, fmax: float = 0.05,
            max_steps: int = 500, spring_constant: float = 0.1, **options: Any) -> Calculation:
        return cls(kind="neb", images=list(images), label=label, climb=climb, fmax=fmax, max_steps=max_steps,
                   spring_constant=spring_constant, options=options)

    def group_key(self) -> tuple:
        """Calculations with the same key can go to the engine in one call."""
        if self.kind == "static":
            return ("static", self.forces)
        if self.kind == "relax":
            return ("relax", self.max_steps)  # thresholds may differ within one call (relax_cells)
        return ("neb", self.climb, self.fmax, self.max_steps, self.spring_constant,
                tuple(sorted((k, str(v)) for k, v in self.options.items())))

    def fingerprint(self) -> dict[str, Any]:
        """What defines the result: the structures (positions to 1e-6 Å) and the settings."""
        from interphases.workflows.compute import structure_fingerprint

        out: dict[str, Any] = self.model_dump(exclude={"structure", "images", "label"})
        if self.structure is not None:
            out["structure"] = structure_fingerprint(self.structure)
        if self.images is not None:
            out["images"] = [structure_fingerprint(s) for s in self.images]
        return out


class Engine(MSONable, ABC):
    """Base class of the MLIP, CP2K and VASP engines."""

    #: engine family written into every result document
    name: str = "engine"
    #: dataclass fields that change how a calculation runs, not its result (left out of :meth:`identity`)
    runtime_fields: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ jobs
    def compute(self, calculations: Any, name: str = "compute") -> Any:
        """jobflow Job/Flow computing ``calculations`` (a list of :class:`Calculation` or a
        job output reference to one); its output is the list of results, same order
        (:class:`CalcResult` for static/relax, :class:`NEBResult` for NEB).

        Default: ONE job running them all in this engine's process, batched
        (:meth:`run_calculations`); DFT engines override this with one job per calculation.
        """
        from interphases.workflows.compute import run_calculations_job

        j = run_calculations_job(self, calculations)
        j.name = name
        return j

    def run_calculations(self, calculations: Sequence[Calculation]) -> list[CalcResult | NEBResult]:
        """Run ``calculations`` here, in as few engine calls as possible (order kept)."""
        calcs = list(calculations)
        results: list[Any] = [None] * len(calcs)
        groups: dict[tuple, list[int]] = {}
        for i, c in enumerate(calcs):
            groups.setdefault(c.group_key(), []).append(i)
        for idx in groups.values():
            first = calcs[idx[0]]
            labels = [calcs[i].label for i in idx]
            if first.kind == "static":
                extra = {} if first.forces or not _accepts(self.static, "forces") else {"forces": False}
                out = self.static([calcs[i].structure for i in idx], labels=labels, **extra)
            elif first.kind == "relax":
                out = self.relax_cells([calcs[i].structure for i in idx], [calcs[i].cell for i in idx],
                                       fmax=[calcs[i].fmax for i in idx], max_steps=first.max_steps, labels=labels)
            else:
                out = self.neb([calcs[i].images for i in idx], climb=first.climb, fmax=first.fmax,
                               max_steps=first.max_steps, spring_constant=first.spring_constant, labels=labels,
                               **first.options)
            for i, r in zip(idx, out, strict=True):
                results[i] = r
        return results

    #: True when :meth:`relax` takes one cell mode per structure in one call
    per_structure_cells: bool = False

    def relax_cells(self, structures: Sequence[Structure], cells: Sequence[CellRelax], *,
                    fmax: float | Sequence[float] = 0.05, max_steps: int = 300,
                    labels: Sequence[str] | None = None) -> list[CalcResult]:
        """Relax ``structures`` with one cell mode and one ``fmax`` each (``fmax`` may be one
        number for all). Default: one :meth:`relax` call per (mode, fmax) (order kept);
        engines that take a mode and threshold per structure in one call
        (``per_structure_cells``) get them all at once."""
        from interphases.potentials.lockstep import per_item

        structures, cells = list(structures), list(cells)
        labels = list(labels) if labels is not None else [None] * len(structures)
        if self.per_structure_cells:
            return self.relax(structures, cell=cells, fmax=fmax, max_steps=max_steps, labels=labels)
        thresholds = per_item(fmax, len(structures), "fmax")
        results: list[Any] = [None] * len(structures)
        for mode, threshold in dict.fromkeys(zip(cells, thresholds, strict=True)):
            idx = [i for i, (c, f) in enumerate(zip(cells, thresholds, strict=True)) if c == mode and f == threshold]
            out = self.relax([structures[i] for i in idx], cell=mode, fmax=threshold, max_steps=max_steps,
                             labels=[labels[i] for i in idx])
            for i, r in zip(idx, out, strict=True):
                results[i] = r
        return results

    def identity(self) -> dict[str, Any]:
        """The settings that define this engine's results (result keys and job resume);
        run-time settings (threads, commands, folders) are left out."""
        d = self.as_dict()
        return {k: v for k, v in d.items() if k == "@class" or (k not in self.runtime_fields and not k.startswith("@"))}

    @abstractmethod
    def static(self, structures: Sequence[Structure], labels: Sequence[str] | None = None) -> list[CalcResult]:
        """Single-point energies and forces (no stress needed) of ``structures``."""

    @abstractmethod
    def relax(
        self,
        structures: Sequence[Structure],
        *,
        cell: CellRelax = "fixed",
        fmax: float = 0.05,
        max_steps: int = 300,
        labels: Sequence[str] | None = None,
    ) -> list[CalcResult]:
        """Relax ``structures``; non-converged runs come back with ``converged=False``."""

    def neb(
        self,
        paths: Sequence[Sequence[Structure]],
        *,
        climb: bool = True,
        fmax: float = 0.05,
        max_steps: int = 500,
        spring_constant: float = 0.1,
        labels: Sequence[str] | None = None,
    ) -> list[NEBResult]:
        """Climbing-image NEB (improved tangent) on each path of images, endpoints included."""
        raise NotImplementedError(f"engine {self.name!r} has no NEB")

    def interaction_range(self) -> float | None:
        """Å: atoms farther apart than this do not interact, so a slab whose vacuum is wider
        has the same energy and forces in any cell height (``None``: the cell always
        matters, as for plane-wave DFT). Lets workflows compute such slabs once."""
        return None

    def provenance(self) -> dict[str, Any]:
        """Engine, code, model and version, written into every workflow document."""
        return {"engine": self.name}

    def check_structures(self, structures: Sequence[Structure]) -> None:
        """Raise a clear error before any work if the engine cannot handle the input."""


def _accepts(method: Any, keyword: str) -> bool:
    import inspect

    try:
        return keyword in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
