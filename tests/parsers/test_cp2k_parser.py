"""CP2K output parser on real public outputs (../shared/data/cp2k, see SOURCES.md).

Energies/structures are compared with pymatgen's ``Cp2kOutput`` on the same file and
with the raw text (regex in the test). Outputs of CP2K runs made here are covered by
tests/engines/test_cp2k_engine.py.
"""

from __future__ import annotations

import gzip
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core.units import Ha_to_eV

from interphases.errors import ParseError
from interphases.parsers.cp2k import HARTREE_PER_BOHR_TO_EV_PER_ANG, parse_cp2k_output

FLOAT = r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?"


def _text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as handle:
        return handle.read()


def _raw_energy_ev(text: str) -> float:
    return float(re.findall(rf"Total FORCE_EVAL \( QS \) energy [\[(]a\.u\.[\])]:\s+({FLOAT})", text)[-1]) * Ha_to_eV


@pytest.fixture(scope="module")
def cp2k_data(shared_data: Path) -> Path:
    return shared_data / "cp2k"


def test_static_matches_pymatgen_and_the_text(cp2k_data: Path, tmp_path: Path) -> None:
    from pymatgen.io.cp2k.outputs import Cp2kOutput

    # atomate2 keeps the input beside a different folder: pymatgen needs it next to the output
    shutil.copy(cp2k_data / "atomate2_Si_static" / "inputs" / "cp2k.inp", tmp_path / "cp2k.inp")
    (tmp_path / "cp2k.out").write_text(_text(cp2k_data / "atomate2_Si_static" / "outputs" / "cp2k.out.gz"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Cp2kOutput(str(tmp_path / "cp2k.out"), auto_load=True)

    result = parse_cp2k_output(cp2k_data / "atomate2_Si_static" / "outputs" / "cp2k.out.gz")  # no input beside
    text = (tmp_path / "cp2k.out").read_text()
    assert result.energy == pytest.approx(ref.final_energy, abs=1e-8)
    assert result.energy == pytest.approx(_raw_energy_ev(text), abs=1e-8)
    assert result.converged and result.n_steps == 0
    assert result.code == "cp2k" and result.code_version == "2022.1" and result.model == "PBE"
    assert result.structure.composition.formula == "Si2"
    # without the input the cell comes from the output's 6-decimal lengths/angles (pymatgen: 3-decimal vectors)
    np.testing.assert_allclose(result.structure.lattice.matrix, ref.final_structure.lattice.matrix, atol=2e-6)
    np.testing.assert_allclose(result.structure.cart_coords, ref.final_structure.cart_coords, atol=1e-8)
    # forces: Hartree/bohr in the file, eV/Å in the schema
    np.testing.assert_allclose(np.array(result.forces) / HARTREE_PER_BOHR_TO_EV_PER_ANG, ref.data["forces"][-1], atol=1e-10)
    # stress: CP2K prints GPa with the pressure sign; the schema uses ASE's sign
    block = text.rsplit("STRESS| Analytical stress tensor [GPa]", 1)[1].splitlines()[2:5]
    printed = np.array([[float(v) for v in line.split()[2:5]] for line in block])
    np.testing.assert_allclose(result.stress, -printed)
    assert result.parameters["spin_polarized"] is True


def test_output_with_its_input_beside_it(cp2k_data: Path) -> None:
    from pymatgen.io.cp2k.outputs import Cp2kOutput

    path = cp2k_data / "pymatgen_Si_static" / "cp2k.out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Cp2kOutput(str(path), auto_load=True)
    result = parse_cp2k_output(path)
    assert result.energy == pytest.approx(ref.final_energy, abs=1e-8)
    assert result.stress is None  # the file prints Infinity: never passed on as a number
    assert result.parameters["rel_cutoff_ry"] == 50


def test_unconverged_scf_is_reported_unconverged(cp2k_data: Path) -> None:
    path = cp2k_data / "AlCo-hydroxide_SCF_not_converged_v7.1" / "output"
    text = _text(path)
    result = parse_cp2k_output(path)
    assert not result.converged
    assert "SCF not converged" in result.error
    assert result.energy == pytest.approx(_raw_energy_ev(text), abs=1e-6)
    assert result.code_version == "7.1"
    assert len(result.structure) == int(re.search(r"- Atoms:\s+(\d+)", text).group(1)) == 302
    # CP2K 7 prints "STRESS TENSOR [GPa]" with X/Y/Z rows
    assert result.stress[0][0] == pytest.approx(-1.50089029) and result.stress[1][2] == pytest.approx(-0.23720409)


def test_relaxation_without_trajectory_is_not_passed_off_as_relaxed(cp2k_data: Path) -> None:
    result = parse_cp2k_output(cp2k_data / "atomate2_Si_double_relax" / "relax_1" / "outputs" / "cp2k.out")
    assert result.n_steps == 1
    assert not result.converged and "final structure unknown" in result.error


def test_md_runs_and_broken_files_raise(cp2k_data: Path, tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="MD"):
        parse_cp2k_output(cp2k_data / "Li6PS5Cl_AIMD_NPT_v2022.2" / "output")
    with pytest.raises(ParseError, match="MD"):
        parse_cp2k_output(cp2k_data / "Li_metal_LiFSI-DME_AIMD_v2024.1" / "output.gz")

    text = _text(cp2k_data / "atomate2_Si_static" / "outputs" / "cp2k.out.gz")
    cut = text.index("ENERGY| Total FORCE_EVAL")
    before_energy = tmp_path / "early" / "cp2k.out"
    before_energy.parent.mkdir()
    before_energy.write_text(text[:cut])
    with pytest.raises(ParseError, match="cp2k.out"):
        parse_cp2k_output(before_energy)

    killed = tmp_path / "killed" / "cp2k.out"  # energy printed, then the job was killed
    killed.parent.mkdir()
    killed.write_text(text[: text.index("PROGRAM ENDED")])
    result = parse_cp2k_output(killed)
    assert not result.converged and "did not finish" in result.error

    garbage = tmp_path / "garbage.out"
    garbage.write_text("no CP2K here\n" * 10)
    with pytest.raises(ParseError, match="not a CP2K output"):
        parse_cp2k_output(garbage)
    with pytest.raises(ParseError, match="not found"):
        parse_cp2k_output(tmp_path / "missing.out")
