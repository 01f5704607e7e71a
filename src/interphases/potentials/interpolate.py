"""Initial NEB paths between two endpoints: linear or IDPP interpolation.

Both use ASE (``ase.mep.neb.interpolate`` and ``idpp_interpolate``; IDPP: Smidstrup et
al., J. Chem. Phys. 140, 214106 (2014)) on a *plain* ``ase.mep.NEB``: interpolating
through an NEB subclass that overrides ``get_forces`` would run the override during IDPP.
Positions are interpolated with the minimum-image convention by default, so a hop across
a periodic boundary takes the short way. Frozen atoms (ASE constraints) stay frozen during
the IDPP optimisation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from ase import Atoms
from pymatgen.core import Structure

from interphases.errors import InvalidStructureError
from interphases.potentials.conversion import atoms_to_structure, structure_to_atoms

__all__ = ["interpolate_atoms", "interpolate_structures", "path_length", "reaction_coordinate"]


def interpolate_atoms(
    start: Atoms,
    end: Atoms,
    n_images: int,
    *,
    method: Literal["idpp", "linear"] = "idpp",
    mic: bool = True,
) -> list[Atoms]:
    """``n_images`` moving images between ``start`` and ``end``; endpoints included in the list."""
    from ase.mep import NEB

    if n_images < 1:
        raise InvalidStructureError("an NEB needs at least one image between the endpoints")
    if method not in ("idpp", "linear"):
        raise InvalidStructureError(f"unknown interpolation {method!r}: use 'idpp' or 'linear'")
    _check_endpoints(start, end)
    images = [start.copy()] + [start.copy() for _ in range(n_images)] + [end.copy()]
    neb = NEB(images, method="improvedtangent")
    neb.interpolate(method=method, mic=mic, apply_constraint=False)
    for image in images:
        image.calc = None
    return images


def interpolate_structures(
    start: Structure,
    end: Structure,
    n_images: int,
    *,
    method: Literal["idpp", "linear"] = "idpp",
    mic: bool = True,
) -> list[Structure]:
    """Structure version of :func:`interpolate_atoms` (site properties of ``start`` kept)."""
    images = interpolate_atoms(structure_to_atoms(start), structure_to_atoms(end), n_images, method=method, mic=mic)
    return [atoms_to_structure(image, start) for image in images]


def _check_endpoints(start: Atoms, end: Atoms) -> None:
    if len(start) != len(end) or (start.numbers != end.numbers).any():
        raise InvalidStructureError("NEB endpoints must have the same atoms in the same order")
    if not np.allclose(start.cell.array, end.cell.array, atol=1e-6):
        raise InvalidStructureError("NEB endpoints must have the same lattice")


def path_length(a: Atoms, b: Atoms) -> float:
    """Distance between two images in configuration space, Å (minimum image)."""
    from ase.geometry import find_mic

    d, _ = find_mic(b.positions - a.positions, a.cell, a.pbc)
    return float(np.linalg.norm(d))


def reaction_coordinate(images: Sequence[Atoms]) -> list[float]:
    """Cumulative path length along the images (0 at the first image), Å."""
    coords = [0.0]
    for a, b in zip(images[:-1], images[1:], strict=True):
        coords.append(coords[-1] + path_length(a, b))
    return coords
