"""VASP parsers on real public outputs (../shared/data/vasp, see SOURCES.md).

Every number is checked against pymatgen reading the same file *and* against the raw
text of the file (regex in the test), plus the reference values SOURCES.md lists.
"""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from monty.serialization import loadfn

from interphases.errors import ParseError
from interphases.parsers.vasp import parse_outcar, parse_vasp_dir, parse_vasp_neb, parse_vasprun

FLOAT = r"[-+]?\d*\.\d+(?:[eE][-+]?\d+)?"


def _text(path: Path) -> str:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", errors="replace") as handle:
        return handle.read()


def _pmg_vasprun(path: Path):
    from pymatgen.io.vasp.outputs import Vasprun

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Vasprun(str(path), parse_dos=False, parse_eigen=False, parse_potcar_file=False)


def _last_xml_e0(text: str) -> float:
    """energy(sigma->0) of the last ionic step, straight from the XML text.

    Some VASP 5 builds write 0.0 into the ionic-step ``e_0_energy``; the value is then
    the last SCF step's ``e_0 - e_fr`` plus the ionic ``e_fr`` (what VASP prints in OUTCAR).
    """
    last_calc = text.rsplit("<calculation>", 1)[1]
    e_fr = [float(x) for x in re.findall(rf'name="e_fr_energy">\s*({FLOAT})', last_calc)]
    e_0 = [float(x) for x in re.findall(rf'name="e_0_energy">\s*({FLOAT})', last_calc)]
    return e_0[-2] - e_fr[-2] + e_fr[-1]


def _last_xml_stress(text: str) -> np.ndarray:
    block = text.rsplit('<varray name="stress" >', 1)[1].split("</varray>")[0]
    return np.array([[float(x) for x in row.split()] for row in re.findall(r"<v>(.*?)</v>", block)])


@pytest.fixture(scope="module")
def vasp_data(shared_data: Path) -> Path:
    return shared_data / "vasp"


def test_vasprun_relaxation_matches_pymatgen_and_the_xml(vasp_data: Path) -> None:
    path = vasp_data / "relax" / "Li6PS5Cl_relax_vasprun.xml.gz"
    result = parse_vasprun(path)
    text = _text(path)
    ref = _pmg_vasprun(path)

    assert result.engine == "vasp" and result.code == "vasp" and result.code_version == "5.4.1"
    assert result.energy == pytest.approx(ref.final_energy, abs=1e-8)
    assert result.energy == pytest.approx(_last_xml_e0(text), abs=1e-8)
    assert result.structure.composition.reduced_formula == "Li6PS5Cl"
    np.testing.assert_allclose(result.structure.lattice.matrix, ref.final_structure.lattice.matrix, atol=1e-8)
    np.testing.assert_allclose(result.structure.frac_coords, ref.final_structure.frac_coords, atol=1e-8)
    assert result.n_steps == text.count("<calculation>") == len(ref.ionic_steps)
    assert result.converged and result.error is None
    assert result.parameters["incar"]["ENCUT"] == pytest.approx(520)
    assert result.energy_trajectory[-1] == result.energy
    np.testing.assert_allclose(result.forces, ref.ionic_steps[-1]["forces"], atol=1e-10)
    # VASP prints kBar with the pressure sign; the schema wants GPa with ASE's sign
    np.testing.assert_allclose(result.stress, -0.1 * _last_xml_stress(text), atol=1e-10)


def test_vasprun_static_and_gga_u_runs(vasp_data: Path) -> None:
    lif = parse_vasprun(vasp_data / "relax" / "LiF_static_vasprun.xml.gz")
    assert lif.energy == pytest.approx(-9.64589684, abs=1e-8)
    assert lif.n_steps == 0 and lif.converged
    assert lif.structure.composition.reduced_formula == "LiF"

    mgmn = parse_vasprun(vasp_data / "relax" / "MgMn2O4_GGA+U_relax_fm" / "vasprun.xml.gz")
    assert mgmn.parameters["is_hubbard"] and "+U" in mgmn.model
    assert mgmn.energy == pytest.approx(_last_xml_e0(_text(vasp_data / "relax" / "MgMn2O4_GGA+U_relax_fm" / "vasprun.xml.gz")), abs=1e-8)


def test_outcar_alone_agrees_with_the_vasprun_of_the_same_run(vasp_data: Path) -> None:
    folder = vasp_data / "relax" / "LiF_SCAN_relax"
    from_outcar = parse_outcar(folder / "OUTCAR.gz")
    from_vasprun = parse_vasprun(folder / "vasprun.xml.gz")
    text = _text(folder / "OUTCAR.gz")

    last_e0 = float(re.findall(rf"energy\(sigma->0\)\s*=\s*({FLOAT})", text)[-1])
    assert from_outcar.energy == pytest.approx(last_e0, abs=1e-8)
    assert from_outcar.energy == pytest.approx(from_vasprun.energy, abs=1e-6)
    kb = [float(x) for x in re.findall(rf"in kB\s+((?:{FLOAT}\s+){{5}}{FLOAT})", text)[-1].split()]
    assert from_outcar.stress[0][0] == pytest.approx(-0.1 * kb[0]) and from_outcar.stress[0][1] == pytest.approx(-0.1 * kb[3])
    np.testing.assert_allclose(from_outcar.stress, from_vasprun.stress, atol=1e-3)
    assert from_outcar.converged and from_outcar.code_version.startswith("5.4")


def test_outcar_slab_with_explicit_structure(vasp_data: Path) -> None:
    folder = vasp_data / "slab" / "Dy_hcp_slab"
    with pytest.raises(ParseError, match="CONTCAR or POSCAR"):
        parse_outcar(folder / "OUTCAR.relax1.gz")
    result = parse_outcar(folder / "OUTCAR.relax1.gz", structure_file=folder / "CONTCAR.relax1.gz")
    assert result.structure.composition.formula == "Dy9"
    assert result.structure.lattice.c == pytest.approx(51.349408, abs=1e-5)
    last_e0 = float(re.findall(rf"energy\(sigma->0\)\s*=\s*({FLOAT})", _text(folder / "OUTCAR.relax1.gz"))[-1])
    assert result.energy == pytest.approx(last_e0)
    assert len(result.forces) == 9


def test_unconverged_ionic_and_electronic_runs_are_reported(vasp_data: Path, tmp_path: Path) -> None:
    text = _text(vasp_data / "relax" / "Li_metal_relax" / "vasprun.xml.gz")
    n_steps = text.count("<calculation>")
    assert parse_vasprun(vasp_data / "relax" / "Li_metal_relax" / "vasprun.xml.gz").converged

    # same run, but as if NSW had been the number of steps taken: the relaxation hit NSW
    capped = tmp_path / "capped" / "vasprun.xml"
    capped.parent.mkdir()
    capped.write_text(re.sub(r'(name="NSW">)\s*99', rf"\g<1>    {n_steps}", text))
    result = parse_vasp_dir(capped.parent)
    assert not result.converged and "NSW" in result.error

    # and as if NELM were smaller than the SCF iterations of the last step
    short = tmp_path / "short" / "vasprun.xml"
    short.parent.mkdir()
    short.write_text(re.sub(r'(name="NELM">)\s*100', r"\g<1>    2", text))
    result = parse_vasprun(short)
    assert not result.converged and "NELM" in result.error


def test_broken_files_raise_parse_error_naming_the_file(vasp_data: Path, tmp_path: Path) -> None:
    text = _text(vasp_data / "relax" / "Li_metal_relax" / "vasprun.xml.gz")
    truncated = tmp_path / "vasprun.xml"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ParseError, match="vasprun.xml"):
        parse_vasprun(truncated)
    garbage = tmp_path / "garbage" / "OUTCAR"
    garbage.parent.mkdir()
    garbage.write_text("this is not a VASP output\n" * 20)
    with pytest.raises(ParseError, match="OUTCAR"):
        parse_outcar(garbage)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParseError, match="no vasprun.xml or OUTCAR"):
        parse_vasp_dir(tmp_path / "empty")
    with pytest.raises(ParseError, match="not found"):
        parse_vasprun(tmp_path / "missing.xml")


def test_si_vacancy_cineb_barrier_from_the_image_folders(vasp_data: Path) -> None:
    from pymatgen.analysis.transition_state import NEBAnalysis

    root = vasp_data / "neb" / "Si_vacancy_CINEB"
    ends = (root / "relax_endpoint_1" / "outputs", root / "relax_endpoint_2" / "outputs")
    result = parse_vasp_neb(root / "NEB" / "outputs", endpoint_dirs=ends)

    doc = loadfn(root / "neb_task_doc.json.gz")  # atomate2's NebTaskDoc of the same run
    np.testing.assert_allclose(result.energies, doc["energies"], atol=1e-7)
    np.testing.assert_allclose(result.energies, [-358.17704, -358.10829, -358.01856, -358.10827, -358.17704], atol=1e-5)
    assert result.barrier_forward == pytest.approx(0.15848, abs=1e-5)
    assert result.barrier_backward == pytest.approx(0.15848, abs=1e-5)
    assert result.barrier_forward == pytest.approx(doc["forward_barrier"], abs=1e-7)
    assert result.barrier_backward == pytest.approx(doc["reverse_barrier"], abs=1e-7)
    assert result.climbing_image == 2 and result.converged
    assert len(result.images) == 5 and all(len(s) == 63 for s in result.images)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pmg = NEBAnalysis.from_dir(str(root / "NEB" / "outputs"), relaxation_dirs=tuple(str(e) for e in ends))
    np.testing.assert_allclose(result.energies, pmg.energies, atol=1e-7)
    np.testing.assert_allclose(result.reaction_coordinate, pmg.r, atol=1e-8)


def test_nh3_inversion_neb_images_and_missing_endpoints(vasp_data: Path) -> None:
    root = vasp_data / "neb" / "NH3_inversion_neb"
    with pytest.raises(ParseError, match="endpoint"):
        parse_vasp_neb(root)  # VASP does not compute endpoints; this run has none

    images = [parse_vasp_dir(root / f"0{k}") for k in (1, 2, 3)]
    for k, image in zip((1, 2, 3), images, strict=True):
        last_e0 = re.findall(rf"energy\(sigma->0\)\s*=\s*({FLOAT})", _text(root / f"0{k}" / "OUTCAR"))[-1]
        assert image.energy == pytest.approx(float(last_e0))
        assert image.converged  # "reached required accuracy" in every image
    # inversion is symmetric: images 1 and 3 are mirror images, image 2 is the planar saddle
    assert images[0].energy == pytest.approx(images[2].energy, abs=1e-4)
    assert images[1].energy - images[0].energy == pytest.approx(0.2157, abs=1e-3)
    saddle = images[1].structure
    n_index = [s.specie.symbol for s in saddle].index("N")
    h_z = [s.coords[2] for s in saddle if s.specie.symbol == "H"]
    assert abs(saddle[n_index].coords[2] - np.mean(h_z)) < 0.01

    result = parse_vasp_neb(root, endpoint_energies=(images[0].energy, images[2].energy))
    assert result.energies[2] == images[1].energy and result.climbing_image == 2  # VTST default LCLIMB
