"""Slab geometry, k-point meshes, frame rotation and run folders shared by the DFT engines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.core.surface import SlabGenerator

from interphases.errors import InvalidStructureError
from interphases.workflows.engines.dft_common import (
    MARKER,
    RunFolder,
    command_executable,
    folder_names,
    is_slab,
    is_symmetric_slab,
    kpoint_mesh,
    rotate_back,
    slab_center_frac_c,
    standard_orientation,
    vacuum_along_c,
)
from interphases.workflows.engines.testing import li_bcc_cell, li_bcc_slab


def test_slab_detection_and_centre() -> None:
    slab = li_bcc_slab(layers=3, vacuum=12.0)
    assert vacuum_along_c(slab) == pytest.approx(12.0, abs=1e-6)
    assert is_slab(slab) and not is_slab(li_bcc_cell())
    assert slab_center_frac_c(slab) == pytest.approx(0.5, abs=1e-9)
    # the same slab wrapped across the periodic boundary keeps its centre and vacuum
    wrapped = slab.copy()
    wrapped.translate_sites(list(range(len(wrapped))), [0, 0, 0.5], frac_coords=True, to_unit_cell=True)
    assert vacuum_along_c(wrapped) == pytest.approx(12.0, abs=1e-6)
    assert slab_center_frac_c(wrapped) == pytest.approx(0.0, abs=1e-9) or slab_center_frac_c(wrapped) == pytest.approx(1.0)


def test_symmetric_and_asymmetric_slabs_like_pymatgen() -> None:
    assert is_symmetric_slab(li_bcc_slab(layers=3))
    assert not is_symmetric_slab(li_bcc_slab(layers=3, adatom="H"))
    # agree with pymatgen's Slab.is_symmetric on generated LiF(111) (polar, asymmetric) and (100)
    lif = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.03), ["Li", "F"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    for miller in ((1, 0, 0), (1, 1, 1)):
        for slab in SlabGenerator(lif, miller, 6, 10, center_slab=True).get_slabs():
            assert is_symmetric_slab(slab) == slab.is_symmetric()


def test_kpoint_mesh_has_one_point_along_c_for_slabs() -> None:
    cell = li_bcc_cell()
    n = int(np.ceil(2 * np.pi / 3.44 / 0.3))
    assert kpoint_mesh(cell, 0.3, slab=False) == (n, n, n)
    assert kpoint_mesh(li_bcc_slab(), 0.3, slab=True) == (n, n, 1)
    assert kpoint_mesh(cell, None, slab=False) == (1, 1, 1)


def test_rotation_to_the_standard_frame_and_back() -> None:
    slab = SlabGenerator(
        Structure.from_spacegroup("Im-3m", Lattice.cubic(3.44), ["Li"], [[0, 0, 0]]), (1, 1, 0), 5, 10, center_slab=True
    ).get_slabs()[0]
    slab = Structure.from_sites(slab.sites)
    rotated, q = standard_orientation(slab)
    assert q is not None
    np.testing.assert_allclose(rotated.lattice.matrix[0, 1:], 0, atol=1e-10)  # a along x
    assert abs(rotated.lattice.matrix[1, 2]) < 1e-10  # b in the xy plane
    np.testing.assert_allclose(rotated.distance_matrix, slab.distance_matrix, atol=1e-10)  # rigid
    forces = np.random.default_rng(0).normal(size=(len(slab), 3))
    stress = np.random.default_rng(1).normal(size=(3, 3))
    stress = stress + stress.T
    lattice, coords, f_back, s_back = rotate_back(q, rotated.lattice.matrix, rotated.cart_coords, forces @ q, q.T @ stress @ q)
    np.testing.assert_allclose(lattice, slab.lattice.matrix, atol=1e-10)
    np.testing.assert_allclose(coords, slab.cart_coords, atol=1e-10)
    np.testing.assert_allclose(f_back, forces, atol=1e-12)
    np.testing.assert_allclose(s_back, stress, atol=1e-12)
    assert standard_orientation(rotated)[1] is None
    partial = slab.copy()
    partial.add_site_property("selective_dynamics", [[True, True, False]] * len(slab))
    with pytest.raises(InvalidStructureError, match="some Cartesian directions"):
        standard_orientation(partial)


def test_run_folder_archives_and_recognises_requests(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "calc", "abc")
    assert run.state() == "new"
    run.write_marker(task="static")
    (run.path / "out.txt").write_text("first")
    assert run.state() == "same"
    assert RunFolder(run.path, "other").state() == "other"
    archived = run.archive()
    assert archived == run.path / "attempt-1" and (archived / "out.txt").read_text() == "first"
    assert json.loads((archived / MARKER).read_text())["request"] == "abc"
    (run.path / "out.txt").write_text("second")
    assert run.archive().name == "attempt-2" and [p.name for p in run.attempts()] == ["attempt-1", "attempt-2"]


def test_folder_names_are_readable_unique_and_stable() -> None:
    a, b = li_bcc_cell(), li_bcc_cell(0.01)
    names = folder_names("cp2k-static", [a, b, a], None)
    assert names[0].startswith("cp2k-static-000-Li-") and len(set(names)) == 3
    assert folder_names("cp2k-static", [a], None)[0] == names[0]  # same structure, same folder
    assert folder_names("x", [a, b], ["Li slab/1", "Li slab/1"]) == ["x-Li_slab_1", "x-Li_slab_1-1"]
    # NEB paths: named after all their images (same start, different end: different folders)
    paths = folder_names("neb", [[a, b], [a, a]], None)
    assert paths[0] != paths[1] and paths[0].startswith("neb-000-Li-")


def test_command_check_finds_missing_programs() -> None:
    assert command_executable("python3 -c pass", "python")[1] is None
    assert command_executable("srun-not-here cp2k.psmp", "cp2k")[1] == "srun-not-here"
    assert command_executable("env cp2k-not-installed.psmp", "cp2k")[1] == "cp2k-not-installed.psmp"
