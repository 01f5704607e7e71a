"""Hop enumeration, supercells, interstitial sites and NEB endpoints (no energy model).

Reference numbers come from independent code written here: hop orbits counted with
spglib's symmetry operations on the conventional cell, neighbour counts from pymatgen's
neighbour list, shortest lattice vectors by brute-force enumeration of lattice points,
and the crystallography of rock salt (tetrahedral 8c holes, NN at a/sqrt(2)).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import spglib
from pymatgen.core import Lattice, Structure

from interphases.errors import InterphasesError, InvalidStructureError
from interphases.structures import enumerate_candidates, get_phase
from interphases.structures.hops import (
    find_hops,
    find_interstitial_sites,
    hop_endpoints,
    in_plane_repeats,
    infer_ion,
    interface_hop_endpoints,
    min_image_distance,
    structure_charge,
    supercell_for_min_image,
)

warnings.filterwarnings("ignore", message="Structure charge")


# ------------------------------------------------------------------ independent references


def count_hop_orbits(structure: Structure, species: str, cutoff: float) -> dict[float, int]:
    """Distinct hops (orbits of unordered site pairs under the space group) up to ``cutoff``,
    keyed by rounded length. Written with spglib only, on whatever cell is given."""
    cell = (structure.lattice.matrix, structure.frac_coords, [s.specie.Z for s in structure])
    data = spglib.get_symmetry_dataset(cell, symprec=1e-3)
    ops = list(zip(data.rotations, data.translations))
    frac = np.array([s.frac_coords for s in structure if s.specie.symbol == species])
    lat = structure.lattice.matrix

    def canon(p: np.ndarray, q: np.ndarray) -> tuple:
        keys = []
        for a, b in ((p, q), (q, p)):
            shift = np.floor(np.round(a, 6))
            a0, b0 = np.round(a - shift, 4) % 1.0, np.round(b - shift, 4)
            keys.append(tuple(np.round(a0, 4)) + tuple(b0))
        return min(keys)

    orbits: dict[tuple, float] = {}
    for p in frac:
        for q in frac:
            for n in itertools.product(range(-2, 3), repeat=3):
                q_n = q + np.array(n)
                d = np.linalg.norm((q_n - p) @ lat)
                if d < 1e-6 or d > cutoff:
                    continue
                key = min(canon(r @ p + t, r @ q_n + t) for r, t in ops)
                orbits[key] = round(float(d), 3)
    counts: dict[float, int] = {}
    for d in orbits.values():
        counts[d] = counts.get(d, 0) + 1
    return counts


def shortest_vector_brute_force(matrix: np.ndarray, n: int = 3) -> float:
    return min(
        np.linalg.norm(np.array(c) @ matrix) for c in itertools.product(range(-n, n + 1), repeat=3) if any(c)
    )


# ------------------------------------------------------------------ distinct hops


@pytest.mark.parametrize("cutoff", [3.0, 4.1])
def test_rock_salt_lif_distinct_li_hops_match_symmetry_count(cutoff):
    lif = get_phase("LiF", cell="conventional")  # a = 4.03 Å, 8 atoms
    a = lif.lattice.a
    expected = count_hop_orbits(lif, "Li", cutoff)
    # rock salt: Li-Li at a/sqrt(2) (12 neighbours, one orbit) and a (6 neighbours, one orbit)
    assert expected == ({round(a / 2**0.5, 3): 1} if cutoff < a else {round(a / 2**0.5, 3): 1, round(a, 3): 1})
    network = find_hops(lif, "Li", cutoff=cutoff)
    assert len(network.hops) == sum(expected.values())
    assert [round(h.length, 3) for h in network.hops] == sorted(expected)
    assert all(h.equivalent_endpoints for h in network.hops)


def test_default_cutoff_is_the_nearest_neighbour_hop_in_lif():
    network = find_hops(get_phase("LiF"))  # ion inferred, cutoff from DistinctPathFinder
    assert network.ion == "Li" and len(network.hops) == 1
    assert network.hops[0].length == pytest.approx(get_phase("LiF").lattice.a / 2**0.5, abs=1e-3)


@pytest.mark.parametrize("name,cutoff", [("Li3N", 3.0), ("Li3N", 3.7), ("Li2O", 3.3), ("Li3PS4", 3.8), ("MgF2", 3.7)])
def test_hop_count_and_multiplicities_match_independent_counts(name, cutoff):
    phase = get_phase(name)
    ion = "Mg" if name == "MgF2" else "Li"
    expected = count_hop_orbits(phase, ion, cutoff)
    network = find_hops(phase, ion, cutoff=cutoff)
    assert len(network.hops) == sum(expected.values())
    assert sorted({round(h.length, 3) for h in network.hops}) == sorted(expected)
    # each edge has two ends: 2 x (edges per cell) = Li-Li neighbour pairs within the cutoff
    li = [i for i, s in enumerate(network.cell) if s.specie.symbol == ion]
    centers, neighbors, _, dist = network.cell.get_neighbor_list(cutoff + 0.01)
    pairs = sum(1 for c, n, d in zip(centers, neighbors, dist, strict=True) if c in li and n in li and d > 0.1)
    assert 2 * sum(h.multiplicity for h in network.hops) == pairs
    assert len(network.edges) == sum(h.multiplicity for h in network.hops)


def test_infer_ion_and_bad_input():
    assert infer_ion(get_phase("MgO")) == "Mg"
    assert infer_ion(get_phase("NaF")) == "Na"
    mixed = Structure(Lattice.cubic(4.0), ["Li", "Na", "F", "F"], [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    with pytest.raises(InterphasesError, match="Li, Na"):
        infer_ion(mixed)
    with pytest.raises(InterphasesError, match="has no Li"):
        find_hops(get_phase("MgO"), "Li")
    with pytest.raises(InterphasesError, match="mechanism"):
        find_hops(get_phase("LiF"), mechanism="exchange")


# ------------------------------------------------------------------ supercells


@pytest.mark.parametrize("name,min_image", [("LiF", 8.0), ("Li3N", 7.5), ("Li2O", 6.0), ("Li3PS4", 8.0)])
def test_supercell_reaches_min_image_with_fewest_atoms(name, min_image):
    network = find_hops(get_phase(name))
    prim = network.cell
    matrix, d = supercell_for_min_image(prim, min_image)
    sc_lattice = matrix @ prim.lattice.matrix
    assert d == pytest.approx(shortest_vector_brute_force(sc_lattice), abs=1e-6)
    assert d >= min_image
    n_atoms = round(abs(np.linalg.det(matrix))) * len(prim)
    # no diagonal supercell of the primitive cell with fewer atoms reaches min_image
    for ns in itertools.product(range(1, 6), repeat=3):
        if np.prod(ns) * len(prim) < n_atoms:
            assert shortest_vector_brute_force(np.diag(ns) @ prim.lattice.matrix) < min_image
    assert min_image_distance(Lattice(sc_lattice)) == pytest.approx(d)


def test_supercell_too_small_is_a_clear_error():
    prim = find_hops(get_phase("LiF")).cell
    with pytest.raises(InvalidStructureError, match="max-atoms"):
        supercell_for_min_image(prim, 20.0, max_atoms=100)


# ------------------------------------------------------------------ endpoints


def test_vacancy_endpoints_lif():
    network = find_hops(get_phase("LiF"))
    hop = network.hops[0]
    ep = hop_endpoints(network, hop, supercell_for_min_image(network.cell, 8.0)[0])
    ini, fin, m = ep.initial, ep.final, ep.moving_index
    assert len(ini) == len(fin) == 53
    assert ini.composition["Li"] == 26 and ini.composition["F"] == 27
    assert [s.species_string for s in ini] == [s.species_string for s in fin]
    assert ini[m].specie.symbol == "Li"
    assert structure_charge(ini) == structure_charge(fin) == -1.0
    # only the moving ion differs, by exactly the hop vector (unwrapped), of the NN length
    moved = np.linalg.norm(fin.cart_coords - ini.cart_coords, axis=1)
    assert np.count_nonzero(moved > 1e-8) == 1 and moved[m] == pytest.approx(hop.length, abs=1e-6)
    # the final position is the empty Li site: no other atom within 2 Å of it, and the
    # initial position of the moving ion is empty in the final state
    for s, idx in ((ini, m), (fin, m)):
        d = s.lattice.get_all_distances([fin[m].frac_coords if s is ini else ini[m].frac_coords], s.frac_coords)[0]
        d[idx] = np.inf
        assert d.min() > 2.0


def test_mg_vacancy_cell_charge_is_minus_two_and_metal_is_neutral():
    network = find_hops(get_phase("MgO"))
    ep = hop_endpoints(network, network.hops[0], supercell_for_min_image(network.cell, 6.0)[0])
    assert ep.charge == -2.0 and ep.initial[ep.moving_index].specie.symbol == "Mg"
    metal = find_hops(get_phase("Mg"))
    ep = hop_endpoints(metal, metal.hops[0], supercell_for_min_image(metal.cell, 6.0)[0])
    assert ep.charge == 0.0


def test_rock_salt_interstitial_sites_are_the_tetrahedral_holes():
    lif = get_phase("LiF", cell="conventional")
    a = lif.lattice.a
    (site,) = find_interstitial_sites(lif)
    assert len(site.frac_coords) == 8  # 8c: (1/4, 1/4, 1/4) and its 7 images
    assert site.distance == pytest.approx(3**0.5 / 4 * a, abs=0.02)
    expected = np.array(list(itertools.product((0.25, 0.75), repeat=3)))
    got = np.array(site.frac_coords)
    assert lif.lattice.get_all_distances(expected, got).min(axis=1).max() < 0.02


def test_interstitial_endpoints_lif():
    network = find_hops(get_phase("LiF"), mechanism="interstitial")
    hop = network.hops[0]
    assert hop.length == pytest.approx(get_phase("LiF").lattice.a / 2, abs=0.02)  # tetrahedral-tetrahedral
    ep = hop_endpoints(network, hop, supercell_for_min_image(network.cell, 8.0)[0])
    assert len(ep.initial) == 55 and ep.moving_index == 54 and ep.charge == 1.0
    assert ep.initial.composition["Li"] == 28
    d = ep.initial.lattice.get_all_distances([ep.initial[54].frac_coords], ep.initial.frac_coords[:54])
    assert d.min() == pytest.approx(3**0.5 / 4 * get_phase("LiF").lattice.a, abs=0.05)


# ------------------------------------------------------------------ interfaces


@pytest.fixture(scope="module")
def li_lif_candidate():
    cands = enumerate_candidates(
        get_phase("Li"), get_phase("LiF"), substrate_millers=[(1, 1, 0)], film_millers=[(1, 1, 0)],
        substrate_thickness=6, film_thickness=6, vacuum=10, max_area=40,
    )
    return cands[0]


def test_interface_vacancy_hop_from_lif_into_li(li_lif_candidate):
    iface = li_lif_candidate.interface
    (ep,) = interface_hop_endpoints(iface, "Li", from_side="film")
    ini, fin, m = ep.initial, ep.final, ep.moving_index
    assert len(ini) == len(iface) - 1 and [s.species_string for s in ini] == [s.species_string for s in fin]
    labels = ini.site_properties["interface_label"]
    assert labels[m] == "film" and ini[m].specie.symbol == "Li"
    assert ep.info["start_height"] > 0 > ep.info["end_height"]  # crosses the plane, film above
    assert ep.length <= 4.5 and ep.charge == 0.0  # metal side: neutral
    # the target is a Li site of the metal, emptied in the initial state
    metal_li = [s.frac_coords for s, lab in zip(iface, iface.site_properties["interface_label"], strict=True)
                if lab == "substrate" and s.specie.symbol == "Li"]
    assert iface.lattice.get_all_distances([fin[m].frac_coords], metal_li).min() < 1e-6
    # frozen atoms keep their flags in both endpoints
    assert ini.site_properties["selective_dynamics"] == fin.site_properties["selective_dynamics"]
    # the other way round
    (back,) = interface_hop_endpoints(iface, "Li", from_side="substrate")
    assert back.info["start_height"] < 0 < back.info["end_height"]


def test_in_plane_repeats():
    s = Structure(Lattice.from_parameters(3.0, 4.0, 20.0, 90, 90, 90), ["Al"], [[0, 0, 0]])
    assert in_plane_repeats(s, 7.5) == (3, 2)
    assert in_plane_repeats(s, 2.0) == (1, 1)


def test_oxidation_states_do_not_hide_the_ion():
    plain = find_hops(get_phase("Li3N"))
    decorated = find_hops(get_phase("Li3N", oxidation_states=True))
    assert [round(h.length, 4) for h in decorated.hops] == [round(h.length, 4) for h in plain.hops]
