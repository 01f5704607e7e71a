"""SevenNet loads offline from the sevenn wheel and gives sevenn's own calculator numbers."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from interphases.potentials import load_model
from interphases.workflows.engines import get_engine

pytestmark = pytest.mark.slow


def test_sevennet_0_offline_matches_sevenn_calculator():
    import warnings

    from pymatgen.io.ase import AseAtomsAdaptor
    from sevenn.calculator import SevenNetCalculator

    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif.perturb(0.05, seed=105)
    (res,) = get_engine("mlip", model="7net-0").static([lif])
    assert res.code == "sevenn" and res.model == "7net-0" and res.code_version == "SevenNet_0__11Jul2024"
    atoms = AseAtomsAdaptor.get_atoms(lif)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        atoms.calc = SevenNetCalculator("7net-0", device="cpu")  # sevenn's own loader, independent of ours
    assert res.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-4)
    assert np.abs(np.array(res.forces) - atoms.get_forces()).max() < 1e-4
    assert {"Li", "F", "O", "P", "S", "La", "Zr"} <= load_model("sevennet").elements
