"""One result schema for every engine (MLIP, CP2K, VASP, any ASE calculator).

Units: energies in eV (total, for the whole cell), forces in eV/Å, stress in GPa
with ASE's sign convention (stress = (1/V) dE/dε; positive = tensile, the cell
wants to shrink). Parsers of VASP (kBar, opposite sign) and CP2K convert to this.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from pymatgen.core import Structure


class CalcResult(BaseModel):
    """A single-point or relaxation result, whatever code produced it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    structure: Structure = Field(description="Final structure (relaxed, or the input of a single point).")
    energy: float = Field(description="Total energy of the cell, eV.")
    forces: list[list[float]] | None = Field(None, description="Final forces, eV/Å, one row per site.")
    stress: list[list[float]] | None = Field(None, description="Final 3x3 stress, GPa, ASE sign convention.")
    converged: bool = Field(description="Electronic (and, for relaxations, ionic) convergence reached.")
    n_steps: int = Field(0, description="Ionic steps taken (0 for a single point).")
    engine: str = Field(description="Engine family: 'mlip', 'cp2k', 'vasp', 'ase'.")
    code: str = Field(description="Code or model family that computed the energy, e.g. 'chgnet', 'cp2k', 'vasp', 'emt'.")
    code_version: str | None = Field(None, description="Version of the code / model weights.")
    model: str | None = Field(None, description="Model name (MLIP) or functional (DFT).")
    parameters: dict[str, Any] = Field(default_factory=dict, description="Settings that define the calculation.")
    task_label: str | None = None
    error: str | None = Field(None, description="Why the calculation is not converged or failed, if known.")
    energy_trajectory: list[float] | None = Field(None, description="Energy at each ionic step, eV.")
    dir_name: str | None = Field(None, description="Folder the calculation ran in or was parsed from.")

    @property
    def n_atoms(self) -> int:
        return len(self.structure)

    @property
    def energy_per_atom(self) -> float:
        return self.energy / len(self.structure)

    @property
    def max_force(self) -> float | None:
        """Largest force norm on a site free to move, eV/Å (ASE's fmax meaning)."""
        if self.forces is None:
            return None
        forces = np.asarray(self.forces, dtype=float)
        free = free_mask(self.structure)
        forces = forces * free
        return float(np.linalg.norm(forces, axis=1).max()) if len(forces) else 0.0


class NEBResult(BaseModel):
    """A (climbing-image) nudged-elastic-band result, endpoints included."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    images: list[Structure] = Field(description="All images, endpoints included.")
    energies: list[float] = Field(description="Total energy of each image, eV.")
    reaction_coordinate: list[float] = Field(description="Cumulative path length of each image, Å.")
    barrier_forward: float = Field(description="max(E) - E(first image), eV.")
    barrier_backward: float = Field(description="max(E) - E(last image), eV.")
    converged: bool
    n_steps: int = 0
    climbing_image: int | None = Field(None, description="Index of the climbing image, if one was used.")
    engine: str
    code: str
    code_version: str | None = None
    model: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    task_label: str | None = None
    error: str | None = None

    @property
    def relative_energies(self) -> list[float]:
        return [e - self.energies[0] for e in self.energies]


def free_mask(structure: Structure) -> np.ndarray:
    """(N, 3) array of 1.0 where a coordinate may move and 0.0 where it is frozen.

    Frozen atoms are stored the pymatgen/VASP way, in the ``selective_dynamics`` site
    property (True = free along that Cartesian direction).
    """
    sd = structure.site_properties.get("selective_dynamics")
    if sd is None:
        return np.ones((len(structure), 3))
    return np.array([[1.0 if flag else 0.0 for flag in row] if row is not None else [1.0] * 3 for row in sd])


def fixed_indices(structure: Structure) -> list[int]:
    """Indices of sites frozen in all three directions."""
    mask = free_mask(structure)
    return [i for i, row in enumerate(mask) if not row.any()]


def barriers_from_energies(energies: list[float]) -> tuple[float, float]:
    """Forward and backward barrier (eV) of an energy profile, endpoints included."""
    top = max(energies)
    return top - energies[0], top - energies[-1]
