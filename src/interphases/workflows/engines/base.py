"""The engine contract: what every workflow needs from an energy code.

A workflow Maker holds an engine as a field and calls only these three methods, so
the same Maker runs on an MLIP, CP2K or VASP:

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
from pymatgen.core import Structure

from interphases.parsers.schema import CalcResult, NEBResult

CellRelax = Literal["fixed", "full", "z"]


class Engine(MSONable, ABC):
    """Base class of the MLIP, CP2K and VASP engines."""

    #: engine family written into every result document
    name: str = "engine"

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

    def provenance(self) -> dict[str, Any]:
        """Engine, code, model and version, written into every workflow document."""
        return {"engine": self.name}

    def check_structures(self, structures: Sequence[Structure]) -> None:
        """Raise a clear error before any work if the engine cannot handle the input."""
