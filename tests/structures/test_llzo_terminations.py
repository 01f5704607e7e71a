"""Stoichiometric, non-polar LLZO garnet terminations (Canepa et al., Chem. Mater. 30, 3019 (2018)).

Every plain (001) cut of the tetragonal garnet is non-stoichiometric and charged; the
Canepa-style slabs (half of a framework cation plane and the Li near it on each surface,
lowest Ewald energy) are stoichiometric, neutral and dipole-free. Charges and dipoles are
recomputed here with numpy from the fractional heights and the formal oxidation states,
not with interphases. The comparison with the DFT-relaxed stoichiometric Zr-terminated slab
of Canepa et al. reads it from the shared reference data (never copied into the repository;
``LLZO_SURFACES_DIR`` points elsewhere) and is skipped when that folder is absent.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Composition, Structure

from interphases.structures import get_phase
from interphases.structures.slabs import (
    PolarSlabWarning,
    generate_slabs,
    stoichiometric_terminations,
)

CHARGES = {"Li": 1, "La": 3, "Zr": 4, "O": -2}
BULK = Composition("Li7La3Zr2O12")
REDISTRIBUTED = "Li redistributed (Canepa-style)"

REPO = Path(__file__).resolve().parents[2]
SHARED_SURFACES = REPO.parent / "shared" / "data" / "structures" / "LLZO_surfaces"
SURFACES = Path(os.environ.get("LLZO_SURFACES_DIR", SHARED_SURFACES))
CANEPA_ZR_001 = SURFACES / "stoich_Zr_terminated_001.vasp"


def heights(structure: Structure) -> np.ndarray:
    """Heights along c (Å) of a slab whose c is normal to the surface and that does not wrap."""
    m = structure.lattice.matrix
    normal = np.cross(m[0], m[1])
    normal /= np.linalg.norm(normal)
    c_perp = float(abs(np.dot(m[2], normal)))
    assert np.allclose(np.cross(m[2], normal), 0.0, atol=1e-6), "c must be normal to the surface"
    z = structure.frac_coords[:, 2] * c_perp
    assert np.ptp(z) < 0.8 * c_perp, "the slab wraps through the cell boundary"
    return z


def dipole_and_charge(structure: Structure) -> tuple[float, float]:
    """Dipole normal to the surface per area (e/Å) and net charge (e) from formal charges."""
    z = heights(structure)
    q = np.array([CHARGES[site.specie.symbol] for site in structure], dtype=float)
    area = float(np.linalg.norm(np.cross(*structure.lattice.matrix[:2])))
    return float(np.sum(q * (z - z.mean())) / area), float(q.sum())


def outer_framework_cations(structure: Structure, window: float = 1.0) -> tuple[Counter, Counter]:
    """(bottom, top): La/Zr atoms within ``window`` Å of the outermost La/Zr on each side."""
    z = heights(structure)
    symbols = np.array([site.specie.symbol for site in structure])
    frame = np.isin(symbols, ["La", "Zr"])
    zf, sf = z[frame], symbols[frame]
    bottom = Counter(sf[zf < zf.min() + window].tolist())
    top = Counter(sf[zf > zf.max() - window].tolist())
    return bottom, top


def outermost_cation(structure: Structure) -> tuple[str, str]:
    """Species of the lowest and of the highest cation (Li, La or Zr)."""
    z = heights(structure)
    symbols = np.array([site.specie.symbol for site in structure])
    cat = np.flatnonzero(symbols != "O")
    return str(symbols[cat[np.argmin(z[cat])]]), str(symbols[cat[np.argmax(z[cat])]])


def formula_units(structure: Structure) -> float:
    comp = structure.composition
    ratios = [comp[el] / BULK[el] for el in BULK.elements]
    assert max(ratios) - min(ratios) < 1e-9 and ratios[0] == round(ratios[0]), comp.formula
    return ratios[0]


def area(structure: Structure) -> float:
    return float(np.linalg.norm(np.cross(*structure.lattice.matrix[:2])))


@pytest.fixture(scope="module")
def llzo() -> Structure:
    return get_phase("LLZO")


@pytest.fixture(scope="module")
def zr_001(llzo):
    """The Zr-terminated (001) slab as thick as Canepa's (12 formula units)."""
    recs = stoichiometric_terminations(llzo, (0, 0, 1), min_thickness=18.0, vacuum=15.0)
    zr = [r for r in recs if r.top_termination == r.bottom_termination == "LaZr"]
    assert zr, [r.termination for r in recs]
    return zr[0]


def check_sound(rec) -> None:
    dipole, charge = dipole_and_charge(rec.slab)
    assert charge == 0
    assert abs(dipole) < 1e-6
    formula_units(rec.slab)  # a whole number of Li7La3Zr2O12
    assert rec.stoichiometric and not rec.polar and rec.sound
    assert rec.net_charge == pytest.approx(0.0, abs=1e-9)
    assert rec.dipole_per_area == pytest.approx(dipole, abs=1e-8)
    assert rec.reconstruction == REDISTRIBUTED and rec.tasker_type == 3


def test_001_zr_terminated_is_stoichiometric_neutral_dipole_free(zr_001):
    check_sound(zr_001)
    assert zr_001.symmetric and zr_001.slab.is_symmetric()
    assert formula_units(zr_001.slab) == 12 and len(zr_001.slab) == 288
    bottom, top = outer_framework_cations(zr_001.slab)
    # half of the La4Zr4 plane on each surface
    assert bottom == top == Counter({"La": 2, "Zr": 2})


def test_001_matches_canepa_zr_terminated_001(zr_001):
    if not CANEPA_ZR_001.is_file():
        pytest.skip(
            f"shared reference data absent: {CANEPA_ZR_001} (Canepa et al. 2018 slab, "
            "../shared/data/structures/LLZO_surfaces/); only this comparison is skipped"
        )
    ref = Structure.from_file(CANEPA_ZR_001)
    ref_dipole, ref_charge = dipole_and_charge(ref)
    assert ref_charge == 0 and abs(ref_dipole) < 5e-3  # relaxed, so not exactly zero
    assert outermost_cation(ref) == ("Zr", "Zr")  # what "Zr-terminated" means in the file
    ref_bottom, ref_top = outer_framework_cations(ref)
    bottom, top = outer_framework_cations(zr_001.slab)
    assert bottom == ref_bottom and top == ref_top
    # same composition, per area within the difference of the two in-plane cells (< 5 %)
    assert zr_001.slab.composition == ref.composition
    per_area = formula_units(zr_001.slab) / area(zr_001.slab)
    assert per_area == pytest.approx(formula_units(ref) / area(ref), rel=0.05)


def test_100_reproduces_the_cell_of_canepa_zr_terminated_slab(llzo):
    """Canepa's '(001)' slab has the short tetragonal axis in plane: the library's (100)."""
    recs = stoichiometric_terminations(llzo, (1, 0, 0), min_thickness=18.0, vacuum=15.0)
    zr = [r for r in recs if r.termination == "LaZr"]
    assert zr
    rec = zr[0]
    check_sound(rec)
    assert rec.symmetric
    assert len(rec.slab) == 288 and rec.slab.composition == Composition("Li84La36Zr24O144")
    assert sorted(rec.slab.lattice.abc[:2]) == pytest.approx([12.663, 13.134], abs=1e-3)
    if CANEPA_ZR_001.is_file():
        ref = Structure.from_file(CANEPA_ZR_001)
        assert rec.slab.composition == ref.composition
        ref_ab = sorted(ref.lattice.abc[:2])
        assert sorted(rec.slab.lattice.abc[:2]) == pytest.approx(ref_ab, rel=0.01)
        assert outer_framework_cations(rec.slab) == outer_framework_cations(ref)


def test_generate_slabs_prefers_the_redistributed_001_slabs(llzo):
    """Default: only sound (001) slabs, Zr-terminated first; raw charged cuts on request."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PolarSlabWarning)
        recs = generate_slabs(llzo, miller_indices=[(0, 0, 1)], allow_polar=True)
    assert recs and recs[0].sound and recs[0].reconstruction == REDISTRIBUTED
    assert recs[0].termination == "LaZr" and recs[0].symmetric
    sound = [r for r in recs if r.sound]
    assert all(r.reconstruction == REDISTRIBUTED for r in sound)
    assert recs[: len(sound)] == sound  # preferred: before every charged cut
    raw = [r for r in recs if not r.sound]
    assert raw and all(r.charged and not r.stoichiometric for r in raw)
    for r in sound:
        dipole, charge = dipole_and_charge(r.slab)
        assert charge == 0 and abs(dipole) < 1e-6
    assert not any(issubclass(w.category, PolarSlabWarning) for w in caught)


def test_cli_lists_the_zr_terminated_001_slab_first():
    """``interphases slabs LLZO -m 0,0,1``: sound slabs only, the Zr-terminated one first."""
    from typer.testing import CliRunner

    from interphases.cli import app

    result = CliRunner().invoke(app, ["slabs", "LLZO", "-m", "0,0,1"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("│ ") and "│ 001 " in line]
    assert rows and "LaZr|LaZr" in rows[0] and "Li redistributed" in rows[0]
    for row in rows:
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert cells[5] == "yes" and cells[8] == "+0" and cells[9] == "no"  # stoich, charge, polar
    assert "polar slabs left out" in result.output and "charge +28 e" in result.output
