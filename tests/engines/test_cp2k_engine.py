"""CP2KEngine: real CP2K runs (tiny cells, cheap settings) and the inputs it writes.

Physics checks are against independent numbers: ASE's own CP2K calculator on the same
structure, the relaxation lowering the energy, a static on the relaxed structure,
invariance under rotation, the dipole correction doing nothing on a symmetric slab,
the NH3 inversion saddle being planar. Timings are in the report of issue 7.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

from interphases.errors import EngineUnavailableError, InterphasesError, InvalidStructureError, UnsupportedElementsError
from interphases.parsers.cp2k import parse_cp2k_output
from interphases.workflows.engines import get_engine
from interphases.workflows.engines.cp2k import CP2KEngine
from interphases.workflows.engines.testing import cp2k_test_engine, li_bcc_cell, li_bcc_slab

pytestmark = pytest.mark.cp2k


@pytest.fixture(scope="module")
def cp2k_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One pymatgen CP2K data folder for the module (built once, ~4 s)."""
    return tmp_path_factory.mktemp("cp2k-cache")


@pytest.fixture(autouse=True)
def _shared_cache(cp2k_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERPHASES_CACHE", str(cp2k_cache))


@pytest.fixture(scope="module")
def li_runs(cp2k_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Static, fixed-cell relaxation and static-on-the-relaxed of a displaced two-atom bcc Li cell."""
    run_dir = tmp_path_factory.mktemp("li-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_CACHE", str(cp2k_cache))
        engine = cp2k_test_engine(run_dir)
        start = li_bcc_cell(displacement=0.03)
        t0 = time.perf_counter()
        static = engine.static([start], labels=["li-start"])[0]
        t1 = time.perf_counter()
        relaxed = engine.relax([start], fmax=0.02, labels=["li"])[0]
        t2 = time.perf_counter()
        again = engine.static([relaxed.structure], labels=["li-relaxed"])[0]
        t3 = time.perf_counter()
    return {"engine": engine, "start": start, "static": static, "relaxed": relaxed, "again": again,
            "times": (t1 - t0, t2 - t1, t3 - t2), "run_dir": run_dir}


# --------------------------------------------------------------------------- inputs (no run)


def test_inputs_for_an_asymmetric_slab_with_frozen_layers() -> None:
    engine = CP2KEngine.quick()
    slab = li_bcc_slab(layers=4, adatom="H")
    slab.add_site_property("selective_dynamics", [[False] * 3, [False] * 3, [True] * 3, [True] * 3, [True] * 3])
    text = str(engine.cp2k_input(slab, task="relax", fmax=0.05).cp2k_input)
    assert "SURFACE_DIPOLE_CORRECTION True" in text and "SURF_DIP_DIR Z" in text
    assert "MONKHORST-PACK 3 3 1" in text  # one k-point along the vacuum direction
    assert "COMPONENTS_TO_FIX XYZ" in text and "LIST 1..2" in text  # bottom two layers frozen
    assert "RUN_TYPE GEO_OPT" in text
    max_force = float(text.split("MAX_FORCE")[1].split()[0])
    assert max_force == pytest.approx(0.05 / 51.42208619083232, rel=1e-6)  # eV/Å -> Hartree/bohr
    assert "EPS_PGF_ORB" not in text  # atomate2's 1e-16 made runs 10x slower

    symmetric = str(engine.cp2k_input(li_bcc_slab(layers=3)).cp2k_input)
    assert "SURFACE_DIPOLE_CORRECTION" not in symmetric
    bulk = str(engine.cp2k_input(li_bcc_cell(), task="relax", cell="z").cp2k_input)
    assert "RUN_TYPE CELL_OPT" in bulk and "CONSTRAINT XY" in bulk and "MONKHORST-PACK 3 3 3" in bulk
    gamma = str(CP2KEngine.quick(kspacing=None, ot=True, dispersion="DFTD3").cp2k_input(li_bcc_cell()).cp2k_input)
    assert "KPOINTS" not in gamma and "&OT" in gamma and "DFTD3" in gamma


def test_basis_files_travel_with_the_run_folder(tmp_path: Path) -> None:
    input_set = CP2KEngine.quick().cp2k_input(li_bcc_slab(adatom="H"))
    input_set.write_input(tmp_path)
    assert "BASIS_SET_FILE_NAME BASIS" in (tmp_path / "cp2k.inp").read_text()
    basis = (tmp_path / "BASIS").read_text()
    assert "Li DZVP-MOLOPT-SR-GTH" in basis and "H DZVP-MOLOPT-SR-GTH" in basis
    assert "GTH-PBE-q3" in (tmp_path / "POTENTIAL").read_text()


def test_bad_requests_fail_before_any_run(tmp_path: Path) -> None:
    engine = CP2KEngine.quick(cp2k_cmd="cp2k-not-installed.psmp", run_dir=str(tmp_path))
    with pytest.raises(EngineUnavailableError, match="apt-get install cp2k"):
        engine.static([li_bcc_cell()])
    with pytest.raises(UnsupportedElementsError, match="element_settings"):
        CP2KEngine.quick().check_structures([Structure(Lattice.cubic(4), ["Og"], [[0, 0, 0]])])
    with pytest.raises(InvalidStructureError, match="overlapping"):
        CP2KEngine.quick().check_structures([Structure(Lattice.cubic(4), ["Li", "Li"], [[0, 0, 0], [0.01, 0, 0]])])
    with pytest.raises(InvalidStructureError, match="needs a slab"):
        CP2KEngine.quick(dipole_correction=True).check_structures([li_bcc_cell()])
    with pytest.raises(InterphasesError, match="cell must be"):
        CP2KEngine.quick(run_dir=str(tmp_path)).relax([li_bcc_cell()], cell="xy")
    assert isinstance(get_engine("cp2k", cutoff_ry=300), CP2KEngine)
    assert CP2KEngine.from_dict(CP2KEngine.quick(run_dir="x").as_dict()) == CP2KEngine.quick(run_dir="x")


# --------------------------------------------------------------------------- real runs


def test_static_relax_static_are_consistent(li_runs: dict) -> None:
    static, relaxed, again = li_runs["static"], li_runs["relaxed"], li_runs["again"]
    assert static.converged and relaxed.converged and again.converged, (static.error, relaxed.error, again.error)
    assert static.engine == "cp2k" and static.code_version == "2023.1" and static.model == "PBE"
    assert static.max_force > 0.05  # the displaced atom is pushed back
    assert relaxed.energy < static.energy - 1e-4
    assert relaxed.max_force < 0.02 and relaxed.n_steps >= 1
    assert relaxed.structure.lattice == li_runs["start"].lattice  # fixed cell
    # a static on the relaxed geometry reproduces the relaxation's final energy
    assert abs(again.energy - relaxed.energy) / len(again.structure) < 1e-4
    # the atom displaced along +x is pushed back along -x; y, z vanish by symmetry. (The
    # forces do not sum to zero at 200 Ry: the GPW grid breaks translation invariance.)
    assert static.forces[1][0] < -0.05 and np.abs(np.asarray(static.forces)[:, 1:]).max() < 1e-6
    assert static.parameters["kpoint_mesh"] == [3, 3, 3] and not static.parameters["slab"]
    folder = Path(relaxed.dir_name)
    assert folder.name == "cp2k-relax-fixed-li" and (folder / "CP2K-pos-1.xyz").is_file()


def test_matches_ase_cp2k_calculator(li_runs: dict, tmp_path: Path) -> None:
    """Same structure and settings through ASE's own CP2K calculator (its own input
    writer, CP2K's data files instead of the BASIS/POTENTIAL copies pymatgen writes)."""
    from ase.calculators.cp2k import CP2K
    from ase.units import GPa, Rydberg
    from pymatgen.io.ase import AseAtomsAdaptor

    engine, result = li_runs["engine"], li_runs["static"]
    inp = f"""
&GLOBAL
  EXTENDED_FFT_LENGTHS
&END GLOBAL
&FORCE_EVAL
  &DFT
    &QS
      EPS_DEFAULT {engine.eps_default}
    &END QS
    &MGRID
      NGRIDS 5
      REL_CUTOFF {engine.rel_cutoff_ry}
    &END MGRID
    &KPOINTS
      SCHEME MONKHORST-PACK 3 3 3
    &END KPOINTS
    &SCF
      EPS_SCF {engine.eps_scf}
      ADDED_MOS -1
      &DIAGONALIZATION
      &END DIAGONALIZATION
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.05
        BETA 0.01
        NBUFFER 10
      &END MIXING
      &SMEAR
        METHOD FERMI_DIRAC
        ELECTRONIC_TEMPERATURE [K] {engine.smearing_temperature_K}
      &END SMEAR
    &END SCF
  &END DFT
&END FORCE_EVAL
"""
    atoms = AseAtomsAdaptor.get_atoms(li_runs["start"])
    command = f"cd {tmp_path} && env OMP_NUM_THREADS=1 cp2k.psmp -s"
    with CP2K(command=command, label="li", xc="PBE", cutoff=engine.cutoff_ry * Rydberg, basis_set="DZVP-MOLOPT-SR-GTH",
              basis_set_file="BASIS_MOLOPT", potential_file="GTH_POTENTIALS", pseudo_potential="GTH-PBE",
              max_scf=100, inp=inp) as calc:
        atoms.calc = calc
        energy = atoms.get_potential_energy()
        forces = atoms.get_forces()
        stress = atoms.get_stress(voigt=False) / GPa
    assert abs(energy - result.energy) / len(atoms) < 1e-4
    np.testing.assert_allclose(result.forces, forces, atol=2e-3)
    # ASE flips the sign of CP2K's printed tensor: our parser must agree
    np.testing.assert_allclose(result.stress, stress, atol=0.01)


def test_rerun_reuses_finished_runs(li_runs: dict) -> None:
    engine = li_runs["engine"]
    folder = Path(li_runs["static"].dir_name)
    before = sorted(p.name for p in folder.iterdir())
    t0 = time.perf_counter()
    again = engine.static([li_runs["start"]], labels=["li-start"])[0]
    assert time.perf_counter() - t0 < 5.0
    assert again.parameters["reused"] and again.energy == li_runs["static"].energy
    assert sorted(p.name for p in folder.iterdir()) == before
    # other settings, same label: the old run is archived, not overwritten
    other = cp2k_test_engine(li_runs["run_dir"], use_custodian=False, max_scf=3)
    result = other.static([li_runs["start"]], labels=["li-start"])[0]
    assert (folder / "attempt-1" / "cp2k.out").is_file()
    assert not result.converged and "SCF not converged" in result.error  # 3 SCF steps are not enough
    assert parse_cp2k_output(folder / "cp2k.out").converged is False


def test_unfinished_relaxation_resumes_from_its_last_geometry(tmp_path: Path) -> None:
    # Γ only (fast); no custodian, whose relaxation handler would extend the run itself
    engine = cp2k_test_engine(tmp_path, use_custodian=False, kspacing=None)
    start = li_bcc_cell(displacement=0.04)
    first = engine.relax([start], fmax=0.01, max_steps=1, labels=["li"])[0]
    assert not first.converged and "maximum number of steps" in first.error
    second = engine.relax([start], fmax=0.01, max_steps=1, labels=["li"])[0]  # same request: resume
    folder = tmp_path / "cp2k-relax-fixed-li"
    assert (folder / "attempt-1" / "cp2k.out").is_file()  # the first attempt is kept
    assert '"resumed": true' in (folder / "interphases-run.json").read_text()
    # the second run starts where the first stopped, not from the input structure
    assert second.energy_trajectory[0] == pytest.approx(first.energy, abs=2e-4)
    assert second.energy_trajectory[0] < first.energy_trajectory[0] - 1e-4


def test_custodian_gives_up_on_an_unconvergeable_scf(tmp_path: Path) -> None:
    engine = cp2k_test_engine(tmp_path, max_scf=2, max_errors=1)
    result = engine.static([li_bcc_cell(0.03)])[0]
    assert not result.converged and "custodian" in result.error
    folder = Path(result.dir_name)
    assert (folder / "custodian.json").is_file() and (folder / "cp2k.inp.orig").is_file()


def test_z_relaxation_keeps_the_in_plane_lattice(tmp_path: Path) -> None:
    stretched = Structure(Lattice.tetragonal(3.44, 3.60), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    relaxed = cp2k_test_engine(tmp_path).relax([stretched], cell="z", fmax=0.02)[0]
    assert relaxed.converged, relaxed.error
    np.testing.assert_allclose(relaxed.structure.lattice.matrix[:2], stretched.lattice.matrix[:2], atol=1e-6)
    # the stress of the first step, from the output: CP2K's pressure sign, so σ_ASE = -printed
    text = (Path(relaxed.dir_name) / "cp2k.out").read_text()
    first = text.split("STRESS| Analytical stress tensor [GPa]", 2)[1].splitlines()[2:5]
    sigma_zz = -float(first[2].split()[4])
    # ASE sign: σ_zz > 0 (tensile) means the cell wants to shrink along z, < 0 to grow
    assert abs(sigma_zz) > 0.2
    assert np.sign(stretched.lattice.c - relaxed.structure.lattice.c) == np.sign(sigma_zz)
    assert abs(relaxed.structure.lattice.c - stretched.lattice.c) > 0.02
    assert abs(relaxed.stress[2][2]) < 0.05 < abs(relaxed.stress[0][0])  # only zz was relaxed
    assert relaxed.energy < relaxed.energy_trajectory[0]


@pytest.fixture(scope="module")
def slab_runs(cp2k_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Γ-point statics of a symmetric Li(001) slab and of one with an H adatom, with the
    dipole correction automatic, forced on and off, and of the H slab turned in space."""
    run_dir = tmp_path_factory.mktemp("slab-runs")
    symmetric = li_bcc_slab(layers=3)
    adsorbed = li_bcc_slab(layers=3, adatom="H")
    # the H slab in another Cartesian frame (CP2K needs the normal along z: rotated and back)
    turn = np.radians(30.0)
    rot = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    tilt = np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)], [0, np.sin(0.3), np.cos(0.3)]]) @ rot
    turned = Structure(Lattice(adsorbed.lattice.matrix @ tilt.T), adsorbed.species, adsorbed.frac_coords)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_CACHE", str(cp2k_cache))
        auto = cp2k_test_engine(run_dir, kspacing=None).static(
            [symmetric, adsorbed, turned], labels=["sym-auto", "asym-auto", "asym-turned"]
        )
        forced = cp2k_test_engine(run_dir, kspacing=None, dipole_correction=True).static([symmetric], labels=["sym-on"])[0]
        off = cp2k_test_engine(run_dir, kspacing=None, dipole_correction=False).static([adsorbed], labels=["asym-off"])[0]
    return {"sym": auto[0], "asym": auto[1], "turned": auto[2], "sym_on": forced, "asym_off": off,
            "turned_structure": turned, "tilt": tilt}


def test_li_slab_dipole_correction(slab_runs: dict) -> None:
    assert all(r.converged for k, r in slab_runs.items() if k not in ("turned_structure", "tilt"))
    assert not slab_runs["sym"].parameters["dipole_correction"] and slab_runs["asym"].parameters["dipole_correction"]
    assert slab_runs["sym"].parameters["kpoint_mesh"] == [1, 1, 1] and slab_runs["sym"].parameters["slab"]
    # a symmetric slab has no dipole: the correction changes nothing
    assert slab_runs["sym_on"].energy == pytest.approx(slab_runs["sym"].energy, abs=1e-5)
    # the H-covered side makes a dipole: the correction matters
    assert abs(slab_runs["asym"].energy - slab_runs["asym_off"].energy) > 1e-4


def test_rotated_slab_gives_the_same_energy_and_rotated_forces(slab_runs: dict) -> None:
    result, reference = slab_runs["turned"], slab_runs["asym"]
    assert result.parameters["dipole_correction"]
    assert result.energy == pytest.approx(reference.energy, abs=1e-5)
    np.testing.assert_allclose(result.structure.cart_coords, slab_runs["turned_structure"].cart_coords, atol=1e-8)
    np.testing.assert_allclose(result.forces, np.asarray(reference.forces) @ slab_runs["tilt"].T, atol=1e-4)


def test_nh3_inversion_neb(shared_data: Path, tmp_path: Path) -> None:
    """CI-NEB of NH3 umbrella inversion (endpoints from the aiida-vasp NEB): the climbing
    image is the planar saddle, its energy equals a static at that geometry, and the
    PBE barrier is near the 0.2 eV of VASP's images (expt. 0.25 eV)."""
    from interphases.parsers.vasp import _read_poscar

    root = shared_data / "vasp" / "neb" / "NH3_inversion_neb"
    start, end = _read_poscar(root / "00" / "POSCAR"), _read_poscar(root / "04" / "POSCAR")
    engine = cp2k_test_engine(tmp_path, kspacing=None, ot=True, smearing_temperature_K=None,
                              neb_images=1, neb_optimizer="BFGS")
    result = engine.neb([[start, end]], fmax=0.05, max_steps=40, labels=["NH3"])[0]
    assert result.converged, result.error
    assert result.climbing_image == 1 and len(result.images) == 3
    saddle = result.images[1]
    n = [s.specie.symbol for s in saddle].index("N")
    h_z = [s.coords[2] for s in saddle if s.specie.symbol == "H"]
    assert abs(saddle[n].coords[2] - np.mean(h_z)) < 0.02  # planar
    assert result.barrier_forward == pytest.approx(result.barrier_backward, abs=1e-3)  # symmetric path
    assert 0.1 < result.barrier_forward < 0.35
    static = engine.static([saddle], labels=["NH3-saddle"])[0]
    assert static.energy == pytest.approx(result.energies[1], abs=1e-4)
    folder = tmp_path / "cp2k-neb-NH3"
    assert (folder / "neb.traj").is_file() and (folder / "image_01.out").is_file()
    again = engine.neb([[start, end]], fmax=0.05, max_steps=40, labels=["NH3"])[0]
    assert again.parameters["reused"] and again.energies == result.energies


def test_command_from_field_env_or_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERPHASES_CP2K_CMD", raising=False)
    assert CP2KEngine().command == "cp2k.psmp"
    monkeypatch.setenv("INTERPHASES_CP2K_CMD", "srun cp2k.psmp")
    assert CP2KEngine().command == "srun cp2k.psmp"
    assert CP2KEngine(cp2k_cmd="mpirun -np 4 cp2k.psmp").command == "mpirun -np 4 cp2k.psmp"
