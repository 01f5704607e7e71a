"""Surface energies on the default model (CHGNet) beside published DFT results.

The published numbers are independent of this code: they come from the papers named in each
test, and docs/energetics.md ("Surface energies measured here, beside the literature") gives
them beside ours. The bounds are wide because CHGNet is not DFT; they catch unit, area and
reference mistakes (a γ off by a factor of 2 or 16) and a model that has lost the physics.
"""

from __future__ import annotations

import pytest
from pymatgen.core import Lattice, Structure

from interphases.structures import get_phase
from interphases.workflows.energetics import compute_surface_energies

MEV_PER_A2 = 0.01602176634  # J/m^2 per meV/Å^2

pytestmark = pytest.mark.chgnet


def test_nacl_100_surface_energy_near_the_published_dft_range():
    """B. Li, A. Michaelides and M. Scheffler, Phys. Rev. B 76, 075401 (2007), abstract: LDA,
    PBE and PBE-WC give 9-15 meV/Å² for NaCl(001). CHGNet gives 7.3 meV/Å² (0.117 J/m²), below
    that range as it is below experiment for LiF(100); the test allows 30 % below the range."""
    nacl = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )
    doc = compute_surface_energies(nacl, "mlip", miller_indices=[(1, 0, 0)])
    gamma = doc.lowest()[(1, 0, 0)].surface_energy_j_per_m2
    assert 0.7 * 9 * MEV_PER_A2 < gamma < 15 * MEV_PER_A2


def test_li2o_111_is_more_stable_than_110():
    """M. M. Islam and T. Bredow, J. Phys. Chem. C 113, 672 (2009), abstract: in DFT the
    Li2O(111) surface is more stable than (110), in agreement with earlier studies. Our (111)
    is the non-polar Li-O-Li trilayer termination."""
    doc = compute_surface_energies(get_phase("Li2O"), "mlip", miller_indices=[(1, 1, 1), (1, 1, 0)])
    low = doc.lowest()
    g111, g110 = low[(1, 1, 1)].surface_energy_j_per_m2, low[(1, 1, 0)].surface_energy_j_per_m2
    assert 0 < g111 < g110
    assert not low[(1, 1, 1)].polar
