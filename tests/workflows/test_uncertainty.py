"""Model uncertainty of the screening (issue 14, item 3): a second model's W_ad on the first
model's relaxed cells, the spread as the ``uncertainty`` column, and ``refine_by="ucb"``.

EMT (model 1) against Lennard-Jones (model 2) on a small Al | Ag screening: the second
model's W_ad is checked against plain ASE (LennardJones on the document's relaxed cells,
the formula written out here), the ranking against the same screening without a second
model, and the refinement choice against rows built by hand.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from pymatgen.core import Lattice, Structure
from pymatgen.io.ase import AseAtomsAdaptor
from typer.testing import CliRunner

from interphases.analysis.ranking import rank_frame, select_for_refinement
from interphases.analysis.uncertainty import model_uncertainty, second_model_work_of_adhesion
from interphases.errors import InterphasesError
from interphases.workflows.energetics import AdhesionMaker, AdhesionSetDocument
from interphases.workflows.engines.mlip import MLIPEngine
from interphases.workflows.run import run_and_store
from interphases.workflows.screening import (
    CandidateSet,
    InterfaceScreeningMaker,
    ModelUncertaintyDocument,
    RankedInterface,
    ScreeningDocument,
    compute_model_uncertainty,
    rank_interfaces,
)

J = 16.02176634  # J/m^2 per eV/Å^2
LJ = {"sigma": 2.6, "epsilon": 0.3, "rc": 6.0}


def fcc(element: str, a: float) -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), [element], [[0, 0, 0]])


def ase_energy(structure: Structure, calc) -> float:
    """Single point with plain ASE (no constraints matter for an energy)."""
    atoms = AseAtomsAdaptor.get_atoms(Structure.from_sites(structure.sites))
    atoms.set_constraint()
    atoms.calc = calc
    return float(atoms.get_potential_energy())


def area(structure: Structure) -> float:
    a, b = structure.lattice.matrix[:2]
    return float(np.linalg.norm(np.cross(a, b)))


def _maker(**kwargs) -> InterfaceScreeningMaker:
    options = dict(
        engine=MLIPEngine(model="emt"),
        enumeration=dict(max_index=1, max_area=25, substrate_thickness=5.0, film_thickness=5.0, vacuum=10.0),
        max_candidates=3,
        adhesion=AdhesionMaker(gaps=(1.8, 2.2, 2.6), max_registries=3),
        interfacial_energy=False,
        fmax=0.05,
    )
    return InterfaceScreeningMaker(**(options | kwargs))


@pytest.fixture(scope="module")
def al_ag(tmp_path_factory):
    """EMT screening of Al | Ag with an LJ second model, and the LJ refinement picked by UCB."""
    from interphases.cli import app
    from interphases.database import query

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_PROJECT", str(tmp_path_factory.mktemp("al-ag-uncertainty")))
        maker = _maker(uncertainty_engine=MLIPEngine(model="lj", model_options=LJ),
                       refine_engine=MLIPEngine(model="lj", model_options=LJ), refine_top=1, refine_by="ucb")
        flow = maker.make(fcc("Al", 4.05), fcc("Ag", 4.09))
        run = run_and_store(flow)
        rows = query("work_of_adhesion")
        table = CliRunner().invoke(app, ["query", "work_of_adhesion"])
        from interphases.database import write_report

        report = write_report(tmp_path_factory.mktemp("report"), kinds=["work_of_adhesion"])
    outputs = list(run.outputs.values())
    doc = run.outputs[flow.output.uuid]
    adhesion = next(o for o in outputs if isinstance(o, AdhesionSetDocument))
    spread = next(o for o in outputs if isinstance(o, ModelUncertaintyDocument))
    candidates = next(o for o in outputs if isinstance(o, CandidateSet))
    return SimpleNamespace(doc=doc, adhesion=adhesion, spread=spread, candidates=candidates, rows=rows, table=table,
                           report=report)


def test_second_model_work_of_adhesion_equals_plain_ase_on_the_relaxed_cells(al_ag):
    doc, adhesion = al_ag.doc, al_ag.adhesion
    assert len(doc.ranking) == len(adhesion.results) >= 2
    by_id = {r.candidate_id: r for r in doc.ranking}
    for a in adhesion.results:
        cells = (a.substrate_slab_structure, a.film_slab_structure, a.interface_structure)
        s = area(a.interface_structure)
        assert a.area == pytest.approx(s, rel=1e-9)
        # model 1 at these cells is the document's own W_ad (the same geometry for both models)
        e_a, e_b, e_ab = (ase_energy(c, EMT()) for c in cells)
        assert (e_a + e_b - e_ab) / s * J == pytest.approx(a.work_of_adhesion_j_per_m2, abs=1e-6)
        # model 2: LJ single points of the same three cells, nothing mixed
        l_a, l_b, l_ab = (ase_energy(c, LennardJones(**LJ)) for c in cells)
        w2 = (l_a + l_b - l_ab) / s * J
        row = by_id[a.candidate_id]
        assert row.second_model == "lj" and row.model == "emt"
        assert row.second_model_work_of_adhesion == pytest.approx(w2, abs=1e-6)
        assert row.uncertainty == pytest.approx(abs(a.work_of_adhesion_j_per_m2 - w2), abs=1e-6)
        assert row.uncertainty > 0.01  # EMT and this LJ disagree: the column says something
    assert al_ag.spread.second_model == "lj" and al_ag.spread.model == "emt"
    assert doc.parameters["refine_by"] == "ucb" and doc.parameters["uncertainty_model"] == "mlip:lj"


def test_pure_functions_formula_and_missing_values():
    assert second_model_work_of_adhesion(-10.0, -20.0, -31.0, 16.0) == pytest.approx(1.0 / 16.0 * J)
    assert second_model_work_of_adhesion(-10.0, float("nan"), -31.0, 16.0) is None
    assert second_model_work_of_adhesion(None, -20.0, -31.0, 16.0) is None
    assert model_uncertainty(1.2, 0.9) == pytest.approx(0.3)
    assert model_uncertainty(0.9, 1.2) == pytest.approx(0.3)
    assert model_uncertainty(1.2, None) is None and model_uncertainty(float("inf"), 1.0) is None


def test_ranking_order_is_the_one_without_a_second_model(al_ag):
    doc, adhesion, spread = al_ag.doc, al_ag.adhesion, al_ag.spread
    plain = rank_interfaces(adhesion)
    assert [r.candidate_id for r in doc.ranking] == [r.candidate_id for r in plain]
    assert all(r.uncertainty is None and r.second_model is None for r in plain)
    # a spread that would reverse the order if it were used: the order stays
    reverse = spread.model_copy(deep=True)
    for k, u in enumerate(reverse.results):
        u.uncertainty = 10.0 * (k + 1) if u.candidate_id != doc.ranking[0].candidate_id else 0.0
    assert [r.candidate_id for r in rank_interfaces(adhesion, None, True, reverse)] == [r.candidate_id for r in plain]


def test_uncertainty_reaches_summary_rows_query_and_table(al_ag):
    doc, rows = al_ag.doc, al_ag.rows
    summary = ScreeningDocument.summary_rows(doc)
    assert all(r["uncertainty"] == pytest.approx(x.uncertainty) for r, x in zip(summary, doc.ranking, strict=True))
    assert {r["second_model"] for r in summary} == {"lj"}
    emt = rows[rows["model"] == "emt"]
    want = {r.candidate_id: r.uncertainty for r in doc.ranking}
    assert len(emt) == len(want)
    for _, r in emt.iterrows():
        assert r["uncertainty"] == pytest.approx(want[r["candidate_id"]], abs=1e-9)
    # the LJ refinement row is another model's W_ad: no spread joined into it
    lj = rows[rows["model"] == "lj"]
    assert len(lj) == 1 and lj["uncertainty"].isna().all()
    # the query's order is the screening's order (the uncertainty does not reorder)
    assert list(emt["candidate_id"]) == [r.candidate_id for r in doc.ranking]
    assert al_ag.table.exit_code == 0, al_ag.table.output
    header = next(line for line in al_ag.table.output.splitlines() if "value" in line)
    assert "uncertainty" in header and header.index("uncertainty") > header.index("value")
    assert "nan" not in al_ag.table.output.lower()


def test_ucb_refinement_in_the_flow_refines_the_chosen_candidate(al_ag):
    refined = al_ag.rows[al_ag.rows["model"] == "lj"]
    expected = [r.candidate_id for r in select_for_refinement(al_ag.doc.ranking, 1, "ucb")]
    assert list(refined["candidate_id"]) == expected


def _row(cid, w, u=None, polar=False, converged=True, **extra):
    return RankedInterface(
        rank=0, candidate_id=cid, substrate="A", film="B", substrate_miller=(1, 0, 0), film_miller=(1, 0, 0),
        terminations="A|B", von_mises_strain=0.01, area=10.0, n_atoms=10, work_of_adhesion=w,
        unrelaxed_work_of_adhesion=w, polar=polar, converged=converged, engine="mlip", model="m", uncertainty=u,
        **extra,
    )


def test_select_for_refinement_rank_and_ucb_on_rows_built_by_hand():
    rows = [
        _row("a", 2.0, 0.1),                   # best W_ad, confident: 2.1
        _row("b", 1.8, 0.5),                   # second, uncertain: 2.3 (the UCB pick)
        _row("c", 1.0, 0.2),                   # 1.2
        _row("d", 3.0, 1.0, polar=True),       # 4.0 but flagged: after every sound row
        _row("e", 5.0, 1.0, converged=False),  # unconverged: last
    ]
    ids = lambda picked: [r.candidate_id for r in picked]  # noqa: E731
    assert ids(select_for_refinement(rows, 1, "rank")) == ["a"]
    assert ids(select_for_refinement(rows, 2, "rank")) == ["a", "b"]
    assert ids(select_for_refinement(rows, 1, "ucb")) == ["b"]
    assert ids(select_for_refinement(rows, 3, "ucb")) == ["b", "a", "c"]
    assert ids(select_for_refinement(rows, 5, "ucb")) == ["b", "a", "c", "d", "e"]
    # dicts (summary / query rows) work the same; a row without a spread counts with W_ad alone
    dicts = [r.model_dump() for r in rows[:3]]
    dicts[1]["uncertainty"] = None
    assert [r["candidate_id"] for r in select_for_refinement(dicts, 1, "ucb")] == ["a"]
    # ties keep the ranking order
    tie = [_row("x", 1.0, 0.5), _row("y", 1.2, 0.3)]
    assert ids(select_for_refinement(tie, 1, "ucb")) == ["x"]
    with pytest.raises(InterphasesError, match="refine_by must be one of rank, ucb"):
        select_for_refinement(rows, 1, "best")


def test_ucb_without_second_model_is_a_one_line_error_at_make_time():
    with pytest.raises(InterphasesError) as err:
        _maker(refine_engine=MLIPEngine(model="lj", model_options=LJ), refine_by="ucb").make(fcc("Al", 4.05), fcc("Ag", 4.09))
    text = str(err.value)
    assert "\n" not in text and "uncertainty_engine" in text and "refine_by" in text
    with pytest.raises(InterphasesError, match="refine_by must be one of") as err:
        _maker(refine_by="uncertainty").make(fcc("Al", 4.05), fcc("Ag", 4.09))
    assert "\n" not in str(err.value)
    with pytest.raises(InterphasesError, match="unknown engine"):
        _maker(uncertainty_engine="nonsense").make(fcc("Al", 4.05), fcc("Ag", 4.09))


def test_flow_without_second_model_has_no_uncertainty_job():
    flow = _maker().make(fcc("Al", 4.05), fcc("Ag", 4.09))
    assert not any("model uncertainty" in j.name for j in flow.jobs)
    flow = _maker(uncertainty_engine="lj").make(fcc("Al", 4.05), fcc("Ag", 4.09))
    assert sum("model uncertainty" in j.name for j in flow.jobs) == 1


def test_one_batched_static_call_energy_only(al_ag):
    """All candidates' three cells go to the second engine in one energy-only call."""
    calls = []

    class Recording(MLIPEngine):
        def static(self, structures, labels=None, forces=True):
            calls.append((len(structures), forces))
            return super().static(structures, labels=labels, forces=forces)

    out = compute_model_uncertainty(al_ag.adhesion, Recording(model="lj", model_options=LJ))
    n = len(al_ag.adhesion.results)
    assert calls == [(3 * n, False)]
    assert [u.uncertainty for u in out.results] == pytest.approx([u.uncertainty for u in al_ag.spread.results], abs=1e-9)


def test_query_rows_get_the_spread_only_on_work_of_adhesion_rows():
    import pandas as pd

    from interphases.analysis.ranking import candidate_facts
    from interphases.cli.tables import cell, columns_for

    base = {"engine": "mlip", "model": "m", "formulas": ["A", "B"], "polar": False, "converged": True}
    everything = [
        {**base, "kind": "screening_rank", "candidate_id": "a", "value": 1.0, "uncertainty": 0.25},
        {**base, "kind": "work_of_adhesion", "candidate_id": "a", "value": 1.5},
        {**base, "kind": "work_of_adhesion", "candidate_id": "b", "value": 1.9},
        {**base, "kind": "interfacial_energy", "candidate_id": "a", "value": 0.3},
    ]
    facts = candidate_facts(everything)
    wad = rank_frame(pd.DataFrame(everything[1:3]), "work_of_adhesion", descending=True, facts=facts)
    assert list(wad["candidate_id"]) == ["b", "a"]  # by W_ad, not by the spread
    assert wad.set_index("candidate_id")["uncertainty"].to_dict()["a"] == 0.25
    assert cell(wad.set_index("candidate_id")["uncertainty"]["b"]) == ""  # blank, not nan
    cols = columns_for(wad, ("kind", "phases_key", "value", "units"))
    assert cols.index("uncertainty") == cols.index("value") + 1
    sigma = rank_frame(pd.DataFrame(everything[3:]), "interfacial_energy", descending=False, facts=facts)
    assert "uncertainty" not in sigma.columns or sigma["uncertainty"].isna().all()
    assert "uncertainty" not in columns_for(sigma, ("kind", "value"))


def test_cli_checks_for_the_new_options():
    from interphases.cli import checks

    checks.refine_selection("rank", None, None)
    checks.refine_selection("ucb", "cp2k", "7net-0")
    with pytest.raises(InterphasesError, match="--refine-by must be one of rank, ucb"):
        checks.refine_selection("best", "cp2k", None)
    with pytest.raises(InterphasesError, match="--uncertainty MODEL"):
        checks.refine_selection("ucb", "cp2k", None)
    with pytest.raises(InterphasesError, match="--refine ENGINE"):
        checks.refine_selection("ucb", None, "7net-0")
    al = [fcc("Al", 4.05)]
    assert checks.uncertainty_engine(None, MLIPEngine(model="emt"), al, ["Al"]) is None
    second = checks.uncertainty_engine("lj", MLIPEngine(model="emt"), al, ["Al"])
    assert second.model == "lj"
    with pytest.raises(InterphasesError, match="own model") as err:
        checks.uncertainty_engine("emt", MLIPEngine(model="emt"), al, ["Al"])
    assert "\n" not in str(err.value)


def test_refine_job_picks_by_ucb_from_the_screening_rows(al_ag):
    """The refine job itself: with spreads that favour the last row, "ucb" refines it, "rank" the first."""
    from interphases.workflows.screening import refine_job

    doc = al_ag.doc.model_copy(deep=True)
    for r in doc.ranking:
        r.uncertainty = 0.0
    doc.ranking[-1].uncertainty = 5.0
    maker = AdhesionMaker(engine=MLIPEngine(model="lj", model_options=LJ))
    ucb = refine_job.original(doc, al_ag.candidates, maker, 1, "ucb")  # the job's function: makes the flow, runs nothing
    rank = refine_job.original(doc, al_ag.candidates, maker, 1, "rank")
    assert ucb.output["refined"] == [doc.ranking[-1].candidate_id] and ucb.output["refine_by"] == "ucb"
    assert rank.output["refined"] == [doc.ranking[0].candidate_id]
    assert ucb.addition.jobs  # the adhesion flow of the chosen candidate, added at run time


def test_sevennet_0_as_the_second_model_on_a_small_cell(al_ag):
    """The real SevenNet-0 (offline, the sevenn wheel) as the second model of the EMT cells."""
    pytest.importorskip("sevenn")
    a = min(al_ag.adhesion.results, key=lambda d: d.n_atoms)
    one = AdhesionSetDocument(task_label="one", results=[a])
    out = compute_model_uncertainty(one, MLIPEngine(model="7net-0"))
    (u,) = out.results
    assert out.second_model == "7net-0" and out.model == "emt"
    assert np.isfinite(u.second_model_work_of_adhesion) and 0.0 < u.second_model_work_of_adhesion < 3.0
    assert u.uncertainty == pytest.approx(abs(a.work_of_adhesion_j_per_m2 - u.second_model_work_of_adhesion), abs=1e-12)
    assert u.second_model_work_of_adhesion == pytest.approx(
        second_model_work_of_adhesion(u.substrate_slab_energy, u.film_slab_energy, u.interface_energy, a.area), abs=1e-12
    )


def test_screen_table_shows_the_spread_column(al_ag):
    """The ranking table of `screen` gets a ± column (the spread of each row) and names the
    second model in its title; without a second model the column is absent."""
    from rich.console import Console

    from interphases.cli.energetics import print_ranking

    out = Console(record=True, width=300)
    print_ranking(al_ag.doc, out=out)
    text = out.export_text()
    assert "± J/m²" in text and "W_ad(lj)" in text
    for row in al_ag.doc.ranking:
        assert f"{row.uncertainty:.3f}" in text
    plain = al_ag.doc.model_copy(deep=True)
    for row in plain.ranking:
        row.uncertainty, row.second_model = None, None
    out = Console(record=True, width=300)
    print_ranking(plain, out=out)
    assert "± J/m²" not in out.export_text()


def test_screen_uncertainty_options_are_checked_before_any_computation(tmp_path, monkeypatch):
    """`screen --uncertainty` with the screening's own model, and `--refine-by ucb` without a
    second model, are one-line errors before anything is computed (nothing stored)."""
    from interphases.cli import app
    from interphases.database import query

    monkeypatch.setenv("INTERPHASES_PROJECT", str(tmp_path / "project"))
    fcc("Al", 4.05).to(filename=str(tmp_path / "Al.cif"))
    fcc("Ag", 4.09).to(filename=str(tmp_path / "Ag.cif"))
    base = ["screen", str(tmp_path / "Al.cif"), str(tmp_path / "Ag.cif"), "--model", "emt", "--max-area", "25"]
    runner = CliRunner()
    same = runner.invoke(app, [*base, "--uncertainty", "emt"])
    assert same.exit_code != 0 and "own model" in str(same.exception)
    ucb = runner.invoke(app, [*base, "--refine", "cp2k", "--refine-by", "ucb"])
    assert ucb.exit_code != 0 and "--uncertainty" in str(ucb.exception)
    assert len(query("work_of_adhesion")) == 0


def test_report_shows_the_spread_beside_w_ad(al_ag):
    """`interphases report` (and the demo's report): an uncertainty column next to W_ad, the
    rows in the screening's order with its spreads."""
    import pandas as pd

    text = al_ag.report.read_text()
    assert "| rank | label | value | uncertainty |" in text
    csv = pd.read_csv(al_ag.report.parent / "work_of_adhesion.csv")
    csv = csv[csv["model"] == al_ag.doc.ranking[0].model]  # the screening's rows (not the LJ refinement's)
    assert csv["candidate_id"].tolist() == [r.candidate_id for r in al_ag.doc.ranking]
    assert csv["uncertainty"].tolist() == pytest.approx([r.uncertainty for r in al_ag.doc.ranking], abs=1e-9)
