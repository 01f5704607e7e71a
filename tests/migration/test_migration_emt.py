"""MigrationBarrierMaker / InterfaceHopMaker on EMT, against plain ASE written here.

- Vacancy hop in fcc Al: the Maker's barrier equals a CI-NEB done with nothing but ASE
  (bulk + repeat, delete an atom, FIRE endpoint relaxations, IDPP, NEB(improvedtangent,
  climb) + FIRE) on the same periodic cell, within 5 meV.
- The Flow through the project database: rows, data store, rerun skipped.
- An Ag hop across an Ag | Ag3Au interface, both ways: the two independent runs must give
  mirrored barriers, and the reaction energy must equal EMT's energy difference of the
  relaxed endpoints computed here with ASE.
- The CLI end to end on EMT (files written, errors as one line).
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.mep import NEB
from ase.optimize import FIRE
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from interphases.potentials.conversion import structure_to_atoms
from interphases.structures import enumerate_candidates
from interphases.workflows.engines import get_engine
from interphases.workflows.migration import (
    EffectiveBarrierMaker,
    InterfaceHopMaker,
    MigrationBarrierMaker,
    effective_barrier,
)

warnings.filterwarnings("ignore", message="Structure charge")

A_AL = 4.05
FCC = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
FMAX = 0.01


def al_conventional(a: float = A_AL) -> Structure:
    return Structure(Lattice.cubic(a), ["Al"] * 4, FCC)


def emt():
    return get_engine("mlip", model="emt")


def plain_ase_vacancy_barrier(n_images: int = 5) -> tuple[float, np.ndarray]:
    """CI-NEB of a nearest-neighbour vacancy hop in a 3x3x3 primitive fcc Al cell, ASE only."""
    crystal = bulk("Al", "fcc", a=A_AL) * (3, 3, 3)  # 27 atoms, primitive fcc vectors
    d = crystal.get_distances(0, range(len(crystal)), mic=True)
    d[0] = np.inf
    hopper = int(np.argmin(d))
    initial = crystal.copy()
    final = crystal.copy()
    final.positions[hopper] = crystal.positions[0]
    del initial[0]
    del final[0]
    for atoms in (initial, final):
        atoms.calc = EMT()
        FIRE(atoms, logfile=None).run(fmax=FMAX, steps=500)
    images = [initial] + [initial.copy() for _ in range(n_images)] + [final]
    neb = NEB(images, k=0.1, climb=True, method="improvedtangent")
    neb.interpolate("idpp", mic=True)
    for image in images:
        image.calc = EMT()
    assert FIRE(neb, logfile=None).run(fmax=FMAX, steps=1000)
    energies = [im.get_potential_energy() for im in images]
    return max(energies) - energies[0], np.asarray(crystal.cell)


@pytest.fixture(scope="module")
def al_doc():
    maker = MigrationBarrierMaker(
        engine=emt(), min_image=8.0, relax_bulk=False, fmax=FMAX, relax_fmax=FMAX, n_images=5, max_steps=1000
    )
    return maker.compute(al_conventional())


def test_vacancy_barrier_equals_plain_ase_neb(al_doc):
    ref, ref_cell = plain_ase_vacancy_barrier()
    (hop,) = al_doc.hops
    assert hop.converged and hop.error is None
    assert abs(hop.barrier_forward - ref) < 0.005
    assert abs(hop.barrier_backward - ref) < 0.005
    # same periodic system: the Maker's supercell lattice is an integer unimodular basis change
    sc_lattice = np.asarray(al_doc.supercell) @ al_doc.network.cell.lattice.matrix
    change = sc_lattice @ np.linalg.inv(ref_cell)
    assert np.allclose(change, np.rint(change), atol=1e-6) and abs(round(np.linalg.det(change))) == 1
    assert al_doc.n_atoms == 26 and al_doc.defect_charge == 0.0  # metal: neutral vacancy
    # symmetric profile, saddle in the middle, endpoints relaxed to the same energy
    assert hop.climbing_image == 3
    assert hop.initial.energy == pytest.approx(hop.final.energy, abs=1e-4)


def test_summary_rows_and_effective_barrier(al_doc):
    (row,) = al_doc.summary_rows()  # equivalent endpoints: forward row only
    hop = al_doc.hops[0]
    assert row["kind"] == "migration_barrier" and row["value"] == hop.barrier_forward
    assert (row["units"], row["engine"], row["formulas"], row["ion"], row["mechanism"]) == (
        "eV", "mlip", ["Al"], "Al", "vacancy"
    )
    assert row["supercell"] == "3x3x3" and row["hop_length"] == pytest.approx(A_AL / 2**0.5, abs=1e-6)
    eff = effective_barrier(al_doc)
    # one hop class connecting the fcc lattice in 3D: E_eff = the barrier in every dimension
    assert [s.dimensionality for s in eff.steps] == [1, 2, 3]
    assert all(s.barrier == pytest.approx(hop.barrier_forward, abs=1e-9) for s in eff.steps)
    assert [r["kind"] for r in eff.summary_rows()] == ["effective_migration_barrier"] * 3


def test_flow_stores_rows_and_images_and_skips_rerun():
    from interphases.database import open_database
    from interphases.workflows.run import run_and_store

    maker = MigrationBarrierMaker(engine=emt(), min_image=5.5, relax_bulk=True, fmax=0.05)
    run = run_and_store(EffectiveBarrierMaker(barriers=maker).make(al_conventional()), result_key="al-vac")
    docs = {type(o).__name__: o for o in run.outputs.values()}
    hop_doc, eff = docs["MigrationBarrierDocument"], docs["EffectiveBarrierDocument"]
    assert hop_doc.bulk_relaxed and run.rows_written == 1 + 3
    db = open_database()
    try:
        rows = {(r["kind"], r.get("dimensionality")): r for r in db.summary.query({})}
        assert rows[("migration_barrier", None)]["value"] == pytest.approx(hop_doc.hops[0].barrier_forward)
        assert rows[("effective_migration_barrier", 3)]["value"] == pytest.approx(eff.barrier(3))
        # the images went to the data store, not into the output document
        assert db.jobstore.additional_stores["data"].count() >= 1
        raw = db.jobstore.docs_store.query_one({"name": "migration barrier"})
        images = raw["output"]["hops"][0]["images"]
        assert isinstance(images, dict) and "blob_uuid" in images
        loaded = db.jobstore.query_one({"name": "migration barrier"}, load=True)
        assert len(loaded["output"]["hops"][0]["images"]) == 7
    finally:
        db.close()
    again = run_and_store(EffectiveBarrierMaker(barriers=maker).make(al_conventional()), result_key="al-vac")
    assert again.skipped


def test_bad_inputs_are_clear_errors():
    from interphases.errors import InterphasesError

    with pytest.raises(InterphasesError, match="unknown hop label"):
        MigrationBarrierMaker(engine=emt(), hop_labels=["hop-9"], relax_bulk=False).compute(al_conventional())
    with pytest.raises(InterphasesError, match="no default charge"):
        cu = Structure(Lattice.cubic(3.61), ["Cu"] * 4, FCC)
        MigrationBarrierMaker(engine=emt(), ion="Cu", relax_bulk=False).compute(cu)


# ------------------------------------------------------------------ across an interface


@pytest.fixture(scope="module")
def ag_ag3au_candidate():
    ag = Structure(Lattice.cubic(4.09), ["Ag"] * 4, FCC)
    ag3au = Structure(Lattice.cubic(4.08), ["Au", "Ag", "Ag", "Ag"], FCC)  # L1_2
    cands = enumerate_candidates(
        ag, ag3au, substrate_millers=[(1, 0, 0)], film_millers=[(1, 0, 0)],
        substrate_thickness=5, film_thickness=5, vacuum=10, max_area=40,
    )
    return cands[0]


@pytest.fixture(scope="module")
def interface_docs(ag_ag3au_candidate):
    kw = dict(engine=emt(), ion="Ag", charge=1, min_image=5.5, fmax=0.02, relax_fmax=0.02)
    up = InterfaceHopMaker(from_side="substrate", **kw).compute(ag_ag3au_candidate)
    down = InterfaceHopMaker(from_side="film", **kw).compute(ag_ag3au_candidate)
    return up, down


def test_interface_hop_both_ways_mirror_each_other(interface_docs):
    up, down = interface_docs
    (h_up,), (h_down,) = up.hops, down.hops
    assert h_up.converged and h_down.converged
    assert up.parameters["in_plane_repeats"] == [2, 2] and up.n_atoms == 64 and h_up.n_atoms == 63
    assert h_up.charge == 0.0  # metallic sides
    assert h_up.info["start_height"] < 0 < h_up.info["end_height"]
    assert h_down.info["start_height"] > 0 > h_down.info["end_height"]
    # substrate -> film is film -> substrate run backwards (independent endpoints and bands)
    assert h_up.barrier_forward == pytest.approx(h_down.barrier_backward, abs=0.01)
    assert h_up.barrier_backward == pytest.approx(h_down.barrier_forward, abs=0.01)
    assert 0.1 < h_up.barrier_forward < 2.0


def test_interface_reaction_energy_and_frozen_atoms(interface_docs):
    up, _ = interface_docs
    (h,) = up.hops
    first, last = (structure_to_atoms(s) for s in (h.images[0], h.images[-1]))
    for atoms in (first, last):
        atoms.calc = EMT()
    assert h.reaction_energy == pytest.approx(last.get_potential_energy() - first.get_potential_energy(), abs=1e-6)
    frozen = [i for i, sd in enumerate(h.images[0].site_properties["selective_dynamics"]) if not any(sd)]
    assert frozen
    for image in h.images[1:]:
        assert np.abs(image.cart_coords[frozen] - h.images[0].cart_coords[frozen]).max() < 1e-9
    rows = up.summary_rows()
    assert [r["direction"] for r in rows] == ["Ag->Ag3Au", "Ag3Au->Ag"]
    assert rows[0]["kind"] == "interface_migration_barrier" and rows[1]["value"] == h.barrier_backward


# ------------------------------------------------------------------ CLI


def test_cli_neb_on_emt_writes_plot_json_and_images(tmp_path):
    from interphases.cli import app

    result = CliRunner().invoke(
        app, ["neb", "Al", "--model", "emt", "--min-image", "5.5", "--fmax", "0.05", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "effective barrier 3D" in result.output and "hop-0" in result.output
    stem = tmp_path / "neb_Al_Al_vacancy"
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in stem.with_suffix(".svg").read_bytes()[:500]
    payload = json.loads(stem.with_suffix(".json").read_text())
    barrier = payload["barriers"]["hops"][0]["barrier_forward"]
    assert payload["effective"]["steps"][2]["barrier"] == pytest.approx(barrier)
    assert (tmp_path / "neb_Al_Al_vacancy_hop-0.extxyz").is_file()
    again = CliRunner().invoke(
        app, ["neb", "Al", "--model", "emt", "--min-image", "5.5", "--fmax", "0.05"]
    )
    assert again.exit_code == 0 and "not recomputed" in again.output


def test_cli_errors_are_one_line():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "interphases.cli", "neb", "MgO", "--ion", "Li", "--model", "emt", "--no-relax-bulk", "--no-store"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert "has no Li" in proc.stderr and "Traceback" not in proc.stderr


def test_engine_results_keep_the_cell_charge():
    """Relaxed / NEB structures keep Structure.charge (DFT engines read it)."""
    from interphases.structures.hops import set_charge, structure_charge

    cell = set_charge(al_conventional() * (2, 1, 1), -1.0)
    cell.remove_sites([0])
    (res,) = emt().relax([cell], cell="fixed", fmax=0.1)
    assert structure_charge(res.structure) == -1.0


def test_cli_neb_interface_on_emt(tmp_path):
    from interphases.cli import app

    ag = Structure(Lattice.cubic(4.09), ["Ag"] * 4, FCC)
    ag3au = Structure(Lattice.cubic(4.08), ["Au", "Ag", "Ag", "Ag"], FCC)
    ag.to(filename=str(tmp_path / "Ag.cif"))
    ag3au.to(filename=str(tmp_path / "Ag3Au.cif"))
    result = CliRunner().invoke(
        app,
        [
            "neb-interface", str(tmp_path / "Ag.cif"), str(tmp_path / "Ag3Au.cif"), "--ion", "Ag", "--charge", "1",
            "--from", "substrate", "--substrate-miller", "1,0,0", "--film-miller", "1,0,0", "--max-area", "40",
            "--thickness", "5", "--min-image", "5.5", "--model", "emt", "--fmax", "0.05", "-o", str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "neb_Ag_Ag3Au_Ag_substrate.json").read_text())
    (hop,) = doc["hops"]
    assert hop["converged"] and hop["info"]["start_height"] < 0 < hop["info"]["end_height"]
    assert (tmp_path / "out" / "neb_Ag_Ag3Au_Ag_substrate.png").stat().st_size > 1000


def test_cli_neb_interface_on_a_given_interface_file(tmp_path):
    """An interface file (two phases stacked, vacuum on top) is used as given: the lower phase
    is the substrate, the upper one the film, and the hop crosses the plane between them. The
    same cell through the candidate route (InterfaceHopMaker on the labelled Structure) gives
    the same barrier."""
    from interphases.cli import app

    ag = Structure(Lattice.cubic(4.09), ["Ag"] * 4, FCC)
    ag3au = Structure(Lattice.cubic(4.08), ["Au", "Ag", "Ag", "Ag"], FCC)
    cand = enumerate_candidates(ag, ag3au, substrate_millers=[(1, 0, 0)], film_millers=[(1, 0, 0)],
                                max_area=40, substrate_thickness=5, film_thickness=5, vacuum=10)[0]
    cell = cand.interface_at(cand.in_plane_shifts[0])
    labels = cell.site_properties["interface_label"]
    cell = Structure.from_sites(cell.sites)
    cell.remove_site_property("interface_label")
    cell.to(filename=str(tmp_path / "POSCAR"), fmt="poscar")
    args = ["neb-interface", str(tmp_path / "POSCAR"), "--ion", "Ag", "--charge", "1", "--from", "substrate",
            "--min-image", "5.5", "--model", "emt", "--fmax", "0.05", "--no-relax-interface", "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "interface file POSCAR" in result.output
    doc = json.loads((tmp_path / "out" / "neb_Ag_Ag3Au_Ag_substrate.json").read_text())
    (hop,) = doc["hops"]
    assert hop["converged"] and hop["info"]["start_height"] < 0 < hop["info"]["end_height"]
    # the file's phases are labelled as the candidate labelled them
    from interphases.structures.bulk import label_given_interface

    assert label_given_interface(cell).site_properties["interface_label"] == labels
    # the candidate route on the same cell gives the same barrier
    maker = InterfaceHopMaker(engine=get_engine("mlip", model="emt"), ion="Ag", charge=1, from_side="substrate",
                              min_image=5.5, fmax=0.05, relax_interface=False)
    ref = maker.compute(cand.interface_at(cand.in_plane_shifts[0]))
    assert hop["barrier_forward"] == pytest.approx(ref.hops[0].barrier_forward, abs=1e-4)
    # a bulk is not an interface: one line, exit 2
    ag.to(filename=str(tmp_path / "Ag.cif"))
    bad = CliRunner().invoke(app, ["neb-interface", str(tmp_path / "Ag.cif"), "--model", "emt"])
    assert bad.exit_code != 0 and "not an interface" in str(bad.exception)
