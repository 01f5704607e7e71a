"""Entry sources and the one-energy-scale rule, on real MP entries.

The Materials Project is unreachable from here: the MP path is exercised with a small fake
``mp_api.client`` module whose MPRester serves real entries from the shared files, so the
cache, the thermo-type criteria and the error mapping are tested for real.
"""

from __future__ import annotations

import copy
import json
import sys
import types
import warnings

import pytest
import requests
from monty.serialization import loadfn

from interphases.analysis.entries import (
    EntriesError,
    EntrySource,
    IncompatibleEntriesError,
    apply_mp2020,
    check_entries,
    entries_from_file,
    entries_from_mp,
    entries_from_results,
    filter_chemsys,
    get_entries,
    thermo_type_of,
)
from interphases.config import cache_dir
from interphases.errors import MissingAPIKeyError, NetworkUnavailableError
from interphases.parsers.schema import CalcResult


def test_file_source_filters_and_describes(li_p_o_file):
    es = get_entries(["Li", "O"], li_p_o_file)
    assert {el.symbol for e in es.entries for el in e.composition.elements} == {"Li", "O"}
    assert es.thermo_type == "GGA_GGA+U" and es.correction_scheme == "MP2020"
    prov = es.provenance()
    assert prov["entry_source"] == f"file:{li_p_o_file.name}" and prov["chemsys"] == "Li-O"


def test_file_errors(tmp_path, li_p_o_file):
    with pytest.raises(EntriesError, match="not found"):
        entries_from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([1, 2, 3]))
    with pytest.raises(EntriesError, match="not a pymatgen ComputedEntry"):
        entries_from_file(bad)
    with pytest.raises(EntriesError, match="no elemental entry for Na"):
        get_entries(["Li", "Na", "O"], li_p_o_file)


def test_mixed_thermo_types_refused(li_p_o_entries, shared_data):
    scan_mixed = loadfn(shared_data / "mp_entries" / "entries_thermo_type_GGA_GGA_U_R2SCAN.json")
    assert {thermo_type_of(e) for e in scan_mixed} == {"GGA_GGA+U_R2SCAN"}
    with pytest.raises(IncompatibleEntriesError, match="mix energy scales"):
        check_entries([*filter_chemsys(li_p_o_entries, ["Li", "O"]), scan_mixed[0]])
    with pytest.raises(IncompatibleEntriesError, match="mixing adjustment"):
        check_entries(scan_mixed)


def test_mixed_correction_schemes_refused(li_p_o_entries, fit_compounds, shared_data):
    uncorrected = [fit_compounds["Li2O"], fit_compounds["Li2O2"]]
    assert check_entries(uncorrected).correction_scheme == "none (raw GGA/GGA+U)"
    with pytest.raises(
        IncompatibleEntriesError, match="mix correction schemes: MP2020.*uncorrected"
    ):
        check_entries([*filter_chemsys(li_p_o_entries, ["Li", "O"]), *uncorrected])
    # pymatgen's legacy test set carries the legacy (2014) MP corrections, not MP2020
    legacy = filter_chemsys(
        loadfn(shared_data / "mp_entries" / "Li-Fe-P-O_entries_pymatgen_test.json"), ["Li", "O"]
    )
    assert check_entries(legacy).correction_scheme.startswith("other")
    with pytest.raises(IncompatibleEntriesError, match="correction schemes"):
        check_entries([*filter_chemsys(li_p_o_entries, ["Li", "O"]), *legacy])


def test_mp_database_generations_refused(na_p_o_entries, na_cl_y_o_entries):
    new, old = (
        filter_chemsys(na_p_o_entries, ["Na", "O"]),
        filter_chemsys(na_cl_y_o_entries, ["Na", "O"]),
    )
    with pytest.raises(IncompatibleEntriesError, match="database generations"):
        check_entries([*new, *old])
    assert check_entries([*new, *old], allow_mixed_databases=True).thermo_type == "GGA_GGA+U"


def test_apply_mp2020_equals_pymatgen(fit_compounds, mp2020_by_pymatgen):
    raw = filter_chemsys(fit_compounds.values(), ["Li", "O", "Fe", "Na"])
    ours = [(e.entry_id, e.energy) for e in apply_mp2020(raw)]
    ref = [(e.entry_id, e.energy) for e in mp2020_by_pymatgen(raw)]
    assert len(ours) == len(ref) == len(raw)
    assert all(a[0] == b[0] and a[1] == pytest.approx(b[1], abs=1e-9) for a, b in zip(ours, ref, strict=True))
    assert any(
        abs(e.correction) > 1 for e in apply_mp2020(raw)
    )  # oxides and Fe +U do get corrected
    es = get_entries(["Li", "O"], list(fit_compounds.values()), apply_mp2020=True)
    assert es.correction_scheme == "MP2020" and "MP2020 corrections (re)applied here" in es.notes


def _results_from(entries, model):
    return [
        CalcResult(
            structure=e.structure,
            energy=e.uncorrected_energy,
            converged=True,
            engine="mlip",
            code=model.split("-")[0],
            model=model,
        )
        for e in entries
    ]


def test_computed_results_get_mp_parameters_and_corrections(fit_compounds, mp2020_by_pymatgen):
    """Raw GGA(+U) energies (here: the real MP ones) -> entries whose MP2020 energies equal pymatgen's."""
    raw = [fit_compounds[f] for f in ("Fe", "O2", "NaFeO2", "Na2O", "Na")]
    ref = {e.composition.reduced_formula: e.energy for e in mp2020_by_pymatgen(raw)}
    entries = entries_from_results(
        _results_from(raw, "7net-0")
    )  # SevenNet-0: raw scale -> corrected here
    got = {e.composition.reduced_formula: e for e in entries}
    assert (
        got["NaFeO2"].parameters["hubbards"] == {"Fe": 5.3}
        and got["NaFeO2"].parameters["run_type"] == "GGA+U"
    )
    assert got["Na2O"].parameters["run_type"] == "GGA"
    for formula, energy in ref.items():
        assert got[formula].energy == pytest.approx(energy, abs=1e-9)
    # CHGNet predicts MP2020-corrected energies already: nothing added
    chg = entries_from_results(_results_from(raw, "chgnet-0.3.0"))
    assert all(e.correction == 0 for e in chg)
    assert check_entries(chg).thermo_type == "MLIP:chgnet-0.3.0"
    with pytest.raises(EntriesError, match="unknown energy scale"):
        entries_from_results(_results_from(raw, "mystery-model"))
    with pytest.raises(IncompatibleEntriesError, match="mix energy scales"):
        check_entries([*chg, *mp2020_by_pymatgen(raw)])


def test_alexandria_records_get_zero_references(shared_data):
    entries = entries_from_file(
        shared_data / "alexandria_hull" / "Li-P-S.json.gz", ["Li", "P", "S"]
    )
    refs = [e for e in entries if e.composition.is_element]
    assert sorted(e.composition.reduced_formula for e in refs) == ["Li", "P", "S"]
    assert all(e.energy == 0.0 for e in refs)
    assert {thermo_type_of(e) for e in entries} == {"Alexandria_PBE"}


# --------------------------------------------------------------------------- Materials Project


class _FakeRester:
    """Stands in for mp_api.client.MPRester; serves real entries, records the calls."""

    calls: list = []
    entries: list = []
    error: Exception | None = None

    def __init__(self, api_key=None, **kwargs):
        self.api_key = api_key

    def __enter__(self):
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc):
        return False

    def get_entries_in_chemsys(self, elements, additional_criteria=None, **kwargs):
        type(self).calls.append((sorted(elements), additional_criteria))
        return copy.deepcopy(
            filter_chemsys(self.entries, elements)
        )  # fresh objects, as from the network

    @property
    def materials(self):
        summary = types.SimpleNamespace(
            search=lambda material_ids, fields: [
                types.SimpleNamespace(material_id=m, band_gap=4.9 if m == "mp-1960" else 0.0)
                for m in material_ids
            ]
        )
        return types.SimpleNamespace(summary=summary)


@pytest.fixture
def fake_mp(monkeypatch, li_p_o_entries):
    module = types.ModuleType("mp_api.client")

    class Rester(_FakeRester):
        calls = []
        entries = li_p_o_entries
        error = None

    module.MPRester = Rester
    monkeypatch.setitem(sys.modules, "mp_api.client", module)
    return Rester


def test_mp_without_key_is_a_clear_error(fake_mp):
    with pytest.raises(MissingAPIKeyError, match="MP_API_KEY"):
        entries_from_mp(["Li", "O"])
    assert fake_mp.calls == []


def test_mp_fetch_cache_and_offline_reuse(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = entries_from_mp(["O", "Li"], "GGA_GGA+U")
    assert fake_mp.calls == [(["Li", "O"], {"thermo_types": ["GGA_GGA+U"]})]
    assert (cache_dir() / "mp" / "entries_Li-O_GGA_GGA+U.json.gz").is_file()
    li2o = next(e for e in first if e.entry_id == "mp-1960")
    assert li2o.data["band_gap"] == 4.9
    monkeypatch.delenv("MP_API_KEY")  # offline and keyless: served from the cache
    again = entries_from_mp(["Li", "O"], "GGA_GGA+U")
    assert len(fake_mp.calls) == 1
    assert [e.energy for e in again] == [e.energy for e in first]
    # the same through the one front door, with the window of Li2O
    from interphases.analysis.stability import stability_window

    es = EntrySource(kind="mp").load(["Li", "O"])
    assert es.source == "mp:GGA_GGA+U"
    assert stability_window(es.entries, "Li2O", "Li").oxidation.products == ["Li2O2"]


def test_mp_thermo_type_passed_and_checked(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    with pytest.raises(IncompatibleEntriesError, match="R2SCAN was asked for"):
        entries_from_mp(["Li", "O"], "R2SCAN")  # the fake serves GGA entries: refused, not cached
    assert fake_mp.calls[-1][1] == {"thermo_types": ["R2SCAN"]}
    assert not (cache_dir() / "mp" / "entries_Li-O_R2SCAN.json.gz").exists()
    with pytest.raises(EntriesError, match="not one of"):
        entries_from_mp(["Li", "O"], "GGA_GGA+U_R2SCAN")


def test_mp_network_and_auth_errors(fake_mp, monkeypatch):
    monkeypatch.setenv("MP_API_KEY", "x" * 32)
    fake_mp.error = requests.exceptions.ConnectionError(
        "Failed to resolve 'api.materialsproject.org'"
    )
    with pytest.raises(NetworkUnavailableError, match="--entries FILE"):
        entries_from_mp(["Li", "O"])
    fake_mp.error = RuntimeError("REST query returned with error status code 401 (unauthorized)")
    with pytest.raises(MissingAPIKeyError, match="rejected the API key"):
        entries_from_mp(["Li", "O"])
