"""Interface reactions from real MP entries, against direct pymatgen computations."""

from __future__ import annotations

import pytest
from pymatgen.analysis.interface_reactions import (
    GrandPotentialInterfacialReactivity,
    InterfacialReactivity,
)
from pymatgen.analysis.phase_diagram import GrandPotentialPhaseDiagram, PhaseDiagram
from pymatgen.core import Composition, Element

from interphases.analysis.entries import EntriesError
from interphases.analysis.reactions import interface_reactions
from interphases.analysis.stability import stability_window


def test_closed_reaction_equals_pymatgen(li_p_o_entries):
    r = interface_reactions(li_p_o_entries, "Li3PO4", "Li")
    ref = InterfacialReactivity(
        Composition("Li3PO4"),
        Composition("Li"),
        PhaseDiagram(li_p_o_entries),
        norm=True,
        use_hull_energy=False,
    )
    kinks = ref.get_kinks()
    assert [k.mixing_ratio for k in r.kinks] == [k[1] for k in kinks]
    assert [k.energy for k in r.kinks] == [k[2] for k in kinks]
    assert (r.most_negative.mixing_ratio, r.most_negative.energy) == ref.minimum
    assert r.products == ["Li2O", "Li3P"]
    # the same reaction seen by the window: Li3PO4 + 8 Li -> 4 Li2O + Li3P, per atom of 16 atoms
    w = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert r.most_negative.energy == pytest.approx(
        w.decomposition_energy_at_metal * 8 / 16, abs=1e-9
    )
    assert r.most_negative.molar_ratio == pytest.approx(1 / 9)


def test_li3po4_inert_to_lifepo4_but_li2o_reacts_with_fepo4(fe_li_o_p_entries):
    # Richards et al. 2016 (Table S2): Li3PO4 | LiFePO4 -> no reaction
    inert = interface_reactions(fe_li_o_p_entries, "Li3PO4", "LiFePO4")
    assert inert.is_stable
    react = interface_reactions(fe_li_o_p_entries, "Li2O", "FePO4")
    assert not react.is_stable and react.most_negative.energy < -0.2
    assert react.products == ["Fe2O3", "Li3PO4"]


def test_open_reservoir_equals_grand_potential_pymatgen(fe_li_o_p_entries):
    r = interface_reactions(fe_li_o_p_entries, "Li3PO4", "FePO4", open_element="Li", voltage=3.5)
    pd = PhaseDiagram(fe_li_o_p_entries)
    mu = pd.el_refs[Element("Li")].energy_per_atom - 3.5
    gpd = GrandPotentialPhaseDiagram(fe_li_o_p_entries, {Element("Li"): mu})
    ref = GrandPotentialInterfacialReactivity(
        Composition("Li3PO4"), Composition("FePO4"), gpd, pd, norm=True, use_hull_energy=True
    )
    ref_kinks = ref.get_kinks()
    assert len(r.kinks) == len(ref_kinks) >= 3
    for ours, theirs in zip(r.kinks, ref_kinks, strict=True):
        assert (ours.mixing_ratio, ours.energy) == pytest.approx((theirs[1], theirs[2]), abs=1e-9)
        assert ours.reaction == str(theirs[3])
    assert r.delta_mu == pytest.approx(-3.5) and r.ion_charge == 1


def test_open_multivalent_reservoir_uses_charge(fit_compounds, mp2020_by_pymatgen):
    from interphases.analysis.entries import filter_chemsys

    entries = mp2020_by_pymatgen(filter_chemsys(fit_compounds.values(), ["Mg", "O", "S"]))
    r = interface_reactions(entries, "MgO", "MgS", open_element="Mg", voltage=1.0)
    assert r.ion_charge == 2 and r.delta_mu == pytest.approx(-2.0)


def test_reaction_input_errors(li_p_o_entries):
    with pytest.raises(EntriesError, match="reservoir, not a reactant"):
        interface_reactions(li_p_o_entries, "Li3PO4", "Li", open_element="Li", voltage=0.5)
    with pytest.raises(EntriesError, match="open-element"):
        interface_reactions(li_p_o_entries, "Li3PO4", "P2O5", voltage=0.5)
    with pytest.raises(EntriesError, match="exactly one"):
        interface_reactions(li_p_o_entries, "Li3PO4", "P2O5", open_element="Li")
    with pytest.raises(EntriesError, match="lack Fe"):
        interface_reactions(li_p_o_entries, "Li3PO4", "FePO4")
