"""``interphases candidates`` and ``interphases slabs`` end to end on library phases."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from pymatgen.core import Structure
from typer.testing import CliRunner

from interphases.cli import app, main
from interphases.structures.interfaces import load_candidates
from interphases.structures.slabs import load_slabs

runner = CliRunner()


@pytest.mark.filterwarnings("ignore:Selective dynamics toggled")
def test_candidates_table_files_and_json(tmp_path):
    out = tmp_path / "Li_LiF"
    result = runner.invoke(
        app,
        [
            "candidates",
            "Li",
            "LiF",
            "--max-index",
            "1",
            "--max-area",
            "45",
            "--max-strain",
            "0.05",
            "--substrate-thickness",
            "6",
            "--film-thickness",
            "6",
            "--gap",
            "2",
            "--vacuum",
            "12",
            "--cell-model",
            "slab",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        "LiF on Li" in result.output and "strain %" in result.output and "area Å²" in result.output
    )
    records = load_candidates(out / "candidates.json")
    assert records, result.output
    files = sorted(out.glob("*.vasp"))
    assert len(files) == len(records)
    for rec in records[:5]:  # every shown candidate is in the table with its id
        assert rec.candidate_id in result.output
        assert rec.substrate_name == "Li" and rec.film_name == "LiF"
    # ranked: von Mises strain, then area, then atoms
    keys = [(round(r.von_mises_strain, 6), round(r.area, 3), r.n_atoms) for r in records]
    assert keys == sorted(keys)
    # the first file is the first candidate, with its frozen atoms and its gap
    poscar = Structure.from_file(files[0])
    assert files[0].name.startswith("001_" + records[0].candidate_id)
    assert len(poscar) == records[0].n_atoms
    assert "Selective dynamics" in files[0].read_text()
    sd = np.array(poscar.site_properties["selective_dynamics"])
    assert (~sd.any(axis=1)).sum() == records[0].n_fixed
    labels = np.array(records[0].interface.site_properties["interface_label"])
    z = records[0].interface.cart_coords[:, 2]
    assert z[labels == "film"].min() - z[labels == "substrate"].max() == pytest.approx(
        2.0, abs=1e-6
    )
    json.loads((out / "candidates.json").read_text())


def test_candidates_sandwich_extxyz(tmp_path):
    result = runner.invoke(
        app,
        [
            "candidates",
            "Li",
            "LiF",
            "--substrate-miller",
            "1,1,0",
            "--film-miller",
            "111",
            "--max-area",
            "45",
            "--substrate-thickness",
            "6",
            "--film-thickness",
            "6",
            "--cell-model",
            "sandwich",
            "--registry-grid",
            "5x5",
            "--allow-polar",  # the as-cut LiF(111) film; its octopolar reconstruction needs > 45 Å²
            "-f",
            "extxyz",
            "-o",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    records = load_candidates(tmp_path)
    assert records and all(r.cell_model == "sandwich" and r.vacuum == 0.0 for r in records)
    assert all("grid" in r.shift_kinds for r in records)  # 1/5 steps miss the high-symmetry sites
    assert len(list(tmp_path.glob("*.extxyz"))) == len(records)


def test_slabs_command(tmp_path):
    result = runner.invoke(
        app, ["slabs", "LiF", "-m", "1,1,1", "-m", "100", "--thickness", "8", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "Tasker" in result.output
    records = load_slabs(tmp_path / "slabs.json")
    assert {r.miller_index for r in records} == {(1, 1, 1), (1, 0, 0)}
    assert len(list(tmp_path.glob("*.vasp"))) == len(records)
    assert all(r.thickness >= 8.0 - 1e-6 for r in records)


def test_help_is_useful():
    for command, words in (
        ("candidates", ["--max-strain", "--cell-model", "sandwich", "registr"]),
        ("slabs", ["Tasker", "--thickness"]),
    ):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        for word in words:
            assert word in result.output


def test_bad_input_gives_one_line_errors(monkeypatch, capsys):
    result = runner.invoke(app, ["candidates", "Li", "LiF", "--substrate-miller", "1,x,0"])
    assert result.exit_code == 2 and "Miller" in result.output
    result = runner.invoke(app, ["candidates", "Li", "LiF", "--cell-model", "bulk"])
    assert result.exit_code == 2 and "sandwich" in result.output
    # an unknown phase: the entry point prints one line and exits with 2
    monkeypatch.setattr(sys, "argv", ["interphases", "candidates", "Li", "NotAPhase123"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "NotAPhase123" in err and len(err.splitlines()) == 1
