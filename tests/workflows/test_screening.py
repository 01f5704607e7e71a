"""The screening flow (EMT: Al | Ag, Cu | Ni) and the `screen` command, plus the CHGNet
Li | LiF work of adhesion end to end through jobflow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from jobflow import run_locally
from pymatgen.core import Lattice, Structure
from typer.testing import CliRunner

from interphases.cli import app
from interphases.database import query
from interphases.structures import enumerate_candidates, get_phase
from interphases.workflows.energetics import AdhesionDocument, AdhesionMaker
from interphases.workflows.engines.mlip import MLIPEngine
from interphases.workflows.run import run_and_store
from interphases.workflows.screening import InterfaceScreeningMaker, rank_interfaces


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


@pytest.fixture(scope="module")
def al_ag_screening(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_PROJECT", str(tmp_path_factory.mktemp("al-ag")))
        maker = InterfaceScreeningMaker(
            engine=MLIPEngine(model="emt"),
            enumeration=dict(max_index=1, max_area=25, substrate_thickness=5.0, film_thickness=5.0, vacuum=10.0),
            max_candidates=3,
            adhesion=AdhesionMaker(gaps=(1.8, 2.2, 2.6), max_registries=4),
            refine_engine=MLIPEngine(model="lj", model_options={"sigma": 2.6, "epsilon": 0.3, "rc": 6.0}),
            refine_top=1,
            fmax=0.02,
        )
        flow = maker.make(fcc("Al", 4.05), fcc("Ag", 4.09))
        run = run_and_store(flow)
        rows = query()
    return run, flow, rows


def test_screening_ranks_by_work_of_adhesion(al_ag_screening):
    run, flow, _ = al_ag_screening
    doc = run.outputs[flow.output.uuid]
    assert len(doc.ranking) == 3 and doc.n_enumerated >= 3
    assert [r.rank for r in doc.ranking] == [1, 2, 3]
    w = [r.work_of_adhesion for r in doc.ranking if r.converged and not r.polar]
    assert w == sorted(w, reverse=True)
    for r in doc.ranking:  # metals: every interface sticks, sigma small and finite
        assert r.converged and not r.polar
        assert 0.5 < r.work_of_adhesion < 3.0
        assert r.interfacial_energy is not None and abs(r.interfacial_energy) < 0.5
        assert abs(r.eq18_difference) < 0.05  # J/m^2
    assert doc.provenance["model"] == "emt"


def test_bulks_relaxed_before_enumeration(al_ag_screening):
    run, _, _ = al_ag_screening
    phases = next(o for o in run.outputs.values() if type(o).__name__ == "BulkPhasesDocument")
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    for ref, element in ((phases.substrate, "Al"), (phases.film, "Ag")):
        atoms = bulk(element, "fcc", a=4.0, cubic=True)
        atoms.calc = EMT()
        BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=1e-4)
        assert ref.converged
        assert ref.lattice_abc[0] == pytest.approx(atoms.cell.lengths()[0], abs=3e-3)  # 0.005 eV/Å on the cell


def test_refinement_with_another_engine_is_stored(al_ag_screening):
    run, flow, rows = al_ag_screening
    doc = run.outputs[flow.output.uuid]
    w = rows[rows["kind"] == "work_of_adhesion"]
    assert set(w["model"]) == {"emt", "lj"}
    refined = w[w["model"] == "lj"]
    assert list(refined["candidate_id"]) == [doc.ranking[0].candidate_id]  # the best one, refined
    assert len(rows[rows["kind"] == "screening_rank"]) == 3


def test_rank_order_rules():
    """Converged before not converged, non-polar before polar, then W_ad, then sigma."""
    from types import SimpleNamespace

    def adh(cid, w, polar=False, converged=True):
        return AdhesionDocument.model_construct(
            candidate_id=cid, substrate_formula="A", film_formula="B", substrate_miller=(1, 0, 0),
            film_miller=(1, 0, 0), substrate_plane="A", film_plane="B", von_mises_strain=0.01, area=10.0,
            n_atoms=10, work_of_adhesion_j_per_m2=w, unrelaxed_work_of_adhesion_j_per_m2=w,
            substrate_polar=False, film_polar=polar, converged=converged, provenance={"engine": "mlip", "model": "m"},
        )

    docs = [adh("a", 1.0), adh("b", 2.0, polar=True), adh("c", 3.0, converged=False), adh("d", 1.5), adh("e", 1.5)]
    energies = SimpleNamespace(results=[
        SimpleNamespace(candidate_id="d", interfacial_energy_j_per_m2=0.3, formation_energy_j_per_m2=0.4,
                        elastic_energy_mev_per_a3=0.1, eq18_difference_j_per_m2=0.0, converged=True),
        SimpleNamespace(candidate_id="e", interfacial_energy_j_per_m2=0.2, formation_energy_j_per_m2=0.4,
                        elastic_energy_mev_per_a3=0.1, eq18_difference_j_per_m2=0.0, converged=True),
    ])
    order = [r.candidate_id for r in rank_interfaces(SimpleNamespace(results=docs), energies)]
    assert order == ["e", "d", "a", "b", "c"]


def test_screen_command_and_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("INTERPHASES_PROJECT", str(tmp_path / "project"))
    fcc("Cu", 3.61).to(filename=str(tmp_path / "Cu.cif"))
    fcc("Ni", 3.52).to(filename=str(tmp_path / "Ni.cif"))
    args = ["screen", str(tmp_path / "Cu.cif"), str(tmp_path / "Ni.cif"), "--model", "emt", "--max-area", "15",
            "-n", "2", "--thickness", "5", "--gaps", "1.6,2.0,2.4", "--registries", "2", "-o", str(tmp_path / "out")]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    text = " ".join(first.output.split())  # the title wraps when the tmp paths are long
    assert "interface ranking" in text and "computed in" in text
    doc = json.loads((tmp_path / "out" / "screening.json").read_text())
    assert doc["ranking"][0]["rank"] == 1 and doc["ranking"][0]["work_of_adhesion"] > 1.0
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "read from the database" in second.output
    n_rows = len(query("work_of_adhesion"))
    assert n_rows == len(doc["ranking"])  # nothing recomputed
    bad = runner.invoke(app, ["screen", "Li", "LiF", "--model", "emt", "-n", "1"])
    assert bad.exit_code != 0 and "Li" in str(bad.exception or bad.output)


@pytest.mark.chgnet
@pytest.mark.slow
def test_chgnet_li_lif_work_of_adhesion_through_run_locally():
    """A small non-polar Li(110) | LiF(110) candidate, AdhesionMaker on CHGNet, jobflow.run_locally."""
    cands = enumerate_candidates(
        get_phase("Li"), get_phase("LiF"), substrate_millers=[(1, 1, 0)], film_millers=[(1, 1, 0)], max_area=40,
        substrate_thickness=5.0, film_thickness=5.0, vacuum=10.0,
    )
    cand = min(cands, key=lambda c: c.n_atoms)
    assert cand.n_atoms <= 60 and cand.film_plane == "LiF"
    flow = AdhesionMaker(gaps=(1.8, 2.2, 2.6), max_registries=3, fmax=0.1).make(cand)
    responses = run_locally(flow, ensure_success=True)
    doc = responses[flow.output.uuid][1].output
    assert isinstance(doc, AdhesionDocument)
    assert doc.converged and doc.relaxed
    assert 0.05 < doc.work_of_adhesion_j_per_m2 < 2.0
    assert doc.provenance["model"].startswith("chgnet") and doc.provenance["engine"] == "mlip"
    assert not doc.film_polar and not doc.substrate_polar
    # the relaxed interface is lower in energy than the best single point of the scan
    assert doc.interface_energy < doc.scan.best_energy
    assert np.isfinite(np.array(doc.scan.energies)).all()
