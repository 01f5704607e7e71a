"""jobflow Makers for interface energetics: surface energy, work of adhesion, and the
interface formation / interfacial / elastic energy decomposition (Eq. 14-18).

- :class:`SurfaceEnergyMaker`: bulk relaxation -> slabs of the requested facets, every
  termination (:func:`interphases.structures.generate_slabs`) -> single point and
  relaxation of every slab (bottom planes frozen) -> gamma per facet and termination,
  the lowest termination of each facet flagged.
- :class:`AdhesionMaker`: per interface candidate, a registry scan (every in-plane shift
  of the candidate x a set of gaps, single points evaluated together) -> the minimum is
  relaxed together with the two isolated slabs cut from the same strained cell -> W_ad.
  The whole scanned landscape is kept. ``make_batch`` does many candidates in the same
  two jobs (one batched scan, one batched relaxation).
- Given structures: a slab file (``SurfaceEnergyMaker.make_given``) or an interface file
  (``AdhesionMaker.make_given``) is computed as given, nothing cut or rescanned.
- :class:`InterfaceEnergyMaker`: the adhesion flow, then the stress-free bulks, the bulks
  strained to the interface's in-plane lattice (relaxed along z only) and the periodic
  sandwich at the adhesion minimum (relaxed along z) -> E_f, sigma, E_el and the Eq. 18
  check against the direct W_ad.

The formulas are in :mod:`interphases.analysis.energetics`; the cells are built by
:mod:`interphases.structures.interface_cells`. Every Maker holds its energy code as the
``engine`` field (``"mlip"`` = CHGNet, an :class:`~interphases.workflows.engines.base.Engine`
such as ``MLIPEngine(model="emt")``, ``CP2KEngine(...)`` or ``VASPEngine(...)``), so the
same Maker runs on any of them. Documents carry the engine provenance and parameters;
relaxed structures and scan grids go to the JobStore's ``data`` store. A relaxation that
does not converge is reported (``converged=False`` and the reason), never hidden.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from jobflow import Flow, Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from interphases.analysis.energetics import (
    EV_PER_A2_TO_J_PER_M2,
    InterfaceEnergetics,
    interface_energetics,
    j_per_m2,
    surface_energy,
    work_of_adhesion,
)
from interphases.errors import CalculationError, InterphasesError
from interphases.parsers.schema import CalcResult
from interphases.structures.interface_cells import (
    interface_area,
    interface_at,
    sandwich_at,
    split_interface,
    strained_references,
)
from interphases.structures.interfaces import InterfaceCandidate
from interphases.structures.slabs import SlabRecord, StructureField, generate_slabs, given_slab_miller
from interphases.workflows.engines import get_engine
from interphases.workflows.engines.base import Engine

__all__ = [
    "AdhesionDocument",
    "AdhesionMaker",
    "AdhesionSetDocument",
    "BulkReference",
    "GivenAdhesionDocument",
    "InterfaceEnergyDocument",
    "InterfaceEnergyMaker",
    "InterfaceEnergySetDocument",
    "RegistryScan",
    "SlabSurfaceEnergy",
    "SurfaceEnergyDocument",
    "SurfaceEnergyMaker",
    "check_given_slab",
    "compute_adhesion",
    "compute_given_adhesion",
    "compute_given_slab_surface_energy",
    "compute_interface_energies",
    "compute_surface_energies",
    "registry_scan",
    "split_given_interface",
]

#: force threshold (eV/Å) of bulk relaxations (cheap cells; with a cell filter the threshold
#: also bounds the residual stress, and the lattice constant matters for the strain)
BULK_FMAX = 0.005


def bulk_fmax(fmax: float) -> float:
    """The tighter of ``fmax`` and :data:`BULK_FMAX`, for bulk cells."""
    return min(fmax, BULK_FMAX)


#: gaps (Å) scanned by default: they bracket the 1.7-2.3 Å interplanar distances of metal and Li-salt interfaces
DEFAULT_GAPS = (1.4, 1.8, 2.2, 2.6, 3.0)


# ======================================================================================
# helpers


def _engine(engine: Any) -> Engine:
    return get_engine(engine)


def _provenance(engine: Engine) -> dict[str, Any]:
    try:
        return dict(engine.provenance())
    except Exception as exc:  # noqa: BLE001 - provenance must not stop a result from being stored
        return {"engine": getattr(engine, "name", "?"), "provenance_error": str(exc)}


def _model_name(prov: dict[str, Any]) -> str:
    return str(prov.get("model") or prov.get("code") or prov.get("engine"))


def relax_with(
    engine: Engine,
    structures: Sequence[Structure],
    cells: Sequence[str],
    labels: Sequence[str],
    *,
    fmax: float | Sequence[float],
    max_steps: int,
) -> list[CalcResult]:
    """Relax ``structures`` with one cell mode (and ``fmax``, one for all or one each) per
    structure, in as few engine calls as possible (:meth:`Engine.relax_cells`: one call for
    engines that take a mode and threshold per structure)."""
    return engine.relax_cells(list(structures), list(cells), fmax=fmax, max_steps=max_steps, labels=list(labels))


#: counters of the compute levers (benchmarks read them; reset with :func:`reset_compute_counters`)
COMPUTE_COUNTERS: dict[str, int] = {"deduplicated": 0, "scan_points": 0, "scan_points_full_grid": 0}


def reset_compute_counters() -> None:
    for k in COMPUTE_COUNTERS:
        COMPUTE_COUNTERS[k] = 0


def _slab_frame(structure: Structure, interaction_range: float | None) -> tuple[np.ndarray, float] | None:
    """(unwrapped Cartesian positions, vacuum width) when ``structure`` is a slab whose
    vacuum along c is wider than ``interaction_range`` + 1 Å (positions with the vacuum
    on top), else None."""
    if not interaction_range or len(structure) == 0:
        return None
    m = structure.lattice.matrix
    normal = np.cross(m[0], m[1])
    normal /= np.linalg.norm(normal)
    c_perp = abs(float(m[2] @ normal))
    cart = np.asarray(structure.cart_coords, dtype=float)
    h = np.mod(cart @ normal * np.sign(m[2] @ normal), c_perp)
    order = np.argsort(h)
    hs = h[order]
    gaps = np.diff(np.append(hs, hs[0] + c_perp))
    k = int(np.argmax(gaps))
    vacuum = float(gaps[k])
    if vacuum <= interaction_range + 1.0:
        return None
    bottom = hs[(k + 1) % len(hs)]
    # bring every atom into the slab that starts at ``bottom`` (whole lattice vectors c)
    n_c = np.floor((cart @ normal * np.sign(m[2] @ normal) - bottom + 1e-9) / c_perp)
    return cart - np.outer(n_c, m[2]), vacuum


def _translation_key(structure: Structure, cell: str = "", interaction_range: float | None = None) -> tuple:
    """Key equal for two structures that differ only by a rigid translation (same lattice,
    same species in the same order, same frozen atoms): their energies, forces and
    relaxations are the same (a translated copy), so they are computed once.

    With ``interaction_range`` (an engine whose atoms do not interact beyond it) a slab
    whose vacuum is wider than that range is keyed without its cell height: the same slab
    cut from two interfaces of different gaps or films is then one structure."""
    props = tuple(
        (k, tuple(tuple(map(bool, x)) if k == "selective_dynamics" and x is not None else
                  (tuple(np.ravel(x).tolist()) if x is not None else None) for x in v))
        for k, v in sorted(structure.site_properties.items())
        if k in ("selective_dynamics", "magmom")
    )
    species = tuple(str(sp) for sp in structure.species)
    frame = _slab_frame(structure, interaction_range) if cell in ("", "fixed") else None
    if frame is not None:
        cart, _ = frame
        m = structure.lattice.matrix
        normal = np.cross(m[0], m[1])
        normal /= np.linalg.norm(normal)
        basis = np.array([m[0], m[1], normal])
        coef = np.linalg.solve(basis.T, (cart - cart[0]).T).T  # in-plane fractions, height in Å
        coef[:, :2] = np.round(np.mod(np.round(np.mod(coef[:, :2], 1.0), 6), 1.0), 6)
        coef[:, 2] = np.round(coef[:, 2], 6)
        coef += 0.0  # -0.0 -> 0.0 (the key compares bytes)
        return (cell, "slab", species, tuple(np.round(m[:2], 6).ravel().tolist()), coef.tobytes(), props,
                float(structure.charge or 0.0))
    frac = np.asarray(structure.frac_coords, dtype=float)
    rel = np.round(np.mod(frac - frac[0], 1.0), 6)
    rel = np.round(np.mod(rel, 1.0), 6) + 0.0  # 0.9999996 -> 1.0 -> 0.0; -0.0 -> 0.0 (bytes compared)
    return (
        cell,
        species,
        tuple(np.round(structure.lattice.matrix, 6).ravel().tolist()),
        rel.tobytes(),
        props,
        float(structure.charge or 0.0),
    )


def _unique(structures: Sequence[Structure], cells: Sequence[str] | None = None, enabled: bool = True,
            interaction_range: float | None = None) -> list[int]:
    """For each structure, the index of the first structure equal to it up to a rigid
    translation (:func:`_translation_key`); itself when ``enabled`` is False."""
    if not enabled:
        return list(range(len(structures)))
    seen: dict[tuple, int] = {}
    reps = []
    for i, s in enumerate(structures):
        key = _translation_key(s, cells[i] if cells is not None else "", interaction_range)
        reps.append(seen.setdefault(key, i))
    return reps


def _translated(result: CalcResult, rep_initial: Structure, initial: Structure, label: str | None) -> CalcResult:
    """``result`` (of ``rep_initial``) carried over to ``initial``, a translated copy of it
    (possibly a slab in a cell of another height): every atom moves as the representative's did."""
    final = result.structure
    if final is None or len(initial) == 0 or len(final) != len(initial):
        return result.model_copy(update={"task_label": label})
    same_cell = np.allclose(rep_initial.lattice.matrix, initial.lattice.matrix, atol=1e-6)
    if same_cell or not np.allclose(final.lattice.matrix, rep_initial.lattice.matrix, atol=1e-6):
        # the same cell (the cell may have relaxed): a rigid translation of the final structure
        moved = final.copy()
        shift = np.asarray(initial.cart_coords[0]) - np.asarray(rep_initial.cart_coords[0])
        moved.translate_sites(list(range(len(moved))), shift, frac_coords=False, to_unit_cell=False)
        return result.model_copy(update={"structure": moved, "task_label": label})
    # a slab in a cell of another height (fixed cell): the same displacements, in this cell
    d_frac = final.frac_coords - rep_initial.frac_coords
    d_frac -= np.round(d_frac)  # displacements are shorter than half a cell
    disp = d_frac @ rep_initial.lattice.matrix
    moved = Structure(
        initial.lattice, initial.species, np.asarray(initial.cart_coords) + disp, coords_are_cartesian=True,
        site_properties=initial.site_properties, charge=initial.charge,
    )
    return result.model_copy(update={"structure": moved, "task_label": label})


def _dedup_run(structures: Sequence[Structure], labels: Sequence[str], run: Any, *, cells: Sequence[str] | None = None,
               enabled: bool = True, interaction_range: float | None = None) -> list[CalcResult]:
    """``run(unique_structures, unique_labels[, unique_cells])`` on each distinct structure once
    (equal up to a translation and with the same cell mode), results mapped back to all."""
    structures, labels = list(structures), list(labels)
    reps = _unique(structures, cells, enabled, interaction_range)
    unique = sorted(set(reps))
    COMPUTE_COUNTERS["deduplicated"] += len(structures) - len(unique)
    args = [[structures[k] for k in unique], [labels[k] for k in unique]]
    if cells is not None:
        args.append([cells[k] for k in unique])
    out = run(*args)
    by_rep = dict(zip(unique, out, strict=True))
    return [
        by_rep[r] if r == i else _translated(by_rep[r], structures[r], structures[i], labels[i])
        for i, r in enumerate(reps)
    ]


def _static(eng: Engine, structures: Sequence[Structure], labels: Sequence[str], *, energy_only: bool,
            deduplicate: bool) -> list[CalcResult]:
    """Single points, each distinct structure once; energies only when asked and the engine can."""
    from interphases.workflows.engines.base import _accepts

    extra = {"forces": False} if energy_only and _accepts(eng.static, "forces") else {}
    return _dedup_run(structures, labels, lambda s, lab: eng.static(s, labels=lab, **extra), enabled=deduplicate,
                      interaction_range=_interaction_range(eng))


def _interaction_range(eng: Engine) -> float | None:
    try:
        return eng.interaction_range()
    except Exception:  # noqa: BLE001 - no range known: exact duplicates only
        return None


def _finite(x: float) -> bool:
    return x is not None and math.isfinite(x)


def _status(results: Sequence[CalcResult]) -> tuple[bool, list[str]]:
    errors = [f"{r.task_label or 'structure'}: {r.error}" for r in results if not r.converged]
    return not errors, errors


def _slab_symmetric(structure: Structure) -> bool:
    from interphases.workflows.engines.dft_common import is_symmetric_slab

    return is_symmetric_slab(Structure.from_sites(structure.sites))


def slab_polarity(structure: Structure) -> tuple[bool, float]:
    """(polar, dipole per area in e/Å) of a slab from formal oxidation states (see
    :func:`interphases.structures.slabs.slab_dipole`); metals are never polar."""
    from interphases.structures.slabs import DIPOLE_TOL, oxidation_states, slab_dipole

    charges = oxidation_states(structure)
    if not any(charges.values()):
        return False, 0.0
    dipole, _ = slab_dipole(Structure.from_sites(structure.sites), charges)
    return abs(dipole) > DIPOLE_TOL, float(dipole)


def _has_frozen(structure: Structure) -> bool:
    from interphases.parsers.schema import fixed_indices

    return bool(fixed_indices(structure))


def _miller(m: Sequence[int]) -> str:
    return "(" + ",".join(str(int(i)) for i in m) + ")"


# ======================================================================================
# documents


class BulkReference(BaseModel):
    """One bulk reference energy."""

    label: str
    formula: str
    cell: str = Field(description="'full' (stress-free), 'z' (strained in plane, relaxed along z) or 'fixed'.")
    n_atoms: int
    energy: float = Field(description="Total energy, eV.")
    energy_per_atom: float = Field(description="eV/atom.")
    converged: bool
    n_steps: int = 0
    error: str | None = None
    lattice_abc: tuple[float, float, float]
    initial_structure: StructureField
    structure: StructureField

    @classmethod
    def from_result(cls, label: str, cell: str, initial: Structure, result: CalcResult) -> BulkReference:
        return cls(
            label=label,
            formula=initial.composition.reduced_formula,
            cell=cell,
            n_atoms=len(initial),
            energy=result.energy,
            energy_per_atom=result.energy / len(initial),
            converged=result.converged,
            n_steps=result.n_steps,
            error=result.error,
            lattice_abc=tuple(float(x) for x in result.structure.lattice.abc),
            initial_structure=initial,
            structure=result.structure,
        )


class SlabSurfaceEnergy(BaseModel):
    """gamma of one slab (one facet, one termination)."""

    miller_index: tuple[int, int, int]
    termination: str
    shift: float
    symmetric: bool
    stoichiometric: bool
    tasker_type: int | None
    polar: bool
    area: float = Field(description="Å^2")
    n_atoms: int
    n_fixed: int
    thickness: float = Field(description="Å")
    vacuum: float = Field(description="Å")
    surface_energy: float | None = Field(description="eV/Å^2 (None: not defined, see note).")
    surface_energy_j_per_m2: float | None
    unrelaxed_surface_energy_j_per_m2: float | None = None
    convention: str | None = None
    lowest_of_facet: bool = False
    converged: bool
    n_steps: int = 0
    note: str | None = None
    slab_energy: float | None = None
    unrelaxed_slab_energy: float | None = None
    initial_structure: StructureField
    structure: StructureField | None = None


class SurfaceEnergyDocument(BaseModel):
    """Surface energies of one bulk phase, every facet and termination requested."""

    task_label: str
    formula: str
    bulk: BulkReference
    surfaces: list[SlabSurfaceEnergy]
    provenance: dict[str, Any]
    parameters: dict[str, Any]

    def lowest(self) -> dict[tuple[int, int, int], SlabSurfaceEnergy]:
        """The lowest-energy termination of each facet."""
        return {s.miller_index: s for s in self.surfaces if s.lowest_of_facet}

    def summary_rows(self) -> list[dict[str, Any]]:
        rows = []
        for s in self.surfaces:
            if s.surface_energy_j_per_m2 is None:
                continue
            rows.append(
                {
                    "kind": "surface_energy",
                    "formulas": [self.formula],
                    "miller": [list(s.miller_index)],
                    "value": s.surface_energy_j_per_m2,
                    "units": "J/m^2",
                    "engine": self.provenance.get("engine"),
                    "model": _model_name(self.provenance),
                    "termination": s.termination,
                    "lowest_of_facet": s.lowest_of_facet,
                    "symmetric": s.symmetric,
                    "stoichiometric": s.stoichiometric,
                    "tasker_type": s.tasker_type,
                    "convention": s.convention,
                    "area": s.area,
                    "n_atoms": s.n_atoms,
                    "converged": s.converged,
                }
            )
        return rows


class RegistryScan(BaseModel):
    """Single-point energies of one candidate over in-plane shifts x gaps (slab model)."""

    candidate_id: str
    shifts: list[tuple[float, float]] = Field(description="In-plane registries, fractions of a and b.")
    shift_kinds: list[str]
    gaps: list[float] = Field(description="Å")
    energies: list[list[float]] = Field(description="E_AB[shift][gap], eV (NaN: failed).")
    substrate_slab_energy: float = Field(description="Isolated substrate slab as cut, eV.")
    film_slab_energy: float = Field(description="Isolated film slab as cut, eV.")
    area: float
    work_of_adhesion: list[list[float]] = Field(description="Unrelaxed W_ad[shift][gap], J/m^2.")
    best_shift: tuple[float, float]
    best_gap: float
    best_energy: float
    ranked: list[tuple[int, int]] = Field(description="(shift index, gap index), lowest energy first, one per shift.")
    optimal_gaps: list[float] = Field(
        description="Per shift: the gap of lowest energy, refined by a parabola through the grid minimum and "
        "its two neighbours when the minimum is inside the scanned range, Å."
    )
    notes: list[str] = Field(default_factory=list)
    search: str = Field("grid", description="'grid': every (shift, gap); 'reduced': coarse-to-fine (NaN = not computed).")
    n_points: int | None = Field(None, description="(shift, gap) single points computed.")


class RegistryScanSet(BaseModel):
    scans: list[RegistryScan]
    provenance: dict[str, Any]


class AdhesionDocument(BaseModel):
    """Work of adhesion of one interface candidate (slab model, one interface)."""

    task_label: str
    candidate_id: str
    substrate_formula: str
    film_formula: str
    substrate_miller: tuple[int, int, int]
    film_miller: tuple[int, int, int]
    substrate_plane: str
    film_plane: str
    von_mises_strain: float
    max_linear_strain: float
    area: float = Field(description="Interface area S, Å^2.")
    n_atoms: int
    n_atoms_substrate: int
    n_atoms_film: int
    n_interfaces: int = 1
    shift: tuple[float, float] = Field(description="Chosen in-plane registry (fractions of a, b).")
    gap: float = Field(description="Chosen starting gap, Å.")
    relaxed: bool
    interface_energy: float = Field(description="E_AB, eV.")
    substrate_slab_energy: float = Field(description="E_A,slab (same cell), eV.")
    film_slab_energy: float = Field(description="E_B,slab (same cell), eV.")
    unrelaxed_substrate_slab_energy: float
    unrelaxed_film_slab_energy: float
    work_of_adhesion: float = Field(description="eV/Å^2")
    work_of_adhesion_j_per_m2: float
    unrelaxed_work_of_adhesion_j_per_m2: float = Field(description="Best grid point of the scan, before relaxation.")
    substrate_symmetric: bool
    film_symmetric: bool
    substrate_bottom_frozen: bool
    substrate_polar: bool = Field(False, description="The isolated substrate slab has a dipole normal to the surface (formal charges).")
    film_polar: bool = Field(False, description="The isolated film slab has a dipole normal to the surface (Tasker type 3 cut).")
    converged: bool
    errors: list[str] = Field(default_factory=list)
    n_steps: dict[str, int] = Field(default_factory=dict)
    scan: RegistryScan
    relaxed_registries: list[dict[str, Any]] = Field(
        default_factory=list, description="Registries relaxed (relax_top > 1): shift, gap, relaxed E_AB."
    )
    interface_initial: StructureField
    substrate_slab_initial: StructureField
    film_slab_initial: StructureField
    interface_structure: StructureField
    substrate_slab_structure: StructureField
    film_slab_structure: StructureField
    provenance: dict[str, Any]
    parameters: dict[str, Any]

    def summary_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": "work_of_adhesion",
                "formulas": [self.substrate_formula, self.film_formula],
                "miller": [list(self.substrate_miller), list(self.film_miller)],
                "value": self.work_of_adhesion_j_per_m2,
                "units": "J/m^2",
                "engine": self.provenance.get("engine"),
                "model": _model_name(self.provenance),
                "candidate_id": self.candidate_id,
                "terminations": f"{self.substrate_plane}|{self.film_plane}",
                "area": self.area,
                "n_atoms": self.n_atoms,
                "von_mises_strain": self.von_mises_strain,
                "max_linear_strain": self.max_linear_strain,
                "shift": list(self.shift),
                "gap": self.gap,
                "relaxed": self.relaxed,
                "converged": self.converged,
                "polar": self.substrate_polar or self.film_polar,
                "unrelaxed_value": self.unrelaxed_work_of_adhesion_j_per_m2,
            }
        ]


class AdhesionSetDocument(BaseModel):
    """Works of adhesion of many candidates, computed together."""

    task_label: str
    results: list[AdhesionDocument]

    def summary_rows(self) -> list[dict[str, Any]]:
        return [row for r in self.results for row in r.summary_rows()]


class InterfaceEnergyDocument(BaseModel):
    """Eq. 14-18 decomposition of one interface candidate."""

    task_label: str
    candidate_id: str
    substrate_formula: str
    film_formula: str
    substrate_miller: tuple[int, int, int]
    film_miller: tuple[int, int, int]
    terminations: str
    von_mises_strain: float
    energetics: InterfaceEnergetics
    formation_energy_j_per_m2: float
    interfacial_energy_j_per_m2: float
    elastic_energy_mev_per_a3: float
    work_of_adhesion_j_per_m2: float | None
    work_of_adhesion_eq18_j_per_m2: float | None
    eq18_difference_j_per_m2: float | None
    eq18_note: str
    references: list[BulkReference]
    sandwich_initial: StructureField
    sandwich_structure: StructureField
    sandwich_converged: bool
    sandwich_n_steps: int
    second_interface: str = Field(description="Planes meeting at the sandwich's second interface (film top | substrate bottom).")
    converged: bool
    errors: list[str] = Field(default_factory=list)
    provenance: dict[str, Any]
    parameters: dict[str, Any]

    def summary_rows(self) -> list[dict[str, Any]]:
        base = {
            "formulas": [self.substrate_formula, self.film_formula],
            "miller": [list(self.substrate_miller), list(self.film_miller)],
            "engine": self.provenance.get("engine"),
            "model": _model_name(self.provenance),
            "candidate_id": self.candidate_id,
            "terminations": self.terminations,
            "area": self.energetics.area,
            "n_atoms": self.energetics.n_atoms_substrate + self.energetics.n_atoms_film,
            "von_mises_strain": self.von_mises_strain,
            "converged": self.converged,
        }
        rows = [
            {"kind": "interfacial_energy", "value": self.interfacial_energy_j_per_m2, "units": "J/m^2", **base},
            {
                "kind": "interface_formation_energy",
                "value": self.formation_energy_j_per_m2,
                "units": "J/m^2",
                "total_eV": self.energetics.formation_energy,
                **base,
            },
            {
                "kind": "elastic_energy",
                "value": self.elastic_energy_mev_per_a3,
                "units": "meV/A^3",
                "total_eV": self.energetics.elastic_energy,
                **base,
            },
        ]
        if self.work_of_adhesion_eq18_j_per_m2 is not None:
            rows.append(
                {
                    "kind": "work_of_adhesion_eq18",
                    "value": self.work_of_adhesion_eq18_j_per_m2,
                    "units": "J/m^2",
                    "direct_value": self.work_of_adhesion_j_per_m2,
                    "difference": self.eq18_difference_j_per_m2,
                    **base,
                }
            )
        return rows


class InterfaceEnergySetDocument(BaseModel):
    task_label: str
    results: list[InterfaceEnergyDocument]

    def summary_rows(self) -> list[dict[str, Any]]:
        return [row for r in self.results for row in r.summary_rows()]


# ======================================================================================
# surface energy


def _bulk_reference(eng: Engine, bulk: Structure, name: str, relax_bulk: bool, fmax: float,
                    max_steps: int) -> BulkReference:
    """The bulk reference of a surface energy: relaxed (cell and atoms, to :func:`bulk_fmax`)
    or a single point; raises :class:`CalculationError` when it has no energy."""
    if relax_bulk:
        (result,) = eng.relax([bulk], cell="full", fmax=bulk_fmax(fmax), max_steps=max_steps, labels=[f"{name}-bulk"])
    else:
        (result,) = eng.static([bulk], labels=[f"{name}-bulk"])
    if not _finite(result.energy):
        raise CalculationError(f"bulk {bulk.composition.reduced_formula}: no energy ({result.error})")
    return BulkReference.from_result(f"{name}-bulk", "full" if relax_bulk else "fixed", bulk, result)


def compute_surface_energies(
    bulk: Structure,
    engine: Any = "mlip",
    *,
    max_index: int = 1,
    miller_indices: Sequence[Sequence[int]] | None = None,
    min_thickness: float = 10.0,
    vacuum: float = 15.0,
    fixed_fraction: float = 0.5,
    fixed_thickness: float | None = None,
    relax_bulk: bool = True,
    relax_slabs: bool = True,
    fmax: float = 0.05,
    max_steps: int = 300,
    chemical_potentials: dict[str, float] | None = None,
    symmetric: bool = True,
    label: str | None = None,
) -> SurfaceEnergyDocument:
    """The work of :class:`SurfaceEnergyMaker`, callable without jobflow. ``bulk``: a
    Structure, or a library name / file / MP id (:func:`interphases.structures.load_structure`)."""
    if not isinstance(bulk, Structure):
        from interphases.structures import load_structure

        label = label or str(bulk)
        bulk = load_structure(str(bulk))
    eng = _engine(engine)
    formula = bulk.composition.reduced_formula
    name = label or formula
    bulk_ref = _bulk_reference(eng, bulk, name, relax_bulk, fmax, max_steps)
    records: list[SlabRecord] = generate_slabs(
        bulk_ref.structure,
        max_index=max_index,
        miller_indices=miller_indices,
        min_thickness=min_thickness,
        vacuum=vacuum,
        symmetric=symmetric,
        fixed_thickness=fixed_thickness,
        fixed_fraction=fixed_fraction if relax_slabs else 0.0,
    )
    slabs = [r.slab for r in records]
    plain = [Structure.from_sites(s.sites) for s in slabs]
    labels = [f"{name}-{r.label}-{i}" for i, r in enumerate(records)]
    statics = eng.static(plain, labels=[f"{lab}-unrelaxed" for lab in labels])
    relaxed = (
        eng.relax(plain, cell="fixed", fmax=fmax, max_steps=max_steps, labels=labels) if relax_slabs else statics
    )
    surfaces: list[SlabSurfaceEnergy] = []
    for rec, slab, st, rx in zip(records, plain, statics, relaxed, strict=True):
        note = None
        gamma = unrelaxed = None
        convention = None
        frozen = relax_slabs and rec.n_fixed > 0
        try:
            if not _finite(rx.energy) or not _finite(st.energy):
                raise InterphasesError(f"no energy: {rx.error or st.error}")
            se = surface_energy(
                rx.energy,
                slab.composition,
                bulk_ref.energy_per_atom,
                bulk.composition,
                rec.area,
                unrelaxed_slab_energy=st.energy,
                bottom_frozen=frozen,
                symmetric=rec.symmetric,
                chemical_potentials=chemical_potentials,
            )
            gamma, unrelaxed, convention = se.value, se.unrelaxed_value, se.convention
        except InterphasesError as exc:
            note = str(exc)
        if not rx.converged and note is None:
            note = rx.error
        surfaces.append(
            SlabSurfaceEnergy(
                miller_index=rec.miller_index,
                termination=rec.termination,
                shift=rec.shift,
                symmetric=rec.symmetric,
                stoichiometric=rec.stoichiometric,
                tasker_type=rec.tasker_type,
                polar=rec.polar,
                area=rec.area,
                n_atoms=rec.n_atoms,
                n_fixed=rec.n_fixed if relax_slabs else 0,
                thickness=rec.thickness,
                vacuum=rec.vacuum,
                surface_energy=gamma,
                surface_energy_j_per_m2=j_per_m2(gamma) if gamma is not None else None,
                unrelaxed_surface_energy_j_per_m2=j_per_m2(unrelaxed) if unrelaxed is not None else None,
                convention=convention,
                converged=bool(rx.converged and st.converged),
                n_steps=rx.n_steps,
                note=note,
                slab_energy=rx.energy if _finite(rx.energy) else None,
                unrelaxed_slab_energy=st.energy if _finite(st.energy) else None,
                initial_structure=rec.slab,
                structure=rx.structure if relax_slabs else None,
            )
        )
    by_facet: dict[tuple, list[SlabSurfaceEnergy]] = {}
    for s in surfaces:
        if s.surface_energy is not None:
            by_facet.setdefault(s.miller_index, []).append(s)
    for group in by_facet.values():
        min(group, key=lambda s: s.surface_energy).lowest_of_facet = True
    prov = _provenance(eng)
    return SurfaceEnergyDocument(
        task_label=f"surface energy: {name}",
        formula=formula,
        bulk=bulk_ref,
        surfaces=surfaces,
        provenance=prov,
        parameters=dict(
            max_index=max_index,
            miller_indices=[list(m) for m in miller_indices] if miller_indices else None,
            min_thickness=min_thickness,
            vacuum=vacuum,
            fixed_fraction=fixed_fraction,
            fixed_thickness=fixed_thickness,
            relax_bulk=relax_bulk,
            relax_slabs=relax_slabs,
            fmax=fmax,
            max_steps=max_steps,
            chemical_potentials=chemical_potentials,
            symmetric=symmetric,
        ),
    )


# -------------------------------------------------------------------------------------- a slab given as a file


def check_given_slab(slab: Structure, bulk: Structure, chemical_potentials: dict[str, float] | None) -> None:
    """One-line errors, before any computation, for a 'slab' that is not one or not a cut of ``bulk``."""
    from interphases.analysis.energetics import slab_bulk_units
    from interphases.structures.bulk import classify_structure

    kind = classify_structure(slab)
    sf, bf = slab.composition.reduced_formula, bulk.composition.reduced_formula
    if kind == "bulk":
        raise InterphasesError(
            f"the slab {sf} ({len(slab)} atoms) has no vacuum along c: it is a bulk; give it as the phase to cut slabs from"
        )
    if kind == "interface":
        raise InterphasesError(
            f"the slab {slab.composition.formula.replace(' ', '')} is two stacked phases (an interface): "
            "its work of adhesion is `interphases adhesion FILE`; a surface energy needs a slab of one phase"
        )
    if classify_structure(bulk) != "bulk":
        raise InterphasesError(f"the bulk reference {bf} has vacuum along c (a slab or interface file): give a bulk")
    try:
        slab_bulk_units(slab.composition, bulk.composition, chemical_potentials)
    except InterphasesError as exc:
        if chemical_potentials:
            raise
        raise InterphasesError(
            f"the slab {slab.composition.formula.replace(' ', '')} is not stoichiometric: its composition is not a whole "
            f"multiple of the bulk formula {bf}, so its surface energy depends on chemical potentials; give a "
            f"stoichiometric slab (or chemical_potentials= in Python)"
        ) from exc


def compute_given_slab_surface_energy(
    slab: Structure,
    bulk: Structure | str,
    engine: Any = "mlip",
    *,
    relax_bulk: bool = True,
    relax_slab: bool = True,
    fmax: float = 0.05,
    max_steps: int = 300,
    chemical_potentials: dict[str, float] | None = None,
    miller_index: Sequence[int] | None = None,
    label: str | None = None,
) -> SurfaceEnergyDocument:
    """gamma of a slab given as it is (a file with vacuum: nothing is cut, moved or frozen).

    gamma = (E_slab - n E_bulk,fu) / 2A with n bulk formula units in the slab and A = |a x b|
    (:func:`interphases.analysis.energetics.surface_energy`, as :func:`compute_surface_energies`):
    the single point of the slab as given (``unrelaxed_surface_energy_j_per_m2``) and, with
    ``relax_slab``, its relaxation in the given cell, the atoms the file freezes
    (``selective_dynamics``) kept fixed: then only the top surface relaxes (the top-surface
    convention of a symmetric slab); with nothing frozen every atom relaxes (both surfaces,
    a note says so). An asymmetric slab gives the mean of its two surfaces (``convention``).
    ``bulk``: a bulk Structure or a name / file / MP id; relaxed (``relax_bulk``) or a single
    point. ``miller_index``: a label for the facet; default the facet of the (relaxed) bulk
    whose lattice mesh the slab's in-plane cell matches (:func:`given_slab_miller`), (0, 0, 0)
    when none or several do. A non-stoichiometric slab needs ``chemical_potentials``.
    """
    from interphases.parsers.schema import fixed_indices
    from interphases.structures.slabs import describe_given_slab, is_stoichiometric

    if not isinstance(bulk, Structure):
        from interphases.structures import load_structure

        bulk = load_structure(str(bulk))
    slab = slab.copy()
    check_given_slab(slab, bulk, chemical_potentials)
    eng = _engine(engine)
    formula = bulk.composition.reduced_formula
    name = label or f"{slab.composition.reduced_formula}-slab"
    notes: list[str] = []
    bulk_ref = _bulk_reference(eng, bulk, name, relax_bulk, fmax, max_steps)
    if miller_index is None:
        fits = given_slab_miller(slab, bulk_ref.structure)
        if len(fits) == 1:
            miller_index = fits[0]
        else:
            notes.append(
                f"the in-plane cell fits the lattice mesh of {', '.join(map(_miller, fits))} of the bulk: facet not named"
                if fits else
                "the in-plane cell fits no facet of the (relaxed) bulk up to index 2 within 2 %: strained or "
                "another phase, gamma includes that strain energy"
            )
            miller_index = (0, 0, 0)
    miller_index = tuple(int(i) for i in miller_index)
    d = describe_given_slab(Structure.from_sites(slab.sites))
    symmetric = _slab_symmetric(slab)
    n_fixed = len(fixed_indices(slab))
    frozen = relax_slab and n_fixed > 0
    if relax_slab and not n_fixed:
        notes.append("nothing frozen in the file: every atom relaxed (both surfaces)")
    if not symmetric:
        notes.append("asymmetric slab: gamma is the mean of its two surfaces")
    if d["polar"]:
        notes.append("polar slab (formal charges): its gamma depends on thickness, not comparable")
    plain = Structure.from_sites(slab.sites)
    (st,) = eng.static([plain], labels=[f"{name}-unrelaxed"])
    if relax_slab:
        (rx,) = eng.relax([plain], cell="fixed", fmax=fmax, max_steps=max_steps, labels=[name])
    else:
        rx = st
    if not _finite(rx.energy) or not _finite(st.energy):
        raise CalculationError(f"slab {name}: no energy ({rx.error or st.error})")
    se = surface_energy(
        rx.energy, slab.composition, bulk_ref.energy_per_atom, bulk.composition, d["area"],
        unrelaxed_slab_energy=st.energy, bottom_frozen=frozen, symmetric=symmetric,
        chemical_potentials=chemical_potentials,
    )
    gamma, unrelaxed, convention = se.value, se.unrelaxed_value, se.convention
    if not rx.converged:
        notes.append(f"relaxation not converged: {rx.error}")
    termination = (d["top_termination"] if d["top_termination"] == d["bottom_termination"]
                   else f"{d['top_termination']}|{d['bottom_termination']}")
    surface = SlabSurfaceEnergy(
        miller_index=miller_index,
        termination=termination,
        shift=0.0,
        symmetric=symmetric,
        stoichiometric=is_stoichiometric(slab, bulk),
        tasker_type=None,
        polar=bool(d["polar"]),
        area=d["area"],
        n_atoms=len(slab),
        n_fixed=n_fixed if relax_slab else 0,
        thickness=d["thickness"],
        vacuum=d["vacuum"],
        surface_energy=gamma,
        surface_energy_j_per_m2=j_per_m2(gamma),
        unrelaxed_surface_energy_j_per_m2=j_per_m2(unrelaxed) if unrelaxed is not None else None,
        convention=convention,
        lowest_of_facet=True,
        converged=bool(rx.converged and st.converged),
        n_steps=rx.n_steps,
        note="; ".join(notes) or None,
        slab_energy=rx.energy,
        unrelaxed_slab_energy=st.energy,
        initial_structure=slab,
        structure=rx.structure if relax_slab else None,
    )
    return SurfaceEnergyDocument(
        task_label=f"surface energy: {name} (given slab) on {formula}",
        formula=formula,
        bulk=bulk_ref,
        surfaces=[surface],
        provenance=_provenance(eng),
        parameters=dict(given_slab=True, relax_bulk=relax_bulk, relax_slabs=relax_slab, fmax=fmax,
                        max_steps=max_steps, chemical_potentials=chemical_potentials),
    )


@dataclass
class SurfaceEnergyMaker(Maker):
    """Surface energies of a bulk phase: bulk relax -> slabs -> slab relax -> gamma.

    gamma = (E_slab - N e_bulk) / 2A for a slab relaxed on both sides; with the bottom
    planes frozen (``fixed_fraction`` > 0, the default) the relaxed top surface gets
    gamma_top = (E_unrelaxed - N e_bulk) / 2A + (E_slab - E_unrelaxed) / A. Asymmetric
    slabs (when no symmetric slab of a cut exists) give the mean of their two surfaces
    (``convention`` says so); non-stoichiometric ones need ``chemical_potentials``
    (eV/atom of the excess elements), else gamma is None with a note.
    See :mod:`interphases.analysis.energetics`. ``make_given(slab, bulk)``: gamma of a slab
    given as a file, used as it is (:func:`compute_given_slab_surface_energy`).
    """

    name: str = "surface energy"
    engine: Any = "mlip"
    max_index: int = 1
    miller_indices: list[tuple[int, int, int]] | None = None
    min_thickness: float = 10.0
    vacuum: float = 15.0
    fixed_fraction: float = 0.5
    fixed_thickness: float | None = None
    relax_bulk: bool = True
    relax_slabs: bool = True
    fmax: float = 0.05
    max_steps: int = 300
    chemical_potentials: dict[str, float] | None = None
    symmetric: bool = True

    @job(data=["initial_structure", "structure"])
    def make(self, bulk: Structure | str, label: str | None = None) -> SurfaceEnergyDocument:
        return compute_surface_energies(
            bulk,
            self.engine,
            max_index=self.max_index,
            miller_indices=self.miller_indices,
            min_thickness=self.min_thickness,
            vacuum=self.vacuum,
            fixed_fraction=self.fixed_fraction,
            fixed_thickness=self.fixed_thickness,
            relax_bulk=self.relax_bulk,
            relax_slabs=self.relax_slabs,
            fmax=self.fmax,
            max_steps=self.max_steps,
            chemical_potentials=self.chemical_potentials,
            symmetric=self.symmetric,
            label=label,
        )

    @job(data=["initial_structure", "structure"])
    def make_given(self, slab: Structure, bulk: Structure | str, label: str | None = None,
                   miller_index: tuple[int, int, int] | None = None) -> SurfaceEnergyDocument:
        """gamma of ``slab`` used as given (nothing cut; its frozen atoms kept), against
        ``bulk``: see :func:`compute_given_slab_surface_energy`. Uses ``engine``,
        ``relax_bulk``, ``relax_slabs``, ``fmax``, ``max_steps`` and ``chemical_potentials``."""
        return compute_given_slab_surface_energy(
            slab,
            bulk,
            self.engine,
            relax_bulk=self.relax_bulk,
            relax_slab=self.relax_slabs,
            fmax=self.fmax,
            max_steps=self.max_steps,
            chemical_potentials=self.chemical_potentials,
            miller_index=miller_index,
            label=label,
        )


# ======================================================================================
# work of adhesion


def _as_list(candidates: Any) -> list[InterfaceCandidate]:
    if isinstance(candidates, InterfaceCandidate):
        return [candidates]
    if hasattr(candidates, "candidates"):  # a CandidateSet
        return list(candidates.candidates)
    out = list(candidates)
    for c in out:
        if not isinstance(c, InterfaceCandidate):
            raise InterphasesError(f"expected InterfaceCandidate records, got {type(c).__name__}")
    return out


def optimal_gap(gaps: Sequence[float], energies: Sequence[float]) -> float:
    """Gap of lowest energy: the vertex of the parabola through the grid minimum and its
    neighbours when the minimum is inside the range and the parabola is convex, else the
    grid value. NaN energies are ignored."""
    g = np.asarray(gaps, dtype=float)
    e = np.asarray(energies, dtype=float)
    if np.all(np.isnan(e)):
        return float("nan")
    j = int(np.nanargmin(e))
    if 0 < j < len(g) - 1 and np.isfinite(e[j - 1 : j + 2]).all():
        a, b, _ = np.polyfit(g[j - 1 : j + 2], e[j - 1 : j + 2], 2)
        if a > 0:
            vertex = -b / (2 * a)
            if g[j - 1] <= vertex <= g[j + 1]:
                return float(vertex)
    return float(g[j])


def _reduced_gap_search(grid: np.ndarray, done: np.ndarray, refine_top: int | None) -> Any:
    """Coarse-to-fine search of the (shift, gap) grid, filled in place (``done`` marks computed points).

    1. every registry at the two central gaps (coarse);
    2. the ``refine_top`` registries lowest so far (``None``: all) descend along the gap:
       the neighbours of their lowest point are computed until that point has both
       neighbours (or is at the edge), so each refined registry ends at a minimum of the
       grid along the gap, with the neighbours the parabola of :func:`optimal_gap` needs;
    3. cross-check: every registry not refined is computed at the best gap found; one
       that is lower there than the best refined energy is refined too (and so on), so a
       registry whose energy falls faster with the gap than the coarse points showed is
       not missed.
    A generator: it yields the (shift index, gap index) points it needs next; the caller
    computes them (several candidates' points in one engine call), fills ``grid`` and
    ``done``, and resumes it.
    """
    n_shift, n_gap = grid.shape
    centre = [(n_gap - 1) // 2, n_gap // 2] if n_gap > 1 else [0]
    yield [(i, j) for i in range(n_shift) for j in dict.fromkeys(centre)]

    def best(i: int) -> float:
        row = np.where(done[i], grid[i], np.nan)
        return float(np.nanmin(row)) if np.isfinite(row).any() else np.inf

    probe = [best(i) for i in range(n_shift)]
    refined: set[int] = set()
    order = sorted(range(n_shift), key=lambda i: probe[i])
    top = n_shift if refine_top is None else max(1, int(refine_top))
    todo = [i for i in order[:top] if np.isfinite(probe[i])]
    while todo:
        refined.update(todo)
        active = list(todo)
        while active:  # descend: all active registries step together (one engine call per round)
            points = []
            for i in active:
                row = np.where(done[i], grid[i], np.nan)
                if not np.isfinite(row).any():
                    continue
                j = int(np.nanargmin(row))
                points += [(i, jj) for jj in (j - 1, j + 1) if 0 <= jj < n_gap and not done[i, jj]]
            if not points:
                break
            yield points
            active = sorted({i for i, _ in points})
        finite = [i for i in refined if np.isfinite(best(i))]
        if not finite:
            return
        ib = min(finite, key=best)
        e_best = best(ib)
        jb = int(np.nanargmin(np.where(done[ib], grid[ib], np.nan)))
        others = [i for i in order if i not in refined and np.isfinite(probe[i])]
        need = [(i, jb) for i in others if not done[i, jb]]
        if need:
            yield need
        todo = [i for i in others if best(i) <= e_best]


def registry_scan(
    candidates: Sequence[InterfaceCandidate],
    engine: Any = "mlip",
    *,
    gaps: Sequence[float] = DEFAULT_GAPS,
    max_registries: int | None = None,
    vacuum: float | None = None,
    fixed_fraction: float = 0.5,
    search: str = "grid",
    refine_top: int | None = None,
    energy_only: bool = True,
    deduplicate: bool = True,
) -> RegistryScanSet:
    """Single points of every candidate at its (registry, gap) points, batched.

    The isolated substrate and film slabs (as cut, unrelaxed) are computed in the same
    call; the unrelaxed W_ad(shift, gap) landscape follows. ``max_registries`` keeps the
    first registries of each candidate (adsorption-site shifts come before grid ones).

    ``search="grid"`` computes every (shift, gap) point in one engine call;
    ``search="reduced"`` computes a coarse-to-fine subset (:func:`_reduced_gap_search`; a
    few engine calls, each batched over all candidates); the points not computed are NaN.
    With ``refine_top=None`` (default) every registry descends along the gap from the two
    central gaps: each registry's grid minimum (and the parabola's neighbours) is found
    exactly when its energy has one minimum along the gap (3 of 4 gaps, 4-5 of 8 in the
    tests); ``refine_top=k`` refines only the k lowest registries plus those the
    cross-check at the best gap finds (fewer points, a heuristic). ``energy_only``: the single points skip the forces (engines that support it).
    ``deduplicate``: a structure equal to another up to a translation (the same slab of
    two candidates) is computed once.
    """
    eng = _engine(engine)
    cands = _as_list(candidates)
    if not gaps or any(g <= 0 for g in gaps):
        raise InterphasesError(f"gaps must be positive distances in Å, got {list(gaps)}")
    if search not in ("grid", "reduced"):
        raise InterphasesError(f"search must be 'grid' or 'reduced', got {search!r}")

    def run(structures: list[Structure], labels: list[str]) -> list[CalcResult]:
        return _static(eng, structures, labels, energy_only=energy_only, deduplicate=deduplicate)

    structures: list[Structure] = []
    labels: list[str] = []
    layout = []
    for c in cands:
        shifts = list(c.in_plane_shifts)[: max_registries or None]
        kinds = list(c.shift_kinds)[: len(shifts)]
        base = interface_at(c, shifts[0], gaps[0], cell_model="slab", vacuum=vacuum, fixed_fraction=fixed_fraction)
        sub, film = split_interface(base)
        structures += [sub, film]
        labels += [f"{c.candidate_id}-substrate", f"{c.candidate_id}-film"]
        layout.append((c, shifts, kinds, np.full((len(shifts), len(gaps)), np.nan),
                       np.zeros((len(shifts), len(gaps)), dtype=bool)))
    COMPUTE_COUNTERS["scan_points_full_grid"] += sum(g.size for _, _, _, g, _ in layout)

    def points_of(todo: list[tuple[int, list[tuple[int, int]]]], extra: tuple[list, list] = ([], [])) -> list[CalcResult]:
        """Single points of (candidate index, [(shift, gap), ...]) plus ``extra`` structures, one engine call."""
        structs, labs = list(extra[0]), list(extra[1])
        for n, pts in todo:
            c, shifts = layout[n][0], layout[n][1]
            for i, j in pts:
                structs.append(
                    interface_at(c, shifts[i], gaps[j], cell_model="slab", vacuum=vacuum, fixed_fraction=fixed_fraction)
                )
                labs.append(f"{c.candidate_id}-scan-{i}-{j}")
        out = run(structs, labs)
        k = len(extra[0])
        for n, pts in todo:
            grid, done = layout[n][3], layout[n][4]
            for i, j in pts:
                e = out[k].energy
                grid[i, j] = e if _finite(e) else np.nan
                done[i, j] = True
                k += 1
        COMPUTE_COUNTERS["scan_points"] += sum(len(p) for _, p in todo)
        return out[: len(extra[0])]

    if search == "grid":
        slab_results = points_of(
            [(n, [(i, j) for i in range(len(layout[n][1])) for j in range(len(gaps))]) for n in range(len(layout))],
            (structures, labels),
        )
    else:
        slab_results = run(structures, labels)
        # the searches of all candidates advance together: one engine call per round
        searches = {n: _reduced_gap_search(layout[n][3], layout[n][4], refine_top) for n in range(len(layout))}
        requests = {n: next(g) for n, g in searches.items()}
        while requests:
            points_of(sorted(requests.items()))
            nxt = {}
            for n in requests:
                try:
                    nxt[n] = searches[n].send(None)
                except StopIteration:
                    pass
            requests = nxt

    scans = []
    for n, (c, shifts, kinds, grid, done) in enumerate(layout):
        e_sub, e_film = slab_results[2 * n].energy, slab_results[2 * n + 1].energy
        if not (_finite(e_sub) and _finite(e_film)):
            raise CalculationError(
                f"candidate {c.candidate_id}: isolated slab energies failed "
                f"({slab_results[2 * n].error or slab_results[2 * n + 1].error})"
            )
        if np.all(np.isnan(grid)):
            raise CalculationError(f"candidate {c.candidate_id}: every registry single point failed")
        area = float(c.area)
        w = (e_sub + e_film - grid) / area * EV_PER_A2_TO_J_PER_M2
        per_shift = [(i, int(np.nanargmin(grid[i]))) for i in range(len(shifts)) if not np.all(np.isnan(grid[i]))]
        per_shift.sort(key=lambda ij: grid[ij])
        bi, bj = per_shift[0]
        optimal = [optimal_gap(gaps, grid[i]) for i in range(len(shifts))]
        notes = []
        if len(gaps) > 1 and bj in (0, len(gaps) - 1):
            notes.append(
                f"the lowest energy is at the edge of the scanned gaps ({gaps[bj]} Å): widen the gap range"
            )
        if search == "reduced":
            notes.append(f"coarse-to-fine scan: {int(done.sum())} of {done.size} (shift, gap) points computed")
        scans.append(
            RegistryScan(
                candidate_id=c.candidate_id,
                shifts=[tuple(s) for s in shifts],
                shift_kinds=kinds,
                gaps=[float(g) for g in gaps],
                energies=grid.tolist(),
                substrate_slab_energy=e_sub,
                film_slab_energy=e_film,
                area=area,
                work_of_adhesion=w.tolist(),
                best_shift=tuple(shifts[bi]),
                best_gap=float(gaps[bj]),
                best_energy=float(grid[bi, bj]),
                ranked=per_shift,
                optimal_gaps=optimal,
                notes=notes,
                search=search,
                n_points=int(done.sum()),
            )
        )
    return RegistryScanSet(scans=scans, provenance=_provenance(eng))


def compute_adhesion(
    candidates: Sequence[InterfaceCandidate],
    scans: RegistryScanSet | Sequence[RegistryScan],
    engine: Any = "mlip",
    *,
    relax: bool = True,
    relax_top: int = 1,
    fmax: float = 0.05,
    max_steps: int = 300,
    vacuum: float | None = None,
    fixed_fraction: float = 0.5,
    parameters: dict[str, Any] | None = None,
    deduplicate: bool = True,
) -> list[AdhesionDocument]:
    """Relax the scan minima (``relax_top`` best registries) and the two isolated slabs of
    each candidate, all in one engine call, and compute W_ad. ``deduplicate``: a slab
    equal to another up to a translation (the same cut and supercell in two candidates)
    is relaxed once."""
    eng = _engine(engine)
    cands = _as_list(candidates)
    scan_list = list(scans.scans if isinstance(scans, RegistryScanSet) else scans)
    by_id = {s.candidate_id: s for s in scan_list}
    structures, labels, layout = [], [], []
    for c in cands:
        scan = by_id.get(c.candidate_id)
        if scan is None:
            raise InterphasesError(f"no registry scan for candidate {c.candidate_id}")
        picks = scan.ranked[: max(1, relax_top)]
        start = len(structures)
        ifaces = []
        for i, _ in picks:
            ifaces.append(
                interface_at(
                    c, scan.shifts[i], scan.optimal_gaps[i], cell_model="slab", vacuum=vacuum, fixed_fraction=fixed_fraction
                )
            )
        sub, film = split_interface(ifaces[0])
        structures += [*ifaces, sub, film]
        labels += [f"{c.candidate_id}-interface-{n}" for n in range(len(ifaces))]
        labels += [f"{c.candidate_id}-substrate", f"{c.candidate_id}-film"]
        layout.append((c, scan, picks, ifaces, sub, film, start))
    if relax:
        results = _dedup_run(
            structures, labels,
            lambda st, lab: eng.relax(st, cell="fixed", fmax=fmax, max_steps=max_steps, labels=lab),
            enabled=deduplicate, interaction_range=_interaction_range(eng),
        )
    else:
        results = _static(eng, structures, labels, energy_only=False, deduplicate=deduplicate)
    prov = _provenance(eng)
    docs = []
    for c, scan, picks, ifaces, sub, film, start in layout:
        n = len(ifaces)
        r_ifaces = results[start : start + n]
        r_sub, r_film = results[start + n], results[start + n + 1]
        usable = [k for k, r in enumerate(r_ifaces) if _finite(r.energy)]
        if not usable or not (_finite(r_sub.energy) and _finite(r_film.energy)):
            raise CalculationError(f"candidate {c.candidate_id}: relaxation gave no energy")
        best = min(usable, key=lambda k: r_ifaces[k].energy)
        r_if = r_ifaces[best]
        i, j = picks[best]
        w = work_of_adhesion(r_sub.energy, r_film.energy, r_if.energy, c.area, 1)
        converged, errors = _status([r_if, r_sub, r_film])
        docs.append(
            AdhesionDocument(
                task_label=f"work of adhesion: {c.substrate_formula}{_miller(c.substrate_miller)} | "
                f"{c.film_formula}{_miller(c.film_miller)} [{c.candidate_id}]",
                candidate_id=c.candidate_id,
                substrate_formula=c.substrate_formula,
                film_formula=c.film_formula,
                substrate_miller=c.substrate_miller,
                film_miller=c.film_miller,
                substrate_plane=c.substrate_plane,
                film_plane=c.film_plane,
                von_mises_strain=c.von_mises_strain,
                max_linear_strain=c.max_linear_strain,
                area=c.area,
                n_atoms=c.n_atoms,
                n_atoms_substrate=c.n_atoms_substrate,
                n_atoms_film=c.n_atoms_film,
                shift=tuple(scan.shifts[i]),
                gap=scan.optimal_gaps[i],
                relaxed=relax,
                interface_energy=r_if.energy,
                substrate_slab_energy=r_sub.energy,
                film_slab_energy=r_film.energy,
                unrelaxed_substrate_slab_energy=scan.substrate_slab_energy,
                unrelaxed_film_slab_energy=scan.film_slab_energy,
                work_of_adhesion=w,
                work_of_adhesion_j_per_m2=j_per_m2(w),
                unrelaxed_work_of_adhesion_j_per_m2=float(scan.work_of_adhesion[i][j]),
                substrate_symmetric=_slab_symmetric(sub),
                film_symmetric=_slab_symmetric(film),
                substrate_bottom_frozen=_has_frozen(sub),
                substrate_polar=slab_polarity(sub)[0],
                film_polar=slab_polarity(film)[0],
                converged=converged,
                errors=errors,
                n_steps={"interface": r_if.n_steps, "substrate": r_sub.n_steps, "film": r_film.n_steps},
                scan=scan,
                relaxed_registries=[
                    {"shift": list(scan.shifts[pi]), "gap": scan.optimal_gaps[pi], "energy": r.energy}
                    for (pi, pj), r in zip(picks, r_ifaces, strict=True)
                ],
                interface_initial=Structure.from_sites(ifaces[best].sites),
                substrate_slab_initial=sub,
                film_slab_initial=film,
                interface_structure=r_if.structure,
                substrate_slab_structure=r_sub.structure,
                film_slab_structure=r_film.structure,
                provenance=prov,
                parameters=dict(parameters or {}, relax=relax, relax_top=relax_top, fmax=fmax, max_steps=max_steps),
            )
        )
    return docs


_ADHESION_DATA = [
    "interface_initial",
    "substrate_slab_initial",
    "film_slab_initial",
    "interface_structure",
    "substrate_slab_structure",
    "film_slab_structure",
]


@job(data=["energies", "work_of_adhesion"])
def registry_scan_job(candidates: Any, engine: Any, gaps: Sequence[float], max_registries: int | None,
                      vacuum: float | None, fixed_fraction: float, options: dict[str, Any] | None = None) -> RegistryScanSet:
    """Batched registry scan (see :func:`registry_scan`; ``options``: search, refine_top,
    energy_only, deduplicate)."""
    return registry_scan(
        candidates, engine, gaps=gaps, max_registries=max_registries, vacuum=vacuum, fixed_fraction=fixed_fraction,
        **(options or {}),
    )


@job(data=_ADHESION_DATA)
def adhesion_job(candidates: Any, scans: RegistryScanSet, engine: Any, relax: bool, relax_top: int, fmax: float,
                 max_steps: int, vacuum: float | None, fixed_fraction: float, parameters: dict[str, Any],
                 single: bool, deduplicate: bool = True) -> AdhesionDocument | AdhesionSetDocument:
    """Batched relaxation and W_ad (see :func:`compute_adhesion`)."""
    docs = compute_adhesion(
        candidates, scans, engine, relax=relax, relax_top=relax_top, fmax=fmax, max_steps=max_steps,
        vacuum=vacuum, fixed_fraction=fixed_fraction, parameters=parameters, deduplicate=deduplicate,
    )
    if single:
        return docs[0]
    return AdhesionSetDocument(task_label=f"work of adhesion of {len(docs)} candidates", results=docs)


# -------------------------------------------------------------------------------------- an interface given as a file


class GivenAdhesionDocument(BaseModel):
    """Work of adhesion of an interface given as a file (two stacked phases, used as given).

    W_ad = (E_lower + E_upper - E_interface) / (n_interfaces S), the two sides cut from the
    same cell; ``n_interfaces`` 1 for a slab model (vacuum), 2 for a periodic sandwich."""

    task_label: str
    label: str
    lower_formula: str
    upper_formula: str
    terminations: str = Field(description="Planes that meet at the interface: top of the lower side | bottom of the upper side.")
    cell_model: str = Field(description="'slab' (vacuum, one interface) or 'sandwich' (periodic, two interfaces).")
    n_interfaces: int
    area: float = Field(description="In-plane area |a x b|, Å^2.")
    n_atoms: int
    n_atoms_lower: int
    n_atoms_upper: int
    n_fixed: int = Field(description="Atoms the file freezes (selective dynamics), kept fixed in a relaxation.")
    relaxed: bool
    interface_energy: float = Field(description="E_AB, eV (relaxed when ``relaxed``).")
    lower_energy: float = Field(description="E_A of the lower side alone in the same cell, eV.")
    upper_energy: float = Field(description="E_B of the upper side alone in the same cell, eV.")
    unrelaxed_interface_energy: float
    unrelaxed_lower_energy: float
    unrelaxed_upper_energy: float
    work_of_adhesion: float = Field(description="eV/Å^2")
    work_of_adhesion_j_per_m2: float
    unrelaxed_work_of_adhesion_j_per_m2: float = Field(description="Single points of the cell as given.")
    lower_polar: bool = False
    upper_polar: bool = False
    converged: bool
    errors: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    n_steps: dict[str, int] = Field(default_factory=dict)
    interface_initial: StructureField
    lower_initial: StructureField
    upper_initial: StructureField
    interface_structure: StructureField | None = None
    lower_structure: StructureField | None = None
    upper_structure: StructureField | None = None
    provenance: dict[str, Any]
    parameters: dict[str, Any]

    def summary_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "kind": "work_of_adhesion",
                "formulas": [self.lower_formula, self.upper_formula],
                "value": self.work_of_adhesion_j_per_m2,
                "units": "J/m^2",
                "engine": self.provenance.get("engine"),
                "model": _model_name(self.provenance),
                "label": self.label,
                "given_interface": True,
                "terminations": self.terminations,
                "cell_model": self.cell_model,
                "n_interfaces": self.n_interfaces,
                "area": self.area,
                "n_atoms": self.n_atoms,
                "relaxed": self.relaxed,
                "converged": self.converged,
                "polar": self.lower_polar or self.upper_polar,
                "unrelaxed_value": self.unrelaxed_work_of_adhesion_j_per_m2,
            }
        ]


def split_given_interface(structure: Structure) -> tuple[Structure, Structure, int]:
    """(lower side, upper side, number of interfaces) of a given interface cell: the two
    phases (:func:`interphases.structures.bulk.label_given_interface`) each alone in the same
    cell, frozen atoms kept; 1 interface with vacuum along c (slab model), else 2 (sandwich)."""
    from interphases.errors import InvalidStructureError
    from interphases.structures.bulk import SLAB_VACUUM, classify_structure, label_given_interface
    from interphases.workflows.engines.dft_common import is_slab

    try:
        labelled = label_given_interface(structure)
    except InvalidStructureError:
        kind = classify_structure(structure)
        raise InterphasesError(
            f"{structure.composition.reduced_formula} ({len(structure)} atoms) is {'a slab' if kind == 'slab' else 'a bulk'} "
            "of one phase, not two stacked phases: W_ad needs an interface file (for a slab: "
            "`interphases surface-energy FILE --bulk PHASE`; for two bulks: `interphases screen SUBSTRATE FILM`)"
        ) from None
    lower, upper = split_interface(labelled)  # the split of every labelled interface cell
    for side in (lower, upper):
        side.remove_site_property("interface_label")  # the file's own site properties only
    return lower, upper, 1 if is_slab(structure, SLAB_VACUUM) else 2


def _facing_planes(lower: Structure, upper: Structure) -> tuple[str, str, str, str]:
    """(top, bottom) plane formulas of the lower and of the upper side."""
    from interphases.structures.slabs import describe_given_slab

    lo, up = describe_given_slab(lower), describe_given_slab(upper)
    return lo["top_termination"], lo["bottom_termination"], up["top_termination"], up["bottom_termination"]


def compute_given_adhesion(
    interface: Structure,
    engine: Any = "mlip",
    *,
    relax: bool = False,
    fmax: float = 0.05,
    max_steps: int = 300,
    label: str | None = None,
) -> GivenAdhesionDocument:
    """W_ad of an interface given as it is (nothing moved, rescanned or frozen).

    The cell is split into its two phases (:func:`split_given_interface`); single points of
    the cell and of each side alone in the same cell (one engine call) give the unrelaxed
    W_ad; with ``relax`` the three are relaxed in the given cell (one engine call), the
    atoms the file freezes kept fixed, and W_ad is the relaxed one. S = |a x b|, divided by
    the number of interfaces (2 for a periodic sandwich: the mean of its two interfaces)."""
    from interphases.parsers.schema import fixed_indices

    interface = interface.copy()
    lower, upper, n_if = split_given_interface(interface)
    eng = _engine(engine)
    name = label or f"{lower.composition.reduced_formula}|{upper.composition.reduced_formula}"
    area = interface_area(interface)
    structures = [Structure.from_sites(s.sites) for s in (interface, lower, upper)]
    labels = [f"{name}-{k}" for k in ("interface", "lower", "upper")]
    statics = eng.static(structures, labels=[f"{lab}-unrelaxed" for lab in labels])
    for r, lab in zip(statics, labels, strict=True):
        if not _finite(r.energy):
            raise CalculationError(f"{lab}: no energy ({r.error})")
    finals = (eng.relax(structures, cell="fixed", fmax=fmax, max_steps=max_steps, labels=labels)
              if relax else statics)
    for r, lab in zip(finals, labels, strict=True):
        if not _finite(r.energy):
            raise CalculationError(f"{lab}: relaxation gave no energy ({r.error})")
    w0 = work_of_adhesion(statics[1].energy, statics[2].energy, statics[0].energy, area, n_if)
    w = work_of_adhesion(finals[1].energy, finals[2].energy, finals[0].energy, area, n_if)
    lo_top, lo_bottom, up_top, up_bottom = _facing_planes(lower, upper)
    n_fixed = len(fixed_indices(interface))
    notes = []
    if n_if == 2:
        notes.append(f"periodic sandwich: W_ad is the mean of its two interfaces ({lo_top}|{up_bottom} and {up_top}|{lo_bottom})")
    if relax:
        notes.append("relaxed in the given cell" + (f", {n_fixed} atoms frozen as in the file" if n_fixed else
                                                      ", nothing frozen in the file: every atom relaxed"))
    converged, errors = _status(finals if relax else statics)
    lower_polar, upper_polar = slab_polarity(lower)[0], slab_polarity(upper)[0]
    if lower_polar or upper_polar:
        notes.append("a side is polar (formal charges): W_ad includes its dipole energy")
    return GivenAdhesionDocument(
        task_label=f"work of adhesion: {name} (given interface)",
        label=name,
        lower_formula=lower.composition.reduced_formula,
        upper_formula=upper.composition.reduced_formula,
        terminations=f"{lo_top}|{up_bottom}",
        cell_model="slab" if n_if == 1 else "sandwich",
        n_interfaces=n_if,
        area=area,
        n_atoms=len(interface),
        n_atoms_lower=len(lower),
        n_atoms_upper=len(upper),
        n_fixed=n_fixed,
        relaxed=relax,
        interface_energy=finals[0].energy,
        lower_energy=finals[1].energy,
        upper_energy=finals[2].energy,
        unrelaxed_interface_energy=statics[0].energy,
        unrelaxed_lower_energy=statics[1].energy,
        unrelaxed_upper_energy=statics[2].energy,
        work_of_adhesion=w,
        work_of_adhesion_j_per_m2=j_per_m2(w),
        unrelaxed_work_of_adhesion_j_per_m2=j_per_m2(w0),
        lower_polar=lower_polar,
        upper_polar=upper_polar,
        converged=converged,
        errors=errors,
        notes=notes,
        n_steps={"interface": finals[0].n_steps, "lower": finals[1].n_steps, "upper": finals[2].n_steps},
        interface_initial=interface,
        lower_initial=lower,
        upper_initial=upper,
        interface_structure=finals[0].structure if relax else None,
        lower_structure=finals[1].structure if relax else None,
        upper_structure=finals[2].structure if relax else None,
        provenance=_provenance(eng),
        parameters=dict(given_interface=True, relax=relax, fmax=fmax, max_steps=max_steps),
    )


_GIVEN_ADHESION_DATA = ["interface_initial", "lower_initial", "upper_initial", "interface_structure",
                        "lower_structure", "upper_structure"]


@dataclass
class AdhesionMaker(Maker):
    """Work of adhesion of interface candidates (slab model: one interface, vacuum).

    W_ad = (E_A,slab + E_B,slab - E_AB) / S, the isolated slabs cut from the same strained
    cell as the interface. Two jobs: a registry scan (every in-plane shift of the
    candidate x ``gaps``, single points, batched) and the relaxation of the ``relax_top``
    lowest registries with the two isolated slabs (batched). Substrate bottom frozen as in
    the candidate (``fixed_fraction`` when the candidate is a sandwich).

    Compute levers (results unchanged unless ``scan="reduced"``): ``energy_only`` (scan
    single points without forces), ``deduplicate`` (a structure shared by several
    candidates computed once), ``scan`` (``"grid"``: every registry x gap; ``"reduced"``:
    coarse-to-fine, ``scan_refine_top``: None = every registry descends along the gap, see
    :func:`registry_scan`).

    ``make_given(structure)``: W_ad of an interface given as a file (two stacked phases),
    used as it is (:func:`compute_given_adhesion`; ``relax`` relaxes the given cell).
    """

    name: str = "work of adhesion"
    engine: Any = "mlip"
    gaps: tuple[float, ...] = DEFAULT_GAPS
    max_registries: int | None = None
    relax: bool = True
    relax_top: int = 1
    fmax: float = 0.05
    max_steps: int = 300
    vacuum: float | None = None
    fixed_fraction: float = 0.5
    scan: str = "grid"
    scan_refine_top: int | None = None
    energy_only: bool = True
    deduplicate: bool = True

    def _flow(self, candidates: Any, single: bool) -> Flow:
        options = dict(search=self.scan, refine_top=self.scan_refine_top, energy_only=self.energy_only,
                       deduplicate=self.deduplicate)
        scan = registry_scan_job(
            candidates, self.engine, list(self.gaps), self.max_registries, self.vacuum, self.fixed_fraction, options
        )
        scan.name = f"{self.name}: registry scan"
        params = dict(gaps=list(self.gaps), max_registries=self.max_registries, vacuum=self.vacuum,
                      fixed_fraction=self.fixed_fraction, scan=self.scan)
        relax = adhesion_job(
            candidates, scan.output, self.engine, self.relax, self.relax_top, self.fmax, self.max_steps,
            self.vacuum, self.fixed_fraction, params, single, self.deduplicate,
        )
        relax.name = f"{self.name}: relax and score"
        return Flow([scan, relax], output=relax.output, name=self.name)

    def make(self, candidate: InterfaceCandidate) -> Flow:
        """Flow for one candidate; its output is an :class:`AdhesionDocument`."""
        return self._flow(candidate, True)

    def make_batch(self, candidates: Any) -> Flow:
        """Flow for many candidates (a list, a CandidateSet or a job output reference),
        computed together; the output is an :class:`AdhesionSetDocument`."""
        return self._flow(candidates, False)

    @job(data=_GIVEN_ADHESION_DATA)
    def make_given(self, interface: Structure, label: str | None = None) -> GivenAdhesionDocument:
        """W_ad of an interface file used as given (no registry scan, nothing moved or
        frozen): single points and, with ``relax``, a relaxation of the given cell; see
        :func:`compute_given_adhesion`. Uses ``engine``, ``relax``, ``fmax``, ``max_steps``."""
        return compute_given_adhesion(interface, self.engine, relax=self.relax, fmax=self.fmax,
                                      max_steps=self.max_steps, label=label)


# ======================================================================================
# interface formation / interfacial / elastic energy


def _same_phase_groups(cells: Sequence[Structure]) -> list[int]:
    """For each cell, the index of the first cell of the same bulk phase (relax once)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    matcher = StructureMatcher(primitive_cell=True, scale=False, attempt_supercell=True)
    reps: list[int] = []
    for i, cell in enumerate(cells):
        found = i
        for j in sorted(set(reps)):
            if cells[j].composition.reduced_formula == cell.composition.reduced_formula and matcher.fit(cells[j], cell):
                found = j
                break
        reps.append(found)
    return reps


def _interface_side_gamma(
    slab_energy: float, unrelaxed: float, n_atoms: int, e_strained: float, area: float, symmetric: bool, frozen: bool
) -> float:
    """Surface energy of the interface-side surface of an isolated strained slab, eV/Å^2."""
    if frozen and symmetric:
        return (unrelaxed - n_atoms * e_strained) / (2 * area) + (slab_energy - unrelaxed) / area
    return (slab_energy - n_atoms * e_strained) / (2 * area)


def compute_interface_energies(
    candidates: Sequence[InterfaceCandidate],
    adhesion: AdhesionDocument | AdhesionSetDocument | Sequence[AdhesionDocument],
    engine: Any = "mlip",
    *,
    fmax: float = 0.05,
    max_steps: int = 300,
    deduplicate: bool = True,
) -> list[InterfaceEnergyDocument]:
    """Eq. 14-18 for each candidate at the registry and gap its adhesion document chose.

    For all candidates together: the stress-free bulks (once per distinct phase,
    ``cell="full"``) and the strained bulks (``cell="z"``, both to :func:`bulk_fmax`) and the
    sandwiches (``cell="z"``, nothing frozen, to ``fmax``) are relaxed in one engine call.
    """
    eng = _engine(engine)
    cands = _as_list(candidates)
    if isinstance(adhesion, AdhesionDocument):
        adh_list = [adhesion]
    elif isinstance(adhesion, AdhesionSetDocument):
        adh_list = list(adhesion.results)
    else:
        adh_list = list(adhesion)
    by_id = {a.candidate_id: a for a in adh_list}

    free_cells: list[Structure] = []
    for c in cands:
        if c.substrate_reference is None or c.film_reference is None:
            strained_references(c)  # raises the clear error
        if c.candidate_id not in by_id:
            raise InterphasesError(f"no adhesion result for candidate {c.candidate_id}")
        free_cells += [c.substrate_reference, c.film_reference]
    reps = _same_phase_groups(free_cells)
    unique = sorted(set(reps))
    structures = [free_cells[k] for k in unique]
    cells = ["full"] * len(unique)
    labels = [f"bulk-{free_cells[k].composition.reduced_formula}-{n}" for n, k in enumerate(unique)]
    layout = []
    for c in cands:
        adh = by_id[c.candidate_id]
        sub_s, film_s = strained_references(c)
        sandwich = sandwich_at(c, adh.shift, adh.gap)
        start = len(structures)
        structures += [sub_s, film_s, Structure.from_sites(sandwich.sites)]
        cells += ["z", "z", "z"]
        labels += [f"{c.candidate_id}-substrate-strained", f"{c.candidate_id}-film-strained", f"{c.candidate_id}-sandwich"]
        layout.append((c, adh, sandwich, start))
    # bulk cells to the tighter bulk threshold, sandwiches to fmax, all in one engine call (an
    # engine that takes one threshold per call splits it): the sandwiches' steps share the
    # model calls of the bulks' instead of running after them
    def threshold(label: str) -> float:
        return fmax if label.endswith("-sandwich") else bulk_fmax(fmax)

    results = _dedup_run(
        structures, labels,
        lambda st, lab, cl: relax_with(eng, st, cl, lab, fmax=[threshold(x) for x in lab], max_steps=max_steps),
        cells=cells, enabled=deduplicate,
    )
    free_results = {k: results[n] for n, k in enumerate(unique)}
    prov = _provenance(eng)
    docs = []
    for idx, (c, adh, sandwich, start) in enumerate(layout):
        k_sub, k_film = reps[2 * idx], reps[2 * idx + 1]
        r_sub0, r_film0 = free_results[k_sub], free_results[k_film]
        r_sub_s, r_film_s, r_sand = results[start], results[start + 1], results[start + 2]
        refs = [
            BulkReference.from_result(f"{c.substrate_formula} bulk", "full", free_cells[k_sub], r_sub0),
            BulkReference.from_result(f"{c.film_formula} bulk", "full", free_cells[k_film], r_film0),
            BulkReference.from_result(f"{c.substrate_formula} strained", "z", structures[start], r_sub_s),
            BulkReference.from_result(f"{c.film_formula} strained", "z", structures[start + 1], r_film_s),
        ]
        for ref in refs:
            if not _finite(ref.energy):
                raise CalculationError(f"candidate {c.candidate_id}: reference {ref.label} has no energy ({ref.error})")
        if not _finite(r_sand.energy):
            raise CalculationError(f"candidate {c.candidate_id}: sandwich has no energy ({r_sand.error})")
        e_a, e_b, e_as, e_bs = (r.energy_per_atom for r in refs)
        gamma_a = _interface_side_gamma(
            adh.substrate_slab_energy, adh.unrelaxed_substrate_slab_energy, c.n_atoms_substrate, e_as, c.area,
            adh.substrate_symmetric, adh.substrate_bottom_frozen,
        )
        gamma_b = _interface_side_gamma(
            adh.film_slab_energy, adh.unrelaxed_film_slab_energy, c.n_atoms_film, e_bs, c.area,
            adh.film_symmetric, False,
        )
        en = interface_energetics(
            sandwich_energy=r_sand.energy,
            sandwich_volume=float(r_sand.structure.volume),
            area=interface_area(r_sand.structure),
            n_atoms_substrate=c.n_atoms_substrate,
            n_atoms_film=c.n_atoms_film,
            substrate_bulk=e_a,
            film_bulk=e_b,
            substrate_strained=e_as,
            film_strained=e_bs,
            work_of_adhesion=adh.work_of_adhesion,
            substrate_surface_energy=gamma_a,
            film_surface_energy=gamma_b,
        )
        second = _second_interface(sandwich)
        notes = []
        if not (adh.substrate_symmetric and adh.film_symmetric):
            notes.append("an isolated slab is asymmetric: its gamma is the mean of its two surfaces")
        if second != f"{c.film_plane}|{c.substrate_plane}" and second != f"{c.substrate_plane}|{c.film_plane}":
            notes.append(f"the sandwich's second interface ({second}) differs from the first: sigma is their mean")
        notes.append("direct W_ad from the slab model (one interface, free film surface); sigma from the z-relaxed sandwich")
        converged, errors = _status([r_sub0, r_film0, r_sub_s, r_film_s, r_sand])
        docs.append(
            InterfaceEnergyDocument(
                task_label=f"interface energies: {c.substrate_formula}{_miller(c.substrate_miller)} | "
                f"{c.film_formula}{_miller(c.film_miller)} [{c.candidate_id}]",
                candidate_id=c.candidate_id,
                substrate_formula=c.substrate_formula,
                film_formula=c.film_formula,
                substrate_miller=c.substrate_miller,
                film_miller=c.film_miller,
                terminations=f"{c.substrate_plane}|{c.film_plane}",
                von_mises_strain=c.von_mises_strain,
                energetics=en,
                formation_energy_j_per_m2=j_per_m2(en.formation_energy_per_area),
                interfacial_energy_j_per_m2=j_per_m2(en.interfacial_energy),
                elastic_energy_mev_per_a3=1000.0 * en.elastic_energy_per_volume,
                work_of_adhesion_j_per_m2=j_per_m2(adh.work_of_adhesion),
                work_of_adhesion_eq18_j_per_m2=en.in_j_per_m2("work_of_adhesion_eq18"),
                eq18_difference_j_per_m2=en.in_j_per_m2("eq18_difference"),
                eq18_note="; ".join(notes),
                references=refs,
                sandwich_initial=Structure.from_sites(sandwich.sites),
                sandwich_structure=r_sand.structure,
                sandwich_converged=r_sand.converged,
                sandwich_n_steps=r_sand.n_steps,
                second_interface=second,
                converged=converged,
                errors=errors,
                provenance=prov,
                parameters=dict(fmax=fmax, max_steps=max_steps, shift=list(adh.shift), gap=adh.gap),
            )
        )
    return docs


def _second_interface(sandwich: Structure) -> str:
    """'film top plane | substrate bottom plane' of a sandwich."""
    from interphases.structures.slabs import atomic_planes, plane_formula

    labels = np.array(sandwich.site_properties["interface_label"])
    c = float(sandwich.lattice.matrix[2, 2])
    z = np.mod(sandwich.cart_coords[:, 2], c)
    out = []
    for which, top in (("film", True), ("substrate", False)):
        idx = np.flatnonzero(labels == which)
        zz = z[idx]
        order = np.sort(zz)
        gaps = np.diff(np.append(order, order[0] + c))
        bottom = order[(int(np.argmax(gaps)) + 1) % len(order)]
        h = np.mod(zz - bottom, c)
        planes = atomic_planes(h)
        pick = planes.max() if top else 0
        out.append(plane_formula(sandwich, idx[planes == pick]))
    return f"{out[0]}|{out[1]}"


_ENERGY_DATA = ["initial_structure", "structure", "sandwich_initial", "sandwich_structure"]


@job(data=_ENERGY_DATA)
def interface_energy_job(candidates: Any, adhesion: Any, engine: Any, fmax: float, max_steps: int,
                         single: bool, deduplicate: bool = True) -> InterfaceEnergyDocument | InterfaceEnergySetDocument:
    """Batched references + sandwiches and the Eq. 14-18 decomposition."""
    docs = compute_interface_energies(candidates, adhesion, engine, fmax=fmax, max_steps=max_steps,
                                      deduplicate=deduplicate)
    if single:
        return docs[0]
    return InterfaceEnergySetDocument(task_label=f"interface energies of {len(docs)} candidates", results=docs)


@dataclass
class InterfaceEnergyMaker(Maker):
    """Interface formation energy, interfacial energy and elastic energy (Eq. 14-18) of
    interface candidates, with the Eq. 18 check against the direct work of adhesion.

    Flow: :class:`AdhesionMaker` (registry scan + slab-model relaxation; skipped when an
    adhesion output is given) -> one job relaxing the stress-free bulks, the strained
    bulks (in-plane lattice of the interface, relaxed along z only) and the periodic
    sandwich at the adhesion minimum (relaxed along z) -> the decomposition.
    """

    name: str = "interface energies"
    engine: Any = "mlip"
    adhesion_maker: AdhesionMaker | None = None
    fmax: float = 0.05
    max_steps: int = 300
    deduplicate: bool = True

    def _adhesion(self) -> AdhesionMaker:
        if self.adhesion_maker is not None:
            return self.adhesion_maker
        return AdhesionMaker(engine=self.engine, fmax=self.fmax, max_steps=self.max_steps)

    def _flow(self, candidates: Any, adhesion: Any, single: bool) -> Flow:
        jobs = []
        if adhesion is None:
            adh_flow = self._adhesion()._flow(candidates, single)
            jobs.append(adh_flow)
            adhesion = adh_flow.output
        energies = interface_energy_job(candidates, adhesion, self.engine, self.fmax, self.max_steps, single,
                                        self.deduplicate)
        energies.name = f"{self.name}: references, sandwich, Eq. 14-18"
        jobs.append(energies)
        return Flow(jobs, output=energies.output, name=self.name)

    def make(self, candidate: InterfaceCandidate, adhesion: Any = None) -> Flow:
        """Flow for one candidate; output :class:`InterfaceEnergyDocument`."""
        return self._flow(candidate, adhesion, True)

    def make_batch(self, candidates: Any, adhesion: Any = None) -> Flow:
        """Flow for many candidates; output :class:`InterfaceEnergySetDocument`."""
        return self._flow(candidates, adhesion, False)
