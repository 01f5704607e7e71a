"""``interphases phases``: the library table, one phase in detail, writing structures."""

from __future__ import annotations

import pytest
from pymatgen.analysis.structure_matcher import StructureMatcher
from typer.testing import CliRunner

from interphases.cli import app
from interphases.errors import UnknownPhaseError
from interphases.structures import get_phase, list_phases, load_structure

runner = CliRunner()


def test_table_lists_every_phase_with_density_and_reference():
    result = runner.invoke(app, ["phases"])
    assert result.exit_code == 0, result.output
    for info in list_phases():
        assert info.name in result.output
    assert "Li7La3Zr2O12" in result.output and "I4_1/acd (142)" in result.output
    assert "Awaka et al. 2009" in result.output
    assert "C2 (5) ⊂ F-43m" in result.output  # the ordered argyrodite model
    # the LiF row carries the computed and the literature density
    row = next(line for line in result.output.splitlines() if "│ LiF " in line)
    assert f"{get_phase('LiF').density:.3f}" in row and "2.635" in row


def test_table_by_category():
    result = runner.invoke(app, ["phases", "--category", "solid electrolyte"])
    assert result.exit_code == 0
    assert "Li6PS5Cl" in result.output and "│ LiF " not in result.output


def test_detail_view_shows_sites_reference_and_doi():
    result = runner.invoke(app, ["phases", "beta-Li3PS4"])
    assert result.exit_code == 0, result.output
    assert "Pnma" in result.output and "10.1016/j.ssi.2010.10.001" in result.output
    assert "8d" in result.output and "4b" in result.output  # the Wyckoff table
    assert "Li3 (4c" in result.output  # the ordering choice is explained


@pytest.mark.parametrize("filename", ["Li3PS4.cif", "POSCAR", "Li3PS4.extxyz"])
def test_write_structure_of_a_phase(tmp_path, filename):
    out = tmp_path / "out" / filename
    result = runner.invoke(app, ["phases", "Li3PS4", "-o", str(out)])
    assert result.exit_code == 0, result.output
    back = load_structure(out)
    assert StructureMatcher(primitive_cell=False, scale=False).fit(back, get_phase("Li3PS4"))


def test_write_primitive_cell_and_explicit_format(tmp_path):
    out = tmp_path / "lpsc.txt"
    result = runner.invoke(app, ["phases", "Li6PS5Cl", "--cell", "primitive", "-o", str(out), "--format", "poscar"])
    assert result.exit_code == 0, result.output
    assert "26 atoms" in result.output
    from pymatgen.io.vasp import Poscar

    written = Poscar.from_file(out).structure  # really a POSCAR despite the .txt name
    assert len(written) == 26 and written.composition.reduced_formula == "Li6PS5Cl"


def test_unknown_phase_is_a_user_error():
    result = runner.invoke(app, ["phases", "Li3PS5"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UnknownPhaseError)
    assert "Li3PS4" in str(result.exception)


def test_help_is_useful():
    result = runner.invoke(app, ["phases", "--help"])
    assert result.exit_code == 0
    assert "--output" in result.output and "extxyz" in result.output
