"""Timings of the CP2K engine on the test systems (and one production-settings run).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_cp2k_engine.py [--production]

Runs, through :class:`interphases.workflows.engines.cp2k.CP2KEngine` (custodian on), in a
temporary folder: the two-atom bcc Li cell (static, GEO_OPT, z-only CELL_OPT) with the
cheap test settings (``CP2KEngine.quick``: 200/30 Ry, 3x3x3 k-points), a 3-layer Li(001)
slab at Γ with and without an H adatom (dipole correction on for the asymmetric one) and
the NH3-inversion CI-NEB (1 moving image, BFGS). For each: wall time of the engine call,
CP2K's own run time (``CP2K`` line of the timing report, summed over runs; not for
the NEB, whose CP2K shells idle between steps) and the energy.
``--production`` adds the Li cell with the engine defaults (500/60 Ry, kspacing 0.25).
On a shared machine compare CP2K times, not wall times.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path

from interphases.workflows.engines.cp2k import CP2KEngine
from interphases.workflows.engines.testing import li_bcc_cell, li_bcc_slab


def cp2k_seconds(folder: Path) -> float:
    total = 0.0
    # NEB image shells stay alive for the whole NEB: their CP2K time is not compute time
    for out in folder.rglob("cp2k.out"):
        match = re.search(r"^ CP2K\s+1\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", out.read_text(), re.M)
        if match:
            total += float(match.group(1))
    return total


def main() -> None:
    from pymatgen.core import Lattice, Structure

    from interphases.parsers.vasp import _read_poscar

    root = Path(tempfile.mkdtemp(prefix="cp2k-bench-"))
    quick = CP2KEngine.quick(run_dir=str(root))
    gamma = CP2KEngine.quick(run_dir=str(root), kspacing=None)
    stretched = Structure(Lattice.tetragonal(3.44, 3.60), ["Li", "Li"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nh3 = Path(__file__).resolve().parents[2] / "shared" / "data" / "vasp" / "neb" / "NH3_inversion_neb"
    neb_engine = CP2KEngine.quick(run_dir=str(root), kspacing=None, ot=True, smearing_temperature_K=None,
                                  neb_images=1, neb_optimizer="BFGS")
    cases = [
        ("Li2 bcc static (3x3x3 k)", lambda: quick.static([li_bcc_cell(0.03)], labels=["li-static"])[0]),
        ("Li2 bcc GEO_OPT (3x3x3 k)", lambda: quick.relax([li_bcc_cell(0.03)], fmax=0.02, labels=["li-relax"])[0]),
        ("Li2 z-only CELL_OPT (3x3x3 k)", lambda: quick.relax([stretched], cell="z", fmax=0.02, labels=["li-z"])[0]),
        ("Li3 slab static, Γ", lambda: gamma.static([li_bcc_slab(3)], labels=["slab"])[0]),
        ("Li3H slab static, Γ, dipole corr.", lambda: gamma.static([li_bcc_slab(3, adatom="H")], labels=["slab-h"])[0]),
        ("NH3 inversion CI-NEB, Γ, OT", lambda: neb_engine.neb(
            [[_read_poscar(nh3 / "00" / "POSCAR"), _read_poscar(nh3 / "04" / "POSCAR")]], fmax=0.05, labels=["nh3"])[0]),
    ]
    if "--production" in sys.argv:
        production = CP2KEngine(run_dir=str(root))
        cases.append(("Li2 bcc static, production defaults", lambda: production.static([li_bcc_cell(0.03)], labels=["li-prod"])[0]))
    t0 = time.perf_counter()
    quick.check_structures([li_bcc_cell()])  # pymatgen CP2K data set-up, once per cache
    print(f"{'pymatgen CP2K data set-up (first use)':40s} wall {time.perf_counter() - t0:6.1f} s")
    for name, run in cases:
        before = {p for p in root.iterdir()}
        t0 = time.perf_counter()
        result = run()
        wall = time.perf_counter() - t0
        new = [p for p in root.iterdir() if p not in before]
        cp2k = sum(cp2k_seconds(p) for p in new)
        energy = getattr(result, "energy", None)
        extra = f"E = {energy:.5f} eV" if energy is not None else f"barrier = {result.barrier_forward:.4f} eV"
        cp2k_text = f"CP2K {cp2k:6.1f} s" if cp2k else "CP2K      - "
        print(f"{name:40s} wall {wall:6.1f} s   {cp2k_text}   {extra}   converged={result.converged}")
    print(f"run folders kept in {root}")


if __name__ == "__main__":
    main()
