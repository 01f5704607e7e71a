"""The cells the interface-energy workflows compute, built from one interface candidate.

From an :class:`~interphases.structures.interfaces.InterfaceCandidate` (a pymatgen
``Interface`` plus its records) this module makes:

- :func:`interface_at`: the interface at an in-plane registry and gap, in the slab model
  (substrate | gap | film | vacuum, bottom of the substrate frozen) or the periodic
  sandwich (no vacuum: the film top meets the periodic image of the substrate bottom at
  the same gap). pymatgen's ``Interface`` setters (``in_plane_offset``, ``gap``,
  ``vacuum_over_film``) move the atoms; only the frozen atoms are set here.
- :func:`split_interface`: the substrate and the film of an interface as two isolated
  slabs **in the same cell** (same strained in-plane lattice, same c), so that the strain
  energy cancels in the work of adhesion.
- :func:`oriented_bulk_cell` and :func:`strain_to_inplane`: the bulk references of
  Eq. 16. A bulk supercell whose a and b are the in-plane supercell vectors of one side
  of the interface and whose c is the bulk lattice vector with the smallest height along
  the normal; then the homogeneous deformation ``F`` with ``F a = a'``, ``F b = b'`` and
  ``F n = n`` (n the unit normal) that gives a and b the lengths and angle of the
  interface's in-plane lattice (the film is strained exactly as in the interface, up to
  a rotation or mirror, which do not change the energy). The engine then relaxes these
  cells along the normal only (``cell="z"``).

pymatgen has no builder for the strained-bulk references of an interface, nor for
isolated slabs in the interface cell; that is what this module adds.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from pymatgen.core import Lattice, Structure
from pymatgen.core.interface import Interface

from interphases.errors import InvalidStructureError

__all__ = [
    "interface_at",
    "interface_area",
    "oriented_bulk_cell",
    "sandwich_at",
    "split_interface",
    "strain_to_inplane",
    "strained_references",
]


def interface_area(structure: Structure) -> float:
    """Area of the a x b plane of a cell, Å^2."""
    a, b = structure.lattice.matrix[:2]
    return float(np.linalg.norm(np.cross(a, b)))


def _clear_dynamics(structure: Structure) -> None:
    if "selective_dynamics" in structure.site_properties:
        structure.remove_site_property("selective_dynamics")


def interface_at(
    candidate,
    shift=(0.0, 0.0),
    gap: float | None = None,
    *,
    cell_model: str = "slab",
    vacuum: float | None = None,
    fixed_thickness: float | None = None,
    fixed_fraction: float = 0.5,
) -> Interface:
    """The candidate's interface at registry ``shift`` (fractions of a, b) and ``gap`` (Å).

    ``cell_model``: ``"slab"`` (vacuum over the film, ``vacuum`` Å, default the
    candidate's; the substrate bottom frozen as in the enumeration) or ``"sandwich"``
    (no vacuum, both interfaces at ``gap``, no atom frozen: the cell relaxes along z).
    When the model is the candidate's own, its frozen atoms are kept; otherwise they are
    set again with ``fixed_thickness`` / ``fixed_fraction``.
    """
    from interphases.structures.interfaces import fix_substrate

    if cell_model not in ("slab", "sandwich"):
        raise InvalidStructureError(f"cell_model must be 'slab' or 'sandwich', got {cell_model!r}")
    iface = candidate.interface.copy()
    iface.in_plane_offset = np.asarray(shift, dtype=float)
    if gap is not None:
        if gap <= 0:
            raise InvalidStructureError(f"the interface gap must be > 0 Å, got {gap}")
        iface.gap = float(gap)
    if cell_model == "sandwich":
        iface.vacuum_over_film = iface.gap
        _clear_dynamics(iface)
    else:
        if vacuum is None:
            vacuum = candidate.vacuum if candidate.cell_model == "slab" else 15.0
        iface.vacuum_over_film = float(vacuum)
        if candidate.cell_model != "slab" or "selective_dynamics" not in iface.site_properties:
            fix_substrate(iface, "slab", fixed_thickness, fixed_fraction)
    return iface


def sandwich_at(candidate, shift=(0.0, 0.0), gap: float | None = None) -> Interface:
    """The periodic sandwich (two interfaces, no vacuum, nothing frozen) at ``shift``, ``gap``."""
    return interface_at(candidate, shift, gap, cell_model="sandwich")


def split_interface(iface: Interface) -> tuple[Structure, Structure]:
    """(substrate, film) of ``iface`` as two slabs in the interface's own cell.

    Site properties (frozen atoms included) are kept; the substrate keeps its frozen
    bottom, the film is as free as it is in the interface.
    """
    labels = np.array(iface.site_properties["interface_label"])
    parts = []
    for which in ("substrate", "film"):
        idx = np.flatnonzero(labels == which)
        if not len(idx):
            raise InvalidStructureError(f"the interface has no {which} atoms")
        sites = [iface[int(i)] for i in idx]
        parts.append(Structure.from_sites(sites))
    return parts[0], parts[1]


def oriented_bulk_cell(bulk: Structure, inplane: np.ndarray, search: int = 6) -> Structure:
    """Supercell of ``bulk`` with a, b = ``inplane`` (2x3, Cartesian, bulk frame) and c the
    bulk lattice vector of smallest positive height along the normal ``a x b``
    (shortest such vector; the cell is right-handed).

    Raises :class:`InvalidStructureError` when ``inplane`` are not lattice translations.
    """
    prim = bulk.get_primitive_structure()
    lat = prim.lattice.matrix
    inplane = np.asarray(inplane, dtype=float)
    rows = inplane @ np.linalg.inv(lat)
    if np.abs(rows - np.round(rows)).max() > 1e-4:
        raise InvalidStructureError("the in-plane vectors are not lattice translations of the bulk")
    rows = np.round(rows).astype(int)
    normal = np.cross(inplane[0], inplane[1])
    normal /= np.linalg.norm(normal)
    # every integer combination at once; smallest height, then shortest in-plane part (the
    # first in itertools.product order on ties)
    ns = np.array(list(product(range(-search, search + 1), repeat=3)), dtype=int)
    v = ns @ lat
    h = v @ normal
    up = np.flatnonzero(h >= 1e-6)
    if len(up) == 0:  # pragma: no cover - a 3D lattice always has one
        raise InvalidStructureError("no bulk lattice vector out of the plane")
    height = np.round(h[up], 6)
    lateral = np.round(np.linalg.norm(v[up] - h[up, None] * normal, axis=1), 6)
    best = up[np.lexsort((up, lateral, height))[0]]
    matrix = np.vstack([rows, ns[best]])
    cell = prim.copy()
    cell.make_supercell(matrix)
    return cell


def strain_to_inplane(cell: Structure, a_target: np.ndarray, b_target: np.ndarray) -> Structure:
    """``cell`` deformed so that its a, b have the lengths and angle of ``a_target``, ``b_target``.

    The deformation keeps the unit normal of the a-b plane (the c vector keeps its
    height) and the fractional coordinates: a homogeneous in-plane strain. The result is
    in the standard frame (a along x, b in the xy plane, normal along +z).
    """
    a, b, c = cell.lattice.matrix
    n = np.cross(a, b)
    n /= np.linalg.norm(n)
    e1 = a / np.linalg.norm(a)
    e2 = np.cross(n, e1)
    la, lb = np.linalg.norm(a_target), np.linalg.norm(b_target)
    cos_g = float(np.dot(a_target, b_target) / (la * lb))
    sin_g = float(np.linalg.norm(np.cross(a_target, b_target)) / (la * lb))
    a_new = la * e1
    b_new = lb * (cos_g * e1 + sin_g * e2)
    before = np.column_stack([a, b, n])
    after = np.column_stack([a_new, b_new, n])
    c_new = after @ np.linalg.inv(before) @ c
    # written in the frame (e1, e2, n): a along x, b in the xy plane, the normal along z, so
    # that a relaxation "along z" (cell="z") moves only the out-of-plane direction
    frame = np.vstack([e1, e2, n])
    lattice = Lattice(np.vstack([frame @ a_new, frame @ b_new, frame @ c_new]))
    return Structure(lattice, cell.species_and_occu, cell.frac_coords, site_properties=cell.site_properties)


def strained_references(candidate) -> tuple[Structure, Structure]:
    """(substrate, film) bulk cells strained to the interface's in-plane lattice (not yet
    relaxed along z); see the module docstring."""
    if candidate.substrate_reference is None or candidate.film_reference is None:
        raise InvalidStructureError(
            f"candidate {candidate.candidate_id} has no bulk reference cells (enumerated by an older "
            "version): enumerate it again"
        )
    a, b = candidate.interface.lattice.matrix[:2]
    return (
        strain_to_inplane(candidate.substrate_reference, a, b),
        strain_to_inplane(candidate.film_reference, a, b),
    )
