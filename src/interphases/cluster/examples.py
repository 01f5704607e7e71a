"""Cheap real jobflow jobs for trying the queue and for the tests (EMT, ~10 ms each).

They live in the package, not in ``tests/``, so that a SLURM batch job started from
any folder can import them. :func:`emt_bulk_energy` computes the EMT energy per atom of
a cubic bulk cell at a given lattice constant (ASE's EMT: Al, Cu, Ag, Au, Ni, Pd, Pt)
and returns a document with ``summary_rows()``; optional files let a test count how
often a job really ran (``log_file``), hold it running (``hold_file``) or make it fail
(``fail_file``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from jobflow import Flow, Job, Maker, job
from pydantic import BaseModel, Field

from interphases.errors import CalculationError


class EMTEnergyDoc(BaseModel):
    """EMT energy of a bulk cell."""

    formula: str
    structure: str = Field(description="ASE bulk crystal structure name (fcc, bcc, ...).")
    lattice_constant_A: float
    n_atoms: int
    energy_eV: float = Field(description="Total energy of the cell, eV.")
    energy_per_atom_eV: float
    label: str | None = None

    def summary_rows(self) -> list[dict]:
        return [
            {
                "kind": "emt_energy_per_atom",
                "formulas": [self.formula],
                "value": self.energy_per_atom_eV,
                "units": "eV/atom",
                "engine": "ase",
                "model": "EMT",
                "lattice_constant_A": self.lattice_constant_A,
                "structure": self.structure,
                "n_atoms": self.n_atoms,
                "label": self.label,
            }
        ]


class LatticeMinimumDoc(BaseModel):
    """The lowest-energy point of a lattice-constant scan."""

    formula: str
    lattice_constant_A: float
    energy_per_atom_eV: float
    scanned_A: list[float]

    def summary_rows(self) -> list[dict]:
        return [
            {
                "kind": "emt_lattice_constant",
                "formulas": [self.formula],
                "value": self.lattice_constant_A,
                "units": "A",
                "engine": "ase",
                "model": "EMT",
                "energy_per_atom_eV": self.energy_per_atom_eV,
            }
        ]


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a") as handle:  # one short write: atomic enough with O_APPEND
            handle.write(text + "\n")


@job
def emt_bulk_energy(
    element: str,
    a: float,
    structure: str = "fcc",
    label: str | None = None,
    log_file: str | None = None,
    hold_file: str | None = None,
    fail_file: str | None = None,
    hold_timeout_s: float = 300.0,
    barrier_dir: str | None = None,
    barrier_count: int = 0,
) -> EMTEnergyDoc:
    """EMT energy of the cubic bulk cell of ``element`` with lattice constant ``a`` (Å).

    ``log_file``: a line "start LABEL" / "done LABEL" is appended (counts real runs);
    ``hold_file``: wait while it exists (up to ``hold_timeout_s``); ``fail_file``: raise
    if it exists (a task that exits non-zero on purpose); ``barrier_dir``: leave a file
    there and wait (up to ``hold_timeout_s``) until ``barrier_count`` jobs did, so that
    jobs in different processes write their results at the same moment.
    """
    from ase.build import bulk
    from ase.calculators.emt import EMT

    tag = label or f"{element}-{a:g}"
    _append(log_file, f"start {tag} pid={os.getpid()}")
    if fail_file and Path(fail_file).exists():
        raise CalculationError(f"{tag}: failing on purpose because {fail_file} exists")
    deadline = time.monotonic() + hold_timeout_s
    while hold_file and Path(hold_file).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    if barrier_dir:
        Path(barrier_dir).mkdir(parents=True, exist_ok=True)
        (Path(barrier_dir) / f"{tag}.{os.getpid()}").touch()
        while (
            len(list(Path(barrier_dir).iterdir())) < barrier_count and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    atoms = bulk(element, structure, a=a, cubic=True)
    atoms.calc = EMT()
    energy = float(atoms.get_potential_energy())
    _append(log_file, f"done {tag}")
    return EMTEnergyDoc(
        formula=atoms.get_chemical_formula(empirical=True),
        structure=structure,
        lattice_constant_A=a,
        n_atoms=len(atoms),
        energy_eV=energy,
        energy_per_atom_eV=energy / len(atoms),
        label=label,
    )


@job
def pick_minimum(docs: list[EMTEnergyDoc]) -> LatticeMinimumDoc:
    """The scan point with the lowest energy per atom."""
    best = min(docs, key=lambda d: d.energy_per_atom_eV)
    return LatticeMinimumDoc(
        formula=best.formula,
        lattice_constant_A=best.lattice_constant_A,
        energy_per_atom_eV=best.energy_per_atom_eV,
        scanned_A=[d.lattice_constant_A for d in docs],
    )


def emt_lattice_scan(
    element: str, a_values: list[float], structure: str = "fcc", log_file: str | None = None
) -> Flow:
    """A real multi-job flow: one EMT job per lattice constant, then the minimum."""
    points = [
        emt_bulk_energy(element, a, structure, label=f"{element}-{a:g}", log_file=log_file)
        for a in a_values
    ]
    best = pick_minimum([p.output for p in points])
    return Flow([*points, best], output=best.output, name=f"{element} EMT lattice scan")


@dataclass
class EMTEnergyMaker(Maker):
    """Maker form of :func:`emt_bulk_energy` (for campaigns given as Maker + inputs)."""

    name: str = "emt bulk energy"
    structure: str = "fcc"

    def make(
        self, element: str, a: float, label: str | None = None, log_file: str | None = None
    ) -> Job:
        new = emt_bulk_energy(element, a, self.structure, label=label, log_file=log_file)
        new.name = self.name
        return new
