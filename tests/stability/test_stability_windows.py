"""Electrochemical windows from real MP entries: equal to a direct pymatgen computation, and physically sane.

Reference values:
- Zhu, He, Mo, ACS AMI 7, 23685 (2015): Li3PO4 0.69-4.21 V (SI Table S3), Li2O oxidised to
  Li2O2 at 2.91 V, Li3PS4 1.71-2.31 V with E_D(0 V) = -1.42 eV/atom, Li2S 0-2.01 V.
- Xiao, Miara, Wang, Ceder, Joule 3, 1252 (2019), Table S1: LiPO3 2.52-5.01 V, Li3PO4
  0.71-4.22 V, Li4P2O7 2.33-4.36 V.
- Experimental formation enthalpies (shared/data, the MP2020 fit set): the oxidation
  voltage of a binary against its metal is -dH_f / (n_M z) per formula unit.
"""

from __future__ import annotations

import pytest
from pymatgen.analysis.phase_diagram import PhaseDiagram
from pymatgen.core import Composition, Element
from pymatgen.entries.computed_entries import ComputedEntry

from interphases.analysis.entries import EntriesError, filter_chemsys, get_entries
from interphases.analysis.stability import plot_uptake_profile, stability_window


def direct_window(entries, formula, ion, z=1, shift=None):
    """Window read off pymatgen's element profile by hand (the reference for the project).

    Steps are ordered by decreasing mu; the phase is the step with zero evolution, k; it is
    stable between chempot[k] (M-rich edge) and chempot[k+1].
    """
    pd = PhaseDiagram(entries)
    comp = Composition(formula)
    if shift is not None:  # hull-shifted convention: the composition placed just below the hull
        virtual = ComputedEntry(comp, (pd.get_hull_energy_per_atom(comp) - shift) * comp.num_atoms)
        pd = PhaseDiagram([*pd.stable_entries, virtual])
    el = Element(ion)
    mu0 = pd.el_refs[el].energy_per_atom
    prof = pd.get_element_profile(el, comp)
    k = next(i for i, s in enumerate(prof) if abs(s["evolution"]) < 1e-6)
    v_red = -(prof[k]["chempot"] - mu0) / z if k > 0 else 0.0
    v_ox = -(prof[k + 1]["chempot"] - mu0) / z if k + 1 < len(prof) else None
    red = sorted(e.composition.reduced_formula for e in prof[k - 1]["entries"]) if k > 0 else []
    ox = (
        sorted(e.composition.reduced_formula for e in prof[k + 1]["entries"])
        if k + 1 < len(prof)
        else []
    )
    return v_red, v_ox, red, ox


@pytest.mark.parametrize("formula", ["Li3PO4", "Li2O", "LiPO3", "Li4P2O7", "Li3P", "P2O5"])
def test_li_p_o_windows_equal_direct_pymatgen(li_p_o_entries, formula):
    w = stability_window(li_p_o_entries, formula, "Li")
    v_red, v_ox, red, ox = direct_window(li_p_o_entries, formula, "Li")
    assert w.convention == "stable" and w.e_above_hull == 0.0
    assert w.reduction.voltage == v_red
    assert w.oxidation.voltage == v_ox
    assert sorted(w.reduction.products) == red
    assert sorted(w.oxidation.products) == ox


def test_li2o_stable_from_0v_to_peroxide(li_p_o_entries, exp_enthalpies):
    w = stability_window(li_p_o_entries, "Li2O", "Li")
    assert w.reduction.voltage == 0.0 and w.stable_against_metal
    assert w.oxidation.products == ["Li2O2"]
    assert w.oxidation.reaction == "Li2O -> 0.5 Li2O2 + Li"
    # Li2O -> 1/2 Li2O2 + Li from experiment: V = dHf(Li2O) ... = 1/2 dHf(Li2O2) - dHf(Li2O) = 2.91 V (Zhu 2015: 2.9 V)
    v_exp = 0.5 * exp_enthalpies["Li2O2"] - exp_enthalpies["Li2O"]
    assert v_exp == pytest.approx(2.91, abs=0.01)
    assert w.oxidation.voltage == pytest.approx(v_exp, abs=0.1)


def test_li3po4_reduced_to_li2o_and_li3p(li_p_o_entries):
    w = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert sorted(w.reduction.products) == ["Li2O", "Li3P"]
    assert w.reduction.reaction == "Li3PO4 + 8 Li -> 4 Li2O + Li3P"
    assert w.reduction.uptake == pytest.approx(8.0)
    assert w.reduction.voltage == pytest.approx(0.69, abs=0.05)  # Zhu 2015: 0.69 V
    assert w.oxidation.voltage == pytest.approx(4.21, abs=0.05)  # Zhu 2015: 4.21 V
    assert sorted(w.oxidation.products) == ["Li4P2O7", "O2"]
    # one-step reduction: E_D(0 V) = -(uptake * V_red) / atoms per formula unit
    assert w.decomposition_energy_at_metal == pytest.approx(-8 * w.reduction.voltage / 8, abs=1e-9)


def test_lipo3_and_li4p2o7_against_xiao2019(li_p_o_entries):
    lipo3 = stability_window(li_p_o_entries, "LiPO3", "Li")
    assert lipo3.reduction.voltage == pytest.approx(2.52, abs=0.12)
    assert lipo3.oxidation.voltage == pytest.approx(5.01, abs=0.05)
    li4p2o7 = stability_window(li_p_o_entries, "Li4P2O7", "Li")
    assert li4p2o7.reduction.voltage == pytest.approx(2.33, abs=0.05)
    assert li4p2o7.oxidation.voltage == pytest.approx(4.36, abs=0.1)


def test_profile_is_a_staircase_with_consistent_edges(li_p_o_entries):
    w = stability_window(li_p_o_entries, "LiPO3", "Li")
    steps = w.profile
    assert steps[0].voltage_low == 0.0 and steps[-1].voltage_high is None
    for a, b in zip(steps, steps[1:], strict=False):
        assert a.voltage_high == b.voltage_low  # fields tile the voltage axis
        assert a.uptake > b.uptake  # less Li at higher voltage
    assert sorted(w.metal_contact.phases) == ["Li2O", "Li3P"]


def test_unstable_phase_hull_shift_convention(li_p_o_entries):
    w = stability_window(li_p_o_entries, "LiPO4", "Li")
    assert w.convention == "hull_shifted"
    assert w.e_above_hull == pytest.approx(0.412, abs=0.001)
    assert w.decomposition_products == ["LiPO3", "O2"]
    v_red, v_ox, red, ox = direct_window(li_p_o_entries, "LiPO4", "Li", shift=1e-6)
    assert (w.reduction.voltage, w.oxidation.voltage) == (v_red, v_ox)
    # the shifted window is where the decomposition products themselves are in equilibrium
    assert w.products_window[0] == pytest.approx(w.reduction.voltage, abs=1e-4)
    assert w.products_window[1] == pytest.approx(w.oxidation.voltage, abs=1e-4)
    assert any("above the hull" in n for n in w.notes)


def test_metastable_binary_has_zero_width_window(li_p_o_entries):
    w = stability_window(li_p_o_entries, "LiO2", "Li")
    assert w.e_above_hull > 0.05
    assert w.decomposition_products == ["Li2O2", "LiO8"]
    assert w.width == pytest.approx(0.0, abs=1e-3)
    assert w.products_window[0] == w.products_window[1]
    assert any("zero-width" in n for n in w.notes)


def test_composition_without_entry(li_p_o_entries):
    w = stability_window(li_p_o_entries, "Li5P3O10", "Li")
    assert w.entry_id is None and w.e_above_hull is None and w.convention == "hull_shifted"
    assert any("no entry" in n for n in w.notes)


def test_ion_free_phase_has_no_oxidation_limit(li_p_o_entries):
    w = stability_window(li_p_o_entries, "P2O5", "Li")
    assert w.oxidation.voltage is None and w.width is None
    assert sorted(w.reduction.products) == ["LiPO3", "P"]


@pytest.mark.parametrize(
    ("ion", "formula", "n_ion"),
    [("Mg", "MgO", 1), ("Ca", "CaO", 1), ("Al", "Al2O3", 2), ("Mg", "MgF2", 1)],
)
def test_multivalent_window_divides_by_charge(
    fit_compounds, exp_enthalpies, mp2020_by_pymatgen, ion, formula, n_ion
):
    """Two-phase hull M | M_nX_m | X: V_ox = -E_f / (n_M z) with E_f from the entry energies."""
    comp = Composition(formula)
    anion = next(el.symbol for el in comp.elements if el.symbol != ion)
    entries = mp2020_by_pymatgen(filter_chemsys(fit_compounds.values(), [ion, anion]))
    z = {"Mg": 2, "Ca": 2, "Al": 3}[ion]
    mu = {
        el: min(
            e.energy_per_atom
            for e in entries
            if e.composition.reduced_formula == Composition(el).reduced_formula
        )
        for el in (ion, anion)
    }
    compound = min(
        (e for e in entries if e.composition.reduced_formula == formula),
        key=lambda e: e.energy_per_atom,
    )
    e_f = compound.energy_per_atom * comp.num_atoms - comp[ion] * mu[ion] - comp[anion] * mu[anion]
    v_hand = -e_f / (n_ion * z)

    w = stability_window(entries, formula, ion)
    assert w.ion_charge == z
    assert w.reduction.voltage == 0.0
    assert w.oxidation.voltage == pytest.approx(v_hand, abs=1e-9)
    # wrong charge -> z times the voltage: the division is really by z
    assert stability_window(entries, formula, ion, charge=1).oxidation.voltage == pytest.approx(
        z * v_hand, abs=1e-9
    )
    # against experiment (MP2020 was fitted to these enthalpies, so this checks signs and z, not DFT)
    assert w.oxidation.voltage == pytest.approx(-exp_enthalpies[formula] / (n_ion * z), abs=0.15)


def test_sodium_windows(na_p_o_entries, na_cl_y_o_entries, li_p_o_entries, exp_enthalpies):
    na = get_entries(["Na", "P", "O"], na_p_o_entries)
    for formula in ("Na3PO4", "NaPO3", "Na2O"):
        w = stability_window(na.entries, formula, "Na")
        v_red, v_ox, red, ox = direct_window(na.entries, formula, "Na")
        assert (w.reduction.voltage, w.oxidation.voltage) == (v_red, v_ox)
    na2o = stability_window(na.entries, "Na2O", "Na")
    assert na2o.oxidation.products == ["Na2O2"]
    assert na2o.oxidation.voltage == pytest.approx(
        0.5 * exp_enthalpies["Na2O2"] - exp_enthalpies["Na2O"], abs=0.1
    )
    # Lacivita et al., JMCA 7, 8144 (2019): Na compounds have lower reduction and oxidation limits than Li analogues
    na3po4 = stability_window(na.entries, "Na3PO4", "Na")
    li3po4 = stability_window(li_p_o_entries, "Li3PO4", "Li")
    assert (
        na3po4.reduction.voltage < li3po4.reduction.voltage
        and na3po4.oxidation.voltage < li3po4.oxidation.voltage
    )
    halide = stability_window(filter_chemsys(na_cl_y_o_entries, ["Na", "Y", "Cl"]), "Na3YCl6", "Na")
    assert sorted(halide.reduction.products) == ["NaCl", "Y2Cl3"]
    assert 0.3 < halide.reduction.voltage < 0.9 and 3.5 < halide.oxidation.voltage < 4.0


def test_li3ps4_alexandria_hull_against_zhu2015(shared_data):
    es = get_entries(["Li", "P", "S"], shared_data / "alexandria_hull" / "Li-P-S.json.gz")
    assert es.thermo_type == "Alexandria_PBE"
    w = stability_window(es.entries, "Li3PS4", "Li")
    assert w.reduction.voltage == pytest.approx(1.71, abs=0.1)
    assert w.oxidation.voltage == pytest.approx(2.31, abs=0.1)
    assert w.decomposition_energy_at_metal == pytest.approx(-1.42, abs=0.05)
    assert sorted(w.metal_contact.phases) == ["Li2S", "Li3P"]


def test_bad_input_errors(li_p_o_entries):
    with pytest.raises(EntriesError, match="lack Na"):
        stability_window(li_p_o_entries, "Li3PO4", "Na")
    with pytest.raises(EntriesError, match="charge"):
        stability_window(li_p_o_entries, "Li3PO4", "Li", charge=0)
    with pytest.raises(EntriesError, match="no default charge"):
        stability_window(li_p_o_entries, "P2O5", "P")
    with pytest.raises(EntriesError, match="element"):
        stability_window(li_p_o_entries, "P", "Li")


def test_uptake_plot(li_p_o_entries, tmp_path):
    w = stability_window(li_p_o_entries, "Li3PO4", "Li")
    path = tmp_path / "profile.png"
    fig = plot_uptake_profile(w, path)
    assert path.stat().st_size > 10_000
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {"Li2O + Li3P", "Li3PO4", "Li4P2O7 + O2"} <= texts
    line = fig.axes[0].lines[0]
    assert max(line.get_xdata()) == pytest.approx(8.0)  # full reduction: 8 Li per Li3PO4
