"""CHGNet through the fast evaluator gives CHGNet's own ASE calculator numbers."""

from __future__ import annotations

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from interphases.potentials import load_model, structure_to_atoms

pytestmark = pytest.mark.chgnet


def _small_cells() -> list[Structure]:
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif.apply_strain(0.02)
    lif.perturb(0.08, min_distance=0.02, seed=11)  # perturb draws from its own generator: seed it
    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    li.perturb(0.05, seed=14)  # forces ~0.05 eV/Å (soft bcc Li: some directions give < 0.01)
    li2co3_like = Structure(Lattice.from_parameters(5.2, 4.9, 6.3, 90, 114, 90), ["Li", "Li", "C", "O", "O", "O"],
                            [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.4, 0.25, 0.25], [0.18, 0.38, 0.25], [0.18, 0.12, 0.25]])
    return [lif, li, li2co3_like]


@pytest.mark.parametrize("batch_size", [1, 3])
def test_evaluator_equals_chgnet_calculator(batch_size):
    model = load_model("chgnet")
    structures = _small_cells()
    atoms_list = [structure_to_atoms(s) for s in structures]
    evaluator = model.evaluator(batch_size=batch_size)
    fast = evaluator.evaluate(atoms_list)
    with_stress = evaluator.evaluate(atoms_list, stress=True)
    assert evaluator.stats.n_calls == (3 // batch_size) + 3  # stress structures always go alone
    for atoms, ef, efs in zip(atoms_list, fast, with_stress):
        ref = atoms.copy()
        ref.calc = model.calculator()  # chgnet.model.dynamics.CHGNetCalculator, task "efsm"
        energy, forces, stress = ref.get_potential_energy(), ref.get_forces(), ref.get_stress()
        n = len(atoms)
        assert abs(ef.energy - energy) / n < 1e-3 and abs(efs.energy - energy) / n < 1e-3
        assert np.abs(ef.forces - forces).max() < 5e-3 and np.abs(efs.forces - forces).max() < 5e-3
        assert ef.stress is None
        assert np.abs(efs.stress - stress).max() < 1e-4  # eV/Å^3 (~0.016 GPa)
    assert abs(fast[0].energy / 8 - (-4.0)) < 1.5  # a LiF-like energy scale, eV/atom (not zero, not absurd)
    # the same numbers behind an ASE calculator interface (stress in the same call under cell filters)
    atoms = atoms_list[0].copy()
    atoms.calc = model.fast_calculator(compute_stress=True)
    assert atoms.get_potential_energy() == pytest.approx(with_stress[0].energy, abs=1e-6)
    assert np.abs(atoms.get_stress() - with_stress[0].stress).max() < 1e-7


def test_chgnet_covers_lithium_and_rejects_isolated_atoms():
    from interphases.errors import InvalidStructureError
    from interphases.workflows.engines import get_engine

    model = load_model("chgnet")
    assert {"Li", "F", "La", "Zr", "O", "P", "S"} <= model.elements
    lonely = Structure(Lattice.cubic(12.0), ["Li"], [[0, 0, 0]])
    with pytest.raises(InvalidStructureError, match="no neighbour"):
        get_engine("mlip").static([lonely])


def test_numpy_graph_is_chgnets_graph():
    """The vectorised graph builder gives CHGNet's converter output, array for array."""
    import torch
    from pymatgen.core.surface import SlabGenerator

    from interphases.potentials.chgnet_graph import crystal_graph

    converter = load_model("chgnet").torch_model.graph_converter
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    supercell = lif.get_primitive_structure() * (2, 2, 2)
    supercell.remove_sites([0])
    supercell.perturb(0.1, seed=3)
    slab = SlabGenerator(lif, (1, 1, 0), 6, 8, center_slab=True).get_slab()
    tiny = Structure(Lattice.cubic(2.9), ["Li"], [[0, 0, 0]])  # the atom bonds with its own images
    for structure in [*_small_cells(), supercell, slab, tiny]:
        ref, new = converter(structure), crystal_graph(converter, structure)
        for key in ("atom_graph", "directed2undirected", "undirected2directed", "bond_graph", "neighbor_image",
                    "atom_frac_coord", "lattice", "atomic_number"):
            assert torch.equal(getattr(ref, key), getattr(new, key)), (structure.formula, key)
        assert len(new.bond_graph) > 0


def test_parallel_workers_give_the_same_numbers():
    model = load_model("chgnet")
    atoms_list = [structure_to_atoms(s) for s in _small_cells()]
    sequential = model.evaluator(num_threads=1).evaluate(atoms_list)
    parallel = model.evaluator(num_threads=2).evaluate(atoms_list)
    for a, b in zip(sequential, parallel):
        assert a.energy == pytest.approx(b.energy, abs=1e-5)
        assert np.abs(a.forces - b.forces).max() < 1e-5


def test_factorised_network_equals_chgnet_compute():
    """chgnet_fast (factorised first layers, skipped dead angle update) = CHGNet._compute."""
    from interphases.potentials import CHGNetEvaluator

    model = load_model("chgnet")
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    cell = lif.get_primitive_structure() * (2, 2, 2)
    cell.remove_sites([0])
    cell.perturb(0.1, seed=7)  # one fixed cell (Structure.perturb has its own generator)
    atoms_list = [structure_to_atoms(cell), *(structure_to_atoms(s) for s in _small_cells())]
    fast = CHGNetEvaluator(model, factorized=True)
    plain = CHGNetEvaluator(model, factorized=False)
    assert fast.factorized and not plain.factorized
    for a, b, atoms in zip(fast.evaluate(atoms_list), plain.evaluate(atoms_list), atoms_list):
        assert abs(a.energy - b.energy) / len(atoms) < 1e-5
        assert np.abs(a.forces - b.forces).max() < 1e-4
        assert np.abs(a.forces).max() > 0.01  # perturbed: real forces were compared
