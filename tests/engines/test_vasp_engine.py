"""VASPEngine, atomate2 style: the run step copies real reference outputs
(../shared/data/vasp) into the run folder; what is checked is the input the engine
writes (INCAR keys, KPOINTS, POSCAR, POTCAR.spec) and the result it parses back."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.vasp.inputs import Incar, Kpoints, Poscar

import interphases.workflows.engines.vasp as vasp_module
from interphases.errors import CalculationError, EngineUnavailableError, InterphasesError
from interphases.parsers.vasp import _read_poscar, parse_vasprun
from interphases.workflows.engines import get_engine
from interphases.workflows.engines.testing import li_bcc_slab, mock_run_vasp
from interphases.workflows.engines.vasp import VASPEngine


@pytest.fixture(scope="module")
def vasp_data(shared_data: Path) -> Path:
    return shared_data / "vasp"


def _initial_structure(vasprun: Path) -> Structure:
    from pymatgen.io.vasp.outputs import Vasprun

    return Vasprun(str(vasprun), parse_dos=False, parse_eigen=False, parse_potcar_file=False).initial_structure


def test_static_inputs_and_result(vasp_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    shutil.copy(vasp_data / "relax" / "LiF_static_vasprun.xml.gz", reference / "vasprun.xml.gz")
    calls: list = []
    monkeypatch.setattr(vasp_module, "run_vasp", mock_run_vasp({"LiF": reference}, calls))
    lif = parse_vasprun(reference / "vasprun.xml.gz").structure

    result = VASPEngine(run_dir=str(tmp_path / "runs")).static([lif], labels=["LiF"])[0]
    folder = tmp_path / "runs" / "vasp-static-LiF"
    incar = Incar.from_file(folder / "INCAR")
    assert incar["NSW"] == 0 and incar["ENCUT"] == 520 and incar.get("IBRION", -1) == -1  # MP static set
    assert (folder / "POTCAR.spec").read_text().split() == ["Li_sv", "F"]  # no POTCARs here: symbols only
    assert not (folder / "POTCAR").exists()
    assert Poscar.from_file(folder / "POSCAR").structure.matches(lif)
    assert Kpoints.from_file(folder / "KPOINTS").style.name == "Gamma"
    assert result.energy == pytest.approx(-9.64589684) and result.converged and result.engine == "vasp"
    assert result.structure.composition.reduced_formula == "LiF" and calls == [(str(folder), "normal")]

    again = VASPEngine(run_dir=str(tmp_path / "runs")).static([lif], labels=["LiF"])[0]
    assert again.parameters["reused"] and len(calls) == 1  # finished run: VASP not called again


def test_fixed_cell_relaxation_writes_isif2_and_the_force_criterion(vasp_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = vasp_data / "relax" / "Li_metal_relax"
    monkeypatch.setattr(vasp_module, "run_vasp", mock_run_vasp({"Li-metal": source}))
    start = _initial_structure(source / "vasprun.xml.gz")
    result = VASPEngine(run_dir=str(tmp_path)).relax([start], fmax=0.03, max_steps=50, labels=["Li-metal"])[0]
    incar = Incar.from_file(tmp_path / "vasp-relax-fixed-Li-metal" / "INCAR")
    assert incar["ISIF"] == 2 and incar["EDIFFG"] == -0.03 and incar["NSW"] == 50 and incar["IBRION"] == 2
    assert result.energy == pytest.approx(-1.92459954) and result.n_steps == 3 and result.converged
    assert result.parameters["cell"] == "fixed" and result.parameters["fmax"] == 0.03


def test_slab_inputs_symmetric_and_asymmetric(vasp_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = vasp_data / "slab" / "Au_adsorption" / "slab_relax"
    monkeypatch.setattr(vasp_module, "run_vasp", mock_run_vasp({"Au-slab": source}))
    slab = _read_poscar(next(source.glob("POSCAR*")))
    engine = VASPEngine(run_dir=str(tmp_path))
    result = engine.relax([slab], labels=["Au-slab"])[0]
    folder = tmp_path / "vasp-relax-fixed-Au-slab"
    incar = Incar.from_file(folder / "INCAR")
    assert incar["ISIF"] == 2 and "LDIPOL" not in incar  # Au(100) slab is symmetric
    mesh = Kpoints.from_file(folder / "KPOINTS").kpts[0]
    assert mesh[2] == 1 and mesh[0] == mesh[1] > 1  # one k-point along the vacuum direction
    assert result.energy == pytest.approx(-35.9887717)
    reference_incar = Incar.from_file(source / "INCAR.gz")  # atomate2's own slab relaxation
    assert incar["ISIF"] == reference_incar["ISIF"] and incar["IBRION"] == reference_incar["IBRION"]

    adsorbed = li_bcc_slab(layers=4, adatom="H")
    vasp_input = engine.vasp_input(adsorbed, task="relax")
    assert vasp_input["INCAR"]["LDIPOL"] and vasp_input["INCAR"]["IDIPOL"] == 3
    assert vasp_input["INCAR"]["DIPOL"][2] == pytest.approx(0.5, abs=1e-6)  # the slab centre
    assert vasp_input["KPOINTS"].kpts[0][2] == 1
    sd = [[False] * 3] * 2 + [[True] * 3] * 3
    adsorbed.add_site_property("selective_dynamics", sd)
    poscar = engine.vasp_input(adsorbed, task="relax")["POSCAR"]
    assert poscar.selective_dynamics is not None and list(map(list, poscar.selective_dynamics))[:2] == [[False] * 3] * 2


def test_si_vacancy_cineb(vasp_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = vasp_data / "neb" / "Si_vacancy_CINEB"
    reference_incar = Incar.from_file(root / "NEB" / "inputs" / "INCAR.gz")

    def check_inputs(directory: Path, job_type: str) -> None:
        incar = Incar.from_file(directory / "INCAR")
        if job_type == "neb":
            for key in ("IMAGES", "IBRION", "IOPT", "LCLIMB", "SPRING", "ISIF", "POTIM"):
                assert incar[key] == reference_incar[key], key
            assert incar["EDIFFG"] == reference_incar["EDIFFG"] == -0.02
            head_kpoints = (directory / "KPOINTS").read_text()
            for k in range(5):
                assert (directory / f"{k:02d}" / "KPOINTS").read_text() == head_kpoints
                written = Poscar.from_file(directory / f"{k:02d}" / "POSCAR").structure
                np.testing.assert_allclose(written.frac_coords, images[k].frac_coords, atol=1e-8)
        else:  # endpoint single points: the NEB's settings without the NEB tags
            assert incar["NSW"] == 0 and "IMAGES" not in incar and "LCLIMB" not in incar
            assert incar["ISMEAR"] == 0 and incar["EDIFF"] == 1e-6

    calls: list = []
    monkeypatch.setattr(
        vasp_module,
        "run_vasp",
        mock_run_vasp(
            {
                "endpoint-start": root / "relax_endpoint_1" / "outputs",
                "endpoint-end": root / "relax_endpoint_2" / "outputs",
                "/neb": root / "NEB" / "outputs",
            },
            calls,
            check_inputs,
        ),
    )
    images = [_read_poscar(next((root / "NEB" / "outputs" / f"{k:02d}").glob("POSCAR*"))) for k in range(5)]
    result = VASPEngine(run_dir=str(tmp_path)).neb([images], fmax=0.02, labels=["Si-vac"])[0]
    assert [c[1] for c in calls] == ["normal", "normal", "neb"]
    assert result.barrier_forward == pytest.approx(0.15848, abs=1e-5)
    assert result.barrier_backward == pytest.approx(0.15848, abs=1e-5)
    np.testing.assert_allclose(result.energies, [-358.17704, -358.10829, -358.01856, -358.10827, -358.17704], atol=1e-5)
    assert result.climbing_image == 2 and result.converged and result.engine == "vasp"


def test_site_order_is_restored() -> None:
    """POSCAR needs one block per species: the engine groups the sites and maps results back."""
    from interphases.parsers.schema import CalcResult
    from interphases.workflows.engines.vasp import _grouped

    mixed = Structure(Lattice.cubic(4.03), ["Li", "F", "Li", "F"], [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0]])
    grouped, order = _grouped(mixed)
    assert [s.specie.symbol for s in grouped] == ["Li", "Li", "F", "F"] and order == [0, 2, 1, 3]
    forces = [[float(k), 0.0, 0.0] for k in range(4)]  # force x = index in the VASP order
    parsed = CalcResult(structure=grouped, energy=-1.0, forces=forces, converged=True, engine="vasp", code="vasp")
    result = VASPEngine()._finish(parsed, mixed, order, task="static", cell="fixed", fmax=0.05, max_steps=1, label=None)
    assert [s.specie.symbol for s in result.structure] == ["Li", "F", "Li", "F"]
    np.testing.assert_allclose(result.structure.frac_coords, mixed.frac_coords, atol=1e-12)
    assert [f[0] for f in result.forces] == [0.0, 2.0, 1.0, 3.0]


def test_missing_binary_keeps_the_inputs(tmp_path: Path) -> None:
    engine = VASPEngine(vasp_cmd="vasp_std_not_installed", run_dir=str(tmp_path))
    lif = Structure(Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(EngineUnavailableError, match="INTERPHASES_VASP_CMD"):
        engine.static([lif], labels=["LiF"])
    folder = tmp_path / "vasp-static-LiF"
    assert {"INCAR", "KPOINTS", "POSCAR", "POTCAR.spec"} <= {p.name for p in folder.iterdir()}


def test_z_relaxation_needs_lattice_constraints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cell = Structure(Lattice.tetragonal(3.44, 3.6), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InterphasesError, match="LATTICE_CONSTRAINTS"):
        VASPEngine(run_dir=str(tmp_path)).relax([cell], cell="z")
    incar = VASPEngine(allow_lattice_constraints=True).vasp_input(cell, task="relax", cell="z")["INCAR"]
    assert incar["ISIF"] == 3 and list(incar["LATTICE_CONSTRAINTS"]) == [False, False, True]


def test_foreign_outputs_are_refused(vasp_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vasp_module, "run_vasp", mock_run_vasp({"Li": vasp_data / "relax" / "Li_metal_relax"}))
    lif = Structure(Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(CalculationError, match="foreign run"):
        VASPEngine(run_dir=str(tmp_path)).static([lif], labels=["Li-wrong"])
    assert isinstance(get_engine("vasp", incar_settings={"ENCUT": 600}), VASPEngine)
    assert VASPEngine.from_dict(VASPEngine(kspacing=0.3).as_dict()) == VASPEngine(kspacing=0.3)
