"""Batched relaxation (lock-step ASE optimisers) against plain sequential ASE on EMT."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, fcc100
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE

from interphases.potentials import load_model, relax_batch


def _rattled_cells() -> list:
    cells = []
    for i, (element, a) in enumerate([("Cu", 3.70), ("Al", 4.10), ("Ni", 3.60)]):
        atoms = bulk(element, "fcc", a=a, cubic=True) * (2, 2, 1)
        atoms.rattle(0.08, seed=10 + i)
        cells.append(atoms)
    slab = fcc100("Cu", size=(2, 2, 4), vacuum=6.0)
    slab.rattle(0.05, seed=3)
    slab.set_constraint(FixAtoms(indices=[a.index for a in slab if a.tag >= 3]))  # bottom 2 layers
    cells.append(slab)
    return cells


def _plain_ase(atoms, fmax, steps, cell_mask="fixed"):
    atoms = atoms.copy()
    atoms.calc = EMT()
    target = atoms if cell_mask == "fixed" else FrechetCellFilter(atoms, mask=cell_mask)
    opt = FIRE(target, logfile=None)
    converged = opt.run(fmax=fmax, steps=steps)
    return atoms, atoms.get_potential_energy(), converged, opt.nsteps


def test_batched_fire_matches_sequential_ase_fire():
    cells = _rattled_cells()
    reference = [_plain_ase(a, 0.02, 300) for a in cells]
    outcomes = relax_batch([a.copy() for a in cells], load_model("emt").evaluator(), fmax=0.02, max_steps=300)
    for out, (ref_atoms, ref_energy, ref_conv, ref_steps), start in zip(outcomes, reference, cells):
        assert out.converged and ref_conv
        assert abs(out.energy - ref_energy) / len(start) < 1e-3  # eV/atom
        assert out.n_steps == ref_steps
        assert np.abs(out.atoms.positions - ref_atoms.positions).max() < 1e-6
        assert out.max_force < 0.02
        # the relaxation went downhill and the trajectory is one energy per evaluation
        assert out.energy_trajectory[-1] < out.energy_trajectory[0]
        assert len(out.energy_trajectory) == out.n_steps + 1


def test_frozen_atoms_do_not_move_and_others_do():
    slab = _rattled_cells()[-1]
    frozen = slab.constraints[0].get_indices()
    before = slab.positions.copy()
    (out,) = relax_batch([slab], load_model("emt").evaluator(), fmax=0.02, max_steps=300)
    moved = np.linalg.norm(out.atoms.positions - before, axis=1)
    assert out.converged
    assert moved[frozen].max() == 0.0
    free = np.setdiff1d(np.arange(len(slab)), frozen)
    assert moved[free].max() > 0.01
    # the model's raw forces on frozen atoms are reported (not zeroed), the fmax is over free atoms
    assert np.linalg.norm(out.forces[free], axis=1).max() < 0.02


def test_non_convergence_is_reported():
    cells = _rattled_cells()[:2]
    outcomes = relax_batch(cells, load_model("emt").evaluator(), fmax=1e-4, max_steps=3)
    for out in outcomes:
        assert not out.converged
        assert out.n_steps == 3
        assert out.max_force > 1e-4


@pytest.mark.parametrize(("mode", "mask"), [("full", None), ("z", [0, 0, 1, 0, 0, 0])])
def test_cell_relaxation_matches_frechet_cell_filter(mode, mask):
    # Cu strained in-plane by 3 %: "full" recovers the cubic cell, "z" keeps a and b
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (2, 2, 2)
    atoms.set_cell(atoms.cell.array * np.array([1.03, 1.03, 1.0])[:, None], scale_atoms=True)
    atoms.rattle(0.02, seed=7)
    ref_atoms, ref_energy, ref_conv, _ = _plain_ase(atoms, 0.01, 500, cell_mask=mask)
    (out,) = relax_batch([atoms.copy()], load_model("emt").evaluator(), cell=mode, fmax=0.01, max_steps=500)
    assert out.converged and ref_conv
    assert abs(out.energy - ref_energy) / len(atoms) < 1e-3
    assert np.allclose(out.atoms.cell.array, ref_atoms.cell.array, atol=1e-3)
    assert out.stress is not None
    if mode == "z":
        assert np.allclose(out.atoms.cell.array[:2], atoms.cell.array[:2], atol=1e-10)  # in-plane fixed
        assert out.atoms.cell.array[2, 2] != pytest.approx(atoms.cell.array[2, 2], abs=1e-3)  # c relaxed
        # FrechetCellFilter converges on V*sigma/N < fmax: sigma_zz relaxed (eV/Å^3)
        assert abs(out.stress[2]) < 0.01 * len(atoms) / atoms.get_volume()
        assert np.abs(out.stress[:2]).max() > 0.01 * len(atoms) / atoms.get_volume()  # in-plane stress stays
    else:
        lengths = out.atoms.cell.lengths()
        assert np.ptp(lengths) / lengths.mean() < 3e-3  # back to cubic (the 3 % in-plane strain is gone)
        assert np.abs(out.stress).max() < 0.01 * len(atoms) / out.atoms.get_volume()


def test_mixed_cell_modes_in_one_batch():
    a = bulk("Cu", "fcc", a=3.7, cubic=True)
    b = bulk("Al", "fcc", a=4.2, cubic=True)
    outcomes = relax_batch([a, b], load_model("emt").evaluator(), cell=["fixed", "full"], fmax=0.01)
    assert np.allclose(outcomes[0].atoms.cell.array, np.eye(3) * 3.7)
    assert outcomes[0].stress is None
    assert outcomes[1].atoms.cell.lengths()[0] != pytest.approx(4.2, abs=1e-3)


@pytest.mark.parametrize("optimizer", ["BFGS", "LBFGS"])
def test_other_ase_optimizers_in_lockstep_match_plain_ase(optimizer):
    from ase import optimize

    cells = _rattled_cells()[:2]
    outcomes = relax_batch([a.copy() for a in cells], load_model("emt").evaluator(), fmax=0.02, optimizer=optimizer)
    for out, start in zip(outcomes, cells):
        ref = start.copy()
        ref.calc = EMT()
        opt = getattr(optimize, optimizer)(ref, logfile=None)
        assert opt.run(fmax=0.02, steps=300) and out.converged
        assert out.n_steps == opt.nsteps
        assert abs(out.energy - ref.get_potential_energy()) / len(ref) < 1e-3


def test_line_search_optimizers_are_refused():
    from interphases.errors import InterphasesError

    with pytest.raises(InterphasesError, match="not supported"):
        relax_batch([_rattled_cells()[0]], load_model("emt").evaluator(), optimizer="BFGSLineSearch")
