"""Interphase verdicts (stable / passivating / mixed-conducting / unknown) with their evidence."""

from __future__ import annotations

import pytest

from interphases.analysis.entries import filter_chemsys, get_entries
from interphases.analysis.interphase import BUNDLED_BAND_GAPS, interphase_verdict, lookup_band_gap
from interphases.analysis.stability import stability_window


def test_li2o_is_stable_against_li(li_p_o_entries):
    v = interphase_verdict(stability_window(li_p_o_entries, "Li2O", "Li"))
    assert v.verdict == "stable" and v.decomposition_energy == 0.0 and v.products == []


def test_li3po4_passivates_through_li2o_and_li3p(li_p_o_entries):
    w = stability_window(li_p_o_entries, "Li3PO4", "Li")
    v = interphase_verdict(w)
    assert v.verdict == "passivating"
    assert v.reaction == "Li3PO4 + 8 Li -> 4 Li2O + Li3P"
    gaps = {p.formula: p.band_gap for p in v.products}
    assert gaps == {"Li2O": BUNDLED_BAND_GAPS["Li2O"][0], "Li3P": BUNDLED_BAND_GAPS["Li3P"][0]}
    assert any("Li3P" in r and "close to the threshold" in r for r in v.reasons)
    # Li3P's 0.70 eV PBE gap decides it: with a 1 eV threshold the same products count as conducting
    assert interphase_verdict(w, gap_threshold=1.0).verdict == "mixed-conducting"
    # a user-given gap overrides the bundled one
    assert interphase_verdict(w, band_gaps={"Li3P": 0.1}).verdict == "mixed-conducting"


def test_halide_reduced_to_metal_is_mixed_conducting(na_cl_y_o_entries):
    w = stability_window(filter_chemsys(na_cl_y_o_entries, ["Na", "Y", "Cl"]), "Na3YCl6", "Na")
    v = interphase_verdict(w)
    assert sorted(w.metal_contact.phases) == ["NaCl", "Y"]
    assert v.verdict == "mixed-conducting"
    y = next(p for p in v.products if p.formula == "Y")
    assert y.band_gap == 0.0 and "metal" in y.source and y.insulating is False


def test_unknown_gaps_are_reported_not_guessed(na_p_o_entries):
    es = get_entries(["Na", "P", "O"], na_p_o_entries)
    w = stability_window(es.entries, "NaPO3", "Na")
    contact = sorted(w.metal_contact.phases)
    assert contact == ["Na3P", "Na3PO4"]  # Na3PO4 itself is stable against Na
    v = interphase_verdict(w)
    assert v.verdict == "unknown"
    assert all(p.band_gap is None and p.insulating is None for p in v.products)
    assert sum("band gap unknown" in r for r in v.reasons) == 2
    given = interphase_verdict(w, band_gaps={"Na3PO4": 4.0, "Na3P": 0.4})
    assert given.verdict == "mixed-conducting"
    assert interphase_verdict(w, band_gaps={"Na3PO4": 4.0, "Na3P": 0.6}).verdict == "passivating"


def test_gap_sources_in_order(shared_data):
    assert lookup_band_gap("Li2O")[1].startswith("Alexandria")
    assert lookup_band_gap("Li2O", user_gaps={"Li2O": 7.0}) == (7.0, "user")
    assert lookup_band_gap("Li2O", entry_gaps={"Li2O": 4.9})[0] == 4.9
    assert lookup_band_gap("Li15Ge4") == (None, None)  # Ge is a metalloid: not assumed metallic
    assert lookup_band_gap("LiAl")[0] == 0.0
    # the entries' own band gaps are used (Alexandria records carry them)
    es = get_entries(["Li", "P", "S"], shared_data / "alexandria_hull" / "Li-P-S.json.gz")
    v = interphase_verdict(stability_window(es.entries, "Li3PS4", "Li"))
    assert v.verdict == "passivating"
    assert {p.source for p in v.products} == {"band_gap in the entry data"}
    assert {p.formula: p.band_gap for p in v.products} == pytest.approx(
        {"Li2S": 3.5313, "Li3P": 0.6978}
    )
