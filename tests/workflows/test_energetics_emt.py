"""Interface energetics on EMT (Cu | Ni), every quantity against plain ASE.

The reference numbers are computed in this file with ASE only: the cells the workflow
documents say they used, ASE's EMT calculator, FIRE, FrechetCellFilter and FixAtoms, and
the formulas written out here. The workflow runs through jobflow and the embedded
results database, as users run it.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk as ase_bulk
from ase.build import fcc100, fcc111
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import FIRE
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor

from interphases.database import query
from interphases.errors import InterphasesError, UnsupportedElementsError
from interphases.structures import enumerate_candidates
from interphases.workflows.energetics import (
    AdhesionMaker,
    InterfaceEnergyMaker,
    compute_surface_energies,
    registry_scan,
)
from interphases.workflows.engines.mlip import MLIPEngine
from interphases.workflows.run import run_and_store

FMAX = 0.01
TOL = 1e-3  # eV/Å^2 (1 meV/Å^2), the tolerance
J = 16.02176634  # J/m^2 per eV/Å^2


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def ase_energy(structure: Structure, relax: str | None = None, fmax: float = FMAX) -> float:
    """EMT energy with plain ASE; ``relax``: None, 'fixed', 'full' or 'z'. Frozen atoms from
    the selective_dynamics site property (pymatgen's adaptor turns them into FixAtoms)."""
    atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure.sites))
    sd = structure.site_properties.get("selective_dynamics")
    atoms.set_constraint()
    if sd is not None:
        frozen = [i for i, row in enumerate(sd) if not any(row)]
        if frozen:
            atoms.set_constraint(FixAtoms(indices=frozen))
    atoms.calc = EMT()
    if relax is not None:
        target = atoms if relax == "fixed" else FrechetCellFilter(atoms, mask=None if relax == "full" else [0, 0, 1, 0, 0, 0])
        assert FIRE(target, logfile=None).run(fmax=fmax, steps=1000)
    return float(atoms.get_potential_energy())


def area(structure: Structure) -> float:
    a, b = structure.lattice.matrix[:2]
    return float(np.linalg.norm(np.cross(a, b)))


# ------------------------------------------------------------------------- surface energy


@pytest.fixture(scope="module")
def cu_surfaces():
    return compute_surface_energies(
        fcc("Cu", 3.62), MLIPEngine(model="emt"), miller_indices=[(1, 0, 0), (1, 1, 1)],
        min_thickness=8.0, vacuum=10.0, fmax=FMAX,
    )


def test_surface_energy_equals_plain_ase_on_the_same_cells(cu_surfaces):
    doc = cu_surfaces
    bulk = doc.bulk
    e_bulk = ase_energy(bulk.initial_structure, "full") / bulk.n_atoms
    assert bulk.energy_per_atom == pytest.approx(e_bulk, abs=1e-5)
    assert {s.miller_index for s in doc.surfaces} == {(1, 0, 0), (1, 1, 1)}
    for s in doc.surfaces:
        assert s.symmetric and s.stoichiometric and s.converged and s.n_fixed > 0
        slab = s.initial_structure
        n, a = len(slab), area(slab)
        e0 = ase_energy(slab)
        e1 = ase_energy(slab, "fixed")
        # only the top surface relaxes (bottom frozen): gamma_top = gamma_unrelaxed + dE_relax / A
        gamma = (e0 - n * e_bulk) / (2 * a) + (e1 - e0) / a
        assert s.surface_energy == pytest.approx(gamma, abs=TOL)
        assert s.surface_energy_j_per_m2 == pytest.approx(gamma * J, abs=TOL * J)
        assert s.convention == "top surface (bottom frozen)"
        assert s.thickness >= 8.0 - 1e-6 and s.vacuum == pytest.approx(10.0, abs=1e-6)
    lowest = doc.lowest()
    assert set(lowest) == {(1, 0, 0), (1, 1, 1)}


def test_surface_energy_equals_an_independent_ase_slab(cu_surfaces):
    """Cells built by ase.build (not by the project), both sides relaxed, thick enough."""
    a0 = float(np.cbrt(4 * cu_surfaces.bulk.structure.volume / cu_surfaces.bulk.n_atoms))
    e_bulk = cu_surfaces.bulk.energy_per_atom
    for miller, builder in (((1, 0, 0), fcc100), ((1, 1, 1), fcc111)):
        slab = builder("Cu", size=(1, 1, 9), a=a0, vacuum=8.0, periodic=True)
        slab.calc = EMT()
        FIRE(slab, logfile=None).run(fmax=FMAX)
        gamma = (slab.get_potential_energy() - len(slab) * e_bulk) / (2 * slab.cell.area(2))
        ours = cu_surfaces.lowest()[miller].surface_energy
        assert ours == pytest.approx(gamma, abs=2e-3), miller  # different cells: 2 meV/Å^2
    # EMT: Cu(111) is the lowest-energy facet
    assert cu_surfaces.lowest()[(1, 1, 1)].surface_energy < cu_surfaces.lowest()[(1, 0, 0)].surface_energy


# ------------------------------------------------------------------------- Cu | Ni interface


@pytest.fixture(scope="module")
def cu_ni():
    cands = enumerate_candidates(
        fcc("Cu", 3.61), fcc("Ni", 3.52), substrate_millers=[(1, 0, 0)], film_millers=[(1, 0, 0)],
        max_area=30, substrate_thickness=5.0, film_thickness=5.0, gap=1.8, vacuum=10.0,
    )
    assert len(cands) == 1
    return cands[0]


@pytest.fixture(scope="module")
def cu_ni_run(cu_ni, tmp_path_factory):
    """The full decomposition of Cu(100) | Ni(100) through jobflow into the project database."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_PROJECT", str(tmp_path_factory.mktemp("cu-ni")))
        engine = MLIPEngine(model="emt")
        maker = InterfaceEnergyMaker(engine=engine, fmax=FMAX, adhesion_maker=AdhesionMaker(engine=engine, fmax=FMAX))
        flow = maker.make(cu_ni)
        run = run_and_store(flow)
        adhesion = next(o for o in run.outputs.values() if type(o).__name__ == "AdhesionDocument")
        energies = run.outputs[flow.output.uuid]
        rows = query()
    return adhesion, energies, rows


def test_registry_scan_equals_ase_single_points(cu_ni):
    scan = registry_scan([cu_ni], MLIPEngine(model="emt"), gaps=[1.5, 1.8, 2.1]).scans[0]
    assert len(scan.shifts) == len(cu_ni.in_plane_shifts) >= 2
    grid = np.zeros((len(scan.shifts), 3))
    for i, shift in enumerate(scan.shifts):
        for j, gap in enumerate(scan.gaps):
            iface = cu_ni.interface.copy()
            iface.in_plane_offset = np.array(shift)
            iface.gap = gap
            grid[i, j] = ase_energy(iface)
    assert np.allclose(scan.energies, grid, atol=1e-6)
    i, j = np.unravel_index(np.argmin(grid), grid.shape)
    assert scan.best_shift == tuple(scan.shifts[i]) and scan.best_gap == scan.gaps[j]
    # fcc on fcc (100): the hollow site (a/2, a/2) continues the stacking and is the minimum
    assert np.allclose(np.mod(scan.best_shift, 1.0), [0.5, 0.5])
    assert scan.optimal_gaps[i] == pytest.approx(1.8, abs=0.2)


def test_work_of_adhesion_equals_plain_ase(cu_ni_run, cu_ni):
    adh, _, _ = cu_ni_run
    assert adh.converged and adh.relaxed and adh.n_interfaces == 1
    s = area(adh.interface_initial)
    assert s == pytest.approx(cu_ni.area)
    e_ab = ase_energy(adh.interface_initial, "fixed")
    e_a = ase_energy(adh.substrate_slab_initial, "fixed")
    e_b = ase_energy(adh.film_slab_initial, "fixed")
    w = (e_a + e_b - e_ab) / s
    assert adh.work_of_adhesion == pytest.approx(w, abs=TOL)
    assert adh.work_of_adhesion_j_per_m2 == pytest.approx(w * J, abs=TOL * J)
    # the isolated slabs are the two halves of the interface, in the interface's own cell
    assert len(adh.substrate_slab_initial) + len(adh.film_slab_initial) == len(adh.interface_initial)
    assert np.allclose(adh.substrate_slab_initial.lattice.matrix, adh.interface_initial.lattice.matrix)
    assert adh.substrate_bottom_frozen and adh.substrate_symmetric and adh.film_symmetric
    assert 1.0 < adh.work_of_adhesion_j_per_m2 < 5.0  # EMT Cu and Ni surface energies are 1-2 J/m^2


def test_interface_energies_equal_plain_ase(cu_ni_run, cu_ni):
    adh, doc, _ = cu_ni_run
    en = doc.energetics
    refs = {r.label: r for r in doc.references}
    e_a = ase_energy(refs["Cu bulk"].initial_structure, "full") / refs["Cu bulk"].n_atoms
    e_b = ase_energy(refs["Ni bulk"].initial_structure, "full") / refs["Ni bulk"].n_atoms
    e_as = ase_energy(refs["Cu strained"].initial_structure, "z") / refs["Cu strained"].n_atoms
    e_bs = ase_energy(refs["Ni strained"].initial_structure, "z") / refs["Ni strained"].n_atoms
    # stress-free bulk references: the same energy per atom as ASE's own fcc cell
    for element, e in (("Cu", e_a), ("Ni", e_b)):
        prim = ase_bulk(element, "fcc", a=3.6)
        prim.calc = EMT()
        FIRE(FrechetCellFilter(prim), logfile=None).run(fmax=1e-4)
        assert e == pytest.approx(prim.get_potential_energy(), abs=2e-4)
    # the strained cells have the interface's in-plane lattice (lengths and angle)
    a_i, b_i = doc.sandwich_initial.lattice.matrix[:2]
    for label in ("Cu strained", "Ni strained"):
        a, b = refs[label].initial_structure.lattice.matrix[:2]
        assert np.linalg.norm(a) == pytest.approx(np.linalg.norm(a_i)) and np.linalg.norm(b) == pytest.approx(np.linalg.norm(b_i))
        assert a @ b == pytest.approx(a_i @ b_i, abs=1e-8)
        relaxed = refs[label].structure.lattice.matrix
        assert np.allclose(relaxed[:2], refs[label].initial_structure.lattice.matrix[:2], atol=1e-8)  # only c moved
    sandwich = doc.sandwich_initial
    assert "selective_dynamics" not in sandwich.site_properties  # periodic: nothing frozen
    n_a = sum(1 for sp in sandwich.species if sp.symbol == "Cu")
    n_b = len(sandwich) - n_a
    e_ab = ase_energy(sandwich, "z")
    s = area(sandwich)
    e_f = e_ab - n_a * e_a - n_b * e_b
    sigma = (e_ab - n_a * e_as - n_b * e_bs) / (2 * s)
    e_el = e_f - 2 * s * sigma
    assert en.formation_energy / (2 * s) == pytest.approx(e_f / (2 * s), abs=TOL)
    assert en.interfacial_energy == pytest.approx(sigma, abs=TOL)
    assert en.elastic_energy / (2 * s) == pytest.approx(e_el / (2 * s), abs=TOL)
    assert en.elastic_energy == pytest.approx(n_a * (e_as - e_a) + n_b * (e_bs - e_b), abs=1e-4)
    # Ni is stretched onto Cu (2.5 % mismatch) and holds the elastic energy; Cu, off its EMT
    # lattice constant by 0.5 %, holds much less
    assert e_bs - e_b > 1e-3 and 0 <= e_as - e_a < 0.1 * (e_bs - e_b)
    # Eq. 18: W_ad = gamma_A + gamma_B - sigma, with the strained interface-side surface energies
    gamma_a = (adh.unrelaxed_substrate_slab_energy - n_a * e_as) / (2 * s) + (
        adh.substrate_slab_energy - adh.unrelaxed_substrate_slab_energy
    ) / s
    gamma_b = (adh.film_slab_energy - n_b * e_bs) / (2 * s)
    assert en.substrate_surface_energy == pytest.approx(gamma_a, abs=TOL)
    assert en.film_surface_energy == pytest.approx(gamma_b, abs=TOL)
    assert en.work_of_adhesion_eq18 == pytest.approx(gamma_a + gamma_b - sigma, abs=TOL)
    assert abs(en.eq18_difference) < TOL
    assert doc.second_interface == "Ni|Cu" and doc.converged


def test_results_are_in_the_database(cu_ni_run):
    _, doc, rows = cu_ni_run
    kinds = set(rows["kind"])
    assert {"work_of_adhesion", "interfacial_energy", "interface_formation_energy", "elastic_energy"} <= kinds
    sigma = rows[rows["kind"] == "interfacial_energy"].iloc[0]
    assert sigma["value"] == pytest.approx(doc.interfacial_energy_j_per_m2)
    assert sigma["units"] == "J/m^2" and sigma["engine"] == "mlip" and sigma["model"] == "emt"


def test_batched_adhesion_equals_one_by_one():
    cands = enumerate_candidates(
        fcc("Al", 4.05), fcc("Ag", 4.09), substrate_millers=[(1, 0, 0), (1, 1, 1)], film_millers=[(1, 0, 0), (1, 1, 1)],
        max_area=25, substrate_thickness=5.0, film_thickness=5.0, gap=2.0, vacuum=10.0,
    )
    assert len(cands) >= 2
    maker = AdhesionMaker(engine=MLIPEngine(model="emt"), gaps=(1.8, 2.2, 2.6), max_registries=3, fmax=0.02)
    together = run_and_store(flow := maker.make_batch(cands)).outputs[flow.output.uuid].results
    for cand, doc in zip(cands, together, strict=True):
        alone = run_and_store(f := maker.make(cand)).outputs[f.output.uuid]
        assert doc.candidate_id == alone.candidate_id == cand.candidate_id
        assert doc.work_of_adhesion == pytest.approx(alone.work_of_adhesion, abs=1e-9)
        assert doc.shift == alone.shift


def test_bad_input_is_refused_before_any_work(cu_ni):
    li = Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]])
    with pytest.raises(UnsupportedElementsError, match="Li"):
        compute_surface_energies(li, MLIPEngine(model="emt"), miller_indices=[(1, 0, 0)])
    with pytest.raises(InterphasesError, match="gaps"):
        registry_scan([cu_ni], MLIPEngine(model="emt"), gaps=[0.0, 1.0])
    old = cu_ni.model_copy(update={"substrate_reference": None})
    with pytest.raises(InterphasesError, match="reference"):
        from interphases.workflows.energetics import compute_interface_energies

        compute_interface_energies([old], [], MLIPEngine(model="emt"))
