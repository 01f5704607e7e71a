"""jobflow Makers for ion migration barriers: bulk vacancy / interstitial hops, the
percolating path's effective barrier, and hops across an interface.

- :class:`MigrationBarrierMaker` (job): distinct hops of the ion in a bulk phase
  (:func:`interphases.structures.hops.find_hops`) -> supercell from a minimum image
  distance -> endpoints (vacancy or interstitial, charged cell) -> endpoint relaxation at
  fixed cell -> IDPP interpolation -> climbing-image NEB of all hops together (one batch,
  or ``batch_size`` paths per batch) -> per hop: forward and backward barriers, energy
  profile, images. Returns a :class:`MigrationBarrierDocument`.
- :class:`EffectiveBarrierMaker` (Flow): the job above, then :func:`effective_barrier_job`,
  the lowest threshold at which the computed hops percolate in 1, 2 and 3 dimensions
  (:mod:`interphases.analysis.migration`). Returns an :class:`EffectiveBarrierDocument`.
- :class:`InterfaceHopMaker` (job): an ion hop from one phase into the other across an
  interface candidate (:func:`interphases.structures.hops.interface_hop_endpoints`), on the
  same relaxation + IDPP + CI-NEB machinery. Returns an :class:`InterfaceHopDocument`.

The engine is a field (``"mlip"``, ``get_engine("mlip", model="emt")``, a CP2K or VASP
engine): the Makers call only ``engine.relax(..., cell=...)`` and ``engine.neb(paths)``
with full image paths (endpoints + IDPP images, so every engine gets the same start),
and read energies back, which is the whole contract a DFT NEB needs. Charged cells carry
their charge in ``Structure.charge`` (see :mod:`interphases.structures.hops`); the
charge is set again on every structure an engine returns.

What the NEB itself does (ASE's improved-tangent CI-NEB, batched) is documented in
:mod:`interphases.potentials.neb`. Images go to the JobStore's ``data`` store
(``@job(data=["images"])``: every output field named ``images``), the rest of the
document to the ``outputs`` store; ``summary_rows()`` gives the database rows
(``kind = "migration_barrier"``, ``"effective_migration_barrier"``,
``"interface_migration_barrier"``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from jobflow import Flow, Maker, job
from pydantic import BaseModel, Field
from pymatgen.core import Structure

from interphases.analysis.migration import PercolationStep, percolation_thresholds
from interphases.analysis.stability import ion_charge
from interphases.errors import InterphasesError, InvalidStructureError
from interphases.potentials.interpolate import interpolate_structures
from interphases.structures.hops import (
    HopEndpoints,
    HopInfo,
    MigrationNetwork,
    StructureField,
    find_hops,
    hop_endpoints,
    in_plane_repeats,
    infer_ion,
    interface_hop_endpoints,
    primitive_cell,
    set_charge,
    supercell_for_min_image,
)
from interphases.workflows.engines import get_engine

__all__ = [
    "EffectiveBarrierDocument",
    "EffectiveBarrierMaker",
    "EndpointResult",
    "HopBarrier",
    "InterfaceHopDocument",
    "InterfaceHopMaker",
    "MigrationBarrierDocument",
    "MigrationBarrierMaker",
    "effective_barrier",
    "effective_barrier_job",
    "profile_warnings",
    "run_hops",
]


# --------------------------------------------------------------------------------------
# documents


class EndpointResult(BaseModel):
    """A relaxed NEB endpoint."""

    energy: float | None = Field(description="Total energy, eV (None if the relaxation failed).")
    converged: bool
    n_steps: int = 0
    drift: float | None = Field(
        None, description="Distance of the moving ion from its intended site after relaxation, Å."
    )
    error: str | None = None


class HopBarrier(BaseModel):
    """CI-NEB result of one hop: barriers, profile and images."""

    label: str
    hop: HopInfo | None = Field(None, description="The bulk hop (None for interface hops).")
    info: dict[str, Any] = Field(default_factory=dict, description="Hop geometry (lengths, sides, heights).")
    length: float = Field(description="Hop length between the unrelaxed sites, Å.")
    moving_index: int
    n_atoms: int
    charge: float
    initial: EndpointResult
    final: EndpointResult
    images: list[StructureField] = Field(default_factory=list, description="NEB images, endpoints included.")
    energies: list[float] = Field(default_factory=list, description="Total energy of each image, eV.")
    reaction_coordinate: list[float] = Field(default_factory=list, description="Cumulative path length, Å.")
    barrier_forward: float | None = Field(None, description="max(E) - E(initial), eV.")
    barrier_backward: float | None = Field(None, description="max(E) - E(final), eV.")
    converged: bool = False
    n_steps: int = 0
    climbing_image: int | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list, description="Profile diagnostics (see profile_warnings).")

    @property
    def profile(self) -> list[float]:
        """Image energies relative to the initial state, eV."""
        return [e - self.energies[0] for e in self.energies] if self.energies else []

    @property
    def transition_state_energy(self) -> float | None:
        return max(self.energies) if self.energies and self.barrier_forward is not None else None

    @property
    def reaction_energy(self) -> float | None:
        """E(final) - E(initial), eV."""
        if self.barrier_forward is None or self.barrier_backward is None:
            return None
        return self.barrier_forward - self.barrier_backward

    def profile_dict(self, label: str | None = None) -> dict[str, Any]:
        """What :func:`interphases.analysis.migration.plot_energy_profiles` takes."""
        return {
            "label": label or self.label,
            "reaction_coordinate": self.reaction_coordinate,
            "energies": self.energies,
            "climbing_image": self.climbing_image,
        }


def _engine_keys(provenance: dict[str, Any]) -> dict[str, Any]:
    return {
        "engine": provenance.get("engine", "?"),
        "model": provenance.get("model") or provenance.get("functional") or provenance.get("code") or "?",
    }


def _supercell_text(matrix: Sequence[Sequence[int]] | None) -> str | None:
    if matrix is None:
        return None
    m = np.asarray(matrix, dtype=int)
    if np.count_nonzero(m - np.diag(np.diag(m))) == 0:
        return "x".join(str(int(x)) for x in np.diag(m))
    return "/".join(" ".join(str(int(x)) for x in row) for row in m)


class MigrationBarrierDocument(BaseModel):
    """Barriers of the distinct hops of one ion in one bulk phase, with provenance."""

    task_label: str
    formula: str
    ion: str
    ion_charge: int
    mechanism: Literal["vacancy", "interstitial"]
    defect_charge: float = Field(description="Net charge of the defect cell (uniform background).")
    network: MigrationNetwork = Field(description="All distinct hops and the migration graph.")
    supercell: list[list[int]] = Field(description="Supercell matrix on the primitive cell.")
    min_image_requested: float
    min_image: float = Field(description="Shortest lattice vector of the supercell, Å.")
    n_atoms: int = Field(description="Atoms in the defect supercell.")
    bulk_relaxed: bool
    hops: list[HopBarrier]
    skipped_hops: list[str] = Field(default_factory=list, description="Distinct hops not computed (max_hops).")
    provenance: dict[str, Any]
    parameters: dict[str, Any]
    wall_time: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")
    notes: list[str] = Field(default_factory=list)

    def hop(self, label: str) -> HopBarrier:
        for h in self.hops:
            if h.label == label:
                return h
        raise KeyError(label)

    def summary_rows(self) -> list[dict[str, Any]]:
        """One ``migration_barrier`` row per hop (forward), plus the backward barrier when the
        two sites are not equivalent. Hops without a barrier give no row."""
        base = {
            **_engine_keys(self.provenance),
            "formulas": [self.formula],
            "units": "eV",
            "ion": self.ion,
            "ion_charge": self.ion_charge,
            "mechanism": self.mechanism,
            "defect_charge": self.defect_charge,
            "supercell": _supercell_text(self.supercell),
            "min_image_A": self.min_image,
            "n_atoms": self.n_atoms,
            "n_images": self.parameters.get("n_images"),
            "fmax": self.parameters.get("fmax"),
        }
        rows = []
        for h in self.hops:
            if h.barrier_forward is None or h.barrier_backward is None:
                continue
            common = {
                **base,
                "hop_label": h.label,
                "hop_length": h.length,
                "hop_sites": h.hop.sites if h.hop else None,
                "multiplicity": h.hop.multiplicity if h.hop else None,
                "barrier_forward": h.barrier_forward,
                "barrier_backward": h.barrier_backward,
                "converged": h.converged,
                "n_steps": h.n_steps,
                "profile_ok": not h.warnings,
            }
            rows.append({"kind": "migration_barrier", "value": h.barrier_forward, "direction": "forward", **common})
            if h.hop is not None and not h.hop.equivalent_endpoints:
                rows.append(
                    {"kind": "migration_barrier", "value": h.barrier_backward, "direction": "backward", **common}
                )
        return rows


class EffectiveBarrierDocument(BaseModel):
    """Effective (percolation) barriers of one ion in one phase, from its hop barriers."""

    task_label: str
    formula: str
    ion: str
    ion_charge: int
    mechanism: Literal["vacancy", "interstitial"]
    steps: list[PercolationStep] = Field(description="One per dimensionality reached (1, 2, 3).")
    reference_energy: float | None = Field(None, description="Lowest endpoint energy of all hops, eV.")
    hop_costs: dict[str, float] = Field(description="Transition-state energy above the reference, eV.")
    hop_barriers: dict[str, tuple[float, float]] = Field(description="(forward, backward) per hop, eV.")
    converged: bool = Field(description="Every hop in the 3D (else highest) network converged.")
    n_hops_computed: int
    n_hops_total: int
    n_atoms: int
    supercell: list[list[int]]
    provenance: dict[str, Any]
    notes: list[str] = Field(default_factory=list)

    def barrier(self, dimensionality: int) -> float | None:
        for s in self.steps:
            if s.dimensionality == dimensionality:
                return s.barrier
        return None

    def summary_rows(self) -> list[dict[str, Any]]:
        """One ``effective_migration_barrier`` row per dimensionality reached."""
        return [
            {
                "kind": "effective_migration_barrier",
                "formulas": [self.formula],
                "value": s.barrier,
                "units": "eV",
                **_engine_keys(self.provenance),
                "ion": self.ion,
                "ion_charge": self.ion_charge,
                "mechanism": self.mechanism,
                "dimensionality": s.dimensionality,
                "limiting_hop": s.limiting_hop,
                "hops": ",".join(s.hops),
                "converged": self.converged,
                "n_atoms": self.n_atoms,
                "supercell": _supercell_text(self.supercell),
            }
            for s in self.steps
        ]


class InterfaceHopDocument(BaseModel):
    """Ion hops from one side of an interface into the other."""

    task_label: str
    substrate_formula: str
    film_formula: str
    candidate_id: str | None = None
    ion: str
    ion_charge: int
    mechanism: Literal["vacancy", "interstitial"]
    from_side: Literal["film", "substrate"]
    n_atoms: int
    interface_relaxed: bool
    hops: list[HopBarrier]
    provenance: dict[str, Any]
    parameters: dict[str, Any]
    wall_time: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    @property
    def to_side(self) -> str:
        return "substrate" if self.from_side == "film" else "film"

    def _formula(self, side: str) -> str:
        return self.film_formula if side == "film" else self.substrate_formula

    def summary_rows(self) -> list[dict[str, Any]]:
        """Two ``interface_migration_barrier`` rows per hop: from -> to (forward barrier) and
        to -> from (backward barrier), with the reaction energy E(final) - E(initial)."""
        rows = []
        for h in self.hops:
            if h.barrier_forward is None or h.barrier_backward is None:
                continue
            common = {
                "kind": "interface_migration_barrier",
                "formulas": [self.substrate_formula, self.film_formula],
                "units": "eV",
                **_engine_keys(self.provenance),
                "candidate_id": self.candidate_id,
                "ion": self.ion,
                "ion_charge": self.ion_charge,
                "mechanism": self.mechanism,
                "hop_label": h.label,
                "hop_length": h.length,
                "barrier_forward": h.barrier_forward,
                "barrier_backward": h.barrier_backward,
                "reaction_energy": h.reaction_energy,
                "converged": h.converged,
                "profile_ok": not h.warnings,
                "n_atoms": h.n_atoms,
                "defect_charge": h.charge,
            }
            fwd = f"{self._formula(self.from_side)}->{self._formula(self.to_side)}"
            bwd = f"{self._formula(self.to_side)}->{self._formula(self.from_side)}"
            rows.append({**common, "value": h.barrier_forward, "direction": fwd})
            rows.append({**common, "value": h.barrier_backward, "direction": bwd})
        return rows


# --------------------------------------------------------------------------------------
# the shared machinery: endpoints -> relaxed endpoints -> IDPP -> batched CI-NEB


@dataclass
class NEBSettings:
    """Settings shared by the migration Makers (see :class:`MigrationBarrierMaker`)."""

    relax_fmax: float = 0.05
    relax_steps: int = 300
    n_images: int = 5
    interpolation: str = "idpp"
    fmax: float = 0.05
    max_steps: int = 500
    spring_constant: float = 0.1
    climb: bool = True
    batch_size: int | None = None
    max_drift: float | None = None
    min_distance: float = 0.5


def profile_warnings(energies: Sequence[float], tol: float = 0.05) -> list[str]:
    """Reasons not to read max(E) - E(endpoint) as the barrier of a single hop.

    - an interior image more than ``tol`` eV below the lower endpoint: the band found a
      lower state between the endpoints (an intermediate minimum, or an endpoint that
      relaxed into a local minimum only); the hop is really two hops;
    - the highest energy at an endpoint: no saddle between the endpoints (the higher one
      may not be a minimum); the "barrier" is the reaction energy.
    """
    e = np.asarray(energies, dtype=float)
    if len(e) < 3 or not np.isfinite(e).all():
        return []
    out = []
    low = min(e[0], e[-1])
    k = int(np.argmin(e[1:-1])) + 1
    if e[k] < low - tol:
        out.append(f"image {k} is {low - e[k]:.2f} eV below the lower endpoint: intermediate minimum along the path")
    if e.max() - max(e[0], e[-1]) < 1e-3:
        out.append("highest energy at an endpoint: no saddle between the endpoints (barrier = reaction energy)")
    return out


def _drift(structure: Structure, index: int, target_cart: np.ndarray) -> float:
    """Minimum-image distance (Å) of site ``index`` from the Cartesian point ``target_cart``."""
    frac = structure.lattice.get_fractional_coords(target_cart)
    return float(structure.lattice.get_distance_and_image(structure[index].frac_coords, frac)[0])


def _endpoint(result: Any, drift: float | None) -> EndpointResult:
    energy = float(result.energy) if np.isfinite(result.energy) else None
    return EndpointResult(
        energy=energy, converged=bool(result.converged), n_steps=int(result.n_steps), drift=drift, error=result.error
    )


def run_hops(
    engine: Any,
    endpoints: Sequence[HopEndpoints],
    settings: NEBSettings,
    hop_infos: Sequence[HopInfo | None] | None = None,
    wall_time: dict[str, float] | None = None,
) -> list[HopBarrier]:
    """Relax the endpoints of every hop (one batch), interpolate (IDPP) and run CI-NEB.

    A hop whose endpoint relaxation fails, whose moving ion drifts more than
    ``settings.max_drift`` Å (default: half the hop length) from its intended site, or
    whose interpolated images overlap, gets ``error`` set and no NEB; the other hops go on.
    """
    from interphases.structures.validation import check_min_distance

    engine = get_engine(engine)
    wall = wall_time if wall_time is not None else {}
    infos = list(hop_infos) if hop_infos is not None else [None] * len(endpoints)
    structures, labels = [], []
    for ep in endpoints:
        structures += [ep.initial, ep.final]
        labels += [f"{ep.label} initial", f"{ep.label} final"]
    t0 = time.perf_counter()
    relaxed = engine.relax(
        structures, cell="fixed", fmax=settings.relax_fmax, max_steps=settings.relax_steps, labels=labels
    )
    wall["endpoints"] = wall.get("endpoints", 0.0) + time.perf_counter() - t0
    hops: list[HopBarrier] = []
    paths, path_of = [], []
    for k, ep in enumerate(endpoints):
        r_i, r_f = relaxed[2 * k], relaxed[2 * k + 1]
        for r in (r_i, r_f):
            set_charge(r.structure, ep.charge)
        start = ep.initial[ep.moving_index].coords
        end = start + np.asarray(ep.hop_vector)
        ok_i, ok_f = np.isfinite(r_i.energy), np.isfinite(r_f.energy)
        d_i = _drift(r_i.structure, ep.moving_index, start) if ok_i else None
        d_f = _drift(r_f.structure, ep.moving_index, end) if ok_f else None
        hb = HopBarrier(
            label=ep.label,
            hop=infos[k],
            info=dict(ep.info),
            length=ep.length,
            moving_index=ep.moving_index,
            n_atoms=len(ep.initial),
            charge=ep.charge,
            initial=_endpoint(r_i, d_i),
            final=_endpoint(r_f, d_f),
        )
        max_drift = settings.max_drift if settings.max_drift is not None else 0.5 * ep.length
        if not (ok_i and ok_f):
            hb.error = f"endpoint relaxation failed: {r_i.error or r_f.error}"
        elif max(d_i, d_f) > max_drift:  # type: ignore[arg-type]
            hb.error = (
                f"unstable endpoint: the moving ion relaxed {max(d_i, d_f):.2f} Å away from its site "  # type: ignore[arg-type]
                f"(> {max_drift:.2f} Å); no NEB"
            )
        else:
            path = interpolate_structures(
                r_i.structure, r_f.structure, settings.n_images, method=settings.interpolation  # type: ignore[arg-type]
            )
            try:
                for j, image in enumerate(path[1:-1], start=1):
                    check_min_distance(image, settings.min_distance)
            except InvalidStructureError as exc:
                hb.error = f"interpolated image {j} has overlapping atoms ({exc}); no NEB"
            else:
                for image in path:
                    set_charge(image, ep.charge)
                paths.append(path)
                path_of.append(k)
        hops.append(hb)
    t0 = time.perf_counter()
    size = settings.batch_size or max(1, len(paths))
    for start_i in range(0, len(paths), size):
        chunk = paths[start_i : start_i + size]
        which = path_of[start_i : start_i + size]
        results = engine.neb(
            chunk,
            climb=settings.climb,
            fmax=settings.fmax,
            max_steps=settings.max_steps,
            spring_constant=settings.spring_constant,
            labels=[endpoints[k].label for k in which],
        )
        for k, res in zip(which, results, strict=True):
            hb = hops[k]
            finite = bool(res.energies) and all(np.isfinite(res.energies))
            for image in res.images:
                set_charge(image, endpoints[k].charge)
            hb.images = list(res.images)
            hb.energies = [float(e) for e in res.energies]
            hb.reaction_coordinate = [float(x) for x in res.reaction_coordinate]
            hb.barrier_forward = float(res.barrier_forward) if finite else None
            hb.barrier_backward = float(res.barrier_backward) if finite else None
            hb.converged = bool(res.converged)
            hb.n_steps = int(res.n_steps)
            hb.climbing_image = res.climbing_image
            hb.error = res.error
            hb.warnings = profile_warnings(hb.energies) if finite else []
    wall["neb"] = wall.get("neb", 0.0) + time.perf_counter() - t0
    return hops


def _hop_notes(hops: Sequence[HopBarrier]) -> list[str]:
    notes = [f"{h.label}: {h.error}" for h in hops if h.error and not h.converged]
    notes += [f"{h.label}: {w}" for h in hops for w in h.warnings]
    return notes


# --------------------------------------------------------------------------------------
# bulk hops


@dataclass
class MigrationBarrierMaker(Maker):
    """CI-NEB barriers of the distinct hops of an ion in a bulk phase (one job).

    Steps: (optional) full relaxation of the primitive cell with the engine -> distinct hops
    up to ``cutoff`` -> supercell with a minimum image distance of ``min_image`` Å ->
    endpoints (``mechanism``) -> fixed-cell endpoint relaxation -> IDPP -> CI-NEB, all hops
    in one batch (``batch_size`` paths per batch if set).

    Attributes:
        engine: engine name or instance (MLIP by default; CP2K / VASP engines have the same API).
        ion: migrating element (Li, Na, K, Mg, Ca, Zn, Al, ...; default: the only working
            ion of the phase). ``charge``: its charge z (default from the element).
        defect_charge: net charge of the defect cell (default ``-z`` vacancy, ``+z``
            interstitial, 0 in a one-element metal).
        mechanism: ``"vacancy"`` or ``"interstitial"``.
        cutoff: longest hop, Å (default: DistinctPathFinder's percolation cutoff).
        min_image: Å, shortest lattice vector of the supercell; ``max_atoms`` caps its size.
        hop_labels / max_hops: only these hops / the ``max_hops`` shortest.
        relax_bulk, bulk_fmax: relax cell and positions of the primitive cell first.
        relax_fmax, relax_steps: endpoint relaxation (fixed cell); default ``fmax``.
        n_images, interpolation: moving images, ``"idpp"`` or ``"linear"``.
        fmax, max_steps, spring_constant, climb: the CI-NEB (eV/Å, eV/Å²).
        batch_size: NEB paths per batched call (None: all hops at once).
        max_drift: Å; an endpoint whose moving ion relaxes farther from its site is refused
            (default half the hop length).
    """

    name: str = "migration barrier"
    engine: Any = "mlip"
    ion: str | None = None
    charge: int | None = None
    defect_charge: float | None = None
    mechanism: Literal["vacancy", "interstitial"] = "vacancy"
    cutoff: float | None = None
    min_image: float = 7.5
    max_atoms: int = 300
    hop_labels: list[str] | None = None
    max_hops: int | None = None
    relax_bulk: bool = True
    bulk_fmax: float = 0.01
    bulk_steps: int = 300
    relax_fmax: float | None = None
    relax_steps: int = 300
    n_images: int = 5
    interpolation: Literal["idpp", "linear"] = "idpp"
    fmax: float = 0.05
    max_steps: int = 500
    spring_constant: float = 0.1
    climb: bool = True
    batch_size: int | None = None
    max_drift: float | None = None
    symprec: float = 0.1
    interstitial_min_distance: float = 1.0
    interstitial_min_separation: float = 1.2

    @job(data=["images"])
    def make(self, structure: Structure | str) -> MigrationBarrierDocument:
        return self.compute(structure)

    def _settings(self) -> NEBSettings:
        return NEBSettings(
            relax_fmax=self.relax_fmax if self.relax_fmax is not None else self.fmax,
            relax_steps=self.relax_steps,
            n_images=self.n_images,
            interpolation=self.interpolation,
            fmax=self.fmax,
            max_steps=self.max_steps,
            spring_constant=self.spring_constant,
            climb=self.climb,
            batch_size=self.batch_size,
            max_drift=self.max_drift,
        )

    def parameters(self) -> dict[str, Any]:
        """The settings that define the result (for documents and result keys)."""
        keys = (
            "mechanism", "cutoff", "min_image", "max_atoms", "hop_labels", "max_hops", "relax_bulk", "bulk_fmax",
            "relax_fmax", "relax_steps", "n_images", "interpolation", "fmax", "max_steps", "spring_constant",
            "climb", "batch_size", "max_drift", "symprec", "defect_charge", "charge",
        )
        return {k: getattr(self, k) for k in keys}

    def compute(self, structure: Structure | str) -> MigrationBarrierDocument:
        """The job's work, callable without jobflow."""
        from interphases.structures import load_structure

        if self.n_images < 1:
            raise InterphasesError(f"n_images must be >= 1, got {self.n_images}")
        structure = load_structure(structure)
        engine = get_engine(self.engine)
        ion = infer_ion(structure, self.ion)
        z = ion_charge(ion, self.charge)
        wall: dict[str, float] = {}
        notes: list[str] = []
        t0 = time.perf_counter()
        prim = primitive_cell(structure, self.symprec)
        if self.relax_bulk:
            (bulk,) = engine.relax([prim], cell="full", fmax=self.bulk_fmax, max_steps=self.bulk_steps,
                                   labels=[f"{prim.composition.reduced_formula} bulk"])
            if not np.isfinite(bulk.energy):
                raise InterphasesError(f"bulk relaxation of {prim.composition.reduced_formula} failed: {bulk.error}")
            if not bulk.converged:
                notes.append(f"bulk relaxation not converged: {bulk.error}")
            prim = bulk.structure
        wall["bulk"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        network = find_hops(
            prim,
            ion,
            mechanism=self.mechanism,
            cutoff=self.cutoff,
            symprec=self.symprec,
            interstitial_min_distance=self.interstitial_min_distance,
            interstitial_min_separation=self.interstitial_min_separation,
        )
        matrix, d_min = supercell_for_min_image(network.cell, self.min_image, max_atoms=self.max_atoms,
                                                symprec=self.symprec)
        selected = list(network.hops)
        if self.hop_labels:
            unknown = set(self.hop_labels) - {h.label for h in selected}
            if unknown:
                raise InterphasesError(
                    f"unknown hop label(s) {', '.join(sorted(unknown))}: {', '.join(h.label for h in selected)} exist"
                )
            selected = [h for h in selected if h.label in self.hop_labels]
        if self.max_hops is not None:
            if self.max_hops < 1:
                raise InterphasesError(f"max_hops must be >= 1, got {self.max_hops}")
            selected = selected[: self.max_hops]
        skipped = [h.label for h in network.hops if h not in selected]
        if skipped:
            notes.append(f"not computed (max_hops / hop_labels): {', '.join(skipped)}")
        endpoints = [
            hop_endpoints(network, h, matrix, charge=self.defect_charge, ion_charge=z) for h in selected
        ]
        wall["setup"] = time.perf_counter() - t0
        hops = run_hops(engine, endpoints, self._settings(), selected, wall)
        notes += _hop_notes(hops)
        formula = prim.composition.reduced_formula
        return MigrationBarrierDocument(
            task_label=f"{self.name}: {ion} {self.mechanism} in {formula}",
            formula=formula,
            ion=ion,
            ion_charge=z,
            mechanism=self.mechanism,
            defect_charge=endpoints[0].charge if endpoints else 0.0,
            network=network,
            supercell=matrix.tolist(),
            min_image_requested=self.min_image,
            min_image=d_min,
            n_atoms=len(endpoints[0].initial) if endpoints else 0,
            bulk_relaxed=self.relax_bulk,
            hops=hops,
            skipped_hops=skipped,
            provenance=engine.provenance(),
            parameters=self.parameters(),
            wall_time=wall,
            notes=notes,
        )


def effective_barrier(doc: MigrationBarrierDocument) -> EffectiveBarrierDocument:
    """Percolation barriers E_eff(1D/2D/3D) from the hop barriers of ``doc``.

    Hop cost = transition-state energy minus the lowest relaxed endpoint energy of all
    computed hops (see :mod:`interphases.analysis.migration`); hops without a barrier
    (failed, unstable endpoints, not computed) are left out of the network.
    """
    good = [h for h in doc.hops if h.barrier_forward is not None and h.barrier_backward is not None]
    notes = []
    ref = None
    costs: dict[str, float] = {}
    if good:
        ref = min(min(h.energies[0], h.energies[-1]) for h in good)
        costs = {h.label: float(max(h.energies) - ref) for h in good}
    label_of = {hop.hop_label: hop.label for hop in doc.network.hops}
    edges = [(u, v, image, label_of[hl]) for u, v, image, hl in doc.network.edges]
    steps = percolation_thresholds(len(doc.network.sites), edges, costs)
    if 3 not in steps:
        missing = [h.label for h in doc.network.hops if h.label not in costs]
        notes.append(
            "no 3D percolating network among the computed hops"
            + (f" (without barrier: {', '.join(missing)})" if missing else "")
            + "; raise the cutoff or compute more hops"
        )
    top = steps[max(steps)] if steps else None
    converged = bool(top) and all(doc.hop(lab).converged for lab in top.hops)  # type: ignore[union-attr]
    if top is not None:
        notes += [f"{lab}: {w}" for lab in top.hops for w in doc.hop(lab).warnings]
    return EffectiveBarrierDocument(
        task_label=f"effective barrier: {doc.ion} {doc.mechanism} in {doc.formula}",
        formula=doc.formula,
        ion=doc.ion,
        ion_charge=doc.ion_charge,
        mechanism=doc.mechanism,
        steps=[steps[d] for d in sorted(steps)],
        reference_energy=ref,
        hop_costs=costs,
        hop_barriers={h.label: (h.barrier_forward, h.barrier_backward) for h in good},  # type: ignore[misc]
        converged=converged,
        n_hops_computed=len(good),
        n_hops_total=len(doc.network.hops),
        n_atoms=doc.n_atoms,
        supercell=doc.supercell,
        provenance=doc.provenance,
        notes=notes,
    )


@job
def effective_barrier_job(doc: MigrationBarrierDocument) -> EffectiveBarrierDocument:
    """jobflow job of :func:`effective_barrier`."""
    return effective_barrier(doc)


@dataclass
class EffectiveBarrierMaker(Maker):
    """Flow: hop barriers (:class:`MigrationBarrierMaker`) -> percolation (effective) barriers.

    The Flow's output is the :class:`EffectiveBarrierDocument`; the hop document is the
    output of its first job.
    """

    name: str = "effective migration barrier"
    barriers: MigrationBarrierMaker = field(default_factory=MigrationBarrierMaker)

    def make(self, structure: Structure | str) -> Flow:
        hop_job = self.barriers.make(structure)
        eff = effective_barrier_job(hop_job.output)
        label = structure if isinstance(structure, str) else structure.composition.reduced_formula
        return Flow([hop_job, eff], output=eff.output, name=f"{self.name}: {label}")


# --------------------------------------------------------------------------------------
# hops across an interface


def _interface_ion(substrate: Structure, film: Structure, ion: str | None) -> str:
    if ion is not None:
        return ion
    from interphases.analysis.stability import WORKING_ION_CHARGES

    common = sorted(
        {e.symbol for e in substrate.composition.elements}
        & {e.symbol for e in film.composition.elements}
        & set(WORKING_ION_CHARGES)
    )
    if len(common) != 1:
        raise InterphasesError(
            f"cannot tell the migrating ion (working ions in both phases: {', '.join(common) or 'none'}): give it"
        )
    return common[0]


@dataclass
class InterfaceHopMaker(Maker):
    """CI-NEB of an ion hop from one phase into the other across an interface (one job).

    Steps: (optional) fixed-cell relaxation of the interface -> the ``n_hops`` hops of the
    ``from_side`` ions nearest to the interface plane into the nearest site of the other
    side (:func:`~interphases.structures.hops.interface_hop_endpoints`) -> fixed-cell
    endpoint relaxation -> IDPP -> batched CI-NEB. Frozen atoms of the candidate
    (``selective_dynamics``) stay frozen throughout.

    Attributes (as :class:`MigrationBarrierMaker`, plus):
        from_side: ``"film"`` (default: e.g. Li from LiF into Li metal when Li is the
            substrate) or ``"substrate"``.
        mechanism: ``"vacancy"`` (into an empty ion site of the other side) or
            ``"interstitial"`` (into an open Voronoi site of the other side).
        n_hops: how many distinct moving ions (nearest the interface first).
        max_length: longest hop, Å.
        min_image: Å; repeat the cell in plane until its shortest in-plane lattice vector is
            at least this long (None: the candidate's cell as built).
        registry: in-plane registry of an InterfaceCandidate: ``"lowest"`` (default: the
            one of its ``in_plane_shifts`` with the lowest single-point energy, unrelaxed,
            which avoids on-top stackings), an index into ``in_plane_shifts``, a shift
            ``(fa, fb)``, or None (the interface as built, shift (0, 0)).
        relax_interface, interface_fmax, interface_steps: relax the interface first.
    """

    name: str = "interface hop"
    engine: Any = "mlip"
    ion: str | None = None
    charge: int | None = None
    defect_charge: float | None = None
    from_side: Literal["film", "substrate"] = "film"
    mechanism: Literal["vacancy", "interstitial"] = "vacancy"
    n_hops: int = 1
    max_length: float = 4.5
    min_image: float | None = None
    registry: Any = "lowest"
    relax_interface: bool = True
    interface_fmax: float = 0.05
    interface_steps: int = 300
    relax_fmax: float | None = None
    relax_steps: int = 300
    n_images: int = 5
    interpolation: Literal["idpp", "linear"] = "idpp"
    fmax: float = 0.05
    max_steps: int = 500
    spring_constant: float = 0.1
    climb: bool = True
    batch_size: int | None = None
    max_drift: float | None = None
    interstitial_min_distance: float = 1.0

    @job(data=["images"])
    def make(self, interface: Any) -> InterfaceHopDocument:
        return self.compute(interface)

    def compute(self, interface: Any) -> InterfaceHopDocument:
        """The job's work, callable without jobflow. ``interface``: an InterfaceCandidate,
        a pymatgen Interface, or a Structure with the ``interface_label`` site property."""
        candidate_id = getattr(interface, "candidate_id", None)
        engine = get_engine(self.engine)
        shift = None
        struct = getattr(interface, "interface", interface)
        shifts = list(getattr(interface, "in_plane_shifts", None) or [])
        if self.registry is not None and shifts:
            if self.registry == "lowest":
                if len(shifts) > 1:
                    trial = [Structure.from_sites(interface.interface_at(sh).sites) for sh in shifts]
                    energies = [r.energy for r in engine.static(trial, labels=[f"registry {sh}" for sh in shifts])]
                    shift = tuple(shifts[int(np.nanargmin(energies))])
                else:
                    shift = tuple(shifts[0])
            elif isinstance(self.registry, int):
                if not 0 <= self.registry < len(shifts):
                    raise InterphasesError(f"registry index {self.registry} out of range: {len(shifts)} shifts")
                shift = tuple(shifts[self.registry])
            else:
                shift = tuple(float(x) for x in self.registry)
            struct = interface.interface_at(shift)
        if not isinstance(struct, Structure):
            raise InvalidStructureError(f"expected an InterfaceCandidate or Interface, got {type(interface).__name__}")
        labels = struct.site_properties.get("interface_label")
        if labels is None:
            raise InvalidStructureError("the structure has no 'interface_label' site property (substrate / film)")
        lab = np.array(labels)
        sub = Structure.from_sites([s for s, la in zip(struct, lab, strict=True) if la == "substrate"])
        film = Structure.from_sites([s for s, la in zip(struct, lab, strict=True) if la == "film"])
        ion = _interface_ion(sub, film, self.ion)
        z = ion_charge(ion, self.charge)
        wall: dict[str, float] = {}
        notes: list[str] = []
        work = Structure.from_sites(struct.sites)
        repeats = (1, 1)
        if self.min_image is not None:
            repeats = in_plane_repeats(work, self.min_image)
            if repeats != (1, 1):
                work.make_supercell([[repeats[0], 0, 0], [0, repeats[1], 0], [0, 0, 1]])
        if self.relax_interface:
            t0 = time.perf_counter()
            (relaxed,) = engine.relax([work], cell="fixed", fmax=self.interface_fmax, max_steps=self.interface_steps,
                                      labels=["interface"])
            if not np.isfinite(relaxed.energy):
                raise InterphasesError(f"interface relaxation failed: {relaxed.error}")
            if not relaxed.converged:
                notes.append(f"interface relaxation not converged: {relaxed.error}")
            work = relaxed.structure
            wall["interface"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        endpoints = interface_hop_endpoints(
            work,
            ion,
            from_side=self.from_side,
            mechanism=self.mechanism,
            n_hops=self.n_hops,
            max_length=self.max_length,
            charge=self.defect_charge,
            ion_charge=z,
            interstitial_min_distance=self.interstitial_min_distance,
        )
        wall["setup"] = time.perf_counter() - t0
        settings = NEBSettings(
            relax_fmax=self.relax_fmax if self.relax_fmax is not None else self.fmax,
            relax_steps=self.relax_steps,
            n_images=self.n_images,
            interpolation=self.interpolation,
            fmax=self.fmax,
            max_steps=self.max_steps,
            spring_constant=self.spring_constant,
            climb=self.climb,
            batch_size=self.batch_size,
            max_drift=self.max_drift,
        )
        hops = run_hops(engine, endpoints, settings, None, wall)
        notes += _hop_notes(hops)
        sub_f, film_f = sub.composition.reduced_formula, film.composition.reduced_formula
        params = {
            k: getattr(self, k)
            for k in ("from_side", "mechanism", "n_hops", "max_length", "relax_interface", "interface_fmax",
                      "relax_fmax", "n_images", "interpolation", "fmax", "max_steps", "spring_constant", "climb",
                      "defect_charge", "charge", "min_image")
        }
        params["in_plane_repeats"] = list(repeats)
        params["in_plane_shift"] = list(shift) if shift is not None else None
        return InterfaceHopDocument(
            task_label=f"{self.name}: {ion} {sub_f}|{film_f} from the {self.from_side}",
            substrate_formula=sub_f,
            film_formula=film_f,
            candidate_id=candidate_id,
            ion=ion,
            ion_charge=z,
            mechanism=self.mechanism,
            from_side=self.from_side,
            n_atoms=len(work),
            interface_relaxed=self.relax_interface,
            hops=hops,
            provenance=engine.provenance(),
            parameters=params,
            wall_time=wall,
            notes=notes,
        )
