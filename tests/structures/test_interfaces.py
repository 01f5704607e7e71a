"""Interface candidates against a direct pymatgen run, and the geometry of the built cells.

The bulk phases are written here with pymatgen from their crystallographic facts (bcc Li,
rock-salt LiF), so the test does not depend on the library module.
"""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
from pymatgen.analysis.elasticity.strain import Deformation
from pymatgen.analysis.interfaces import CoherentInterfaceBuilder, ZSLGenerator
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from interphases.errors import InvalidStructureError
from interphases.structures.interfaces import (
    InterfaceCandidate,
    enumerate_candidates,
    load_candidates,
    registry_shifts,
    write_candidates,
)

SUB_MILLERS = [(1, 0, 0), (1, 1, 0)]
FILM_MILLERS = [(1, 0, 0), (1, 1, 1)]
OPTIONS = dict(
    max_area=60.0,
    max_strain=0.05,
    substrate_thickness=6.0,
    film_thickness=6.0,
    gap=2.0,
    vacuum=10.0,
    # the raw (polar) LiF(111) cuts too: these tests compare the cuts with pymatgen's own
    # builder; the default (non-polar reconstructions only) is tested in test_polar_slabs.py
    allow_polar=True,
)


def bcc_li() -> Structure:
    return Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])


def rocksalt_lif() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


@pytest.fixture(scope="module")
def li_lif() -> list[InterfaceCandidate]:
    return enumerate_candidates(
        bcc_li(),
        rocksalt_lif(),
        substrate_millers=SUB_MILLERS,
        film_millers=FILM_MILLERS,
        **OPTIONS,
    )


@pytest.fixture(scope="module")
def li_lif_sandwich() -> list[InterfaceCandidate]:
    return enumerate_candidates(
        bcc_li(),
        rocksalt_lif(),
        substrate_millers=[(1, 1, 0)],
        film_millers=[(1, 1, 1)],
        cell_model="sandwich",
        **OPTIONS,
    )


def principal_strains(transformation) -> tuple[float, float]:
    """In-plane principal stretches - 1 of a ZSL match (the two eigenvalues of sqrt(F^T F) that are not the normal)."""
    f = np.asarray(transformation, dtype=float)
    stretches = np.sqrt(np.linalg.eigvalsh(f.T @ f))
    # the normal is mapped with unit stretch; drop the eigenvalue closest to 1 that belongs to it
    normal_like = np.argmin(np.abs(stretches - 1.0))
    return tuple(sorted(np.delete(stretches, normal_like) - 1.0))


@pytest.fixture(scope="module")
def pymatgen_reference(li_lif):
    """pymatgen's own builder on the same inputs: {(sub, film Miller): (strain-filtered ZSL matches, interfaces)}."""
    sizes: dict = {}
    for c in li_lif:
        sizes.setdefault(("sub", c.substrate_miller), set()).add(round(c.substrate_slab_size, 6))
        sizes.setdefault(("film", c.film_miller), set()).add(round(c.film_slab_size, 6))
    # one slab size per Miller index here, so one pymatgen thickness reproduces ours
    assert all(len(v) == 1 for v in sizes.values())
    zsl = ZSLGenerator(max_area=60.0, max_length_tol=0.05, max_angle_tol=0.05, bidirectional=True)
    out = {}
    for sm in SUB_MILLERS:
        for fm in FILM_MILLERS:
            builder = CoherentInterfaceBuilder(
                bcc_li(),
                rocksalt_lif(),
                fm,
                sm,
                zslgen=zsl,
                label_index=True,
                filter_out_sym_slabs=False,
            )
            matches = [
                m
                for m in builder.zsl_matches
                if max(abs(x) for x in principal_strains(m.match_transformation)) <= 0.05
            ]
            interfaces = []
            if matches:
                builder.zsl_matches = matches
                for term in builder.terminations:
                    interfaces += builder.get_interfaces(
                        term,
                        gap=2.0,
                        vacuum_over_film=10.0,
                        film_thickness=next(iter(sizes[("film", fm)])),
                        substrate_thickness=next(iter(sizes[("sub", sm)])),
                        in_layers=False,
                    )
            out[(sm, fm)] = (matches, interfaces)
    return out


def _sub_area(match) -> float:
    a, b = np.asarray(match.substrate_sl_vectors, dtype=float)
    return float(np.linalg.norm(np.cross(a, b)))


def test_same_zsl_matches_as_pymatgen(li_lif, pymatgen_reference):
    for (sm, fm), (matches, _) in pymatgen_reference.items():
        states = {
            tuple(round(x, 5) for x in principal_strains(m.match_transformation)) for m in matches
        }
        ours = [c for c in li_lif if c.substrate_miller == sm and c.film_miller == fm]
        # every strain state pymatgen finds is among ours, and ours are all pymatgen's
        assert states == {tuple(round(x, 5) for x in c.principal_strains) for c in ours}
        von_mises = {
            round(Deformation(m.match_transformation).green_lagrange_strain.von_mises_strain, 8)
            for m in matches
        }
        assert von_mises == {round(c.von_mises_strain, 8) for c in ours}
        for c in ours:
            assert c.max_linear_strain <= 0.05 + 1e-9
            assert c.area <= 60.0 + 1e-6
            assert any(abs(_sub_area(m) - c.area) < 1e-6 for m in matches)


def test_no_interface_lost_against_pymatgen(li_lif, pymatgen_reference):
    """Each pymatgen interface is one of ours (or a supercell of one): same planes, same strain."""
    matcher = StructureMatcher(ltol=0.02, stol=0.1, angle_tol=1.0, primitive_cell=True, scale=False)
    reference = [
        (sm, fm, ref) for (sm, fm), (_, ifaces) in pymatgen_reference.items() for ref in ifaces
    ]
    assert len(reference) > len(li_lif)  # pymatgen's output has duplicates
    for sm, fm, ref in reference:
        found = False
        for c in li_lif:
            if (c.substrate_miller, c.film_miller) != (sm, fm):
                continue
            ratio = ref.lattice.volume / ref.lattice.c / c.area
            if abs(ratio - round(ratio)) > 1e-3:
                continue
            if not np.allclose(
                sorted(np.abs(c.principal_strains)), sorted(np.abs(_gl_to_stretch(ref))), atol=1e-4
            ):
                continue
            if abs(c.von_mises_strain - ref.interface_properties["von_mises_strain"]) > 1e-8:
                continue
            if matcher.fit(c.interface.substrate, ref.substrate) and matcher.fit(
                c.interface.film, ref.film
            ):
                found = True
                break
        assert found, (
            f"pymatgen interface {sm}|{fm} {ref.interface_properties['termination']} has no candidate"
        )


def _gl_to_stretch(iface) -> np.ndarray:
    """In-plane principal stretches - 1 from pymatgen's Green-Lagrange strain E: lambda = sqrt(1 + 2 e)."""
    e = np.linalg.eigvalsh(np.asarray(iface.interface_properties["strain"], dtype=float))
    lam = np.sqrt(1.0 + 2.0 * e) - 1.0
    return np.delete(lam, np.argmin(np.abs(lam)))


def test_no_duplicates_left(li_lif):
    matcher = StructureMatcher(
        ltol=0.02, stol=0.1, angle_tol=1.0, primitive_cell=False, scale=False
    )
    assert len({c.candidate_id for c in li_lif}) == len(li_lif)
    for a, b in combinations(li_lif, 2):
        if a.n_atoms == b.n_atoms and a.miller_pair == b.miller_pair:
            assert not matcher.fit(a.interface, b.interface, skip_structure_reduction=True), (
                a.candidate_id,
                b.candidate_id,
            )


def test_both_lif111_terminations_kept(li_lif):
    """Rock-salt (111) is Li- or F-terminated: both must face the Li substrate."""
    planes = {c.film_plane for c in li_lif if c.film_miller == (1, 1, 1)}
    assert planes == {"Li", "F"}


def _z_profile(iface):
    """Cell height and raw z of substrate and film atoms (pymatgen builds interfaces unwrapped)."""
    labels = np.array(iface.site_properties["interface_label"])
    z = iface.cart_coords[:, 2]
    return iface.lattice.matrix[2, 2], z[labels == "substrate"], z[labels == "film"]


def test_thickness_gap_vacuum_in_angstrom(li_lif):
    for cand in li_lif:
        iface = cand.interface
        assert np.allclose(iface.lattice.matrix[2, :2], 0.0, atol=1e-8)  # c normal to the interface
        c, zs, zf = _z_profile(iface)
        # slab model: the film sits above the substrate with nothing across the boundary
        assert zs.min() < zs.max() < zf.min() < zf.max()
        assert zf.min() - zs.max() == pytest.approx(2.0, abs=1e-6)
        assert (zs.min() + c) - zf.max() == pytest.approx(10.0, abs=1e-6)
        assert zs.max() - zs.min() >= 6.0 - 1e-6
        assert zf.max() - zf.min() >= 6.0 - 1e-6
        assert cand.gap == pytest.approx(2.0, abs=1e-6) and cand.vacuum == pytest.approx(
            10.0, abs=1e-6
        )
        assert cand.n_atoms == len(iface) == cand.n_atoms_film + cand.n_atoms_substrate


def test_frozen_atoms_are_bottom_substrate(li_lif):
    for cand in li_lif:
        iface = cand.interface
        c, zs, zf = _z_profile(iface)
        z = iface.cart_coords[:, 2] % c
        sd = np.array(iface.site_properties["selective_dynamics"])
        frozen = ~sd.any(axis=1)
        labels = np.array(iface.site_properties["interface_label"])
        assert frozen.sum() == cand.n_fixed > 0
        assert set(labels[frozen]) == {"substrate"}
        # all frozen atoms lie in the lower half of the substrate, every free substrate atom above them
        assert z[frozen].max() < zs.min() + 0.5 * (zs.max() - zs.min()) + 1e-6
        assert z[frozen].max() < z[(~frozen) & (labels == "substrate")].min()


def test_sandwich_has_two_equal_gaps(li_lif_sandwich):
    assert li_lif_sandwich
    for cand in li_lif_sandwich:
        c, zs, zf = _z_profile(cand.interface)
        # substrate, gap, film, gap, periodic image of the substrate: no vacuum anywhere
        assert zs.max() < zf.min()
        assert zf.min() - zs.max() == pytest.approx(2.0, abs=1e-6)
        assert (zs.min() + c) - zf.max() == pytest.approx(2.0, abs=1e-6)
        assert cand.vacuum == 0.0 and cand.second_gap == pytest.approx(2.0, abs=1e-6)
        frozen = ~np.array(cand.interface.site_properties["selective_dynamics"]).any(axis=1)
        labels = np.array(cand.interface.site_properties["interface_label"])
        z = cand.interface.cart_coords[:, 2]
        # frozen: the middle of the substrate, away from both interfaces
        assert frozen.any() and set(labels[frozen]) == {"substrate"}
        assert z[frozen].min() > zs.min() + 1e-6 and z[frozen].max() < zs.max() - 1e-6


def _same_up_to_translation(a: Structure, b: Structure, tol: float = 0.05) -> bool:
    """True when b is a rigidly translated copy of a (no rotation): try every t = a_0 - b_j."""
    fa, fb = a.frac_coords, b.frac_coords
    spa, spb = np.array(a.species), np.array(b.species)
    for j in np.flatnonzero(spb == spa[0]):
        t = fa[0] - fb[j]
        moved = fb + t
        ok = True
        for sp in set(spa):
            d = moved[spb == sp][:, None, :] - fa[spa == sp][None, :, :]
            d -= np.round(d)
            dist = np.linalg.norm(d @ a.lattice.matrix, axis=2)
            if dist.min(axis=1).max() > tol:
                ok = False
                break
        if ok:
            return True
    return False


def test_registries_are_distinct_and_include_on_top(li_lif):
    for cand in li_lif[:3]:
        shifts = cand.in_plane_shifts
        assert shifts[0] == (0.0, 0.0)
        assert all(0.0 <= x < 1.0 for s in shifts for x in s)
        structures = [cand.interface_at(s) for s in shifts]
        for s in structures:  # moving the film keeps its atoms and the gap
            assert len(s) == len(cand.interface)
            assert np.allclose(
                sorted(s.cart_coords[:, 2]), sorted(cand.interface.cart_coords[:, 2]), atol=1e-6
            )
        # no two registries are the same interface moved rigidly (film or substrate lattice translations)
        for a, b in combinations(structures, 2):
            assert not _same_up_to_translation(Structure.from_sites(a), Structure.from_sites(b))

        # one registry puts an interface film atom right above a top substrate atom
        def on_top(iface) -> float:
            labels = np.array(iface.site_properties["interface_label"])
            z = iface.cart_coords[:, 2]
            top = (labels == "substrate") & (z > z[labels == "substrate"].max() - 0.3)
            bottom = (labels == "film") & (z < z[labels == "film"].min() + 0.3)
            d = iface.frac_coords[bottom][:, None, :2] - iface.frac_coords[top][None, :, :2]
            d -= np.round(d)
            return float(np.linalg.norm(d @ iface.lattice.matrix[:2, :2], axis=2).min())

        assert min(on_top(s) for s in structures) < 0.15
    # the structure scan of a built interface finds the same kind of set
    slow, kinds = registry_shifts(li_lif[0].interface)
    assert slow[0] == (0.0, 0.0) and set(kinds) == {"site"}
    assert abs(len(slow) - len(li_lif[0].in_plane_shifts)) <= len(li_lif[0].in_plane_shifts)


def test_registry_grid_adds_shifts():
    cands = enumerate_candidates(
        bcc_li(),
        rocksalt_lif(),
        substrate_millers=[(1, 1, 0)],
        film_millers=[(1, 0, 0)],
        registry_grid=(3, 3),
        **OPTIONS,
    )
    assert cands
    kinds = {k for c in cands for k in c.shift_kinds}
    assert kinds == {"site", "grid"}
    for c in cands:
        assert len(c.in_plane_shifts) == len(c.shift_kinds) == len(set(c.in_plane_shifts))


def test_json_round_trip(li_lif, tmp_path):
    cand = li_lif[0]
    back = InterfaceCandidate.from_json(cand.to_json())
    assert back.candidate_id == cand.candidate_id
    assert back.interface == cand.interface
    assert (
        back.interface.site_properties["interface_label"]
        == cand.interface.site_properties["interface_label"]
    )
    assert (
        back.interface.site_properties["selective_dynamics"]
        == cand.interface.site_properties["selective_dynamics"]
    )
    assert back.interface.gap == pytest.approx(cand.interface.gap)
    paths = write_candidates(li_lif, tmp_path)
    assert len(paths) == len(li_lif) and all(p.exists() for p in paths)
    loaded = load_candidates(tmp_path / "candidates.json")
    assert [c.candidate_id for c in loaded] == [c.candidate_id for c in li_lif]
    json.loads((tmp_path / "candidates.json").read_text())  # plain JSON


def test_ranked_and_stable_ids(li_lif):
    keys = [(round(c.von_mises_strain, 6), round(c.area, 3), c.n_atoms) for c in li_lif]
    assert keys == sorted(keys)
    again = enumerate_candidates(
        bcc_li(), rocksalt_lif(), substrate_millers=[(1, 1, 0)], film_millers=[(1, 1, 1)], **OPTIONS
    )
    assert {c.candidate_id for c in again} <= {c.candidate_id for c in li_lif}


def test_limits_and_bad_input():
    few = enumerate_candidates(
        bcc_li(),
        rocksalt_lif(),
        substrate_millers=[(1, 1, 0)],
        film_millers=[(1, 1, 1)],
        max_atoms=50,
        **OPTIONS,
    )
    assert all(c.n_atoms <= 50 for c in few)
    with pytest.raises(InvalidStructureError, match="cell_model"):
        enumerate_candidates(bcc_li(), rocksalt_lif(), cell_model="bulk")
    with pytest.raises(InvalidStructureError, match="max_strain"):
        enumerate_candidates(bcc_li(), rocksalt_lif(), max_strain=5)


def _helix_signs(structure: Structure) -> set[int]:
    """Handedness of the Te helices: sign of (b1 x b2) . b3 for three consecutive bonds (< 3 Å).

    A proper rotation keeps it, a mirror flips it.
    """
    signs = set()
    for site in structure:
        nbs = structure.get_neighbors(site, 3.0)
        if len(nbs) != 2:
            continue
        a, c = nbs
        after = [
            n
            for n in structure.get_neighbors(c, 3.0)
            if np.linalg.norm(n.coords - site.coords) > 0.1
        ]
        if len(after) != 1:
            continue
        b1, b2, b3 = site.coords - a.coords, c.coords - site.coords, after[0].coords - c.coords
        triple = float(np.dot(np.cross(b1, b2), b3))
        if abs(triple) > 0.1:
            signs.add(int(np.sign(triple)))
    return signs


def test_chiral_film_is_not_mirrored():
    """Te (P3_121) helices keep their handedness in both slabs of every candidate.

    pymatgen's Interface.from_slabs turns the film over with a mirror and mirrors a
    substrate whose supercell is left-handed; for a chiral crystal that would build the
    other enantiomer.
    """
    te = Structure.from_spacegroup(
        "P3_121", Lattice.hexagonal(4.457, 5.929), ["Te"], [[0.2636, 0, 1 / 3]]
    )
    bulk = _helix_signs(te)
    assert len(bulk) == 1
    cands = enumerate_candidates(
        te,
        te,
        substrate_millers=[(0, 0, 1)],
        film_millers=[(0, 0, 1)],
        max_area=60.0,
        substrate_thickness=8.0,
        film_thickness=8.0,
    )
    assert cands
    for cand in cands:
        assert _helix_signs(cand.interface.film) == bulk
        assert _helix_signs(cand.interface.substrate) == bulk
