"""The surface-energy Maker on real CP2K runs: the same Maker the MLIP uses, engine swapped.

Li(100), a four-layer slab (two frozen), CP2K's quick test settings (200/30 Ry, 3x3x1
k-points): ~30 s on one core. The result is parsed from the run folders, stored in the
project database, physically sane, and a rerun reuses the finished CP2K runs.
"""

from __future__ import annotations

import time

import pytest

from interphases.database import query
from interphases.parsers.cp2k import parse_cp2k_output
from interphases.workflows.energetics import SurfaceEnergyMaker
from interphases.workflows.engines.testing import cp2k_test_engine, li_bcc_cell
from interphases.workflows.run import run_and_store

pytestmark = pytest.mark.cp2k

J = 16.02176634


@pytest.fixture(scope="module")
def li_surface(tmp_path_factory):
    root = tmp_path_factory.mktemp("cp2k-surface")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INTERPHASES_PROJECT", str(root / "project"))
        mp.setenv("INTERPHASES_CACHE", str(root / "cache"))
        maker = SurfaceEnergyMaker(
            engine=cp2k_test_engine(root / "cp2k"), miller_indices=[(1, 0, 0)], min_thickness=3.4, vacuum=8.0,
            relax_bulk=False, fmax=0.05,
        )
        t0 = time.perf_counter()
        job = maker.make(li_bcc_cell(), label="Li")
        doc = run_and_store(job).outputs[job.uuid]
        first = time.perf_counter() - t0
        rows = query("surface_energy")
        t0 = time.perf_counter()
        job2 = maker.make(li_bcc_cell(), label="Li")
        again = run_and_store(job2).outputs[job2.uuid]
        second = time.perf_counter() - t0
    return doc, again, rows, root / "cp2k", (first, second)


def test_surface_energy_on_cp2k_is_parsed_and_stored(li_surface):
    doc, _, rows, run_dir, _ = li_surface
    (surface,) = doc.surfaces
    assert doc.provenance["engine"] == "cp2k" and doc.provenance["model"] == "PBE"
    assert surface.converged and surface.n_atoms == 4 and surface.n_fixed == 2
    # the energies in the document are the ones in the CP2K outputs
    bulk = parse_cp2k_output(run_dir / "cp2k-static-Li-bulk" / "cp2k.out")
    static = parse_cp2k_output(next(run_dir.glob("cp2k-static-Li-Li_100*unrelaxed")) / "cp2k.out")
    relaxed = parse_cp2k_output(next(run_dir.glob("cp2k-relax-fixed-Li-Li_100*")) / "cp2k.out")
    assert bulk.converged and static.converged and relaxed.converged
    assert doc.bulk.energy == pytest.approx(bulk.energy, abs=1e-6)
    assert surface.unrelaxed_slab_energy == pytest.approx(static.energy, abs=1e-6)
    assert surface.slab_energy == pytest.approx(relaxed.energy, abs=1e-6)
    e_bulk = bulk.energy / 2
    area = surface.area
    gamma_top = (static.energy - 4 * e_bulk) / (2 * area) + (relaxed.energy - static.energy) / area
    assert surface.surface_energy == pytest.approx(gamma_top, abs=1e-9)
    # PBE Li(100) is 0.46 J/m^2 (Tran et al., Sci. Data 3, 160080 (2016)); thin slab, cheap settings
    assert 0.3 < surface.surface_energy_j_per_m2 < 0.8
    assert relaxed.energy <= static.energy + 1e-6  # relaxing the top layers lowers the energy
    row = rows.iloc[0]
    assert row["engine"] == "cp2k" and row["model"] == "PBE" and row["units"] == "J/m^2"
    assert row["value"] == pytest.approx(surface.surface_energy_j_per_m2)


def test_rerun_reuses_the_cp2k_runs(li_surface):
    doc, again, _, _, (first, second) = li_surface
    assert again.surfaces[0].surface_energy == doc.surfaces[0].surface_energy
    assert second < 0.5 * first  # finished run folders are read, not recomputed
