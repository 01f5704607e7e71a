"""Small structures, cheap engines and a VASP run stand-in for tests of the DFT engines.

Reusable by the workflow Makers' tests (surface energy, adhesion, NEB on CP2K/VASP):

- :func:`li_bcc_cell`, :func:`li_bcc_slab`: two-atom bcc Li and a (001) Li slab with one
  atom per layer (optionally an H adatom on one side, which makes it asymmetric);
- :func:`cp2k_test_engine`: :meth:`CP2KEngine.quick` settings (200/30 Ry, Γ or a 3x3x3
  mesh): seconds per single point on one core, not converged physics;
- :func:`mock_run_vasp`: atomate2's testing approach for VASP: instead of running VASP,
  copy reference outputs into the run folder; monkeypatch it over
  ``interphases.workflows.engines.vasp.run_vasp``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pymatgen.core import Lattice, Structure

from interphases.workflows.engines.dft_common import slab_center_frac_c

__all__ = ["LI_BCC_A", "cp2k_test_engine", "li_bcc_cell", "li_bcc_slab", "mock_run_vasp"]

#: bcc Li lattice constant (Å), near the PBE value
LI_BCC_A = 3.44

_VASP_OUTPUTS = ("vasprun.xml", "OUTCAR", "CONTCAR", "OSZICAR")


def li_bcc_cell(displacement: float = 0.0, a: float = LI_BCC_A) -> Structure:
    """Conventional two-atom bcc Li cell; the body-centre atom moved by ``displacement`` (fractional x)."""
    return Structure(Lattice.cubic(a), ["Li", "Li"], [[0, 0, 0], [0.5 + displacement, 0.5, 0.5]])


def li_bcc_slab(layers: int = 3, vacuum: float = 12.0, adatom: str | None = None, a: float = LI_BCC_A) -> Structure:
    """A bcc Li(001) slab, one atom per layer (a x a in plane), centred along c.

    ``adatom`` (e.g. ``"H"``) is put 1.1 Å above a bridge site of the top layer, which
    makes the two surfaces different (a surface dipole). CP2K's dipole correction needs
    ~12 Å of vacuum for such Li slabs.
    """
    thickness = (layers - 1) * a / 2
    species, coords = [], []
    for k in range(layers):
        shift = 0.0 if k % 2 == 0 else 0.5 * a
        species.append("Li")
        coords.append([shift, shift, k * a / 2])
    if adatom:
        species.append(adatom)
        coords.append([0.5 * a, 0.0, thickness + 1.1])
    top = max(c[2] for c in coords)
    slab = Structure(Lattice.from_parameters(a, a, top + vacuum, 90, 90, 90), species, coords, coords_are_cartesian=True)
    slab.translate_sites(list(range(len(slab))), [0, 0, 0.5 - slab_center_frac_c(slab)], frac_coords=True)
    return slab


def cp2k_test_engine(run_dir: str | Path | None = None, **overrides: Any) -> Any:
    """:meth:`CP2KEngine.quick` (cheap, unconverged settings) writing into ``run_dir``."""
    from interphases.workflows.engines.cp2k import CP2KEngine

    return CP2KEngine.quick(run_dir=str(run_dir) if run_dir is not None else None, **overrides)


def _copy_outputs(source: Path, target: Path) -> list[str]:
    copied = []
    for item in source.iterdir():
        base = item.name.split(".gz")[0]
        if item.is_file() and (base in _VASP_OUTPUTS or base.startswith("vasprun")):
            name = "vasprun.xml.gz" if base.startswith("vasprun") and item.name.endswith(".gz") else item.name
            shutil.copy(item, target / name)
            copied.append(name)
    return copied


def mock_run_vasp(
    references: Mapping[str, str | Path],
    calls: list[tuple[str, str]] | None = None,
    check_inputs: Callable[[Path, str], None] | None = None,
) -> Callable[..., None]:
    """A stand-in for :func:`interphases.workflows.engines.vasp.run_vasp` (atomate2 style).

    Args:
        references: run-folder name fragment -> folder of reference outputs. The first
            fragment found in the run folder's path is used. For an NEB (job type
            ``"neb"``) the reference folder holds image folders ``01..0N`` whose outputs
            are copied into the matching image folders.
        calls: if given, ``(run folder, job type)`` is appended for every call.
        check_inputs: called with ``(run folder, job type)`` before copying, to assert
            on the inputs the engine wrote.
    """

    def fake_run_vasp(directory: Path, engine: Any, job_type: str = "normal") -> None:
        directory = Path(directory)
        key = next((k for k in references if k in str(directory)), None)
        if key is None:
            raise AssertionError(f"no reference outputs for {directory}")
        if calls is not None:
            calls.append((str(directory), job_type))
        if check_inputs is not None:
            check_inputs(directory, job_type)
        source = Path(references[key])
        if job_type == "neb":
            for image in sorted(p for p in source.iterdir() if p.is_dir() and p.name.isdigit()):
                target = directory / image.name
                target.mkdir(exist_ok=True)
                _copy_outputs(image, target)
        elif not _copy_outputs(source, directory):
            raise AssertionError(f"no VASP outputs in {source}")
        return None

    return fake_run_vasp
