"""Slab and interface files are recognised as such (vacuum test of the DFT engines,
two-phase split), described as given, and never cut again as if they were bulks."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ase.build import bcc110, fcc100, fcc110, fcc111
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from interphases.errors import InvalidStructureError
from interphases.structures import get_phase
from interphases.structures.bulk import classify_structure, label_given_interface, split_interface
from interphases.structures.slabs import describe_given_slab, generate_slabs
from interphases.structures.slabs import given_slab_miller


@pytest.mark.parametrize("name", ["Li", "LiF", "Li2O", "LLZO", "beta-Li3PS4"])
def test_library_bulks_are_bulk(name):
    assert classify_structure(get_phase(name)) == "bulk"


def test_ase_slab_and_stacked_interface():
    slab = AseAtomsAdaptor.get_structure(fcc111("Al", (2, 2, 6), vacuum=8.0))
    assert classify_structure(slab) == "slab"
    # Ag on Al(111), both fcc(111) stacks, with vacuum: an interface, split where the phases meet
    both = fcc111("Al", (1, 1, 10), a=4.05, vacuum=8.0)
    for atom in both:
        if atom.index >= 5:
            atom.symbol = "Ag"
    s = AseAtomsAdaptor.get_structure(both)
    assert classify_structure(s) == "interface"
    lower, upper = split_interface(s)
    assert {s[i].specie.symbol for i in lower} == {"Al"} and {s[i].specie.symbol for i in upper} == {"Ag"}
    # a bcc(110) Li slab is one phase
    assert classify_structure(AseAtomsAdaptor.get_structure(bcc110("Li", (2, 2, 6), vacuum=8.0))) == "slab"


def test_given_slab_is_described_not_recut():
    """A big slab file given as a bulk: an immediate, clear error (was > 300 s in StructureMatcher)."""
    bulk = get_phase("LLZO")
    slab = bulk.copy()
    slab.make_supercell([1, 1, 3])
    # open 15 Å of vacuum along c: 288 atoms, as the LLZO slab file
    slab = Structure(Lattice.from_parameters(slab.lattice.a, slab.lattice.b, slab.lattice.c + 15.0, 90, 90, 90),
                     slab.species, slab.cart_coords, coords_are_cartesian=True)
    assert len(slab) == 288 and classify_structure(slab) == "slab"
    start = time.perf_counter()
    with pytest.raises(InvalidStructureError, match="vacuum along c: it is a slab"):
        generate_slabs(slab, miller_indices=[(0, 0, 1)])
    assert time.perf_counter() - start < 5.0


def test_describe_given_polar_slab():
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    (raw,) = [r for r in generate_slabs(lif, miller_indices=[(1, 1, 1)], symmetric=False, allow_polar=True)
              if r.stoichiometric and r.reconstruction is None][:1]
    d = describe_given_slab(raw.slab)
    q = np.array([{"Li": 1.0, "F": -1.0}[s.specie.symbol] for s in raw.slab])
    n = np.cross(*raw.slab.lattice.matrix[:2])
    area = np.linalg.norm(n)
    z = raw.slab.cart_coords @ (n / area)
    assert d["dipole_per_area"] == pytest.approx(float(np.sum(q * (z - z.mean()))) / area, abs=1e-8)
    assert d["net_charge"] == 0 and d["polar"] and d["thickness"] == pytest.approx(raw.thickness)


def test_sandwich_split_across_the_cell_boundary():
    """A periodic Al | Ag sandwich whose Ag block crosses the cell boundary: one cut would
    cut a phase in two; ``cyclic=True`` cuts the ring of planes twice and keeps both whole."""
    atoms = fcc111("Al", (1, 1, 8), a=4.05, vacuum=1.0)
    for atom in atoms:
        if atom.index >= 4:
            atom.symbol = "Ag"
    spacing = atoms.positions[1, 2] - atoms.positions[0, 2]
    atoms.cell[2] = [0.0, 0.0, 8 * spacing]  # no vacuum: the Ag top meets the Al bottom
    atoms.pbc = True
    atoms.positions[:, 2] += 2 * spacing
    atoms.wrap()
    s = AseAtomsAdaptor.get_structure(atoms)
    assert classify_structure(s) == "interface"
    lower, upper = split_interface(s, cyclic=True)
    assert sorted({s[i].specie.symbol for i in lower} | {s[i].specie.symbol for i in upper}) == ["Ag", "Al"]
    assert len({s[i].specie.symbol for i in lower}) == 1 and len({s[i].specie.symbol for i in upper}) == 1
    labelled = label_given_interface(s)
    assert sorted(labelled.site_properties["interface_label"]) == ["film"] * 4 + ["substrate"] * 4
    # one phase: no labels
    with pytest.raises(InvalidStructureError, match="one phase"):
        label_given_interface(AseAtomsAdaptor.get_structure(fcc111("Al", (1, 1, 6), vacuum=8.0)))


@pytest.mark.parametrize(("builder", "miller"), [(fcc100, (1, 0, 0)), (fcc110, (1, 1, 0)), (fcc111, (1, 1, 1))])
def test_given_slab_facet_from_its_in_plane_cell(builder, miller):
    """The facet of a slab file, whatever its orientation, from its in-plane cell and the bulk."""
    bulk = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.05), ["Al"], [[0, 0, 0]])
    slab = AseAtomsAdaptor.get_structure(builder("Al", (2, 1, 6), a=4.05, vacuum=8.0))
    assert given_slab_miller(slab, bulk) == [miller]
    # strained by 5 %: no facet fits, gamma would include a strain energy
    strained = AseAtomsAdaptor.get_structure(builder("Al", (2, 1, 6), a=4.05 * 1.05, vacuum=8.0))
    assert given_slab_miller(strained, bulk) == []
