"""`window --entries A --entries B`: several files merged into one checked hull, the flag
for two MP database generations, a clear error for a formula without entry, and a loud
warning for uncorrected GGA/GGA+U energies."""

from __future__ import annotations

import json
import sys
import warnings

import pytest
from monty.serialization import dumpfn, loadfn

from interphases.analysis.entries import EntrySource, IncompatibleEntriesError, filter_chemsys, merge_entries
from interphases.analysis.stability import stability_window
from interphases.cli import main
from interphases.errors import InterphasesError
from interphases.progress import reset_logging


@pytest.fixture(autouse=True)
def _no_logging_left():
    yield
    reset_logging()


def run_main(args, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["interphases", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    return int(exit_info.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def split_files(shared_data, tmp_path_factory):
    """The Li-P-O entries of the pymatgen test set split into two files (elements + half, the other half)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = filter_chemsys(loadfn(shared_data / "mp_entries" / "Li-Fe-P-O_entries_pymatgen_test.json"),
                                 ["Li", "P", "O"])
    elements = [e for e in entries if e.composition.is_element]
    compounds = [e for e in entries if not e.composition.is_element]
    folder = tmp_path_factory.mktemp("split")
    a, b = folder / "a.json", folder / "b.json"
    dumpfn(elements + compounds[::2], a)
    dumpfn(compounds[1::2], b)
    return a, b, entries


def test_two_entries_files_give_the_python_api_window(split_files, tmp_path, capsys, monkeypatch):
    a, b, entries = split_files
    out = tmp_path / "w.json"
    code, stdout, err = run_main(["window", "Li3PO4", "--entries", str(a), "--entries", str(b), "--json", str(out)],
                                 capsys, monkeypatch)
    assert code == 0, err
    doc = json.loads(out.read_text())
    api = stability_window(merge_entries([loadfn(a), loadfn(b)]), "Li3PO4", "Li")
    assert doc["window"]["reduction"]["voltage"] == pytest.approx(api.reduction.voltage, abs=1e-9)
    assert doc["window"]["oxidation"]["voltage"] == pytest.approx(api.oxidation.voltage, abs=1e-9)
    assert doc["provenance"]["n_entries"] == len(entries)
    full = stability_window(entries, "Li3PO4", "Li")  # the unsplit list: same window
    assert api.oxidation.voltage == pytest.approx(full.oxidation.voltage, abs=1e-9)
    assert "a.json+b.json" in stdout and "merged from 2 files" in stdout
    # one file alone lacks half the compounds: a different hull
    code, _, err = run_main(["window", "Li3PO4", "--entries", str(b)], capsys, monkeypatch)
    assert code == 2 and "no elemental entry" in err


def test_merge_refuses_one_id_with_two_energies(split_files):
    from pymatgen.entries.computed_entries import ComputedEntry

    a, _, _ = split_files
    entries = loadfn(a)
    last = entries[-1]
    clash = ComputedEntry(last.composition, last.energy + 1.0, entry_id=last.entry_id)
    assert len(merge_entries([entries, [last]])) == len(entries)  # the same entry twice: kept once
    with pytest.raises(InterphasesError, match="two energies"):
        merge_entries([entries, [clash]], ["a.json", "b.json"])


def test_two_mp_generations_need_the_flag(shared_data, tmp_path, capsys, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        new = filter_chemsys(loadfn(shared_data / "mp_entries" / "Li-Co-Ni-O_entries_MP2020_2025.json.gz"), ["Li", "O"])
        old = filter_chemsys(loadfn(shared_data / "mp_entries" / "Fe_Li_O_P_entries_MP2020.json.gz"), ["Li", "O"])
    ids_new = {e.entry_id for e in new}
    old = [e for e in old if not e.composition.is_element and e.entry_id not in ids_new]
    a, b = tmp_path / "new.json", tmp_path / "old.json"
    dumpfn(new, a)
    dumpfn(old, b)
    source = EntrySource(kind="file", path=str(a), paths=[str(b)])
    try:
        source.load(["Li", "O"])
    except IncompatibleEntriesError as exc:
        assert "database generations" in str(exc)
    else:
        pytest.skip("the two sample files share one id style")
    code, _, err = run_main(["window", "Li2O", "--entries", str(a), "--entries", str(b)], capsys, monkeypatch)
    assert code == 2 and "database generations" in err and "--allow-mixed-mp" in err
    code, stdout, err = run_main(["window", "Li2O", "--entries", str(a), "--entries", str(b), "--allow-mixed-mp"],
                                 capsys, monkeypatch)
    assert code == 0, err
    assert "window:" in stdout


@pytest.mark.parametrize(
    ("formula", "ion", "file", "extra"),
    [
        ("LiF", "Li", "mp_elemental_reference_entries_2023-02-07.json.gz", []),
        ("ZnO", "Zn", "mp_calc_compounds_for_MP2020_fit.json.gz", ["--mp2020"]),
    ],
)
def test_formula_without_entry_is_a_clear_error(shared_data, formula, ion, file, extra, capsys, monkeypatch):
    code, _, err = run_main(["window", formula, "--ion", ion, "--entries", str(shared_data / "mp_entries" / file), *extra],
                            capsys, monkeypatch)
    assert code == 2, err
    assert f"the entries have no {formula}" in err and "Traceback" not in err and "negative" not in err
    assert len(err.strip().splitlines()) == 1


def test_uncorrected_entries_warn_loudly(shared_data, capsys, monkeypatch):
    path = str(shared_data / "mp_entries" / "mp_calc_compounds_for_MP2020_fit.json.gz")
    code, stdout, err = run_main(["window", "LiF", "--entries", path], capsys, monkeypatch)
    assert code == 0, err
    assert "WARNING: uncorrected" in err and "--mp2020" in err
    assert "5.870" in stdout
    code, stdout, err = run_main(["window", "LiF", "--entries", path, "--mp2020"], capsys, monkeypatch)
    assert code == 0 and "WARNING" not in err and "6.332" in stdout
