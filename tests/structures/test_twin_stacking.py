"""fcc(111) | fcc(111): the smallest cell offers both stackings (twin and the untwinned fcc
continuation), and the fcc one has the EMT work of adhesion of the same interface built
with plain ASE (``ase.build.fcc111``)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import fcc111
from ase.calculators.emt import EMT
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from interphases.structures import enumerate_candidates

A_AL, A_AG = 4.05, 4.09


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def plane_steps(structure: Structure) -> list[np.ndarray]:
    """In-plane step (fractions of a, b) from each (111) plane to the next, bottom to top."""
    z = structure.cart_coords[:, 2]
    planes: list[list[int]] = []
    for i in np.argsort(z):
        if planes and abs(z[i] - z[planes[-1][0]]) < 0.5:
            planes[-1].append(int(i))
        else:
            planes.append([int(i)])
    f = [structure.frac_coords[p[0]][:2] for p in planes]
    return [np.mod(f[i + 1] - f[i] + 1e-6, 1.0) for i in range(len(f) - 1)]


def is_fcc_continuation(structure: Structure) -> bool:
    """ABCABC...: the same in-plane step between every pair of neighbouring planes."""
    steps = plane_steps(structure)
    return all(np.allclose(s, steps[0], atol=0.02) for s in steps)


def emt_energy(structure) -> float:
    atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure)) if not hasattr(structure, "calc") else structure
    atoms.calc = EMT()
    return float(atoms.get_potential_energy())


def test_smallest_cell_has_fcc_and_twin_stackings_and_emt_wad_matches_ase():
    cands = enumerate_candidates(
        fcc("Al", A_AL), fcc("Ag", A_AG), substrate_millers=[(1, 1, 1)], film_millers=[(1, 1, 1)],
        max_area=25, substrate_thickness=5.0, film_thickness=5.0, vacuum=10.0, gap=2.3,
    )
    smallest = min(c.area for c in cands)
    assert smallest == pytest.approx(np.sqrt(3) / 4 * A_AL**2, rel=1e-6)  # the 1x1 (111) cell
    fcc_found, twin_found = [], False
    for c in (c for c in cands if abs(c.area - smallest) < 1e-6):
        for shift in c.in_plane_shifts:
            s = Structure.from_sites(c.interface_at(shift))
            if is_fcc_continuation(s):
                fcc_found.append((c, shift))
            steps = plane_steps(s)
            # twin: the film's steps run the other way round (ABC|CBA)
            twin_found |= not np.allclose(steps[0], steps[-1], atol=0.02)
    assert fcc_found and twin_found

    # W_ad (EMT, unrelaxed) of the fcc-stacked candidate against plain ASE on the same interface
    c, shift = fcc_found[0]
    iface = c.interface_at(shift)
    area = c.area
    e_ab = emt_energy(iface)
    e_a = emt_energy(Structure.from_sites([iface[i] for i in iface.substrate_indices]).copy())
    e_b = emt_energy(Structure.from_sites([iface[i] for i in iface.film_indices]).copy())
    w_project = (e_a + e_b - e_ab) / area * 16.021766

    n_al, n_ag = c.n_atoms_substrate, c.n_atoms_film
    # one fcc111 stack of n_al + n_ag planes (ABCABC...): the upper n_ag planes become Ag,
    # strained in plane onto Al (as the film of the interface), Ag interplanar spacing kept
    both = fcc111("Al", size=(1, 1, n_al + n_ag), a=A_AL, orthogonal=False)
    assert np.all(np.diff(both.positions[:, 2]) > 0)  # planes bottom to top
    z_top = both.positions[n_al - 1, 2]
    for k in range(n_ag):
        both[n_al + k].symbol = "Ag"
        both.positions[n_al + k, 2] = z_top + c.gap + k * A_AG / np.sqrt(3)
    both.cell[2] = [0, 0, both.positions[:, 2].max() + 20.0]
    film = both[[a.index for a in both if a.symbol == "Ag"]]
    sub = both[[a.index for a in both if a.symbol == "Al"]]
    e = {}
    for name, atoms in (("ab", both), ("a", sub), ("b", film)):
        atoms.calc = EMT()
        e[name] = atoms.get_potential_energy()
    area_ase = np.linalg.norm(np.cross(both.cell[0], both.cell[1]))
    w_ase = (e["a"] + e["b"] - e["ab"]) / area_ase * 16.021766
    assert area == pytest.approx(area_ase, rel=1e-6)
    assert w_project == pytest.approx(w_ase, abs=0.005)
    assert w_project > 0.5
