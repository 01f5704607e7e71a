"""Entries computed with CHGNet (relaxed MP structures of Li, Li2O, Li2O2, O2) -> window of Li2O."""

from __future__ import annotations

import pytest
from jobflow import Flow, JobStore, run_locally
from maggma.stores import MemoryStore

from interphases.analysis.entries import IncompatibleEntriesError, check_entries
from interphases.workflows.engines import get_engine
from interphases.workflows.stability import ComputedEntriesMaker, StabilityWindowMaker


@pytest.mark.chgnet
def test_chgnet_entries_give_the_li2o_window(li_p_o_entries):
    by_id = {e.entry_id: e for e in li_p_o_entries}
    ids = {"Li": "mp-1018134", "Li2O": "mp-1960", "Li2O2": "mp-841", "O2": "mp-12957"}
    structures = [by_id[i].structure for i in ids.values()]

    # O2 (molecular crystal, soft cell: >100 FIRE steps with a free cell) keeps its MP cell;
    # it is only the O reference of the hull and does not enter Li2O -> Li2O2 + Li
    engine = get_engine("mlip", model="chgnet", num_threads=1)
    compute = ComputedEntriesMaker(engine=engine).make(
        structures, labels=list(ids), cell=["full", "full", "full", "fixed"]
    )
    window = StabilityWindowMaker(working_ion="Li").make("Li2O", entries=compute.output)
    flow = Flow([compute, window])
    responses = run_locally(flow, store=JobStore(MemoryStore()), ensure_success=True, log=False)
    entries = responses[compute.uuid][1].output
    doc = responses[window.uuid][1].output

    assert all(e.data["converged"] for e in entries)
    assert all(
        e.correction == 0 for e in entries
    )  # CHGNet 0.3.0 energies are already on the MP2020 scale
    assert doc.provenance.engine == "mlip" and doc.provenance.model.startswith("chgnet")

    # Li2O -> 1/2 Li2O2 + Li by hand from the CHGNet entries (eV per formula unit)
    e = {x.composition.reduced_formula: x.energy_per_atom for x in entries}
    v_hand = e["Li"] + 0.5 * 4 * e["Li2O2"] - 3 * e["Li2O"]
    w = doc.window
    assert w.reduction.voltage == 0.0 and w.oxidation.products == ["Li2O2"]
    assert w.oxidation.voltage == pytest.approx(v_hand, abs=1e-9)
    # and close to the MP2020 (DFT) value from the same structures: 2.88 V
    assert w.oxidation.voltage == pytest.approx(2.884, abs=0.15)

    with pytest.raises(IncompatibleEntriesError, match="mix energy scales"):
        check_entries([*entries, *li_p_o_entries])  # never one hull from CHGNet and DFT energies
