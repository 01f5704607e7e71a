"""pymatgen ``Structure`` <-> ASE ``Atoms`` for the optimisers, keeping frozen atoms.

Frozen atoms travel in the ``selective_dynamics`` site property (True = free). On the
ASE side they become ``FixAtoms`` (frozen in x, y and z) or ``FixCartesian`` (frozen
along some directions), which every ASE optimiser, filter and NEB respects.

Going back, the input structure is the template: the result keeps its species
(oxidation states included), site properties, labels, properties and net charge, and
takes only the new positions and lattice from the Atoms. (pymatgen's ``AseAtomsAdaptor`` would copy
every site property into Atoms arrays and back, which fails on non-numeric properties.)
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.constraints import FixAtoms, FixCartesian
from pymatgen.core import Lattice, Structure

from interphases.parsers.schema import free_mask

__all__ = ["atoms_to_structure", "structure_to_atoms"]


def structure_to_atoms(structure: Structure) -> Atoms:
    """ASE Atoms of an ordered ``structure``, frozen atoms as ASE constraints."""
    atoms = Atoms(
        numbers=[site.specie.Z for site in structure],
        positions=structure.cart_coords,
        cell=structure.lattice.matrix,
        pbc=tuple(bool(p) for p in structure.lattice.pbc),
    )
    if "selective_dynamics" in structure.site_properties:
        mask = free_mask(structure) < 0.5  # True = frozen along that direction
        constraints = []
        frozen_all = np.flatnonzero(mask.all(axis=1))
        if len(frozen_all):
            constraints.append(FixAtoms(indices=frozen_all))
        partial = np.flatnonzero(mask.any(axis=1) & ~mask.all(axis=1))
        # FixCartesian takes one mask for all its indices: group atoms by pattern
        for pattern in {tuple(row) for row in mask[partial]}:
            idx = [i for i in partial if tuple(mask[i]) == pattern]
            constraints.append(FixCartesian(idx, mask=pattern))
        if constraints:
            atoms.set_constraint(constraints)
    return atoms


def atoms_to_structure(atoms: Atoms, template: Structure) -> Structure:
    """``template`` with the positions and lattice of ``atoms`` (same site order)."""
    if len(atoms) != len(template):
        raise ValueError("atoms and template have different numbers of sites")
    lattice = Lattice(np.asarray(atoms.cell), pbc=template.lattice.pbc)
    return Structure(
        lattice,
        [site.species for site in template],
        atoms.get_positions(),
        coords_are_cartesian=True,
        site_properties=template.site_properties,
        labels=template.labels,
        properties=dict(template.properties),
        charge=template._charge,  # noqa: SLF001 - the net charge of a charged cell (None: from oxidation states)
    )
