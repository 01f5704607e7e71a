"""ASE trajectory / extxyz parser, on trajectories made here with ASE's EMT calculator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk, fcc111
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.io import write
from ase.optimize import BFGS
from ase.units import GPa

from interphases.errors import ParseError
from interphases.parsers.ase import parse_ase_trajectory


def _relax_slab(path: Path, steps: int) -> float:
    slab = fcc111("Cu", size=(2, 2, 3), vacuum=6.0)
    slab.set_constraint(FixAtoms(indices=[a.index for a in slab if a.tag == 3]))  # bottom layer
    slab.rattle(0.05, seed=1)
    slab.calc = EMT()
    BFGS(slab, trajectory=str(path), logfile=None).run(fmax=0.02, steps=steps)
    return slab.get_potential_energy()


def test_relaxation_trajectory(tmp_path: Path) -> None:
    path = tmp_path / "relax.traj"
    final_energy = _relax_slab(path, steps=200)
    result = parse_ase_trajectory(path, fmax=0.02, code="emt")
    assert result.converged and result.n_steps > 0
    assert result.energy == pytest.approx(final_energy, abs=1e-10)
    assert result.energy_trajectory[-1] == result.energy and result.energy_trajectory[0] > result.energy
    sd = result.structure.site_properties["selective_dynamics"]
    assert sum(1 for row in sd if not any(row)) == 4  # the frozen bottom layer
    assert result.max_force <= 0.02
    assert result.code == "emt" and result.engine == "ase"


def test_unfinished_relaxation_is_not_converged(tmp_path: Path) -> None:
    path = tmp_path / "short.traj"
    _relax_slab(path, steps=2)
    result = parse_ase_trajectory(path, fmax=0.02)
    assert not result.converged
    assert "fmax" in result.error and result.max_force > 0.02


def test_single_point_extxyz_stress_in_gpa(tmp_path: Path) -> None:
    atoms = bulk("Cu", "fcc", a=3.5)  # compressed: EMT's equilibrium is ~3.59 Å
    atoms.calc = EMT()
    energy, stress = atoms.get_potential_energy(), atoms.get_stress(voigt=False)
    write(tmp_path / "sp.extxyz", atoms)
    result = parse_ase_trajectory(tmp_path / "sp.extxyz")
    assert result.converged and result.n_steps == 0
    assert result.energy == pytest.approx(energy)
    np.testing.assert_allclose(result.stress, stress / GPa, rtol=1e-6)
    assert result.stress[0][0] < 0  # compressed cell: negative (compressive) stress in ASE's convention


def test_frames_without_energy_and_garbage(tmp_path: Path) -> None:
    write(tmp_path / "bare.extxyz", bulk("Cu"))
    with pytest.raises(ParseError, match="no energy"):
        parse_ase_trajectory(tmp_path / "bare.extxyz")
    (tmp_path / "junk.traj").write_bytes(b"\x00\x01 not a trajectory")
    with pytest.raises(ParseError, match="junk.traj"):
        parse_ase_trajectory(tmp_path / "junk.traj")
