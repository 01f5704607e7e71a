"""Slabs: Miller indices, terminations, thickness/vacuum in Å, Tasker types, frozen layers.

Bulk phases are written here from their crystallographic facts with pymatgen.
"""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from interphases.errors import InvalidStructureError
from interphases.structures.slabs import SlabRecord, generate_slabs, load_slabs, write_slabs


def bcc_li() -> Structure:
    return Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])


def hcp_mg() -> Structure:
    return Structure.from_spacegroup(
        "P6_3/mmc", Lattice.hexagonal(3.21, 5.21), ["Mg"], [[1 / 3, 2 / 3, 0.25]]
    )


def rocksalt_lif() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def fluorite_caf2() -> Structure:
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.46), ["Ca", "F"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )


def beta_li3ps4() -> Structure:
    """beta-Li3PS4, Pnma (Homma et al., Solid State Ionics 182, 53 (2011)), Li on 8d + 4b: 32 atoms."""
    return Structure.from_spacegroup(
        "Pnma",
        Lattice.orthorhombic(12.819, 8.2195, 6.1236),
        ["Li", "Li", "P", "S", "S", "S"],
        [
            [0.1517, 0.5136, 0.9357],
            [0.0, 0.0, 0.5],
            [0.0944, 0.25, 0.1616],
            [0.1509, 0.0544, 0.2813],
            [0.0741, 0.75, 0.7367],
            [0.1042, 0.25, 0.8383],
        ],
    )


def measured(slab: Structure) -> tuple[np.ndarray, float, float]:
    """Heights above the lowest atom, thickness and vacuum, from Cartesian z (c must be along z)."""
    assert np.allclose(slab.lattice.matrix[2, :2], 0.0, atol=1e-8)
    assert np.allclose(slab.lattice.matrix[:2, 2], 0.0, atol=1e-8)
    z = slab.cart_coords[:, 2]
    c = slab.lattice.matrix[2, 2]
    assert z.min() >= -1e-6 and z.max() <= c + 1e-6  # not wrapped through the boundary
    return z - z.min(), z.max() - z.min(), c - (z.max() - z.min())


@pytest.fixture(scope="module")
def lif_slabs() -> list[SlabRecord]:
    return generate_slabs(rocksalt_lif(), max_index=1, min_thickness=8.0, vacuum=12.0)


def test_distinct_miller_indices_cubic_vs_hexagonal():
    cubic = {
        r.miller_index for r in generate_slabs(bcc_li(), max_index=1, min_thickness=5.0, vacuum=8.0)
    }
    assert cubic == {(1, 0, 0), (1, 1, 0), (1, 1, 1)}
    hexagonal = {
        r.miller_index for r in generate_slabs(hcp_mg(), max_index=1, min_thickness=5.0, vacuum=8.0)
    }
    # hcp, indices <= 1: basal (001), prismatic (100) and (110), pyramidal (101) and (111)
    assert hexagonal == {(0, 0, 1), (1, 0, 0), (1, 1, 0), (1, 0, 1), (1, 1, 1)}


def test_hcp_prismatic_has_two_terminations():
    """hcp (10-10) is cut either between the closely spaced planes or between the widely spaced ones."""
    recs = generate_slabs(hcp_mg(), miller_indices=[(1, 0, 0)], min_thickness=6.0, vacuum=8.0)
    assert len(recs) == 2
    spacings = set()
    for r in recs:
        heights, _, _ = measured(r.slab)
        planes = np.unique(np.round(heights, 2))
        spacings.add(round(float(planes[1] - planes[0]), 2))
    assert len(spacings) == 2  # the two terminations expose different first interplanar spacings


def test_thickness_and_vacuum_in_angstrom(lif_slabs):
    for rec in lif_slabs:
        _, thickness, vacuum = measured(rec.slab)
        assert thickness >= 8.0 - 1e-6
        assert vacuum == pytest.approx(12.0, abs=1e-6)
        assert rec.thickness == pytest.approx(thickness, abs=1e-6)
        assert rec.vacuum == pytest.approx(vacuum, abs=1e-6)
        assert rec.area == pytest.approx(
            abs(np.linalg.det(rec.slab.lattice.matrix)) / rec.slab.lattice.c
        )


def test_tasker_types_rock_salt():
    # allow_polar: the charged symmetrised (111) slabs are built too (left out by default)
    recs = generate_slabs(
        rocksalt_lif(),
        miller_indices=[(1, 0, 0), (1, 1, 1)],
        min_thickness=8.0,
        vacuum=10.0,
        allow_polar=True,
    )
    by_hkl = {}
    for r in recs:
        by_hkl.setdefault(r.miller_index, []).append(r)
    # (100): Li and F in every plane: neutral planes, Tasker 1
    assert {r.tasker_type for r in by_hkl[(1, 0, 0)]} == {1}
    assert all(r.symmetric and r.stoichiometric and not r.polar for r in by_hkl[(1, 0, 0)])
    # (111): alternating Li+ and F- planes, Tasker 3; both terminations kept; the symmetric
    # slabs of the plain cut are non-stoichiometric (an extra Li or F plane, net charge +-1
    # per cell): polar (charged), not "polar: no" as before; the octopolar p(2x2)
    # reconstructions of both are stoichiometric, neutral and non-polar
    assert {r.tasker_type for r in by_hkl[(1, 1, 1)]} == {3}
    assert {r.top_termination for r in by_hkl[(1, 1, 1)]} == {"Li", "F"}
    charged = [r for r in by_hkl[(1, 1, 1)] if r.reconstruction is None]
    octo = [r for r in by_hkl[(1, 1, 1)] if r.reconstruction == "octopolar"]
    assert len(charged) == 2 and len(octo) == 2
    for r in charged:
        assert r.symmetric and not r.stoichiometric and r.polar and r.charged
        charge = sum({"Li": 1, "F": -1}[s.specie.symbol] for s in r.slab)
        assert r.net_charge == pytest.approx(charge) and abs(charge) == 1
    for r in octo:
        assert r.stoichiometric and not r.polar and r.net_charge == 0
    # sound slabs first
    assert [r.sound for r in by_hkl[(1, 1, 1)]] == [True, True, False, False]


def test_tasker_type_2_fluorite_111():
    recs = generate_slabs(
        fluorite_caf2(), miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0
    )
    best = recs[0]  # symmetric and stoichiometric first
    assert best.symmetric and best.stoichiometric and not best.polar
    # F-Ca-F trilayers: charged planes, no dipole, F on both surfaces (Tasker 1979)
    assert best.tasker_type == 2
    assert best.top_termination == best.bottom_termination == "F"
    # the cut inside a trilayer leaves a dipole: Tasker 3, built only with allow_polar
    assert all(not r.polar for r in recs)
    polar = generate_slabs(
        fluorite_caf2(), miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0, allow_polar=True
    )
    assert any(r.tasker_type == 3 and r.polar for r in polar)


def test_dipole_from_formal_charges(lif_slabs):
    """The reported dipole is sum q_i (z_i - <z>) / A, computed here independently."""
    for rec in lif_slabs:
        heights, _, _ = measured(rec.slab)
        q = np.array([{"Li": 1.0, "F": -1.0}[s.specie.symbol] for s in rec.slab])
        dipole = float(np.sum(q * (heights - heights.mean()))) / rec.area
        assert rec.dipole_per_area == pytest.approx(dipole, abs=1e-8)
        charge = float(q.sum())
        assert rec.net_charge == pytest.approx(charge, abs=1e-8)
        # polar: a dipole normal to the surface or a net charge
        assert rec.polar == (abs(dipole) > 1e-3 or abs(charge) > 1e-3)


def test_fixed_atoms_at_the_bottom_only(lif_slabs):
    for rec in lif_slabs:
        heights, thickness, _ = measured(rec.slab)
        sd = np.array(rec.slab.site_properties["selective_dynamics"])
        frozen = ~sd.any(axis=1)
        assert frozen.sum() == rec.n_fixed > 0
        assert np.all(sd[frozen] == False)  # noqa: E712 - frozen in x, y and z
        assert heights[frozen].max() < 0.5 * thickness
        assert heights[frozen].max() < heights[~frozen].min()
    recs = generate_slabs(
        rocksalt_lif(),
        miller_indices=[(1, 0, 0)],
        min_thickness=8.0,
        vacuum=10.0,
        fixed_thickness=1.0,
    )
    heights, _, _ = measured(recs[0].slab)
    frozen = ~np.array(recs[0].slab.site_properties["selective_dynamics"]).any(axis=1)
    assert set(np.round(heights[frozen], 3)) == {0.0}  # only the bottom plane
    none = generate_slabs(
        rocksalt_lif(),
        miller_indices=[(1, 0, 0)],
        min_thickness=8.0,
        vacuum=10.0,
        fixed_fraction=0.0,
    )
    assert none[0].n_fixed == 0


def test_ps4_units_never_cut():
    """beta-Li3PS4: every P keeps its four S (P-S 2.05 Å), on an intact cut (100) and a repaired one (001)."""
    recs = generate_slabs(  # the (001) cuts are polar: built here for the PS4 check only
        beta_li3ps4(),
        miller_indices=[(1, 0, 0), (0, 0, 1)],
        min_thickness=8.0,
        vacuum=10.0,
        allow_polar=True,
    )
    assert {r.miller_index for r in recs} == {(1, 0, 0), (0, 0, 1)}
    for rec in recs:
        for site in rec.slab:
            if site.specie.symbol == "P":
                n_s = sum(1 for nn in rec.slab.get_neighbors(site, 2.3) if nn.specie.symbol == "S")
                assert n_s == 4, (rec.miller_index, rec.shift)
        assert rec.thickness >= 8.0 - 1e-6
    assert any(r.repaired for r in recs if r.miller_index == (0, 0, 1))
    assert not any(r.repaired for r in recs if r.miller_index == (1, 0, 0))


def test_json_round_trip_and_files(lif_slabs, tmp_path):
    rec = lif_slabs[0]
    back = SlabRecord.from_json(rec.to_json())
    assert back.slab == rec.slab and back.miller_index == rec.miller_index
    assert (
        back.slab.site_properties["selective_dynamics"]
        == rec.slab.site_properties["selective_dynamics"]
    )
    assert back.tasker_type == rec.tasker_type and back.thickness == rec.thickness
    paths = write_slabs(lif_slabs, tmp_path)
    assert len(paths) == len(lif_slabs) and all(p.exists() for p in paths)
    assert "Selective dynamics" in paths[0].read_text()
    assert [r.slab for r in load_slabs(tmp_path / "slabs.json")] == [r.slab for r in lif_slabs]


def test_bad_input():
    with pytest.raises(InvalidStructureError, match="max_index"):
        generate_slabs(bcc_li(), max_index=0)
    with pytest.raises(InvalidStructureError, match="Miller"):
        generate_slabs(bcc_li(), miller_indices=[(0, 0, 0)])
    disordered = bcc_li()
    disordered.replace_species({"Li": {"Li": 0.5, "Na": 0.5}})
    with pytest.raises(InvalidStructureError, match="partial occupancies"):
        generate_slabs(disordered)
