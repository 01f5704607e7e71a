"""Polarity, charge and non-polar reconstructions of slabs, checked against independent
numbers: pymatgen's oxidation-state decoration (``add_oxidation_state_by_element``,
``Structure.charge``, ``Slab.is_polar``) and a plain numpy dipole."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pymatgen.core import Composition, Lattice, Structure
from pymatgen.core.surface import SlabGenerator

from interphases.structures.slabs import (
    PolarSlabWarning,
    _record,
    binary_chemical_potential_range,
    gamma_range,
    generate_slabs,
    oxidation_states,
)

LIF_Q = {"Li": 1, "F": -1}


def rocksalt(a: float, cation: str, anion: str) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def independent(slab: Structure, charges: dict[str, int]) -> tuple[float, float, bool]:
    """(dipole along the normal per area e/Å, net charge e, pymatgen is_polar) without interphases."""
    dec = slab.copy()
    dec.add_oxidation_state_by_element(charges)
    normal = np.cross(slab.lattice.matrix[0], slab.lattice.matrix[1])
    area = float(np.linalg.norm(normal))
    normal /= area
    z = slab.cart_coords @ normal
    q = np.array([s.specie.oxi_state for s in dec])
    dipole = float(np.sum(q * (z - z.mean()))) / area
    return dipole, float(dec.charge), bool(dec.is_polar()) if hasattr(dec, "is_polar") else None


def test_lif_111_default_is_octopolar_nonpolar_and_stoichiometric():
    with pytest.warns(PolarSlabWarning, match=r"charge -1 e"):
        recs = generate_slabs(rocksalt(4.03, "Li", "F"), miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0)
    assert len(recs) == 2 and {r.top_termination for r in recs} == {"Li", "F"}
    for r in recs:
        dipole, charge, pmg_polar = independent(r.slab, LIF_Q)
        assert r.reconstruction == "octopolar" and r.tasker_type == 3
        assert abs(dipole) < 1e-8 and charge == 0 and not pmg_polar
        assert r.dipole_per_area == pytest.approx(dipole, abs=1e-8) and r.net_charge == 0
        assert not r.polar and r.stoichiometric and r.sound
        assert r.slab.composition.reduced_formula == "LiF"
        assert r.slab.is_symmetric()
        # p(2x2): four times the (111) cell; outer plane 1 atom, next plane 3 atoms
        assert r.area == pytest.approx(4 * np.sqrt(3) / 2 * (4.03 / np.sqrt(2)) ** 2, rel=1e-6)
        normal = np.cross(*r.slab.lattice.matrix[:2])
        z = r.slab.cart_coords @ (normal / np.linalg.norm(normal))
        planes = np.unique(np.round(z, 2))
        counts = [int(np.sum(np.isclose(np.round(z, 2), p))) for p in planes]
        assert counts[0] == counts[-1] == 1 and counts[1] == counts[-2] == 3
        assert set(counts[2:-2]) == {4}


def test_lif_111_as_cut_is_reported_polar():
    """The raw cuts, built on request: dipolar (asymmetric) or charged (symmetric), never 'polar: no'."""
    lif = rocksalt(4.03, "Li", "F")
    asym = generate_slabs(lif, miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0, symmetric=False, allow_polar=True)
    sym = generate_slabs(lif, miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0, allow_polar=True)
    dipolar = [r for r in asym if r.reconstruction is None]
    charged = [r for r in sym if r.reconstruction is None]
    assert dipolar and charged
    for r in dipolar:
        dipole, charge, pmg_polar = independent(r.slab, LIF_Q)
        assert abs(dipole) > 0.01 and pmg_polar and charge == 0
        assert r.dipole_per_area == pytest.approx(dipole, abs=1e-8)
        assert r.polar and r.dipolar and not r.charged and r.stoichiometric
    for r in charged:
        _, charge, _ = independent(r.slab, LIF_Q)
        assert abs(charge) == 1 and r.net_charge == pytest.approx(charge)
        assert r.polar and r.charged and not r.stoichiometric


def test_lif_100_tasker_1_and_mgo_111_octopolar():
    (r,) = generate_slabs(rocksalt(4.03, "Li", "F"), miller_indices=[(1, 0, 0)], min_thickness=8.0, vacuum=10.0)
    dipole, charge, pmg_polar = independent(r.slab, LIF_Q)
    assert r.tasker_type == 1 and not r.polar and r.stoichiometric and charge == 0 and not pmg_polar
    assert r.dipole_per_area == pytest.approx(dipole, abs=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolarSlabWarning)
        mgo = generate_slabs(rocksalt(4.21, "Mg", "O"), miller_indices=[(1, 1, 1)], min_thickness=8.0, vacuum=10.0)
    assert mgo and all(m.reconstruction == "octopolar" for m in mgo)
    for m in mgo:
        dipole, charge, _ = independent(m.slab, {"Mg": 2, "O": -2})
        assert abs(dipole) < 1e-8 and charge == 0 and m.slab.composition.reduced_formula == "MgO"


def test_antifluorite_li2o_111_trilayer_and_100_tasker2():
    li2o = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(4.61), ["O", "Li"], [[0, 0, 0], [0.25, 0.25, 0.25]]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PolarSlabWarning)
        recs = generate_slabs(li2o, miller_indices=[(1, 1, 1), (1, 0, 0)], min_thickness=8.0, vacuum=10.0)
    by = {}
    for r in recs:
        by.setdefault(r.miller_index, []).append(r)
    # (111): Li-O-Li trilayers, Tasker 2: a stoichiometric non-polar Li-terminated slab
    t111 = by[(1, 1, 1)][0]
    dipole, charge, _ = independent(t111.slab, {"Li": 1, "O": -2})
    assert t111.tasker_type == 2 and t111.sound and t111.top_termination == "Li"
    assert abs(dipole) < 1e-8 and charge == 0
    # (100): alternating Li2 and O planes (Tasker 3): half of the outer Li plane moved
    t100 = by[(1, 0, 0)][0]
    dipole, charge, _ = independent(t100.slab, {"Li": 1, "O": -2})
    assert t100.tasker_type == 3 and t100.reconstruction == "tasker2" and t100.sound
    assert abs(dipole) < 1e-8 and charge == 0


def test_llzo_001_slab_charge_reported():
    """An LLZO(001) cut: non-stoichiometric and charged, reported as such (was 'polar: no')."""
    from interphases.structures import get_phase

    bulk = get_phase("LLZO")
    charges = oxidation_states(bulk)
    assert charges == {"Li": 1, "La": 3, "Zr": 4, "O": -2}
    gen = SlabGenerator(bulk, (0, 0, 1), 4.0, 8.0, center_slab=True, primitive=False, reorient_lattice=True)
    slab = gen.get_slab(shift=gen.gen_possible_terminations()[0])
    rec = _record(slab, False, 3, bulk, 8.0, None, 0.0, charges, 0, False)
    dec = slab.copy()
    dec.add_oxidation_state_by_element(charges)
    assert rec.net_charge == pytest.approx(dec.charge)
    if abs(dec.charge) > 1e-6:
        assert rec.polar and rec.charged and not rec.stoichiometric


def test_gamma_range_over_chemical_potential():
    # LiF: E_fu = -10, e_Li = -2, e_F = -1: F-poor mu_F = -10 + 2 = -8, F-rich -1
    lo, hi = binary_chemical_potential_range("LiF", -10.0, "F", {"Li": -2.0, "F": -1.0})
    assert (lo, hi) == (-8.0, -1.0)
    # a stoichiometric slab: the same gamma at both limits
    g = gamma_range(-99.0, "Li10F10", "LiF", -10.0, 5.0, "F", (lo, hi))
    assert g[0] == pytest.approx(g[1]) == pytest.approx(1.0 / 10.0)
    # one F too many: gamma(mu) = (E - 10 E_fu - mu) / 2A, falls as mu_F rises
    g = gamma_range(-107.0, Composition("Li10F11"), "LiF", -10.0, 5.0, "F", (lo, hi))
    assert g == pytest.approx(((-107 + 100 + 8) / 10, (-107 + 100 + 1) / 10))


def test_interfaces_use_nonpolar_terminations_by_default():
    """Li | LiF(111): no polar film cut by default; the octopolar film is neutral, dipole-free, LiF."""
    from interphases.structures import enumerate_candidates

    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    lif = rocksalt(4.03, "Li", "F")
    opts = dict(film_millers=[(1, 1, 1)], max_area=90.0, substrate_thickness=6.0, film_thickness=6.0)
    cands = enumerate_candidates(li, lif, **opts)
    assert cands and all(c.film_reconstruction == "octopolar" and not c.film_polar for c in cands)
    assert {c.film_plane for c in cands} == {"Li-oct", "F-oct"}
    assert len({c.candidate_id for c in cands}) == len(cands)
    for c in cands[:2]:
        film = Structure.from_sites(c.interface.film)
        dipole, charge, _ = independent(film, LIF_Q)
        assert abs(dipole) < 1e-6 and charge == 0 and film.composition.reduced_formula == "LiF"
    raw = enumerate_candidates(li, lif, allow_polar=True, **opts)
    assert any(c.film_polar for c in raw)  # the as-cut polar films only on request
