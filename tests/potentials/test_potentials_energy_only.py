"""Energy-only evaluation (no force backward) gives the energy of the full evaluation."""

from __future__ import annotations

import pytest
from ase.build import bulk
from pymatgen.core import Lattice, Structure

from interphases.potentials import load_model, structure_to_atoms
from interphases.workflows.engines import get_engine


def _emt_cells():
    cu = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 2))
    cu.rattle(0.05, seed=1)
    ni = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((2, 1, 1))
    ni.rattle(0.03, seed=2)
    return [cu, ni]


def test_energy_only_equals_full_energy_emt():
    model = load_model("emt")
    ev = model.evaluator()
    cells = _emt_cells()
    full = ev.evaluate([a.copy() for a in cells])
    only = ev.evaluate([a.copy() for a in cells], forces=False)
    for f, e in zip(full, only, strict=True):
        assert e.forces is None and f.forces is not None
        assert abs(f.energy - e.energy) < 1e-6
    assert ev.stats.n_energy_only == 2 and ev.stats.n_force_structures == 2


def test_energy_only_rejects_stress():
    ev = load_model("emt").evaluator()
    with pytest.raises(ValueError):
        ev.evaluate(_emt_cells(), stress=True, forces=False)


@pytest.mark.chgnet
@pytest.mark.parametrize("batch_size", [1, 2])
def test_energy_only_equals_full_energy_chgnet(batch_size):
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif.perturb(0.08, min_distance=0.02, seed=101)
    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    li.perturb(0.05, seed=102)
    ev = load_model("chgnet").evaluator(batch_size=batch_size)
    atoms = [structure_to_atoms(s) for s in (lif, li)]
    full = ev.evaluate(atoms)
    only = ev.evaluate(atoms, forces=False)
    for f, e in zip(full, only, strict=True):
        assert e.forces is None
        assert abs(f.energy - e.energy) < 1e-6


def test_engine_static_energy_only_emt():
    engine = get_engine("emt")
    s = Structure(Lattice.cubic(3.6), ["Cu"] * 4, [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    s.perturb(0.05, seed=103)
    (full,) = engine.static([s])
    (only,) = engine.static([s], forces=False)
    assert only.forces is None and full.forces is not None
    assert abs(full.energy - only.energy) < 1e-6


@pytest.mark.chgnet
@pytest.mark.parametrize("parallel", [True, False, "auto"])
def test_thread_layouts_give_the_same_numbers(parallel):
    """Workers (one thread each) or intra-op threads: the same energies and forces."""
    from interphases.potentials.evaluate import CHGNetEvaluator

    li = Structure(Lattice.cubic(3.44), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    lif.perturb(0.05, min_distance=0.02, seed=104)
    atoms = [structure_to_atoms(s) for s in (li, lif, li)]
    model = load_model("chgnet")
    ref = CHGNetEvaluator(model, num_threads=1).evaluate(atoms)
    ev = CHGNetEvaluator(model, num_threads=2, parallel_structures=parallel)
    for r, f, e in zip(ref, ev.evaluate(atoms), ev.evaluate(atoms, forces=False), strict=True):
        assert abs(r.energy - f.energy) < 1e-5 and abs(r.energy - e.energy) < 1e-5
        assert abs(r.forces - f.forces).max() < 1e-5
