"""The user's own slabs and interfaces, used as given (issue 14, item 5), on EMT against plain ASE.

A slab file (vacuum along c) goes through ``interphases surface-energy SLAB --bulk BULK`` and
:meth:`SurfaceEnergyMaker.make_given` without being cut again; an interface file (two phases
stacked) through ``interphases adhesion FILE`` and :meth:`AdhesionMaker.make_given`. The
reference numbers are plain ASE: ``ase.build`` cells, ASE's EMT and the formulas written out.
"""

from __future__ import annotations

import json
import sys

import ase.io
import numpy as np
import pytest
from ase.build import bulk as ase_bulk
from ase.build import fcc111, surface
from ase.calculators.emt import EMT
from ase.constraints import FixAtoms
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS, FIRE
from pymatgen.io.ase import AseAtomsAdaptor
from typer.testing import CliRunner

from interphases.cli import app, main
from interphases.database import open_database, query
from interphases.errors import InterphasesError
from interphases.progress import reset_logging
from interphases.structures import load_structure
from interphases.structures.bulk import classify_structure, label_given_interface
from interphases.workflows.energetics import (
    AdhesionMaker,
    SurfaceEnergyMaker,
    compute_given_adhesion,
    compute_given_slab_surface_energy,
)
from interphases.workflows.engines.mlip import MLIPEngine
from interphases.workflows.run import run_and_store

J = 16.02176634  # J/m^2 per eV/Å^2
EXACT = 1e-6  # J/m^2: the same cells and the same calculator, only rounding differs


@pytest.fixture(autouse=True)
def _no_logging_left():
    yield
    reset_logging()


@pytest.fixture(scope="module")
def al_bulk():
    """Al at the EMT lattice constant (cell relaxed with plain ASE)."""
    atoms = ase_bulk("Al", "fcc", a=4.05, cubic=True)
    atoms.calc = EMT()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-6)
    return atoms


def emt(atoms) -> float:
    atoms = atoms.copy()
    atoms.pbc = True
    atoms.calc = EMT()
    return float(atoms.get_potential_energy())


def area(atoms) -> float:
    return float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))


@pytest.fixture(scope="module")
def files(al_bulk, tmp_path_factory):
    """Al bulk, an Al(111) slab and an Al(111) | Ag(111) interface (slab model) as POSCAR files."""
    folder = tmp_path_factory.mktemp("given")
    a0 = float(al_bulk.cell.cellpar()[0])
    slab = fcc111("Al", size=(1, 1, 6), vacuum=8.0, a=a0)
    slab.pbc = True
    iface = fcc111("Al", size=(1, 1, 8), vacuum=8.0, a=a0)
    iface.pbc = True
    for atom in iface:
        if atom.index >= 4:
            atom.symbol = "Ag"
    paths = {"bulk": folder / "Al_bulk.vasp", "slab": folder / "slab.vasp", "iface": folder / "AlAg.vasp"}
    ase.io.write(paths["bulk"], al_bulk, format="vasp")
    ase.io.write(paths["slab"], slab, format="vasp")
    ase.io.write(paths["iface"], iface, format="vasp")
    return paths, slab, iface


def test_given_files_are_what_they_are(files):
    paths, _, _ = files
    assert classify_structure(load_structure(paths["slab"])) == "slab"
    assert classify_structure(load_structure(paths["iface"])) == "interface"
    labels = label_given_interface(load_structure(paths["iface"])).site_properties["interface_label"]
    assert labels == ["substrate"] * 4 + ["film"] * 4


# ------------------------------------------------------------------------- surface energy of a given slab


def _ase_gamma(slab, bulk) -> float:
    """(E_slab - N E_bulk/atom) / 2A with plain ASE EMT, J/m^2."""
    return (emt(slab) - len(slab) * emt(bulk) / len(bulk)) / (2 * area(slab)) * J


def test_given_slab_maker_equals_plain_ase(files, al_bulk):
    paths, slab, _ = files
    engine = MLIPEngine(model="emt")
    maker = SurfaceEnergyMaker(engine=engine, fmax=0.01)
    job = maker.make_given(load_structure(paths["slab"]), load_structure(paths["bulk"]))
    doc = run_and_store(job).outputs[job.uuid]
    (s,) = doc.surfaces
    assert s.unrelaxed_surface_energy_j_per_m2 == pytest.approx(_ase_gamma(slab, al_bulk), abs=EXACT)
    assert s.surface_energy_j_per_m2 <= s.unrelaxed_surface_energy_j_per_m2 + 1e-9
    assert s.miller_index == (1, 1, 1) and s.n_atoms == 6 and s.symmetric and s.stoichiometric
    assert s.convention == "both sides" and "nothing frozen" in s.note  # nothing frozen in the file: both sides relax
    assert s.area == pytest.approx(area(slab), abs=1e-9)
    # the slab is the file's, not a new cut
    assert np.allclose(s.initial_structure.cart_coords, load_structure(paths["slab"]).cart_coords)
    rows = query("surface_energy")
    assert len(rows) == 1 and rows["value"].iloc[0] == pytest.approx(s.surface_energy_j_per_m2)


def test_given_slab_keeps_the_frozen_atoms_of_the_file(files, al_bulk):
    """Selective dynamics of the file: the bottom three planes stay put, only the top surface relaxes."""
    _, slab, _ = files
    fixed = slab.copy()
    fixed.set_constraint(FixAtoms(indices=[0, 1, 2]))
    structure = AseAtomsAdaptor.get_structure(fixed)
    assert structure.site_properties["selective_dynamics"][0] == [False] * 3
    doc = compute_given_slab_surface_energy(structure, AseAtomsAdaptor.get_structure(al_bulk), MLIPEngine(model="emt"),
                                            fmax=0.01)
    (s,) = doc.surfaces
    assert s.n_fixed == 3 and s.convention == "top surface (bottom frozen)"
    assert np.allclose(s.structure.cart_coords[:3], structure.cart_coords[:3])
    # gamma_top = gamma_unrelaxed + (E_relaxed - E_unrelaxed) / A
    relaxed = fixed.copy()
    relaxed.pbc = True
    relaxed.calc = EMT()
    FIRE(relaxed, logfile=None).run(fmax=0.01)
    gamma = _ase_gamma(slab, al_bulk) + (relaxed.get_potential_energy() - emt(slab)) / area(slab) * J
    assert s.surface_energy_j_per_m2 == pytest.approx(gamma, abs=2e-3)
    assert s.surface_energy_j_per_m2 <= s.unrelaxed_surface_energy_j_per_m2 + 1e-9


def test_given_slab_cli_equals_plain_ase_and_resumes(files, al_bulk, tmp_path):
    paths, slab, _ = files
    args = ["surface-energy", str(paths["slab"]), "--bulk", str(paths["bulk"]), "--model", "emt", "--fmax", "0.01",
            "-o", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "used as given" in first.output and "(1,1,1)" in first.output
    doc = json.loads((tmp_path / "out" / "surface_energy.json").read_text())
    (s,) = doc["surfaces"]
    assert s["unrelaxed_surface_energy_j_per_m2"] == pytest.approx(_ase_gamma(slab, al_bulk), abs=EXACT)
    assert s["surface_energy_j_per_m2"] <= s["unrelaxed_surface_energy_j_per_m2"] + 1e-9
    with open_database() as db:
        counts = db.counts()
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "read from the database" in second.output
    with open_database() as db:
        assert db.counts() == counts  # nothing new: not a job, a blob, a row nor a run
    # without --bulk: the library phase of the slab's formula
    third = runner.invoke(app, args[:2] + args[4:])
    assert third.exit_code == 0, third.output
    assert "against the bulk Al" in third.output


def run_main(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["interphases", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.err


def one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


def test_non_stoichiometric_slab_is_a_one_line_error(files, tmp_path, capsys, monkeypatch):
    """A LiF(100) slab with one Li taken out: not a whole multiple of LiF (library bulk by formula)."""
    paths, _, _ = files
    lif = surface(ase_bulk("LiF", "rocksalt", a=4.03, cubic=True), (1, 0, 0), 3, vacuum=8.0)
    del lif[[a.index for a in lif if a.symbol == "Li"][0]]
    lif.pbc = True
    ase.io.write(tmp_path / "LiF_odd.vasp", lif, format="vasp")
    odd = load_structure(tmp_path / "LiF_odd.vasp")
    assert classify_structure(odd) == "slab"
    args = ["surface-energy", str(tmp_path / "LiF_odd.vasp"), "--bulk", "LiF"]
    line = one_line_error(*run_main(args, capsys, monkeypatch))
    assert "not stoichiometric" in line and "whole multiple" in line and "LiF" in line
    # without --bulk: its formula Li11F12 is no bulk, the message asks for --bulk
    line = one_line_error(*run_main(["surface-energy", str(tmp_path / "LiF_odd.vasp")], capsys, monkeypatch))
    assert "Li11F12" in line and "--bulk" in line
    # the same in Python, before any computation
    with pytest.raises(InterphasesError, match="not stoichiometric"):
        compute_given_slab_surface_energy(odd, "LiF", MLIPEngine(model="emt"))
    # an interface is not a slab, a slab is not an interface
    line = one_line_error(*run_main(["surface-energy", str(paths["iface"]), "--model", "emt"], capsys, monkeypatch))
    assert "interphases adhesion" in line
    line = one_line_error(*run_main(["adhesion", str(paths["slab"]), "--model", "emt"], capsys, monkeypatch))
    assert "not two stacked phases" in line
    # --bulk with a bulk
    line = one_line_error(*run_main(["surface-energy", str(paths["bulk"]), "--bulk", "Al", "--model", "emt"],
                                    capsys, monkeypatch))
    assert "--bulk" in line


# ------------------------------------------------------------------------- work of adhesion of a given interface


def _ase_wad(iface, n_interfaces: int = 1) -> float:
    """(E_Al + E_Ag - E_AlAg) / (n S) with plain ASE EMT, the two sides cut from the same cell, J/m^2."""
    lower = iface[[a.index for a in iface if a.symbol == "Al"]]
    upper = iface[[a.index for a in iface if a.symbol == "Ag"]]
    return (emt(lower) + emt(upper) - emt(iface)) / (n_interfaces * area(iface)) * J


def test_given_interface_cli_equals_plain_ase_and_resumes(files, tmp_path):
    paths, _, iface = files
    args = ["adhesion", str(paths["iface"]), "--model", "emt", "-o", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    doc = json.loads((tmp_path / "out" / "adhesion.json").read_text())
    assert doc["work_of_adhesion_j_per_m2"] == pytest.approx(_ase_wad(iface), abs=EXACT)
    assert doc["cell_model"] == "slab" and doc["n_interfaces"] == 1 and doc["terminations"] == "Al|Ag"
    assert (doc["lower_formula"], doc["upper_formula"]) == ("Al", "Ag")
    rows = query("work_of_adhesion")
    assert len(rows) == 1 and rows["value"].iloc[0] == pytest.approx(doc["work_of_adhesion_j_per_m2"])
    with open_database() as db:
        counts = db.counts()
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "read from the database" in second.output
    with open_database() as db:
        assert db.counts() == counts
    # --relax: the given cell relaxed; the unrelaxed value stays the single points'
    relaxed = runner.invoke(app, [*args[:4], "--relax", "--fmax", "0.01", "-o", str(tmp_path / "relaxed")])
    assert relaxed.exit_code == 0, relaxed.output
    rdoc = json.loads((tmp_path / "relaxed" / "adhesion.json").read_text())
    assert rdoc["relaxed"] and rdoc["converged"]
    assert rdoc["unrelaxed_work_of_adhesion_j_per_m2"] == pytest.approx(_ase_wad(iface), abs=EXACT)
    assert rdoc["work_of_adhesion_j_per_m2"] != pytest.approx(rdoc["unrelaxed_work_of_adhesion_j_per_m2"], abs=1e-6)


def test_given_sandwich_has_two_interfaces(files):
    """A periodic Al | Ag sandwich (no vacuum), split across the cell boundary: W_ad per interface."""
    _, _, iface = files
    sandwich = iface.copy()
    sandwich.center(vacuum=0.0, axis=2)
    spacing = sandwich.positions[1, 2] - sandwich.positions[0, 2]
    cell = sandwich.cell.copy()
    cell[2] = [0.0, 0.0, np.ptp(sandwich.positions[:, 2]) + spacing]
    sandwich.set_cell(cell)
    sandwich.pbc = True
    sandwich.positions[:, 2] += 2 * spacing  # the Ag block now crosses the cell boundary
    sandwich.wrap()
    structure = AseAtomsAdaptor.get_structure(sandwich)
    assert classify_structure(structure) == "interface"
    doc = compute_given_adhesion(structure, MLIPEngine(model="emt"))
    assert doc.cell_model == "sandwich" and doc.n_interfaces == 2
    assert {doc.lower_formula, doc.upper_formula} == {"Al", "Ag"} and doc.n_atoms_lower == doc.n_atoms_upper == 4
    assert doc.work_of_adhesion_j_per_m2 == pytest.approx(_ase_wad(sandwich, 2), abs=EXACT)
    assert "mean of its two interfaces" in doc.notes[0]


def test_given_interface_maker_through_jobflow(files):
    paths, _, iface = files
    job = AdhesionMaker(engine=MLIPEngine(model="emt"), relax=False).make_given(load_structure(paths["iface"]))
    doc = run_and_store(job).outputs[job.uuid]
    assert doc.work_of_adhesion_j_per_m2 == pytest.approx(_ase_wad(iface), abs=EXACT)
    assert doc.summary_rows()[0]["kind"] == "work_of_adhesion"


# ------------------------------------------------------------------------- NEB across a given interface


def test_given_interface_runs_through_the_interface_hop_maker(al_bulk):
    """An interface file, labelled by its two phases, is what InterfaceHopMaker takes (a smoke
    test of the plumbing: a short, unconverged CI-NEB of an Al interstitial hop into Ag)."""
    from interphases.workflows.migration import InterfaceHopMaker

    atoms = fcc111("Al", size=(2, 2, 6), vacuum=8.0, a=float(al_bulk.cell.cellpar()[0]))
    atoms.pbc = True
    for atom in atoms:
        if atom.index >= 12:
            atom.symbol = "Ag"
    labelled = label_given_interface(AseAtomsAdaptor.get_structure(atoms))
    maker = InterfaceHopMaker(engine=MLIPEngine(model="emt"), ion="Al", from_side="substrate", mechanism="interstitial",
                              relax_interface=False, n_images=3, fmax=0.1, max_steps=20)
    doc = maker.compute(labelled)
    assert (doc.substrate_formula, doc.film_formula) == ("Al", "Ag") and doc.hops
    assert np.isfinite(doc.hops[0].barrier_forward)
