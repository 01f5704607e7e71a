"""Real Materials Project entries from ../shared/data/mp_entries, loaded once per session."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from monty.serialization import dumpfn, loadfn
from pymatgen.entries.compatibility import MaterialsProject2020Compatibility

from interphases.analysis.entries import filter_chemsys


def _load(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return loadfn(path)


@pytest.fixture(scope="session")
def fe_li_o_p_entries(shared_data: Path) -> list:
    """943 MP2020-corrected GGA/GGA+U entries of Li-Fe-P-O (reaction-network test set)."""
    return _load(shared_data / "mp_entries" / "Fe_Li_O_P_entries_MP2020.json.gz")


@pytest.fixture(scope="session")
def li_p_o_entries(fe_li_o_p_entries: list) -> list:
    return filter_chemsys(fe_li_o_p_entries, ["Li", "P", "O"])


@pytest.fixture(scope="session")
def li_p_o_file(li_p_o_entries: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Li-P-O subset written as a small entries file (what a user passes with --entries)."""
    path = tmp_path_factory.mktemp("entries") / "Li-P-O_MP2020.json.gz"
    dumpfn(li_p_o_entries, path)
    return path


@pytest.fixture(scope="session")
def na_p_o_entries(shared_data: Path) -> list:
    """Na-P-O part of the 2025 MP2020-corrected Na-Fe-P-O set."""
    return filter_chemsys(
        _load(shared_data / "mp_entries" / "Na-Fe-P-O_entries_MP2020_2025.json.gz"),
        ["Na", "P", "O"],
    )


@pytest.fixture(scope="session")
def na_cl_y_o_entries(shared_data: Path) -> list:
    return _load(shared_data / "mp_entries" / "Cl_Mn_Na_O_Y_entries_MP2020.json.gz")


@pytest.fixture(scope="session")
def fit_compounds(shared_data: Path) -> dict:
    """Uncorrected MP GGA(+U) entries (with structures) of the 279 MP2020 fit compounds."""
    return _load(shared_data / "mp_entries" / "mp_calc_compounds_for_MP2020_fit.json.gz")


@pytest.fixture(scope="session")
def exp_enthalpies(shared_data: Path) -> dict:
    """Experimental formation enthalpies (eV per formula unit) used to fit MP2020."""
    return {
        d["formula"]: d["exp energy"]
        for d in _load(
            shared_data / "mp_entries" / "exp_formation_enthalpies_for_MP2020_fit.json.gz"
        )
    }


def _mp2020_by_pymatgen(entries: list) -> list:
    copies = [e.copy() for e in entries]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MaterialsProject2020Compatibility(check_potcar=False).process_entries(
            copies, clean=True, inplace=True
        )


@pytest.fixture(scope="session")
def mp2020_by_pymatgen():
    """MP2020-corrected copies made by pymatgen directly (independent of interphases)."""
    return _mp2020_by_pymatgen
