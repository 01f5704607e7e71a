"""Batched CI-NEB against plain ASE NEB (improved tangent, climbing image) on EMT."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.mep import NEB
from ase.optimize import FIRE

from interphases.potentials import interpolate_atoms, load_model, neb_batch, relax_batch


def _vacancy_hop(element: str = "Cu", a: float = 3.61):
    """Nearest-neighbour vacancy hop in a 2x2x2 cubic fcc cell (31 atoms), relaxed endpoints."""
    crystal = bulk(element, "fcc", a=a, cubic=True) * (2, 2, 2)
    d = np.linalg.norm(crystal.positions - crystal.positions[0], axis=1)
    d[0] = np.inf
    hopper = int(np.argmin(d))
    initial = crystal.copy()
    del initial[0]
    final = crystal.copy()
    final.positions[hopper] = crystal.positions[0]
    del final[0]
    relax_batch([initial, final], load_model("emt").evaluator(), fmax=0.01)
    return initial, final


def _plain_ase_neb(images, fmax, steps, k=0.1):
    images = [im.copy() for im in images]
    for im in images:
        im.calc = EMT()
    neb = NEB(images, k=k, climb=True, method="improvedtangent")
    converged = FIRE(neb, logfile=None).run(fmax=fmax, steps=steps)
    return [im.get_potential_energy() for im in images], converged


@pytest.fixture(scope="module")
def cu_path():
    initial, final = _vacancy_hop()
    return interpolate_atoms(initial, final, 3, method="idpp")


def test_batched_neb_barrier_equals_ase_neb(cu_path):
    ref_energies, ref_converged = _plain_ase_neb(cu_path, 0.03, 300)
    (out,) = neb_batch([[im.copy() for im in cu_path]], load_model("emt").evaluator(), fmax=0.03, max_steps=300)
    assert out.converged and ref_converged
    ref_barrier = max(ref_energies) - ref_energies[0]
    assert abs(out.barrier_forward - ref_barrier) < 0.005
    assert np.allclose(out.energies, ref_energies, atol=0.005)
    # symmetric hop: the saddle is the middle image, both barriers equal, in EMT's range for Cu
    assert out.climbing_image == 2
    assert out.barrier_forward == pytest.approx(out.barrier_backward, abs=0.005)
    assert 0.3 < out.barrier_forward < 1.2
    assert out.reaction_coordinate[0] == 0.0 and np.all(np.diff(out.reaction_coordinate) > 0)


def test_two_nebs_in_one_batch_and_frozen_atoms(cu_path):
    al_initial, al_final = _vacancy_hop("Al", 4.05)
    al_path = interpolate_atoms(al_initial, al_final, 3, method="linear")
    cu_frozen = [im.copy() for im in cu_path]
    far = [i for i in range(len(cu_frozen[0])) if np.linalg.norm(cu_frozen[0].positions[i] - cu_frozen[0].positions[0]) > 4.5]
    for im in cu_frozen:
        im.set_constraint(FixAtoms(indices=far))
    start = [im.positions.copy() for im in cu_frozen]
    evaluator = load_model("emt").evaluator()
    cu_out, al_out = neb_batch([cu_frozen, al_path], evaluator, fmax=0.05, max_steps=300)
    assert cu_out.converged and al_out.converged
    for im, pos in zip(cu_out.images, start):
        assert np.abs(im.positions[far] - pos[far]).max() == 0.0
    ref_energies, _ = _plain_ase_neb(al_path, 0.05, 300)  # al_path was moved in place: converged band
    assert abs(al_out.barrier_forward - (max(ref_energies) - ref_energies[0])) < 0.005
    # one evaluate() per step, with both bands' images in it while both are running
    assert evaluator.stats.n_structures >= 3 * 2


def test_neb_non_convergence_and_delayed_climb(cu_path):
    (out,) = neb_batch([[im.copy() for im in cu_path]], load_model("emt").evaluator(), fmax=1e-4, max_steps=4)
    assert not out.converged and out.n_steps == 4
    (late,) = neb_batch(
        [[im.copy() for im in cu_path]], load_model("emt").evaluator(), fmax=0.03, climb_after_steps=5, max_steps=300
    )
    assert late.converged and late.climbing_image == 2


def test_dynamic_relaxation_converges_to_the_same_barrier(cu_path):
    evaluator = load_model("emt").evaluator()
    (plain,) = neb_batch([[im.copy() for im in cu_path]], evaluator, fmax=0.03)
    n_plain = evaluator.stats.n_structures
    (dyn,) = neb_batch([[im.copy() for im in cu_path]], evaluator, fmax=0.03, dynamic_relaxation=True)
    assert dyn.converged and abs(dyn.barrier_forward - plain.barrier_forward) < 0.005
    assert evaluator.stats.n_structures - n_plain <= n_plain  # never more image evaluations
